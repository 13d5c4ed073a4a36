"""Cost of the model self-checks (selfcheck.py): sim_ops_per_s on a random workload with
and without them, runs interleaved so machine load hits both alike. Prints both figures,
the ratio, and the load average."""

import os
import sys
import time

sys.path.insert(0, "src")

from eofsim.sim import simulate  # noqa: E402
from eofsim.workload.generate import generate  # noqa: E402

N = 3000


def main():
    sc = generate(seed=1, n_ops=N, files=("a", "b", "c"), threads=1, max_size=256 * 1024)
    best = {False: 1e9, True: 1e9}
    for _ in range(3):
        for on in (False, True):
            t0 = time.perf_counter()
            simulate(sc, "bh-ordered", {"self_check": on})
            best[on] = min(best[on], time.perf_counter() - t0)
    off, on = N / best[False], N / best[True]
    print(f"sim_ops_per_s (self-check off): {off:.0f} ops/s")
    print(f"sim_ops_per_s (self-check on):  {on:.0f} ops/s")
    print(f"self-check cost: {100 * (1 - on / off):.0f}% of sim_ops_per_s")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    os.environ.pop("EOFSIM_SELF_CHECK", None)
    main()
