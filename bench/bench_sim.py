"""sim_ops_per_s: simulated operations per second on a 10k-operation random workload
(writes, reads, mmap, truncates, fallocates, fsyncs on three files; the flusher, jbd2
commits and end-I/O completion running). Target: >= 26,000 ops/s on the 2-core machine.
Each figure is the best of 5 runs (the median is printed too).

simulate keeps the cyclic garbage collector off while it runs, so the world a run leaves
behind is collected after it returns, outside the timed call. `sim_ops_per_s_with_gc` times
that too: the run, then a full collection (which frees the dropped world): an upper bound on
what a loop of simulations pays per run, collector included."""

import gc
import os
import statistics
import sys
import time

sys.path.insert(0, "src")

from eofsim.sim import simulate  # noqa: E402
from eofsim.workload.generate import generate  # noqa: E402

N = 10_000
TARGET = 26_000


def rate(sc, policy, runs=5, with_gc=False):
    times = []
    gc.collect()
    for _ in range(runs):
        t0 = time.perf_counter()
        simulate(sc, policy)
        if with_gc:
            gc.collect()
        times.append(time.perf_counter() - t0)
    return N / min(times), N / statistics.median(times)


def main():
    sc = generate(seed=1, n_ops=N, files=("a", "b", "c"), threads=1, max_size=256 * 1024)
    best, med = rate(sc, "bh-ordered")
    print(f"sim_ops_per_s: {best:.0f} ops/s (loadavg {os.getloadavg()[0]:.2f})")
    print(f"sim_ops_per_s_median: {med:.0f} ops/s (loadavg {os.getloadavg()[0]:.2f})")
    print(f"sim_ops_vs_target: {best / TARGET:.2f}x (loadavg {os.getloadavg()[0]:.2f})")
    b, m = rate(sc, "bh-ordered", with_gc=True)
    print(f"sim_ops_per_s_with_gc: {b:.0f} ops/s, median {m:.0f} (loadavg {os.getloadavg()[0]:.2f})")
    for policy in ("iomap-v4", "iomap-pending"):
        b, _ = rate(sc, policy, 3)
        print(f"sim_ops_per_s[{policy}]: {b:.0f} ops/s (loadavg {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
