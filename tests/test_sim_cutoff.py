"""Runs cut short by a deadlock."""

def test_an_op_that_never_returns_has_no_durable_size():
    """A deadlocked run leaves ops that started and never ended: they have no size after,
    so no durability either (sim._size_durability must not compare with None)."""
    from eofsim.sim import simulate
    from eofsim.workload.generate import generate
    # Without the end-I/O worker's sort and merge (ioend_merge), whose offset order takes a
    # queued zeroed EOF block's ioend before the one that waits for it, this run deadlocks.
    res = simulate(generate(seed=2, n_ops=400, files=("a", "b", "c"), threads=3), "iomap-v4",
                   {"ioend_merge": False})
    unfinished = [r for r in res.ops if r.start_ns is not None and r.end_ns is None]
    assert res.deadlocks and unfinished
    assert all(r.size_durable_ns is None for r in unfinished)
