"""engine.Engine's current-instant FIFO (events due now kept out of the heap while run()
runs unperturbed) against the heap alone (`now_fifo = False`): random programs of tasks
that sleep (zero and positive), block on and wake wait queues, arm timers in the present
and the future, spawn tasks at an earlier time, run in pieces with `until` and `stop`, and
nest a run() inside a timer,
must execute the same events in the same order at the same times."""

from hypothesis import given, settings, strategies as st

from eofsim.engine import Engine, WaitQueue

ACTION = st.one_of(
    st.tuples(st.just("sleep"), st.sampled_from([0, 0, 1, 3])),
    st.tuples(st.just("wait"), st.integers(0, 2)),
    st.tuples(st.just("wake"), st.integers(0, 2)),
    st.tuples(st.just("wake_one"), st.integers(0, 2)),
    st.tuples(st.just("timer"), st.sampled_from([0, 0, 1, 5])),
    st.tuples(st.just("nested"), st.sampled_from([0, 2])),
    st.tuples(st.just("spawn_past"), st.sampled_from([1, 2])),
)
PROGRAM = st.lists(st.lists(ACTION, max_size=12), min_size=1, max_size=4)
PIECES = st.lists(st.integers(0, 6), max_size=4)


def _run(program, pieces, stop_after, fifo):
    eng = Engine()
    eng.now_fifo = fifo
    log = []
    qs = [WaitQueue(eng, f"q{i}", "test") for i in range(3)]

    def timer(arg):
        log.append((eng.now, "timer", arg))
        qs[arg[1] % 3].wake_all()

    def nested_timer(arg):
        log.append((eng.now, "nested", arg))
        eng.run(until=eng.now + arg[2])
        log.append((eng.now, "nested-end", arg))

    def task(name, actions):
        for i, (kind, x) in enumerate(actions):
            log.append((eng.now, name, i, kind))
            if kind == "sleep":
                yield x
            elif kind == "wait":
                if any(t.blocked_on is None and not t.done and t.name != name for t in eng.tasks):
                    yield qs[x]
            elif kind == "wake":
                qs[x].wake_all()
            elif kind == "wake_one":
                qs[x].wake_one()
            elif kind == "timer":
                eng.call_at(eng.now + x, timer, (name, i))
            elif kind == "nested":
                eng.call_at(eng.now, nested_timer, (name, i, x))
            else:
                # a task spawned at an earlier time: time goes back for it
                eng.spawn(f"{name}.{i}", child(f"{name}.{i}"), at=max(0, eng.now - x))
        log.append((eng.now, name, "end"))

    def child(name):
        log.append((eng.now, name, "child"))
        yield 1
        log.append((eng.now, name, "child-end"))

    for n, actions in enumerate(program):
        eng.spawn(f"t{n}", task(f"t{n}", actions))
    events = [0]

    def stop():
        events[0] += 1
        return events[0] == stop_after

    for p in pieces:
        eng.run(until=eng.now + p, stop=stop)
        log.append((eng.now, "piece"))
    eng.run()
    log.append((eng.now, "done", [t.done for t in eng.tasks]))
    return log


@settings(max_examples=300, deadline=None)
@given(PROGRAM, PIECES, st.integers(0, 20))
def test_now_fifo_runs_the_heaps_order(program, pieces, stop_after):
    assert _run(program, pieces, stop_after, True) == _run(program, pieces, stop_after, False)


def test_now_fifo_is_used():
    """The FIFO takes this instant's events when on, and only then (so the comparison above
    compares two paths)."""
    for fifo in (True, False):
        eng = Engine()
        eng.now_fifo = fifo
        seen = []

        def a():
            seen.append(eng._now_q is not None)
            yield 0

        eng.spawn("a", a())
        eng.run()
        assert seen == [fifo]
