"""Each checker on a hand-built log, with the states that must and must not fail."""

from eofsim.content import INITIAL, fill
from eofsim.crash import check
from eofsim.crash.fakelog import LogBuilder, RawInode, op, result

INIT = {12: RawInode(12, 0, ())}


def _kinds_at(rep):
    return {(v.kind, v.crash_time_ns) for v in rep.violations}


def test_resurrected_only_when_reentry_is_recovered():
    """write X [0,8K), fsync, truncate 1K, truncate up 8K; the zeroed tail of block 0 is
    submitted but nobody waits for it before the commit carrying size 8K."""
    B = LogBuilder()
    d = B.write([100, 101], 0, 10, src=1, ino=12, lblk=0)
    j1 = B.journal(1, 1, [RawInode(12, 8192, ((0, 100, False), (1, 101, False)))], 10, 20)
    c1 = B.commit(2, 1, 20, 30, hb=[d, j1])
    z = B.write([(100, ((0, 1024, 1), (1024, 4096, 0)))], 200, 210, why="zero-eof", ino=12, lblk=0)
    j2 = B.journal(3, 2, [RawInode(12, 8192, ((0, 100, False),))], 300, 310, hb=[c1])
    B.commit(4, 2, 310, 320, hb=[c1, j2])
    ops = [op(1, "write f 0 8192", 0, 1, i_size_after=8192), op(2, "fsync f", 1, 30),
           op(3, "truncate f 1024", 100, 101), op(4, "truncate f 8192", 102, 103)]
    hist = {"f": [(0, 0, 0), (0, 1, 8192), (100, 3, 1024), (102, 4, 8192)]}
    res = result(B.dev, ops, hist, {"f": 12}, INIT)
    rep = check(res)
    res_v = [v for v in rep.violations if v.kind == "resurrected"]
    assert res_v, rep.violations
    assert all(v.offset == 1024 and v.length == 3072 and v.crash_time_ns >= 310 for v in res_v)
    # before commit 2 can be on disk, the recovered size 8K is tid 1's: X is legitimate there
    assert not [v for v in rep.violations if v.crash_time_ns < 310]
    assert "zero-eof" in rep.counterexample
    # waiting for the zeroing write before the commit removes it
    B.dev.bios[-1].hb |= z.bit
    assert not [v for v in check(res).violations if v.kind == "resurrected"]


def test_fsync_data_and_size():
    B = LogBuilder()
    B.dev.initial[100] = fill(4096, INITIAL)
    d = B.write([100], 0, 10, src=1, ino=12, lblk=0)             # nobody waits for it
    j = B.journal(1, 1, [RawInode(12, 4096, ((0, 100, False),))], 20, 30)
    B.commit(2, 1, 30, 40, hb=[j])
    ops = [op(1, "write f 0 4096", 0, 1), op(2, "fsync f", 1, 40)]
    res = result(B.dev, ops, {"f": [(0, 0, 4096)]}, {"f": 12}, {12: RawInode(12, 4096, ((0, 100, False),))})
    rep = check(res)
    fd = [v for v in rep.violations if v.kind == "fsync-data"]
    assert fd and all(v.crash_time_ns >= 40 and (v.offset, v.length) == (0, 4096) for v in fd)
    assert "fsync-size" not in rep.kinds() and "garbage" not in rep.kinds()
    # the fsync 'returns' before its commit is durable: size may be lost
    ops2 = [op(1, "write f 0 4096", 0, 1, i_size_after=4096), op(2, "fsync f", 1, 35)]
    B2 = LogBuilder()
    d2 = B2.write([100], 0, 10, src=1)
    j2 = B2.journal(1, 1, [RawInode(12, 4096, ((0, 100, False),))], 20, 30, hb=[d2])
    B2.commit(2, 1, 30, 40, hb=[d2, j2])
    res2 = result(B2.dev, ops2, {"f": [(0, 0, 0), (0, 1, 4096)]}, {"f": 12}, INIT)
    rep2 = check(res2)
    assert ("fsync-size", 35) in _kinds_at(rep2)
    assert "fsync-data" not in rep2.kinds()


def test_fsync_later_ops_excuse():
    """A write after the fsync may replace its data; a truncate after it lowers the size."""
    B = LogBuilder()
    d1 = B.write([100], 0, 10, src=1)
    j = B.journal(1, 1, [RawInode(12, 4096, ((0, 100, False),))], 10, 20, hb=[d1])
    B.commit(2, 1, 20, 30, hb=[d1, j])
    B.write([100], 100, None, src=3)                                # op 3's data in flight
    j2 = B.journal(3, 2, [RawInode(12, 1000, ((0, 100, False),))], 200, 210)
    B.commit(4, 2, 210, 220, hb=[j2])
    ops = [op(1, "write f 0 4096", 0, 1, i_size_after=4096), op(2, "fsync f", 1, 30),
           op(3, "write f 0 4096", 90, 91), op(4, "truncate f 1000", 150, 151)]
    hist = {"f": [(0, 0, 0), (0, 1, 4096), (150, 4, 1000)]}
    rep = check(result(B.dev, ops, hist, {"f": 12}, INIT))
    assert not rep.violations, rep.violations


def test_impossible_size():
    B = LogBuilder()
    j = B.journal(1, 1, [RawInode(12, 3000, ())], 20, 30)
    B.commit(2, 1, 30, 40, hb=[j])
    ops = [op(1, "truncate f 8192", 0, 1)]
    rep = check(result(B.dev, ops, {"f": [(0, 0, 0), (0, 1, 8192)]}, {"f": 12}, INIT))
    assert "impossible-size" in rep.kinds()
    # a block-aligned size inside an extending write is a size the file passes through
    B = LogBuilder()
    j = B.journal(1, 1, [RawInode(12, 4096, ())], 20, 30)
    B.commit(2, 1, 30, 40, hb=[j])
    ops = [op(1, "write f 0 10000", 0, 1)]
    rep = check(result(B.dev, ops, {"f": [(0, 0, 0), (0, 1, 10000)]}, {"f": 12}, INIT))
    assert "impossible-size" not in rep.kinds()


def test_zeros_instead_of_data_counted_not_violation():
    """Size 8K committed with block 1 unwritten; op 2's data for block 1 never arrives."""
    B = LogBuilder()
    d = B.write([100], 0, 10, src=1)
    j = B.journal(1, 1, [RawInode(12, 8192, ((0, 100, False), (1, 101, True)))], 20, 30, hb=[d])
    B.commit(2, 1, 30, 40, hb=[d, j])
    ops = [op(1, "write f 0 4096", 0, 1), op(2, "write f 4096 4096", 1, 2)]
    rep = check(result(B.dev, ops, {"f": [(0, 0, 0), (0, 1, 4096), (1, 2, 8192)]}, {"f": 12}, INIT))
    assert rep.ok
    assert rep.zeros_instead_of_data > 0
    assert any(o.zeros_instead_of_data and o.size == 8192 for o in rep.outcomes)
