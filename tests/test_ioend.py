"""The ioend is the completion unit, the bio the device's (issue 10 item 9, Linux 6.12.117).

- ext4 buffer_head writeback: one ext4_io_end per mapped extent holds a reference for each
  of its bios (io_submit_init_bio -> ext4_get_io_end); an unwritten io_end is converted
  once, after its last bio (ext4_end_bio -> ext4_put_io_end_defer -> ext4_add_complete_io),
  and its folios end writeback only then (ext4_release_io_end -> ext4_finish_bio); a
  written io_end ends writeback bio by bio.
- iomap: an ioend is one bio (struct iomap_ioend embeds io_bio; iomap_add_to_ioend starts
  a new ioend when bio_add_folio fails), and the completion worker merges adjacent
  completed ioends before one size update (xfs_end_io: iomap_sort_ioends,
  iomap_ioend_try_merge, xfs_end_ioend -> xfs_setfilesize over the merged range).

Example: examples/writeback-one-ioend-several-bios.yaml (3 MiB, three 1 MiB bios)."""

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings, strategies as st

from eofsim.iomap.buffered_io import IoEnd, iomap_sort_and_merge
from eofsim.ops import parse_op
from eofsim.scenario import FileSpec, ThreadSpec
from eofsim.scenario_file import load_scenario
from eofsim.sim import simulate

EX = Path(__file__).resolve().parent.parent / "examples" / "writeback-one-ioend-several-bios.yaml"
S = 1_000_000_000
MIB = 1 << 20
NBLK = 3 * MIB // 4096


def scenario(commit_meanwhile=False):
    s = load_scenario(str(EX))
    if commit_meanwhile:
        # another file's fsync at 1 s commits the running transaction while bio 1 is delayed
        t1 = ThreadSpec("t1", tuple(parse_op(o) for o in ["sleep 1s", "write g 0 10", "fsync g"]))
        s = replace(s, files=s.files + (FileSpec("g", 0),), threads=s.threads + (t1,))
    return s


def f_data_bios(r):
    ino = r.inos["f"]
    return [b for b in r.dev.bios if b.kind == "data" and b.ino == ino]


def f_logged(r):
    ino = r.inos["f"]
    return [(b, raw) for b in r.dev.bios if b.kind == "journal"
            for raw in b.payload.inodes if raw.ino == ino]


def writeback_end_ns(r, index):
    return [t for t, lane, text in r.events if text == f"f: folio {index} writeback ends"]


def disksize_events(r):
    return [(t, int(text.split("=")[1])) for t, lane, text in r.events
            if text.startswith("f: i_disksize=")]


def test_the_device_sees_each_bio():
    """bio_add_folio fails at BIO_MAX_VECS (max_bio_bytes, 1 MiB): three bios, each its own
    entry in the device log the crash explorer reads."""
    for policy in ("bh-ordered", "xfs"):
        r = simulate(scenario(), policy)
        bios = f_data_bios(r)
        assert [len(b.blocks) for b in bios] == [256, 256, 256]
        assert len({b.id for b in bios}) == 3


@pytest.mark.parametrize("policy", ["bh-ordered", "bh-writeback"])
def test_ext4_io_end_converts_only_after_its_last_bio(policy):
    """dioread_nolock: the extent is allocated unwritten, one io_end over three bios; bio 1
    is 2 s late and a commit (g's fsync) lands in between. The conversion waits for the
    io_end's last reference, so every logged copy of f's extent tree has the 768 blocks
    all unwritten or all written, never part of the extent converted; the blocks of bio 0
    end writeback only with the io_end (ext4_release_io_end)."""
    r = simulate(scenario(True), policy, trace=True, bio_delays={1: 2 * S})
    bios = f_data_bios(r)
    late = max(b.complete_ns for b in bios)
    assert late >= 2 * S
    logged = f_logged(r)
    mid = [raw for b, raw in logged if b.submit_ns < late]
    assert mid, "a commit lands while bio 1 is in flight"
    for b, raw in logged:
        flags = {u for lblk, _, u in raw.extents if lblk < NBLK}
        assert len(flags) <= 1, (b.submit_ns, flags)
    assert all({u for lblk, _, u in raw.extents if lblk < NBLK} == {True} for raw in mid)
    assert min(writeback_end_ns(r, 0)) >= late


def test_written_io_end_ends_writeback_bio_by_bio():
    """Without dioread_nolock the blocks are allocated written: the io_end carries no
    conversion, and ext4_end_bio ends writeback on each bio's folios at that bio's
    completion (ext4_finish_bio), not at the io_end's last bio."""
    r = simulate(scenario(True), "bh-ordered", {"dioread_nolock": False}, trace=True, bio_delays={1: 2 * S})
    bios = f_data_bios(r)
    assert min(writeback_end_ns(r, 0)) == bios[0].complete_ns < bios[1].complete_ns


