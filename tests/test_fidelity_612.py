"""Paths rebased on Linux 6.12.117 (issue 10, items 1-6), one example scenario each under
examples/. Every assertion follows from the kernel rule the docstring names, not from a
figure the model printed; each turns red when its mechanism is removed (scripts/mutants.py)."""

from dataclasses import replace
from pathlib import Path

import pytest

from eofsim.crash.explore import check
from eofsim.jbd2 import LogRecord
from eofsim.ops import parse_op
from eofsim.outcome import Outcome
from eofsim.scenario import FileSpec, Scenario, ThreadSpec
from eofsim.scenario_file import load_scenario
from eofsim.sim import simulate

EX = Path(__file__).resolve().parent.parent / "examples"
BH = ("bh-ordered", "bh-writeback")
ALL = ("bh-ordered", "iomap-v4", "iomap-pending", "xfs")
BLOCKS = [{}, {"block_size": 1024}]
BIDS = ["4k", "1k"]


def ex(name):
    return load_scenario(str(EX / f"{name}.yaml"))


def sc(ops, files=(FileSpec("f", 0),)):
    return Scenario("t", files=tuple(files), threads=(ThreadSpec("t0", tuple(parse_op(o) for o in ops)),))


def logged_raws(r, ino):
    """[(journal bio, RawInode)] for every logged copy of `ino`, in submission order."""
    out = []
    for b in r.dev.bios:
        if b.kind == "journal" and isinstance(b.payload, LogRecord):
            for raw in b.payload.inodes:
                if raw.ino == ino:
                    out.append((b, raw))
    return out


def data_bios(r):
    return [b for b in r.dev.bios if b.kind == "data"]


def sizes(rep):
    return {o.size for o in rep.outcomes}


# --- 1. fallocate size rule: end > i_size || end > i_disksize ---------------------------------

@pytest.mark.parametrize("ov", BLOCKS, ids=BIDS)
@pytest.mark.parametrize("policy", [p for p in ALL if p != "xfs"])
def test_fallocate_inside_size_logs_disksize_while_delalloc_pending(policy, ov):
    """ext4_do_fallocate: end (4096) <= i_size (8192) but > i_disksize (0), so new_size = end
    and ext4_alloc_file_blocks -> ext4_update_inode_size logs i_disksize = 4096 before any
    data reaches disk: a crash then recovers size 4096, which no crash could show if the size
    rule were `end > i_size` only (sizes would be 0 or 8192)."""
    r = simulate(ex("fallocate-inside-size-delalloc"), policy, ov)
    first_data = min(b.submit_ns for b in data_bios(r))
    early = [raw for b, raw in logged_raws(r, r.inos["f"]) if b.submit_ns < first_data]
    assert any(raw.size == 4096 for raw in early)
    # block 0 (delayed when fallocate ran) is in that inode's extent tree, unwritten
    raw = next(raw for raw in early if raw.size == 4096)
    assert (0, True) in {(l, u) for l, _, u in raw.extents}
    assert 4096 in sizes(check(r))


@pytest.mark.parametrize("policy", ["xfs", "xfs-jbd2"])
def test_xfs_fallocate_inside_size_changes_no_size(policy):
    """xfs_falloc_newsize (xfs_file.c): a new size only when offset + len > i_size, so
    fallocate of [0, 4096) inside an 8192-byte file logs no size; the crash sizes are those
    of the delalloc write alone: 0 or 8192 (what real XFS shows: kernel-check --fs xfs)."""
    r = simulate(ex("fallocate-inside-size-delalloc"), policy)
    assert sizes(check(r)) == {0, 8192}
    assert all(raw.size != 4096 for _, raw in logged_raws(r, r.inos["f"]))


def test_fallocate_keep_size_inside_size_leaves_disksize():
    """KEEP_SIZE: new_size = 0, no size moves (the rule's other half)."""
    r = simulate(sc(["write f 0 8192", "fallocate f 0 4096 keep_size", "sleep 10s"]), "bh-ordered")
    assert r.ops[1].i_disksize_after == 0


# --- 2. ext4_update_disksize_before_punch: offset > i_size returns ----------------------------

