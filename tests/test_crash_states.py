"""Crash states from hand-built I/O logs: durability rules, per-block order, recovery prefix."""

from eofsim.content import fill, garbage
from eofsim.crash.explore import Explorer, check, views_at
from eofsim.crash.fakelog import LogBuilder, RawInode, op, result
from eofsim.crash.recover import Journal
from eofsim.crash.states import NEVER, DiskModel

FILL = garbage(0xE5)


def _versions(disk, pblk, t, forced=0):
    lo, hi = disk.options(pblk, t, forced)
    return [disk.bio_of(pblk, v) for v in range(lo, hi + 1)]


def test_flush_guarantees_only_its_hb():
    B = LogBuilder()
    w = B.write([10], 0, 100, src=1)            # completes long before the flush
    f = B.flush(1000, 2000, hb=[])              # but its issuer never waited for it
    g = DiskModel(B.dev, timed=False)
    tm = DiskModel(B.dev, timed=True)
    assert g.dur[w.id] == NEVER
    assert tm.dur[w.id] == 2000
    assert _versions(g, 10, 5000) == [None, w.id]
    assert _versions(tm, 10, 5000) == [w.id]
    assert _versions(tm, 10, 1999) == [None, w.id]   # flush not yet complete


def test_flush_with_hb_and_fua():
    B = LogBuilder()
    w = B.write([10], 0, 100, src=1)
    B.flush(1000, 2000, hb=[w])
    u = B.write([11], 0, 50, src=2, fua=True)
    v = B.write([12], 0, None, src=3, fua=True)  # never completes
    d = DiskModel(B.dev)
    assert d.dur[w.id] == 2000 and d.dur[u.id] == 50 and d.dur[v.id] == NEVER
    assert _versions(d, 10, 1999) == [None, w.id]
    assert _versions(d, 10, 2000) == [w.id]
    assert _versions(d, 11, 49) == [None, u.id] and _versions(d, 11, 50) == [u.id]
    assert _versions(d, 12, 10 ** 9) == [None, v.id]


def test_preflush_write_covers_hb_not_itself():
    B = LogBuilder()
    w = B.write([10], 0, 100, src=1)
    c = B.write([11], 200, 300, src=2, preflush=True, hb=[w])
    d = DiskModel(B.dev)
    assert d.dur[w.id] == 300
    assert d.dur[c.id] == NEVER          # no FUA: its own data is not flushed


def test_per_block_order_never_older_than_durable():
    B = LogBuilder()
    a = B.write([10], 0, 10, src=1, fua=True)
    b = B.write([10], 20, None, src=2)
    c = B.write([10], 30, None, src=3)
    d = DiskModel(B.dev)
    assert _versions(d, 10, 5) == [None, a.id]
    assert _versions(d, 10, 15) == [a.id]
    assert _versions(d, 10, 25) == [a.id, b.id]
    assert _versions(d, 10, 35) == [a.id, b.id, c.id]
    e = B.write([10], 40, 50, src=4, fua=True)
    d = DiskModel(B.dev)
    assert _versions(d, 10, 60) == [e.id]     # an older version never comes back


def _journal(B, inos):
    d = DiskModel(B.dev)
    return Journal(B.dev, d, {12: RawInode(12, 0, ())}, inos), d


def test_recovery_prefix_stops_at_first_missing_commit():
    B = LogBuilder()
    j1 = B.journal(1, 1, [RawInode(12, 100, ())], 0, 10)
    c1 = B.commit(2, 1, 10, None, hb=[j1])           # in flight forever
    j2 = B.journal(3, 2, [RawInode(12, 200, ())], 20, 30)
    c2 = B.commit(4, 2, 30, 40, hb=[j2], preflush=False)   # durable (FUA), no preflush
    jr, d = _journal(B, {"f": 12})
    assert jr.prefixes(5) == [0]
    assert jr.prefixes(15) == [0, 1]
    # commit 2 on disk but commit 1 may be missing: recovery stops before tid 1
    assert jr.prefixes(50) == [0, 1, 2]
    assert jr.inodes(0)[12].size == 0 and jr.inodes(2)[12].size == 200
    assert any("not guaranteed" in n for n in jr.notes)    # c2 without PREFLUSH


def test_preflush_commit_on_disk_forces_its_hb_durable():
    """A PREFLUSH commit block reaches the medium only after its flush: a state with the
    commit on disk and an hb-covered ordered data write missing does not exist."""
    B = LogBuilder()
    d1 = B.write([100], 0, 10, src=1, ino=12, lblk=0)
    j1 = B.journal(1, 1, [RawInode(12, 4096, ((0, 100, False),))], 10, 20)
    B.commit(2, 1, 20, 30, hb=[d1, j1])
    ops = [op(1, "write f 0 4096", 0, 1, i_size_after=4096)]
    res = result(B.dev, ops, {"f": [(0, 0, 0), (0, 1, 4096)]}, {"f": 12}, {12: RawInode(12, 0, ())})
    ex = Explorer(res)
    vs = views_at(ex, 25)    # commit in flight
    assert (("f", 4096, ((0, 4096, 1),)),) in vs
    assert (("f", 4096, ((0, 4096, FILL),)),) not in vs
    assert (("f", 0, ()),) in vs
    assert check(res).ok


def test_timed_vs_guarantee_on_commit():
    """Data completed long before the commit but not in its hb: a violation by default,
    none under --timed."""
    B = LogBuilder()
    d1 = B.write([100], 0, 10, src=1, ino=12, lblk=0)
    j1 = B.journal(1, 1, [RawInode(12, 4096, ((0, 100, False),))], 1000, 1010)
    B.commit(2, 1, 1020, 1030, hb=[j1])
    ops = [op(1, "write f 0 4096", 0, 1, i_size_after=4096)]
    res = result(B.dev, ops, {"f": [(0, 0, 0), (0, 1, 4096)]}, {"f": 12}, {12: RawInode(12, 0, ())})
    g = check(res)
    assert "garbage" in g.kinds()
    assert g.counterexample and "bio #0" in g.counterexample
    assert check(res, timed=True).ok


def test_torn_sectors():
    B = LogBuilder(bs=1024)
    B.write([100], 0, None, src=1)
    res = result(B.dev, [], {"f": [(0, 0, 1024)]}, {"f": 12}, {12: RawInode(12, 1024, ((0, 100, False),))})
    B.dev.initial[100] = fill(1024, 7)
    ex = Explorer(res, torn=True)
    assert len(views_at(ex, 5)) == 4        # 2 sectors x {old, new}
    ex = Explorer(res, torn=False)
    assert len(views_at(ex, 5)) == 2
    assert check(res, torn=True).crash_states >= 4
