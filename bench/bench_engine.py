"""Our event loop (eofsim.engine) against SimPy on the same contended workload (issue 2 asks
to choose by measured speed and clarity).

Workload, identical in both: TASKS tasks; each, ITERS times, sleeps a pseudo-random time,
takes one shared mutex, holds it for a short sleep, releases it, hands a token to the next
task through that task's wait queue and waits for a token from the previous one. An
"event" is one of those four logical steps (sleep, lock, hold, token wait), counted the same
way in both, so events/s compares cost per unit of modelled work, not each library's
internal bookkeeping. Best of REPEATS runs. Prints `name: value unit` lines only.
"""

import os
import random
import sys
import time

import simpy

from eofsim.engine import Engine, Mutex, WaitQueue

TASKS = 50
ITERS = 500
STEPS = 4  # sleep, lock, hold, token wait
EVENTS = TASKS * ITERS * STEPS  # 100,000
REPEATS = 3


def delays(seed=1):
    r = random.Random(seed)
    return [[(r.randint(1_000, 50_000), r.randint(100, 2_000)) for _ in range(ITERS)]
            for _ in range(TASKS)]


def run_engine(d):
    eng = Engine()
    mutex = Mutex(eng, "m", "mutex")
    tokens = [0] * TASKS
    wqs = [WaitQueue(eng, f"tok{i}", "token") for i in range(TASKS)]
    done = [0]

    def task(i):
        nxt = (i + 1) % TASKS
        for think, hold in d[i]:
            yield think
            yield from mutex.lock()
            yield hold
            mutex.unlock()
            tokens[nxt] += 1
            wqs[nxt].wake_all()
            while tokens[i] == 0:
                yield wqs[i]
            tokens[i] -= 1
        done[0] += 1

    for i in range(TASKS):
        eng.spawn(f"t{i}", task(i))
    eng.run()
    assert done[0] == TASKS, "engine run did not finish"
    return eng.now


def run_simpy(d):
    env = simpy.Environment()
    mutex = simpy.Resource(env, capacity=1)
    tokens = [0] * TASKS
    waiting = [None] * TASKS
    done = [0]

    def task(i):
        nxt = (i + 1) % TASKS
        for think, hold in d[i]:
            yield env.timeout(think)
            req = mutex.request()
            yield req
            yield env.timeout(hold)
            mutex.release(req)
            tokens[nxt] += 1
            ev = waiting[nxt]
            if ev is not None:
                waiting[nxt] = None
                ev.succeed()
            while tokens[i] == 0:
                waiting[i] = env.event()
                yield waiting[i]
            tokens[i] -= 1
        done[0] += 1

    for i in range(TASKS):
        env.process(task(i))
    env.run()
    assert done[0] == TASKS, "simpy run did not finish"
    return env.now


def best_rate(fn, d):
    best = float("inf")
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        fn(d)
        best = min(best, time.perf_counter() - t0)
    return EVENTS / best


def main():
    d = delays()
    eng = best_rate(run_engine, d)
    sim = best_rate(run_simpy, d)
    print(f"engine_events_per_s: {eng:.0f} events/s (loadavg {os.getloadavg()[0]:.2f})")
    print(f"simpy_events_per_s: {sim:.0f} events/s (loadavg {os.getloadavg()[0]:.2f})")
    print(f"engine_vs_simpy: {eng / sim:.1f}x (loadavg {os.getloadavg()[0]:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
