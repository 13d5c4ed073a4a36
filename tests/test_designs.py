"""Issue 4's expectations for the thread's designs, under the default (guarantee) crash
semantics. Each fails if the model, a policy or the crash checker is wrong."""

import pytest

from eofsim.crash.explore import check, check_schedules
from eofsim.policies import POLICIES
from eofsim.scenario_file import builtin_names, load_scenario
from eofsim.sim import simulate

S = 1_000_000_000
SENTINELS = ("sentinel-truncate-up", "sentinel-fallocate", "sentinel-append")
SAFE = ("bh-ordered", "iomap-v4", "iomap-deferred", "iomap-pending")


def kinds(scenario, policy, **ov):
    return check(simulate(load_scenario(scenario), policy, ov or None)).kinds()


@pytest.mark.parametrize("policy", ["zero-in-memory", "iomap-v4-nowait"])
@pytest.mark.parametrize("scenario", ["sentinel-truncate-up", "sentinel-fallocate"])
def test_unsafe_designs_expose_the_sentinel(policy, scenario):
    assert "garbage" in kinds(scenario, policy)


def test_nowait_exposes_the_sentinel_on_append():
    assert "garbage" in kinds("sentinel-append", "iomap-v4-nowait")


def test_zero_in_memory_append_fails_under_some_schedule():
    """On the iomap path an append's size moves only at I/O completion, so in the default
    schedule (EOF block completes first) zero-in-memory happens to be safe; a schedule that
    completes the appended block first exposes the sentinel."""
    sc = load_scenario("sentinel-append")
    assert kinds("sentinel-append", "zero-in-memory") == set()
    _, failing = check_schedules(sc, "zero-in-memory", n=20)
    assert failing is not None and "garbage" in failing[1].kinds()


@pytest.mark.parametrize("policy", SAFE)
@pytest.mark.parametrize("scenario", builtin_names())
def test_safe_designs_have_no_violation(policy, scenario):
    assert kinds(scenario, policy) == set()


XFS_GAP = ("sync-file-range-past-eof", "endio-waits-zero", "sentinel-dsync-append")


@pytest.mark.parametrize("scenario", [n for n in builtin_names() if n not in XFS_GAP])
def test_xfs_rules_safe_except_extending_write_gap(scenario):
    assert kinds(scenario, "xfs") == set()


@pytest.mark.parametrize("scenario", XFS_GAP)
def test_xfs_extending_write_gap_is_found(scenario):
    """Model finding (not the issue's expectation): XFS's extending writes zero the old EOF
    block in the page cache only (xfs_file_write_zero_eof) and xfs_end_ioend moves
    i_disk_size to the end of whatever I/O completed. sync_file_range over only the data past
    the old EOF block writes that I/O alone, so the size commits over a block whose zeroes
    never reached disk - the gap Zhang Yi pointed out."""
    assert kinds(scenario, "xfs") == {"garbage"}


def _truncate_up_latency(policy, **ov):
    res = simulate(load_scenario("truncate-up"), policy, ov or None)
    rec = next(r for r in res.ops if r.op.kind == "truncate")
    return rec.size_durable_ns - rec.start_ns


