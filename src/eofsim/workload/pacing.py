"""Think time for replayed op logs (issue 14).

An fsx log (or a generated campaign workload) carries no times. Replayed back to back, with
only the 1 us syscall cost between them, 2,000 ops finish in about 2 ms: before the first
jbd2 commit (commit_interval_ns, 5 s), before any periodic writeback (dirty_writeback_ns,
5 s) and long before dirty data expires (dirty_expire_ns, 30 s). Every crash state is then
"nothing committed yet" and every design passes, zero-in-memory included. `pace` puts one
op on each tick of an `interval` grid instead (an op starts at its tick, or when the previous
one ends if that is later; an op with its own start time keeps it and the grid goes on from
there). The default, 50 ms, makes a 1,000-op log span 50 s: ten commit intervals and one
dirty expiry, so commits, kupdate writeback and the flusher interleave with the ops as they
would under a real fsx run on a slow, or at least not idle, machine. It is an assumption
(fsx's real pace depends on the machine); `--op-interval` changes it."""

from dataclasses import replace


def pace(ops, interval_ns: int) -> list:
    """The ops with start times on an `interval_ns` grid (unchanged when it is 0)."""
    return list(pace_iter(ops, interval_ns))


def pace_iter(ops, interval_ns: int):
    """pace, one op at a time."""
    if not interval_ns:
        yield from ops
        return
    t = 0
    for op in ops:
        if op.at_ns is not None:
            t = op.at_ns
            yield op
        else:
            yield replace(op, at_ns=t)
        t += interval_ns


def span_warning(ops, tun, interval_ns: int) -> str | None:
    """A warning when the whole log runs inside one commit interval (no commit can fall
    between two of its ops), else None."""
    n, lo, hi = 0, None, None
    for op in ops:
        n += 1
        if op.at_ns is not None:
            lo = op.at_ns if lo is None else min(lo, op.at_ns)
            hi = op.at_ns if hi is None else max(hi, op.at_ns)
    if not n:
        return None
    span = (hi - lo) if lo is not None else 0
    if span >= tun.commit_interval_ns:
        return None
    from ..units import fmt_dur
    return (f"the {n} ops span {fmt_dur(span) if span else '0s'}, inside one "
            f"{fmt_dur(tun.commit_interval_ns)} commit interval: no commit or writeback falls "
            "between them, so most crash states see nothing committed"
            + ("" if interval_ns else " (--op-interval 0)")
            + "; use a larger --op-interval")
