"""sim_ops_per_s: simulated operations per second on a 10k-operation random workload
(writes, reads, mmap, truncates, fallocates, fsyncs on three files; the flusher, jbd2
commits and end-I/O completion running). Target: >= 26,000 ops/s on the 2-core machine.
Each figure is the best of 5 runs (the median is printed too).

simulate keeps the cyclic garbage collector off while it runs, so the world a run leaves
behind is collected after it returns, outside the timed call. `sim_ops_per_s_with_gc` times
that too: the run, then a full collection (which frees the dropped world): an upper bound on
what a loop of simulations pays per run, collector included.

`sim_instructions_per_op` is the machine-independent companion of the rate: instructions
one simulate of the same workload executes (valgrind's callgrind, a run with the simulate
minus one without, hash seed fixed and address randomisation off), divided by its ops.
A speed change is judged by it; the rate moves with the machine and its load as well.
Printed as skipped where valgrind is not installed (`apt install valgrind`)."""

import gc
import os
import re
import shutil
import statistics
import subprocess
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


_CHILD = """
import sys
sys.path.insert(0, "src")
from eofsim.sim import simulate
from eofsim.workload.generate import generate
sc = generate(seed=1, n_ops=%d, files=("a", "b", "c"), threads=1, max_size=256 * 1024)
for _ in range(int(sys.argv[1])):
    simulate(sc, "bh-ordered")
"""


def instructions(runs):
    """Instructions callgrind counts for the child running `runs` simulates."""
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
           sys.executable, "-c", _CHILD % N, str(runs)]
    if shutil.which("setarch"):
        cmd = ["setarch", "-R"] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PYTHONHASHSEED="0"))
    m = re.search(r"refs:\s*([\d,]+)", r.stderr)
    if r.returncode != 0 or m is None:
        raise RuntimeError(f"callgrind failed: {r.stderr.strip().splitlines()[-1:]}")
    return int(m.group(1).replace(",", ""))


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
    if shutil.which("valgrind") is None:
        print("sim_instructions_per_op: skipped (valgrind not installed)")
    else:
        per_op = (instructions(1) - instructions(0)) / N
        print(f"sim_instructions_per_op: {per_op:,.0f} (callgrind, bh-ordered; "
              f"loadavg {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