def _within_one_commit(rec, tun):
    """The latest a size set by `rec` can commit by the commit timer: a transaction opened
    at the op's start expires commit_interval later, and jbd2 arms the timer at
    round_jiffies_up(t_expires), the next whole second (commit I/O: < 50 ms)."""
    t_expires = rec.start_ns + tun.commit_interval_ns
    timer = (t_expires // S + 1) * S if tun.commit_timer == "round_jiffies_up" else t_expires
    return timer - rec.start_ns + 50_000_000


def test_truncate_up_durable_within_one_commit_interval_under_v4():
    res = simulate(load_scenario("truncate-up"), "iomap-v4")
    rec = next(r for r in res.ops if r.op.kind == "truncate")
    assert rec.size_durable_ns - rec.start_ns <= _within_one_commit(rec, res.tun)


def test_truncate_up_durable_only_after_dirty_expiry_under_deferred():
    lat = _truncate_up_latency("iomap-deferred")
    assert 30 * S <= lat <= 45 * S
    # It follows the expiry knob, not the commit interval.
    assert _truncate_up_latency("iomap-deferred", dirty_expire_ns="10s") < 20 * S


def test_fallocate_submits_and_waits_under_pending_but_not_deferred():
    res = {p: simulate(load_scenario("append-fallocate"), p) for p in ("iomap-pending", "iomap-deferred")}
    rec = {p: next(r for r in r_.ops if r.op.kind == "fallocate") for p, r_ in res.items()}
    lat = {p: r.size_durable_ns - r.start_ns for p, r in rec.items()}
    assert lat["iomap-pending"] <= _within_one_commit(rec["iomap-pending"], res["iomap-pending"].tun)
    assert lat["iomap-deferred"] >= 30 * S


def test_endio_waiting_for_zero_io_can_deadlock_a_single_worker():
    """v4 18/23's end-I/O wait, with one end-I/O worker: when the appended block's completion
    is processed before the zeroed block's, the worker waits for a folio whose writeback only
    it can end. The engine names the cycle. Two workers break it."""
    sc = load_scenario("endio-waits-zero")
    found = [s for s in range(1, 25) if simulate(sc, "iomap-v4", perturb_seed=s).deadlocks]
    assert found, "some schedule completes the appended block first"
    res = simulate(sc, "iomap-v4", perturb_seed=found[0])
    assert "ext4-endio" in res.deadlocks[0].text() and "writeback" in res.deadlocks[0].text()
    assert res.stall is not None
    for s in found[:3]:
        two = simulate(sc, "iomap-v4", {"endio_workers": 2}, perturb_seed=s)
        assert not two.deadlocks and two.stall is None
    for p in ("iomap-deferred", "iomap-pending", "iomap-v4-nowait"):
        assert not any(simulate(sc, p, perturb_seed=s).deadlocks for s in found[:5])


def test_every_policy_is_registered_with_a_docstring_naming_its_source():
    for name, cls in POLICIES.items():
        mod = __import__(cls.__module__, fromlist=["x"])
        assert mod.__doc__ and len(mod.__doc__) > 80, name


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_writeback_and_endio_deadlock_under_v4_whatever_the_workers(workers):
    """A WB_SYNC_ALL pass holds folios 0-1 under writeback in an unsubmitted ioend and waits
    for folio 2; folio 2's end-I/O waits (v4 18/23) for folio 1: a cycle through a writeback
    pass and an end-I/O worker, which more workers do not break."""
    sc = load_scenario("writeback-waits-endio")
    res = simulate(sc, "iomap-v4", {"endio_workers": workers})
    assert res.deadlocks, "the wait-for cycle is named"
    text = res.deadlocks[0].text()
    assert "t1 waits on writeback f:2" in text and "waits on writeback f:1" in text
    assert res.stall is not None


@pytest.mark.parametrize("policy", [p for p in POLICIES if p != "iomap-v4"])
def test_writeback_and_endio_never_deadlock_elsewhere(policy):
    res = simulate(load_scenario("writeback-waits-endio"), policy)
    assert not res.deadlocks and res.stall is None


# (policy, built-in) pairs that deadlock under some perturbed schedule, each documented in
# the README (v4 18/23's end-I/O wait: writeback-waits-endio, endio-waits-zero, append-write).
DOCUMENTED_HANGS = {("iomap-v4", "writeback-waits-endio"), ("iomap-v4", "endio-waits-zero"),
                    ("iomap-v4", "append-write")}


@pytest.mark.parametrize("policy", SAFE)
def test_safe_designs_hold_under_perturbed_schedules(policy):
    """Every safe design on every built-in under 10 perturbed schedules (I/O latencies and
    the order of simultaneous events): no crash-consistency violation in any schedule, and
    no deadlock but the documented ones."""
    hangs, bad = set(), []
    for name in builtin_names():
        sc = load_scenario(name)
        for seed in range(1, 11):
            res = simulate(sc, policy, perturb_seed=seed)
            if res.deadlocks or res.stall is not None:
                hangs.add((policy, name))
                continue
            k = check(res).kinds()
            if k:
                bad.append((name, seed, sorted(k)))
    assert bad == []
    assert hangs <= DOCUMENTED_HANGS, hangs - DOCUMENTED_HANGS


def test_deferred_widened_writeback_makes_the_size_durable_within_a_commit():
    """iomap-deferred's writeback widening (Jan Kara 2026-02-05: submit from i_disksize up):
    sync_file_range over only the data past the old EOF block also writes the pending EOF
    block, so the end-I/O worker moves i_disksize and the next timer commit carries it."""
    res = simulate(load_scenario("sync-file-range-past-eof"), "iomap-deferred")
    w = res.ops[0]
    assert w.size_durable_ns is not None
    assert w.size_durable_ns - w.start_ns <= _within_one_commit(w, res.tun)


def test_pending_block_completion_goes_through_the_end_io_worker():
    """PendingEofBlock.needs_end_io: the pending block's I/O is routed to the end-I/O worker
    even when it ends below i_disksize (here punch's ext4_update_disksize_before_punch
    raised i_disksize to 8192 past it); only there does completion clear the block and move
    i_disksize on, so the truncate's size becomes durable at all."""
    from eofsim.ops import parse_op
    from eofsim.scenario import FileSpec, Scenario, ThreadSpec
    sc = Scenario("t", files=(FileSpec("f", 1000),), threads=(ThreadSpec("t0", tuple(
        parse_op(o) for o in ["truncate f 16384", "fallocate f 1000 7192 punch_hole", "sleep 60s"])),))
    for policy in ("iomap-deferred", "iomap-pending"):
        res = simulate(sc, policy)
        assert res.ops[0].size_durable_ns is not None, policy


# --- sentinel-dsync-append (issue 11): an O_DSYNC append syncs the written range only -----

@pytest.mark.parametrize("policy,expected", [
    ("bh-ordered", set()), ("iomap-v4", set()), ("iomap-deferred", set()), ("iomap-pending", set()),
    ("bh-writeback", {"garbage"}), ("iomap-v4-nowait", {"garbage"}), ("zero-in-memory", {"garbage"}),
    ("xfs", {"garbage"})])
def test_dsync_append_per_design(policy, expected):
    assert kinds("sentinel-dsync-append", policy) == expected


@pytest.mark.parametrize("policy", ["iomap-deferred", "iomap-pending"])
def test_dsync_append_needs_fsync_or_writeback_to_find_the_pending_block(policy, monkeypatch):
    """The range [5000, 5999] misses the pending EOF block. The deferred design's writeback
    from i_disksize up and the pending design's submit-and-wait on writeback write it
    anyway; "find the ordered block in ext4_sync_file()" (before_fsync) does too. Either
    suffices here; without all of them the size the O_DSYNC write returned over is not
    durable."""
    from eofsim.policies.iomap_base import PendingEofBlock
    from eofsim.policies.iomap_deferred import IomapDeferred
    from eofsim.policies.iomap_pending import IomapPending

    def noop(self, ctx, inode, *args):
        return
        yield
    monkeypatch.setattr(IomapDeferred, "writeback_range", lambda self, ctx, inode, wbc: None)
    monkeypatch.setattr(IomapPending, "before_writeback", noop)
    assert kinds("sentinel-dsync-append", policy) == set()      # before_fsync alone
    monkeypatch.setattr(PendingEofBlock, "before_fsync", noop)
    assert kinds("sentinel-dsync-append", policy) == {"fsync-size"}


def test_dsync_write_obligation_is_the_written_range():
    """A ranged obligation: the O_DSYNC write's bytes and the size that holds them."""
    from eofsim.crash.checkers import FileHistory
    res = simulate(load_scenario("sentinel-dsync-append"), "bh-ordered")
    w = res.ops[0]
    fh = FileHistory(res, "f", 4096, ino=w.ino)
    ctx = fh.context(w.end_ns, len(fh.hist))
    (f, L, P, zok, lo, hi), = ctx.fsyncs
    assert (f.index, L, lo, hi) == (1, 6000, 5000, 6000)
    assert ctx.check_file(5999, w.end_ns) and not ctx.check_file(6000, w.end_ns)
    vl, _, _ = ctx.check_runs(((5000, 6000, 0),))
    assert [v[0] for v in vl] == ["fsync-data"]
    vl, _, _ = ctx.check_runs(((1000, 4096, 0),))        # outside the range: not covered
    assert vl == []
