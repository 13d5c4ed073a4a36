"""The incremental exact exploration (per-file state carried from one crash point to the
next, re-checking only slots whose block versions or forced durability changed) against
the whole-state enumerating checker, on simulated random workloads long enough to have
hundreds of crash points; and the mechanisms it rests on, one by one."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eofsim.crash.explore import Explorer, check
from eofsim.crash.fakelog import LogBuilder, RawInode, op, result
from eofsim.policies import POLICIES
from eofsim.sim import simulate
from eofsim.workload.generate import generate


def _summary(rep):
    return ({(v.kind, v.crash_time_ns, v.file, v.offset, v.length, v.detail) for v in rep.violations},
            rep.outcomes, rep.crash_states, rep.zeros_instead_of_data)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 10 ** 6), st.integers(30, 160), st.integers(1, 3),
       st.sampled_from(sorted(POLICIES)), st.booleans(), st.booleans())
def test_incremental_exact_equals_enumerated_on_random_workloads(seed, n, threads, pol, timed, torn):
    res = simulate(generate(seed=seed, n_ops=n, files=("a", "b"), threads=threads), pol)
    a = check(res, timed=timed, torn=torn)
    if a.crash_states > 20_000:
        return  # the enumerating oracle would take too long
    b = check(res, timed=timed, torn=torn, mode="enumerate", samples=10 ** 6)
    assert b.exhaustive
    assert _summary(a) == _summary(b)


def _two_step_log():
    """f has two committed blocks; block 101 is rewritten at 10 and that write becomes
    durable only at 30 (a flush), with no file event in between: the file's checking
    context is the same at 20 and 30, only the block's possible versions change."""
    B = LogBuilder(bs=1024)
    ext = ((0, 100, False), (1, 101, False))
    j = B.journal(200, 1, [RawInode(12, 2048, ext)], 0, 1)
    B.commit(201, 1, 1, 2, hb=[j])
    w0 = B.write([100], 3, 4, src=1)
    w1 = B.write([101], 10, 12, src=1)
    B.flush(25, 30, hb=[w0, w1])
    ops = [op(1, "write f 0 2048", 0, 5, i_size_after=2048)]
    return result(B.dev, ops, {"f": [(0, 0, 0), (0, 1, 2048)]}, {"f": 12},
                  {12: RawInode(12, 0, ())}, end_ns=40)


def test_state_follows_block_durability_without_file_events():
    res = _two_step_log()
    ex = Explorer(res)
    jr = ex.journal
    fh = ex.fh["f"]
    seen = {}
    for t in (13, 20, 30, 35):
        p = max(jr.prefixes(t))
        ctx = fh.context(t, fh.reflected_count(t, jr.boundary(p), jr.tids[p - 1] if p else None))
        S = ex.file_state("f", ctx, jr.raw_inode(p, "f"), t, jr.forced(p))
        seen[t] = S.aggregate()[0]
    # each block may hold its old (garbage) or new version until the flush at 30
    assert seen[13] == seen[20] == 4
    assert seen[30] == seen[35] == 1
    rep = check(res)
    enum = check(res, mode="enumerate")
    assert _summary(rep) == _summary(enum)


def test_state_follows_forced_durability_of_a_commit():
    """A PREFLUSH commit makes durable what its flush covered: a state with the commit
    recovered must drop the older versions of the covered blocks, one without it keeps
    them; the same file state serves both prefixes at one crash time."""
    B = LogBuilder(bs=1024)
    ext = ((0, 100, False),)
    j = B.journal(200, 1, [RawInode(12, 1024, ext)], 0, 1)
    B.commit(201, 1, 1, 2, hb=[j])
    w = B.write([100], 3, 4, src=1)
    j2 = B.journal(202, 2, [RawInode(12, 1024, ext)], 5, 6)
    B.commit(203, 2, 7, None, hb=[j2, w], fua=False)   # in flight at the end
    ops = [op(1, "write f 0 1024", 0, 2, i_size_after=1024)]
    res = result(B.dev, ops, {"f": [(0, 0, 0), (0, 1, 1024)]}, {"f": 12},
                 {12: RawInode(12, 0, ())}, end_ns=20)
    assert _summary(check(res)) == _summary(check(res, mode="enumerate"))
    ex = Explorer(res)
    assert ex.journal.forced(2) >> w.id & 1 and not ex.journal.forced(1) >> w.id & 1


def test_dropped_snapshots_are_rebuilt_identically_and_long_runs_drop_them():
    from eofsim.crash.checkers import FileHistory, _drop
    res = simulate(generate(seed=3, n_ops=600, files=("a",), threads=1), "bh-ordered")
    ref = FileHistory(res, "a", res.dev.bs)
    want = [ref.lastw(k).runs for k in range(len(ref.done) + 1)]
    want_re = [ref.reentry(c).runs for c in range(1, len(ref.hist) + 1)]
    fh = FileHistory(res, "a", res.dev.bs)
    fh.lastw(len(fh.done))
    fh.reentry(len(fh.hist))
    _drop(fh._lw, len(fh._lw))
    _drop(fh._re, len(fh._re))
    assert sum(m is not None for m in fh._lw) == 2
    assert [fh.lastw(k).runs for k in range(len(fh.done) + 1)] == want
    assert [fh.reentry(c).runs for c in range(1, len(fh.hist) + 1)] == want_re
    # a whole check keeps only the snapshots later crash times may still ask for
    rep = check(res)
    kept = sum(m is not None for m in rep._explorer.fh["a"]._lw)
    assert kept < len(rep._explorer.fh["a"]._lw) // 4
    ex = rep._explorer
    assert sum(m is not None for m in ex.journal._forced_list) < len(ex.journal._forced_list) // 4


def test_an_fsync_completing_alone_refreshes_the_checking_context():
    """An fsync that completes with nothing else happening to the file (no size change,
    no data op) still changes what the checks demand: the crash states after it must be
    held to it. Here the new data never reaches the medium, so they fail."""
    from eofsim.content import INITIAL, fill
    B = LogBuilder(bs=1024)
    B.dev.initial[100] = fill(1024, INITIAL)
    B.write([100], 3, 4, src=1)  # completes, never flushed: not durable
    ops = [op(1, "write f 0 1024", 0, 1, i_size_after=1024), op(2, "fsync f", 2, 10)]
    res = result(B.dev, ops, {"f": [(0, 0, 1024)]}, {"f": 12},
                 {12: RawInode(12, 1024, ((0, 100, False),))}, end_ns=20)
    rep = check(res)
    assert {v.crash_time_ns for v in rep.violations if v.kind == "fsync-data"} >= {10, 20}
    assert _summary(rep) == _summary(check(res, mode="enumerate"))