@pytest.mark.parametrize("policy", ["xfs", "iomap-v4", "iomap-pending"])
def test_iomap_completed_ioends_merge_into_one_size_update(policy):
    """The three ioends (bios) complete together, before the worker runs: it sorts and
    merges them (iomap_ioend_try_merge), so one size update moves the on-disk size from 0
    to 3 MiB; per-bio updates would pass through 1 MiB and 2 MiB."""
    r = simulate(scenario(), policy, trace=True)
    ends = {b.complete_ns for b in f_data_bios(r)}
    assert len(ends) == 1
    assert [size for _, size in disksize_events(r)] == [3 * MIB]
    # --set ioend_merge=false: one ioend at a time, the size passes through each bio's end
    r = simulate(scenario(), policy, {"ioend_merge": False}, trace=True)
    assert [size for _, size in disksize_events(r)] == [MIB, 2 * MIB, 3 * MIB]


@pytest.mark.parametrize("policy", ["xfs", "iomap-v4"])
def test_iomap_ioend_is_one_bio(policy):
    """6.12.117 has no bio chain in an ioend: with bio 1 late, bio 0's ioend completes on its
    own and its size update (min(end, i_size) = 1 MiB) runs before bio 1 completes; bio 2's
    ioend cannot merge across the missing one (io_offset + io_size != next->io_offset)."""
    r = simulate(scenario(True), policy, trace=True, bio_delays={1: 2 * S})
    late = f_data_bios(r)[1].complete_ns
    early = [size for t, size in disksize_events(r) if t < late]
    assert early[0] == MIB


# --- iomap_sort_and_merge against an independent oracle ---------------------------------------

def fake_ioend(start_blk, nblk, pblk, unwritten, cut):
    """An ioend of `nblk` blocks from `start_blk` at `pblk`, its end cut `cut` bytes short
    (an EOF sampled at submission)."""
    io = IoEnd(SimpleNamespace(), True, "t", None)
    io.lblks = list(range(start_blk, start_blk + nblk))
    io.pblk_of = {lb: pblk + i for i, lb in enumerate(io.lblks)}
    io.unwritten = unwritten
    io.start = start_blk * 4096
    io.end = (start_blk + nblk) * 4096 - cut
    return io


@st.composite
def ioend_lists(draw):
    n = draw(st.integers(1, 8))
    out, blk, pblk = [], 0, 1000
    for _ in range(n):
        gap = draw(st.sampled_from([0, 0, 0, 1, 3]))
        pgap = draw(st.sampled_from([0, 0, 0, 2]))
        nblk = draw(st.integers(1, 4))
        blk += gap
        pblk += gap + pgap
        out.append((blk, nblk, pblk, draw(st.booleans()), draw(st.sampled_from([0, 0, 0, 100]))))
        blk += nblk
        pblk += nblk
    order = draw(st.permutations(range(n)))
    return [out[i] for i in order]


@settings(max_examples=200, deadline=None)
@given(ioend_lists())
def test_sort_and_merge_matches_interval_oracle(specs):
    """Oracle: in offset order, two neighbours share a merged ioend exactly when their byte
    ranges touch, their physical blocks continue and their type is the same; each merged
    ioend covers its members' blocks and ends where its last member ends."""
    merged = iomap_sort_and_merge([fake_ioend(*sp) for sp in specs])
    by_start = sorted(specs)
    groups = [[by_start[0]]]
    for a, b in zip(by_start, by_start[1:]):
        a_end = (a[0] + a[1]) * 4096 - a[4]
        if a[3] == b[3] and a_end == b[0] * 4096 and a[2] + a[1] == b[2]:
            groups[-1].append(b)
        else:
            groups.append([b])
    assert len(merged) == len(groups)
    for io, g in zip(merged, groups):
        assert io.start == g[0][0] * 4096
        assert io.end == (g[-1][0] + g[-1][1]) * 4096 - g[-1][4]
        assert io.lblks == [lb for sp in g for lb in range(sp[0], sp[0] + sp[1])]


def test_ext4_extent_and_io_end_end_at_max_writepages_extent_len():
    """mpage_add_bh_to_extent: a mapping pass maps at most MAX_WRITEPAGES_EXTENT_LEN (2048)
    blocks; mpage_map_and_submit_extent then moves i_disksize to the end of that extent
    before the next pass: a 12 MiB writeback of 4 KiB blocks logs 8 MiB, then 12 MiB."""
    s = load_scenario(str(EX))
    s = replace(s, threads=(ThreadSpec("t0", tuple(parse_op(o) for o in
                                                   ["write f 0 12582912", "fsync f", "sleep 10s"])),))
    r = simulate(s, "bh-ordered", trace=True)
    assert [size for _, size in disksize_events(r)] == [8 * MIB, 12 * MIB]
