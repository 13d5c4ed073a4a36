"""Happens-before knowledge relative to the durable frontier (hb.py, block._settle): the
same crash semantics as one plain bit per bio, in memory that follows the writes not yet
durable instead of the length of the run (issue 12, streaming)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import eofsim.block as block
from eofsim.crash import check
from eofsim.crash.states import NEVER, durable_times
from eofsim.hb import SLACK, Frontier, Knowledge, as_int, one
from eofsim.scenario_file import load_scenario
from eofsim.sim import simulate
from eofsim.workload.generate import generate


# --- the value type against plain ints ------------------------------------------------

_OPS = st.lists(st.tuples(st.sampled_from("nosf"), st.integers(0, 7), st.integers(0, 7)),
                max_size=300)


@settings(max_examples=200, deadline=None)
@given(_OPS)
def test_knowledge_equals_plain_int_above_the_frontier(ops):
    """Random holders combined, new completions, bios settled (the frontier moves past the
    leading settled ones): above the frontier every holder has exactly the bits the plain
    int would, and it never holds a bit the plain int lacks."""
    fr = Frontier()
    impl = [0] * 8
    plain = [0] * 8
    settled = []
    for what, i, j in ops:
        if what == "n":                      # bio #len(settled) completes, holder i learns it
            bid = len(settled)
            settled.append(False)
            impl[i] = impl[i] | one(fr, bid)
            plain[i] |= 1 << bid
        elif what == "o":                    # holder j learns what holder i knows
            impl[j] |= impl[i]
            plain[j] |= plain[i]
        elif what == "s" and settled:        # some bio becomes durable
            settled[(i * 7 + j) % len(settled)] = True
            while fr.f < len(settled) and settled[fr.f]:
                fr.f += 1
        elif what == "f":                    # a far-ahead frontier: force re-basing
            for _ in range(SLACK + 1):
                settled.append(True)
            while fr.f < len(settled) and settled[fr.f]:
                fr.f += 1
        above = ~((1 << fr.f) - 1)
        for a, b in zip(impl, plain):
            assert as_int(a) & above == b & above
            assert as_int(a) & ~b == 0


def test_knowledge_rebases_and_stays_small():
    fr = Frontier()
    k = 0
    for bid in range(10_000):
        k = k | one(fr, bid)
        fr.f = bid + 1 - 3          # everything but the last three is settled
    assert k.width() <= SLACK + 8
    assert {10_000 - 3, 10_000 - 2, 10_000 - 1} <= set(k.ids())


# --- the simulation: same answers, bounded masks ---------------------------------------

def _run(sc, pol, enabled, monkeypatch):
    monkeypatch.setattr(block, "Frontier", lambda: Frontier(enabled))
    return simulate(sc, pol)


CASES = [("random-bh", lambda: generate(seed=3, n_ops=400, files=("a", "b"), threads=2), "bh-ordered"),
         ("random-iomap", lambda: generate(seed=5, n_ops=400, files=("a", "b", "c"), threads=1),
          "iomap-pending"),
         ("random-writeback", lambda: generate(seed=7, n_ops=300, files=("a",), threads=1), "bh-writeback"),
         ("truncate-up", lambda: load_scenario("truncate-up"), "bh-ordered"),
         ("append-fallocate", lambda: load_scenario("append-fallocate"), "iomap-v4")]


@pytest.mark.parametrize("name,make,pol", CASES, ids=[c[0] for c in CASES])
def test_frontier_changes_no_answer(name, make, pol, monkeypatch):
    """With knowledge re-based on the frontier and with every bit kept, the device log's
    durable times and every check report (both semantics, torn writes) are identical; and
    the online durable times equal the offline rule of crash/states.py on the full masks."""
    sc = make()
    full = _run(sc, pol, False, monkeypatch)
    comp = _run(sc, pol, True, monkeypatch)
    online = [NEVER if d is None else d for d in full.dev.durable_ns]
    full.dev.durable_ns = None               # force the offline rule on the full masks
    offline, notes = durable_times(full.dev)
    assert not notes
    assert online == offline
    full.dev.durable_ns = [None if d == NEVER else d for d in online]
    assert [as_int(b.hb) & ~as_int(a.hb) for a, b in zip(full.dev.bios, comp.dev.bios)] \
        == [0] * len(full.dev.bios)          # compaction only ever drops bits
    for kw in ({}, {"timed": True}, {"torn": True}):
        a, b = check(full, **kw).as_dict(), check(comp, **kw).as_dict()
        assert a == b


def test_retained_knowledge_is_bounded_independent_of_length():
    """On a workload with periodic fsyncs (and jbd2's commits) every write becomes durable
    soon after it completes, so the frontier follows the device log: the widest mask any
    bio holds stays under the same bound at 2,000 and at 12,000 operations (a plain int
    per bio would be as wide as the log), and the frontier reaches the end of the log."""
    widths = {}
    for n in (2000, 12000):
        res = simulate(generate(seed=1, n_ops=n, files=("a", "b", "c"), threads=1), "bh-ordered")
        ks = [b.hb for b in res.dev.bios if isinstance(b.hb, Knowledge)]
        assert ks
        widths[n] = max(k.width() for k in ks)
        assert len(res.dev.bios) > 4 * SLACK
        assert len(res.dev.bios) - res.dev.frontier.f <= SLACK
        assert widths[n] <= 2 * SLACK
