"""Property tests for issue 14's witnesses and wait-for analysis, against independent
oracles: a --timed recheck of the delayed rerun, and the engine's own task state."""

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from eofsim.crash.explore import check
from eofsim.crash.witness import witnesses
from eofsim.hang import analyse
from eofsim.ops import Op
from eofsim.scenario import FileSpec, Plant, Scenario, ThreadSpec
from eofsim.sim import simulate
from eofsim.workload.generate import generate

S = 1_000_000_000


@st.composite
def eof_scenarios(draw):
    size = draw(st.integers(1, 4095))
    plant = Plant(size, 4096 - size, 0x5A)
    kind = draw(st.sampled_from(["truncate", "write", "fallocate"]))
    at = draw(st.integers(0, 12)) * 500_000_000
    grow = draw(st.integers(1, 20000))
    gap = draw(st.integers(0, 3000))
    if kind == "truncate":
        op = Op("truncate", "f", size=size + grow, at_ns=at)
    elif kind == "write":
        op = Op("write", "f", off=size + gap, len=grow, at_ns=at)
    else:
        op = Op("fallocate", "f", off=size + gap, len=grow, at_ns=at)
    ops = [op]
    if draw(st.booleans()):
        k = draw(st.sampled_from(["fsync", "fdatasync", "sync"]))
        ops.append(Op("sync") if k == "sync" else Op(k, "f"))
    return Scenario("prop", files=(FileSpec("f", size, (plant,)),),
                    threads=(ThreadSpec("t0", tuple(ops)),))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(eof_scenarios(), st.sampled_from(["iomap-v4-nowait", "zero-in-memory", "xfs", "bh-writeback"]))
def test_witness_reproduces_under_timed(sc, policy):
    rep = check(simulate(sc, policy))
    event(f"violations: {bool(rep.violations)}")
    for v, tw in zip(rep.violations, witnesses(sc, policy, {}, rep)):
        trep = check(simulate(sc, policy, {}, bio_delays=tw.delays), timed=True)
        shown = any(x.kind == v.kind and x.file == v.file for x in trep.violations)
        # the witness says exactly what the independent recheck finds, and it reproduces
        assert tw.reproduced == shown
        assert shown, (sc, policy, v, tw.as_dict())
        # delays only ever slow the bios the state needs off the disk
        if tw.rounds == 1:
            assert set(tw.delays) <= {n.bio for n in tw.needs}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 400), st.integers(1, 30))
def test_reported_cycles_are_cycles_in_the_engine(seed, perturb):
    sc = generate(seed, 30, threads=4)
    res = simulate(sc, "iomap-v4", {}, perturb_seed=perturb)
    h = analyse(res)
    tasks = {t.name: t for t in res.engine.tasks}
    assert (h["verdict"] == "deadlock") == bool(res.deadlocks)
    for c in h["deadlocks"]:
        names = [t["task"] for t in c["tasks"]]
        if not c["persists"]:
            continue
        for i, name in enumerate(names):
            wq = tasks[name].blocked_on
            assert wq is not None and wq.name == c["tasks"][i]["waits_on"]
            assert tasks[names[(i + 1) % len(names)]] in wq.owners()
    if h["stall"] is not None:
        for t in h["stall"]["tasks"]:
            assert tasks[t["task"]].blocked_on is not None and not tasks[t["task"]].done