@pytest.mark.parametrize("ov", BLOCKS, ids=BIDS)
@pytest.mark.parametrize("policy", ALL)
def test_keep_size_zero_range_past_eof_does_not_raise_disksize(policy, ov):
    """The zero range starts past i_size (9000 > 5000): the update returns early, so no size
    5000 is logged before the delalloc data is written (no zeros-instead-of-data state)."""
    r = simulate(ex("zero-range-past-eof-keep-size"), policy, ov)
    assert r.ops[1].i_disksize_after == 0
    first_data = min(b.submit_ns for b in data_bios(r))
    assert not [raw for b, raw in logged_raws(r, r.inos["f"]) if raw.size and b.submit_ns < first_data]


def test_zero_range_inside_size_still_raises_disksize():
    """The early return is only for offset > i_size: inside, i_disksize = min(i_size, end)."""
    r = simulate(sc(["write f 0 8192", "fallocate f 1000 2000 zero_range,keep_size"]), "bh-ordered")
    assert r.ops[1].i_disksize_after == 3000


# --- 3. no write-back before punch hole / zero range ------------------------------------------

@pytest.mark.parametrize("ov", BLOCKS, ids=BIDS)
@pytest.mark.parametrize("policy", [p for p in ALL if p != "xfs"])
def test_punch_hole_discards_dirty_data_without_writing_it(policy, ov):
    """ext4_truncate_page_cache_block_range writes back only under data=journal: the
    punched blocks [4096, 8192) never reach the device, and the punch itself waits for no
    data I/O. (XFS writes the range back first: tests/test_kernel_xfs.py.)"""
    r = simulate(ex("punch-hole-over-dirty-data"), policy, ov)
    bs = r.tun.block_size
    punched = set(range(4096 // bs, 8192 // bs))
    for b in data_bios(r):
        lblks = set(range(b.lblk, b.lblk + len(b.blocks)))
        assert not lblks & punched, b
    punch = r.ops[1]
    assert not [b for b in data_bios(r) if punch.start_ns <= b.submit_ns <= punch.end_ns]
    from eofsim.policies import get_policy
    # ext4_update_disksize_before_punch (XFS logs no size in xfs_free_file_space)
    assert punch.i_disksize_after == (8192 if get_policy(policy).punch_logs_disksize else 0)


@pytest.mark.parametrize("mode", ["zero_range", "zero_range,keep_size", "punch_hole"])
def test_no_data_io_inside_punch_or_zero_range(mode):
    r = simulate(sc(["write f 0 16384", f"fallocate f 5000 6000 {mode}"]), "bh-ordered")
    op = r.ops[1]
    assert not [b for b in data_bios(r) if op.start_ns <= b.submit_ns <= op.end_ns]


# --- 4. zero range ordering -------------------------------------------------------------------

@pytest.mark.parametrize("ov", BLOCKS, ids=BIDS)
def test_zero_range_allocates_edges_and_grows_size_first(ov):
    """Unaligned zero range past a delalloc EOF: ext4_alloc_file_blocks(..., new_size) makes
    the range's blocks (with 4 KiB blocks, the delayed EOF block) unwritten in the handle that logs i_disksize = 10000,
    before any data I/O (nothing is written back first)."""
    r = simulate(ex("zero-range-grow-ordering"), "bh-ordered", ov)
    bs = r.tun.block_size
    first_data = min(b.submit_ns for b in data_bios(r))
    early = [raw for b, raw in logged_raws(r, r.inos["f"]) if b.submit_ns < first_data]
    grown = [raw for raw in early if raw.size == 10000]
    assert grown
    unwritten = {l for l, _, u in grown[0].extents if u}
    assert set(range(6000 // bs, (10000 - 1) // bs + 1)) <= unwritten
    assert 10000 in sizes(check(r))


def test_zero_range_aligned_converts_written_middle():
    """Aligned: no edge allocation; the middle (written after fsync) becomes unwritten
    (CONVERT_UNWRITTEN) and reads back as zeroes."""
    r = simulate(sc(["write f 0 16384", "fsync f", "fallocate f 4096 8192 zero_range", "read f 0 16384"]),
                 "bh-ordered")
    d = r.ops[3].data
    assert d[4096:12288] == bytes(8192) and d[:4096] != bytes(4096)


# --- 4b. XFS: xfs_free_file_space -> xfs_flush_unmap_range ------------------------------------

def test_xfs_zero_range_writes_back_the_rounded_range_first():
    """zero-range-grow-ordering (write [0, 5000), zero range [6000, 10000)): 6.12.117's
    xfs_falloc_zero_range -> xfs_free_file_space -> xfs_flush_unmap_range writes back and
    waits the page-rounded range [4096, 12288) before anything else, so block 1's ioend
    raises i_disk_size to 5000 and xfs_setattr_size's write-and-wait later starts there:
    block 0 stays delalloc until the flusher while size 10000 is logged. Real XFS shows
    size 10000 over zeroes where [0, 4096) was written in 20 of 20 runs; ext4's path (no
    write-back, `bh-ordered`) and an XFS write-and-wait from i_disk_size 0 cannot."""
    r = simulate(ex("zero-range-grow-ordering"), "xfs")
    zr = r.ops[1]
    inside = [b for b in r.dev.bios if b.kind == "data" and zr.start_ns <= b.submit_ns <= zr.end_ns]
    assert inside and inside[0].lblk == 1 and inside[0].why.startswith("xfs flush_unmap"), inside
    assert all(b.lblk != 0 for b in inside)          # [0, 4096) lies outside the rounded range
    assert Outcome("f", 10000, False, True) in check(r, timed=True).outcomes


def test_xfs_punch_writes_back_the_range_before_dropping_it():
    """punch-hole-over-dirty-data (write [0, 16384), punch [4096, 8192)): xfs_free_file_space
    -> xfs_flush_unmap_range writes block 1 back and waits before the unmap, and its ioend
    (xfs_end_ioend -> xfs_setfilesize) logs i_disk_size 8192; ext4's punch writes nothing
    back. Real XFS (6.18, examples/xfs-punch-flush-unmap/repro.sh: 4 KiB writes, so order-0
    folios as in the model; fpunch, fsync of another file, shutdown without a log flush)
    recovers size 8192 reading zeroes."""
    base = ex("punch-hole-over-dirty-data")
    r = simulate(Scenario(base.name, files=base.files + (FileSpec("g"),), threads=(ThreadSpec(
        "t0", base.threads[0].ops[:2] + tuple(parse_op(x) for x in ("write g 0 100", "fsync g"))),)),
        "xfs")
    punch = r.ops[1]
    inside = [b for b in r.dev.bios if b.kind == "data" and punch.start_ns <= b.submit_ns <= punch.end_ns]
    assert [b.lblk for b in inside] == [1] and inside[0].why.startswith("xfs flush_unmap")
    assert punch.i_disksize_after == 8192
    assert Outcome("f", 8192, False, True) in check(r, timed=True).outcomes


# --- 5. unwritten EOF block: not zeroed unless its buffer is mapped ----------------------------

@pytest.mark.parametrize("ov", BLOCKS, ids=BIDS)
@pytest.mark.parametrize("policy", ALL)
def test_truncate_up_over_unwritten_eof_block_writes_nothing(policy, ov):
    """__ext4_block_zero_page_range: the fallocated EOF block's buffer stays unmapped after
    ext4_get_block(..., 0) (EXT4_MAP_UNWRITTEN only), so nothing is zeroed, dirtied or
    ordered; iomap_zero_iter skips a clean unwritten range. No data I/O at all."""
    r = simulate(ex("truncate-up-unwritten-eof"), policy, ov)
    assert r.dev.stats.zero_block_writes == 0
    assert data_bios(r) == []
    assert check(r).kinds() == set()


@pytest.mark.parametrize("ov", BLOCKS, ids=BIDS)
@pytest.mark.parametrize("policy", ("bh-ordered", "iomap-v4"))
def test_truncate_up_zeroes_unwritten_block_a_write_mapped(policy, ov):
    """The exception: a buffered write into the unwritten EOF block mapped its buffer
    (ext4_da_get_block_prep) / dirtied its folio (iomap: flush, then zero as written), so the
    zeroing happens and its block write is a zero-block write."""
    r = simulate(sc(["fallocate f 0 3000", "write f 2500 100", "truncate f 8192", "sleep 40s"]), policy, ov)
    assert r.dev.stats.zero_block_writes >= 1


# --- 6. buffer_head truncate up zeroes to the end of the block --------------------------------

@pytest.mark.parametrize("ov", BLOCKS, ids=BIDS)
def test_bh_truncate_up_orders_to_end_of_block(monkeypatch, ov):
    """ext4_setattr -> ext4_block_truncate_page(oldsize): zeroing (and its ordered window)
    runs to the end of the old EOF block, past the new size 1500."""
    from eofsim import jbd2
    windows = []
    orig = jbd2.Journal.file_inode

    def spy(self, handle, inode, start, end, flags):
        windows.append((start, end))
        return orig(self, handle, inode, start, end, flags)

    monkeypatch.setattr(jbd2.Journal, "file_inode", spy)
    r = simulate(sc(["write f 0 1000", "fsync f", "truncate f 1500"]), "bh-ordered", ov)
    bs = r.tun.block_size
    assert (1000, bs - 1) in windows


def test_iomap_truncate_up_zeroing_is_capped_at_new_size(monkeypatch):
    """The 2026 ext4_block_zero_eof caps at the new size: the zeroed bytes of the EOF block
    end at 1500 (the rest is truncate_pagecache's in-memory zeroing)."""
    r = simulate(sc(["write f 0 1000", "fsync f", "truncate f 1500"]), "iomap-v4", trace=True)
    zeroed = [t for _, lane, t in r.events if lane == "cache" and "zeroed [" in t]
    assert zeroed and all("[1000, 1500)" in t for t in zeroed)


def test_punch_write_protects_partial_folio_so_mmap_store_maps_again():
    """ext4_truncate_folio (1 KiB blocks, 4 KiB folio): punching block 1 write-protects the
    folio, so the next mmap store faults into ext4_page_mkwrite, which maps block 1 again and
    the store reaches disk with fsync (with a writable PTE left, the store would land in a
    block with no mapping and writeback would drop it)."""
    r = simulate(sc(["write f 0 4096", "mwrite f 0 10", "fallocate f 1024 1024 punch_hole",
                     "mwrite f 1024 100", "fsync f"]), "bh-ordered", {"block_size": 1024})
    fsync = r.ops[4]
    assert any(b.lblk <= 1 < b.lblk + len(b.blocks) for b in data_bios(r)
               if fsync.start_ns <= b.submit_ns <= fsync.end_ns)


# --- 11. ext4_zero_range on an O_SYNC / O_DSYNC file: a synchronous handle -------------------

@pytest.mark.parametrize("flag", ["sync", "dsync"])
def test_osync_zero_range_is_durable_at_return_and_batched(flag):
    """ext4_zero_range: `if (file->f_flags & O_SYNC) ext4_handle_sync(handle)` (true for
    O_DSYNC as well: O_SYNC = __O_SYNC | O_DSYNC), so jbd2_journal_stop commits and waits:
    the new size is on disk when the call returns, though no fsync follows. The two threads'
    sync stops sleep (j_average_commit_time is known after the O_SYNC writes' commit) with
    their handles held, so one commit carries both sizes."""
    s = ex("zero-range-osync-sync-handle")
    s = replace(s, threads=tuple(replace(t, ops=tuple(replace(op, flags=(flag,)) if op.kind == "open" else op
                                                      for op in t.ops)) for t in s.threads))
    r = simulate(s, "bh-ordered")
    falls = [o for o in r.ops if o.op.kind == "fallocate"]
    assert len(falls) == 2
    for o in falls:
        assert o.size_durable_ns is not None and o.size_durable_ns <= o.end_ns
    tids = {raw.ino: b.payload.tid for b, raw in
            logged_raws(r, r.inos["f"]) + logged_raws(r, r.inos["g"]) if raw.size == 10000}
    assert len(set(tids.values())) == 1


def test_zero_range_without_osync_is_not_durable_at_return():
    """The same zero range on a file opened without O_SYNC: an ordinary handle, the size
    waits for the commit timer."""
    r = simulate(sc(["write f 0 5000", "fsync f", "fallocate f 6000 4000 zero_range", "sleep 10s"]), "bh-ordered")
    o = r.ops[2]
    assert o.size_durable_ns is None or o.size_durable_ns > o.end_ns + 1_000_000_000
