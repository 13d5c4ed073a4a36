"""Expected results of crash exploration on the simulator's runs (issue 3)."""

import pytest

from eofsim.crash import check, check_schedules
from eofsim.scenario_file import builtin_names, load_scenario, load_text
from eofsim.sim import simulate


@pytest.mark.parametrize("name", builtin_names())
def test_bh_ordered_no_violation(name):
    rep = check(simulate(load_scenario(name), "bh-ordered"))
    assert rep.exhaustive
    assert not rep.violations, (rep.violations[:3], rep.counterexample, rep.notes)


def test_bh_writeback_nodelalloc_extend_over_hole_exposes_garbage():
    rep = check(simulate(load_scenario("extend-over-hole"), "bh-writeback", {"delalloc": "false"}))
    g = [v for v in rep.violations if v.kind == "garbage"]
    assert g, rep.violations
    # the exposed bytes are the newly allocated blocks of 'write f 16k 8k'
    assert all(v.file == "f" and 16384 <= v.offset and v.offset + v.length <= 24576 for v in g)
    assert rep.counterexample


LITMUS = """
files:
  - name: f
    size: 0
ops:
  - "write f 0 100"
  - "fsync f"
  - "write f 100 100"
"""


def test_two_appends_in_one_block_zeros_instead_of_data():
    rep = check(simulate(load_text(LITMUS, "litmus"), "bh-ordered"))
    assert not rep.violations
    assert rep.zeros_instead_of_data > 0
    assert any(o.size == 200 and o.zeros_instead_of_data for o in rep.outcomes)


def test_schedules_run():
    reps, failing = check_schedules(load_scenario("truncate-up"), "bh-ordered", {}, n=3)
    assert len(reps) == 3
    assert all(r.crash_points > 0 for _, r in reps)


def test_zero_in_memory_policy_caught_with_minimal_counterexample():
    from eofsim.crash.minimize import minimize
    sc = load_scenario("sentinel-truncate-up")
    rep = check(simulate(sc, "zero-in-memory"))
    assert "garbage" in rep.kinds() and rep.counterexample
    m = minimize(sc, "zero-in-memory", "garbage")
    assert m is not None and len(m.ops) <= len(list(sc.all_ops()))
    assert "commit of tid" in m.timeline and "i_disksize=" in m.timeline


def test_unwaited_zeroing_caught_by_default_not_timed():
    """iomap-v4-nowait submits the zeroed EOF block but never waits for it before the size
    commits: caught by default although the write finished long before the commit."""
    res = simulate(load_scenario("sentinel-truncate-up"), "iomap-v4-nowait")
    assert "garbage" in check(res).kinds()
    assert not check(res, timed=True).violations


def test_minimize_reports_a_model_crash_instead_of_not_reproducing():
    """crash/minimize.py treats only a refused sub-scenario (InputError) as "does not
    reproduce"; a model crash during minimisation is reported."""
    import pytest
    from eofsim.crash.minimize import ModelCrash, minimize
    from eofsim.errors import InputError
    from dataclasses import replace
    from eofsim.ops import parse_op
    base = load_scenario("sentinel-truncate-up")
    th = base.threads[0]
    sc = replace(base, threads=(replace(th, ops=th.ops + (parse_op("sleep 1s"),)),))
    calls = [0]

    def flaky(s, policy, ov):
        calls[0] += 1
        if calls[0] > 1:
            raise KeyError("model bug")
        return simulate(s, policy, ov)
    with pytest.raises(ModelCrash, match="KeyError"):
        minimize(sc, "zero-in-memory", "garbage", simulate=flaky)

    full = len(list(sc.all_ops()))

    def refusing(s, policy, ov):
        if len(list(s.all_ops())) < full:
            raise InputError("refused")
        return simulate(s, policy, ov)
    m = minimize(sc, "zero-in-memory", "garbage", simulate=refusing)
    assert m is not None and len(m.ops) == len(list(sc.all_ops()))   # nothing could be removed
