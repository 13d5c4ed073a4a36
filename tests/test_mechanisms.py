"""Tests that kill the mutants scripts/mutants.py found surviving: each names the kernel
mechanism it holds in place, and fails when that mechanism is removed."""

from types import SimpleNamespace

from eofsim.content import ZERO
from eofsim.crash.explore import check
from eofsim.engine import Engine
from eofsim.mm import AddressSpace
from eofsim.mm.page_writeback import WB_SYNC_NONE, WritebackControl, write_cache_pages
from eofsim.ops import parse_op
from eofsim.params import Tunables
from eofsim.scenario import FileSpec, Scenario, ThreadSpec
from eofsim.sim import simulate


def sc(threads, files=(FileSpec("f", 0),)):
    return Scenario("t", files=tuple(files),
                    threads=tuple(ThreadSpec(f"t{i}", tuple(parse_op(o) for o in ops))
                                  for i, ops in enumerate(threads)))


def data_bios(r):
    return [b for b in r.dev.bios if b.kind == "data"]


def test_fsync_relying_on_a_committing_transaction_lends_its_knowledge():
    """jbd2_trans_will_send_data_barrier: fsync skips its own cache flush because tid 1 is
    committing and its commit block (PREFLUSH) is still to come; that flush must cover the
    data fsync saw complete. g's ordered data keeps tid 1 in T_FLUSH (its folio is under
    writeback and dirty again) while f's fsync writes and waits; nothing else tells
    kjournald2 that f's data completed (found by a multi-threaded campaign)."""
    s = sc([["write f 0 4096", "@4999950us fsync f"],
            ["write g 0 4096", "@4999900us sync_file_range g 0 4096 write", "write g 0 100"]],
           (FileSpec("f", 8192), FileSpec("g", 0)))
    ov = {"delalloc": False, "commit_timer": "exact", "dev_write_ns": "200us"}
    r = simulate(s, "bh-ordered", ov)
    assert not [b for b in r.dev.bios if b.kind == "flush"], "fsync relied on the commit's flush"
    assert check(r).kinds() == set()


def test_truncate_down_pushes_out_data_the_committing_transaction_orders():
    """jbd2_journal_begin_ordered_truncate: tid 1 orders f's new blocks and is committing
    (stuck on folio 0, under writeback and dirty again) when truncate to 2000 arrives;
    without pushing folio 1 out first, truncate_pagecache drops it and tid 1 commits block
    1 mapped over stale disk contents (garbage after a crash before tid 2 commits)."""
    s = sc([["write f 0 8192", "@4999900us sync_file_range f 0 4096 write", "write f 0 100"],
            ["@5000050us truncate f 2000"]])
    r = simulate(s, "bh-ordered", {"delalloc": False, "commit_timer": "exact", "dev_write_ns": "200us"})
    assert check(r).kinds() == set()


def test_store_into_folio_under_writeback_may_reach_disk_in_that_bio():
    """No stable pages (folio_wait_stable does not wait on ext4): an mmap store while the
    folio's bio is in flight may be what the device writes; the bio records that version."""
    s = sc([["write f 0 4096", "fsync f", "mwrite f 0 10", "sync_file_range f 0 4096 write",
             "mwrite f 100 10"]])
    r = simulate(s, "bh-ordered")
    sfr = r.ops[3]
    (b,) = [b for b in data_bios(r) if b.submit_ns >= sfr.start_ns and b.why.startswith("sync_file_range")]
    assert any(5 in {v for _, _, v in runs} for _, runs, _ in b.racing)


def test_writeback_zeroes_the_eof_folio_past_i_size_before_submission():
    """ext4_bio_write_folio / iomap_writepage_handle_eof: bytes an mmap store put past EOF
    in the EOF page go to disk as zeroes."""
    for policy in ("bh-ordered", "iomap-v4"):
        r = simulate(sc([["write f 0 1000", "mwrite f 1000 100", "fsync f"]]), policy)
        (b,) = [b for b in data_bios(r) if b.lblk == 0]
        runs = b.blocks[0][1]
        assert all(v == ZERO for s, e, v in runs if e > 1000), (policy, runs)


