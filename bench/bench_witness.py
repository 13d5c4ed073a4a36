"""What issue 14's verdicts cost: `check` of every built-in under the designs whose
violations get timing witnesses (iomap-v4-nowait, xfs, zero-in-memory), with and without
the witnesses and their --timed reruns, and the same for `--schedules 29` with the
deadlock-aware schedule runner. Best of 3, in-process (no CLI start-up). Prints the
figures, the ratio with/without, and the machine's load average."""

import os
import sys
import time

sys.path.insert(0, "src")

from eofsim.crash.explore import check  # noqa: E402
from eofsim.crash.schedules import run_schedules  # noqa: E402
from eofsim.crash.witness import witnesses  # noqa: E402
from eofsim.scenario_file import builtin_names, load_scenario  # noqa: E402
from eofsim.sim import simulate  # noqa: E402

POLICIES = ["iomap-v4-nowait", "xfs", "zero-in-memory"]


def best(fn, runs=3):
    out = None
    for _ in range(runs):
        t0 = time.perf_counter()
        n = fn()
        dt = time.perf_counter() - t0
        out = (dt, n) if out is None or dt < out[0] else out
    return out


def plain():
    n = 0
    for name in builtin_names():
        sc = load_scenario(name)
        for p in POLICIES:
            n += len(check(simulate(sc, p)).violations)
    return n


def witnessed():
    n = 0
    for name in builtin_names():
        sc = load_scenario(name)
        for p in POLICIES:
            rep = check(simulate(sc, p))
            n += sum(1 for w in witnesses(sc, p, {}, rep) if w.reproduced)
    return n


def schedules():
    sc = load_scenario("endio-waits-zero")
    return sum(1 for r in run_schedules(sc, "iomap-v4", n=29) if r.failure)


if __name__ == "__main__":
    t_plain, nv = best(plain)
    t_wit, nw = best(witnessed)
    t_s, ns = best(schedules)
    print(f"check, {len(builtin_names())} built-ins x {len(POLICIES)} designs: {t_plain:.3f} s "
          f"({nv} violations)")
    print(f"  with timing witnesses and --timed reruns: {t_wit:.3f} s ({nw} reproduced); "
          f"ratio {t_wit / t_plain:.2f}")
    print(f"check endio-waits-zero -p iomap-v4 --schedules 29: {t_s:.3f} s ({ns} of 29 failed)")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
