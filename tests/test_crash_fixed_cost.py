"""The cheap paths that cut check()'s fixed cost on small runs (issue 12,
crash_state_vs_kernel_image) against their definitions: the zeroing-op index (one op taken
directly, several swept) answers "which zeroing ops are in flight at t" and "which overlap
[t0, t1]" exactly as the definitions say, on random op times."""

from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from eofsim.crash.checkers import FileHistory

_op = st.tuples(st.integers(0, 40), st.one_of(st.none(), st.integers(0, 40))).map(
    lambda se: SimpleNamespace(start_ns=se[0], end_ns=None if se[1] is None else max(se[0], se[1])))


def _indexed(ops):
    fh = FileHistory.__new__(FileHistory)   # only the zeroing index, no run behind it
    fh.zeroing = list(ops)
    fh._index_zeroing()
    return fh


@given(st.lists(_op, min_size=1, max_size=4))
def test_zeroing_active_is_start_le_t_lt_end(ops):
    fh = _indexed(ops)
    for t in range(-1, 43):
        want = tuple(k for k, o in enumerate(ops)
                     if o.start_ns <= t and (o.end_ns is None or t < o.end_ns))
        assert tuple(fh.zeroing_active(t)) == want, t


@given(st.lists(_op, min_size=1, max_size=4), st.integers(0, 42), st.integers(0, 42))
def test_zeroing_overlapping_is_start_le_t1_and_end_gt_t0(ops, a, b):
    t0, t1 = min(a, b), max(a, b)
    fh = _indexed(ops)
    want = {k for k, o in enumerate(ops)
            if o.start_ns <= t1 and (o.end_ns is None or o.end_ns > t0)}
    assert fh.zeroing_overlapping(t0, t1) == want
