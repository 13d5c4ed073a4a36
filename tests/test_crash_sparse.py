"""Crash-state construction in runs: the recovered file's slots follow the blocks mapped,
not the file size, and read exactly as the per-block construction does."""

from hypothesis import given, settings
from hypothesis import strategies as st

from eofsim.content import ZERO
from eofsim.crash.explore import check
from eofsim.crash.recover import file_view, slots
from eofsim.jbd2 import RawInode
from eofsim.scenario_file import load_text
from eofsim.sim import simulate

TIB = 1 << 40


def _per_block_view(ri, bs, block_runs):
    """Independent oracle: one slot per block of [0, size), then runs merged."""
    emap = {lb: (pb, unw) for lb, pb, unw in ri.extents}
    out = []
    for lb in range((ri.size + bs - 1) // bs):
        a, b = lb * bs, min(lb * bs + bs, ri.size)
        pb, unw = emap.get(lb, (None, False))
        seg = [(a, b, ZERO)] if pb is None or unw else \
            [(a + s, min(a + e, b), v) for s, e, v in block_runs(pb) if a + s < b]
        for r in seg:
            if out and out[-1][2] == r[2] and out[-1][1] == r[0]:
                out[-1] = (out[-1][0], r[1], r[2])
            else:
                out.append(r)
    return tuple(out)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([512, 1024, 4096]), st.integers(0, 40_000),
       st.lists(st.tuples(st.integers(0, 12), st.booleans()), max_size=8, unique_by=lambda x: x[0]))
def test_sparse_slots_read_like_per_block_slots(bs, size, ext):
    ri = RawInode(12, size, tuple((lb, 100 + lb, unw) for lb, unw in sorted(ext)))
    runs = {100 + lb: ((0, bs // 2, 7 + lb), (bs // 2, bs, ZERO)) for lb in range(13)}
    assert file_view(ri, bs, runs.get) == _per_block_view(ri, bs, runs.get)
    sl = slots(ri, bs)
    # contiguous cover of [0, size), holes and unwritten blocks as one slot per run
    assert [a for a, _, _, _ in sl[1:]] == [b for _, b, _, _ in sl[:-1]]
    assert all(not (x[2] is None and y[2] is None) for x, y in zip(sl, sl[1:]))


def test_slots_of_a_tib_file_follow_the_mapped_blocks():
    ri = RawInode(12, TIB, ((0, 100, False), (TIB // 4096 - 1, 101, False)))
    assert slots(ri, 4096) == [(0, 4096, 100, False), (4096, TIB - 4096, None, False),
                               (TIB - 4096, TIB, 101, False)]


def _scenario(ops):
    text = "name: sparse\nfiles:\n  - name: f\n    size: 1000\nthreads:\n  - name: t0\n    ops:\n"
    text += "".join(f'      - "{o}"\n' for o in ops)
    return load_text(text, "sparse.yaml")


def test_tib_truncate_and_write_check_in_runs():
    for ops in (["truncate f 1099511627776", "fsync f"], ["write f 1099511627776 100", "fsync f"]):
        res = simulate(_scenario(ops), "bh-ordered")
        rep = check(res)
        assert rep.ok, rep.violations
        assert rep.crash_states < 100


def test_64gib_file_with_1k_blocks_checks_in_runs():
    res = simulate(_scenario(["truncate f 68719476736", "write f 34359738368 5000", "fsync f"]),
                   "bh-ordered", {"block_size": "1024"})
    rep = check(res)
    assert rep.ok, rep.violations
    assert rep.crash_states < 1000


def test_punch_over_a_tib_file_touches_only_mapped_blocks():
    res = simulate(_scenario(["truncate f 1099511627776", "write f 0 9000", "fsync f",
                              "fallocate f 0 1099511627776 punch_hole", "fsync f"]), "bh-ordered")
    ino = res.fs.inodes["f"]
    assert not ino.map  # every written block punched out
    rep = check(res)
    assert rep.ok, rep.violations