def test_wb_sync_none_skips_a_folio_under_writeback():
    """folio_prepare_writeback: WB_SYNC_NONE (sync_file_range WRITE alone) does not wait
    for a folio already under writeback; it leaves it dirty."""
    r = simulate(sc([["write f 0 4096", "sync_file_range f 0 4096 write", "write f 0 10",
                      "sync_file_range f 0 4096 write"]]), "bh-ordered", {"dev_write_ns": "200us"})
    first = next(b for b in data_bios(r) if b.why.startswith("sync_file_range"))
    second = r.ops[3]
    assert second.start_ns < first.complete_ns
    assert second.end_ns < first.complete_ns


def test_range_cyclic_writeback_resumes_at_writeback_index():
    """writeback_iter: a range-cyclic pass starts at mapping->writeback_index, after the
    last folio the previous pass wrote, even when an earlier folio is dirty again."""
    tun = Tunables()
    eng = Engine()
    host = SimpleNamespace(name="i", ino=12, i_size=3 * 4096)
    m = AddressSpace(eng, host, tun)
    host.mapping = m
    for i in range(3):
        m.mark_dirty(m.create(i), 1)
    got = []

    def wf(folio, inside):
        got.append(folio.index)
        folio.dirty_mask = 0
        m.unlock(folio)
        return True

    def passes():
        yield from write_cache_pages(m, WritebackControl(WB_SYNC_NONE, range_cyclic=True, nr_to_write=1), wf)
        m.mark_dirty(m.folios[0], 1)
        yield from write_cache_pages(m, WritebackControl(WB_SYNC_NONE, range_cyclic=True, nr_to_write=1), wf)
    eng.spawn("wb", passes())
    eng.run()
    assert got == [0, 1]


def test_punch_edge_zeroing_is_ordered_data():
    """ext4_zero_partial_blocks -> __ext4_block_zero_page_range -> ext4_jbd2_inode_add_write:
    the partly punched written block is written by the commit's ordered-data pass
    (journal_submit_data_buffers), not left for kupdate writeback."""
    r = simulate(sc([["fallocate f 1000 100 punch_hole", "sleep 10s"]], (FileSpec("f", 8192),)), "bh-ordered")
    assert any(b.lblk == 0 and b.why.startswith("jbd2 ordered") for b in data_bios(r))


def test_nodelalloc_new_block_is_ordered():
    """ext4_map_blocks: a newly allocated written block (nodelalloc) goes on the ordered
    list, so the commit that maps it waits for its data; data=writeback does not."""
    s = sc([["write f 0 4096", "sleep 10s"]])
    assert check(simulate(s, "bh-ordered", {"delalloc": False})).kinds() == set()
    assert "garbage" in check(simulate(s, "bh-writeback", {"delalloc": False})).kinds()


def test_folio_writeback_ends_with_its_last_bio():
    """iomap_finish_ioends / end_buffer_async_write: with 1 KiB blocks in two physically
    separate extents, folio 0 goes out in two bios; its writeback (and so fsync's wait)
    ends only when both completed."""
    s = sc([["write f 0 1024", "fsync f", "write g 0 1024", "fsync g", "write f 1024 1024", "fsync f",
             "write f 0 2048", "fsync f"]], (FileSpec("f", 0), FileSpec("g", 0)))
    r = simulate(s, "bh-ordered", {"block_size": 1024, "dev_service_ns": "300us"})
    last = r.ops[7]
    mine = [b for b in data_bios(r) if b.ino == r.inos["f"] and b.submit_ns >= last.start_ns]
    assert len(mine) == 2
    flush_or_commit = [b for b in r.dev.bios if b.kind in ("flush", "commit") and b.submit_ns >= last.start_ns]
    assert flush_or_commit and min(b.submit_ns for b in flush_or_commit) >= max(b.complete_ns for b in mine)


def test_bio_contents_are_captured_at_submission():
    """submit_bio reads the pages when the bio goes to the device: a store into a folio
    after its block joined the ioend but before the bio was submitted is in the bio."""
    from eofsim.content import overlay
    from eofsim.iomap.buffered_io import IoEndBuilder
    from eofsim.mm.page_writeback import WbReason
    r = simulate(sc([["write f 0 4096", "fsync f"]]), "iomap-v4")
    fs = r.fs
    inode = fs.inodes["f"]
    folio = inode.mapping.folios[0]
    io = IoEndBuilder(fs, inode, WbReason.FSYNC, lambda ioend: None, iomap=True)
    folio.writeback = True
    io.add(folio, 0)
    folio.blocks[0] = overlay(folio.blocks[0], 0, 10, 99)
    io.cut()
    bio = fs.dev.bios[-1]
    assert bio.blocks[0][1] == folio.blocks[0]
