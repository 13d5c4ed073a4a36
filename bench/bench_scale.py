"""scale_256_s[device]: wall time to simulate one 256-thread scaling run (truncate-up, the
default workload: 8 rounds, neighbour on) under each of the four designs the README's scaling
table uses, per device preset; scale_readme_grid_s: the whole README grid (4 presets x 2 ops
x 1/8/64/256 threads x 4 designs). Issue 15 asks that 256 threads be fast enough to keep in
the table. Best of 3; the machine's load average is printed beside the figures."""

import os
import sys
import time

sys.path.insert(0, "src")

from eofsim.report.scale import DEFAULT_POLICIES, run_scale, scale_row  # noqa: E402
from eofsim.workload.scaling import ScaleSpec  # noqa: E402


def best(fn, runs=3):
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)


def main():
    print(f"load_average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    spec = ScaleSpec(threads=256)
    for dev in ("nvme", "sata-ssd", "hdd", "throttled"):
        t = best(lambda: [scale_row(spec, p, {"device": dev}) for p in DEFAULT_POLICIES])
        print(f"scale_256_s[{dev}]: {t / len(DEFAULT_POLICIES):.3f} s per design")
    t = best(lambda: run_scale(ScaleSpec(), DEFAULT_POLICIES, (1, 8, 64, 256),
                               ("truncate-up", "extending-write"), ("nvme", "sata-ssd", "hdd", "throttled")), 1)
    print(f"scale_readme_grid_s: {t:.1f} s (128 runs)")
    print(f"load_average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
