"""Crash checking at scale (issue 12): cost per operation as the workload grows, sparse
files, the main job's wall time, and the model against one real-kernel crash image.

check_us_per_op[N]: `check` (default exact mode) of generate(seed=1, n_ops=N, files=a,b,c,
  threads=1) simulated under bh-ordered, divided by N (simulation not included); best of
  5 (1k), 3 (10k), 1 (100k) checks.
check_growth_10k_vs_1k: per-op cost at 10k / per-op cost at 1k. Target <= 1.5.
check_100k_s: the 100k-op check in seconds. Target <= 100 s.
sparse_*_check_s / sparse_*_peak_mib: simulate + check of `truncate f 1T; fsync f`, of a
  write at 1 TiB, of a 64 GiB file with 1 KiB blocks, of `fallocate` and zero range over
  1 TiB and of a 64 GiB fallocate + punch hole with 1 KiB blocks (unwritten extents as
  runs, ext4/extents.ExtentMap), each in a fresh interpreter (peak RSS (VmHWM) of that
  process, interpreter included). Targets < 1 s, < 100 MiB.
compare_demo_wall_s: `eofsim compare --threads 1,8,64,256 --json` (the grid `make demo`
  runs, without writing the HTML) as a subprocess, default jobs (one per core); the
  serial (--jobs 1) figure beside it. Target <= 10 s.
crash_state_vs_kernel_image: seconds per real-kernel crash image (copy, mount with
  replay, read, umount; kernel/ machinery, measured in this run on a built-in) over the
  model's seconds per crash state (the same built-in, and the 10k workload). Target
  >= 1,000x. Printed as skipped where root, loop devices or FUSE are missing.
long_{100k,300k,1m}_{sim_s,check_s,peak_mib}: generate + simulate + check of the same
  generator at 100,000, 300,000 and 1,000,000 ops in a fresh interpreter each (peak RSS =
  VmHWM of that process), and peak_kib_per_op beside it. The check runs with no
  max_violations cap: bh-ordered finds about 34 violations per 1,000 ops on this generator,
  so the default cap (10,000) stops the check before 300,000 ops' crash points (measured:
  10,001 violations, then "stopped after") and would time only that part; the figure says
  whether every crash point was checked. Memory is flat per op (no quadratic term; masks
  relative to the durable frontier, hb.py) but not bounded: the scenario's op list, the
  simulation's op records, bios, device log and journal records, and the checker's disk
  model (every version of every block), journal index, file histories and change log are
  all kept whole; and under data=ordered freed blocks are never reallocated (extents.alloc),
  so even the per-block state grows with the run (about 0.9 new blocks per op here).
stream_{100k,300k,1m}_s / _peak_mib: the same workloads generated lazily and simulated and
  checked together (crash/stream.py, StreamCheck), every crash point, fresh interpreter
  each; the RSS at 10 / 50 / 90 % of the ops beside the peak shows it flat. The report is
  the one check() gives (tests/test_stream.py). fsx_stream_1m_*: `eofsim fsx --stream` of a
  1,000,000-op fsx log (the single-file workload written with dump_fsxops), peak RSS of
  that process (its own VmHWM, reported at exit). The whole-run long figures (long_*) are kept
  at 100k for contrast.
long_*_frontier_lag_max: the most bios at or above the durable frontier (hb.py) at any
  submission: what a streaming check must keep of the device log. Flat in the run length
  (51 at 100k, 50 at 20k) where the workload syncs periodically: bounded memory is possible.
Every figure has the 1-minute load average beside it: the machine is shared.
Set EOFSIM_BENCH_QUICK=1 to skip the 100k figure and the long runs.
"""

import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, "src")

from eofsim.crash import check  # noqa: E402
from eofsim.sim import simulate  # noqa: E402
from eofsim.workload.generate import generate  # noqa: E402

QUICK = os.environ.get("EOFSIM_BENCH_QUICK") == "1"
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def load():
    return f"(loadavg {os.getloadavg()[0]:.2f})"


def per_op(n, policy="bh-ordered", reps=1):
    """Best of `reps` check times (the machine is shared: the best is the least disturbed)."""
    res = simulate(generate(seed=1, n_ops=n, files=("a", "b", "c"), threads=1), policy)
    best = None
    for _ in range(reps):
        t0 = time.perf_counter()
        rep = check(res)
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return best, rep


SPARSE = {
    "1tib": (["truncate f 1099511627776", "fsync f"], {}),
    "write_1tib": (["write f 1099511627776 100", "fsync f"], {}),
    "64gib_1k_blocks": (["truncate f 68719476736", "write f 34359738368 5000", "fsync f"],
                        {"block_size": "1024"}),
    "fallocate_1tib": (["fallocate f 0 1099511627776", "write f 549755813888 100", "fsync f"], {}),
    "zero_range_1tib": (["write f 0 5000", "fallocate f 100 1099511627776 zero_range", "fsync f"], {}),
    "fallocate_64gib_1k_blocks": (["fallocate f 0 68719476736", "write f 34359738368 5000",
                                   "fsync f", "fallocate f 4096 68719476736 punch_hole", "fsync f"],
                                  {"block_size": "1024"}),
}

_SPARSE_CHILD = r"""
import sys, time, json
sys.path.insert(0, "src")
from eofsim.crash import check
from eofsim.scenario_file import load_text
from eofsim.sim import simulate
ops, ov = json.loads(sys.argv[1])
text = "name: sparse\nfiles:\n  - name: f\n    size: 1000\nthreads:\n  - name: t0\n    ops:\n"
text += "".join(f'      - "{o}"\n' for o in ops)
t0 = time.perf_counter()
rep = check(simulate(load_text(text, "sparse.yaml"), "bh-ordered", ov))
dt = time.perf_counter() - t0
hwm = [int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM:")][0]
print(json.dumps([dt, hwm / 1024, rep.crash_states]))
"""


def sparse(name):
    import json
    ops, ov = SPARSE[name]
    out = subprocess.run([sys.executable, "-c", _SPARSE_CHILD, json.dumps([ops, ov])], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    if out.returncode:
        return None, out.stderr.strip().splitlines()[-1:]
    return json.loads(out.stdout), None


_LONG_CHILD = r"""
import sys, time, json
sys.path.insert(0, "src")
from eofsim.crash import check
from eofsim.sim import simulate
from eofsim.workload.generate import generate
n = int(sys.argv[1])
t0 = time.perf_counter()
res = simulate(generate(seed=1, n_ops=n, files=("a", "b", "c"), threads=1), "bh-ordered")
t1 = time.perf_counter()
hwm_sim = [int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM:")][0]
# frontier lag: at each submission, how many bios lie at or above the durable frontier (what a
# streaming check would have to keep of the device log; a write never durable holds it back)
import bisect
settle, top = [], -1
for b in res.dev.bios:
    d = b.submit_ns if b.op != "write" else res.dev.durable_ns[b.id]
    top = max(top, 1 << 62 if d is None else d)
    settle.append(top)
lag = max((b.id + 1 - bisect.bisect_right(settle, b.submit_ns) for b in res.dev.bios), default=0)
rep = check(res, max_violations=1 << 62)
t2 = time.perf_counter()
hwm = [int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM:")][0]
stopped = [x for x in rep.notes if x.startswith("stopped after")]
print(json.dumps([t1 - t0, t2 - t1, hwm_sim / 1024, hwm / 1024, rep.crash_points, len(res.dev.bios),
                  len(rep.violations), stopped[0] if stopped else None, lag]))
"""


def long_run(n):
    """(sim s, check s, sim peak MiB, peak MiB, crash points, bios, violations, stop note or
    None, frontier lag) of an n-op run, or None."""
    return _child_json(_LONG_CHILD, n)


def _child_json(script, n):
    """(the JSON `script` prints for argument n in a fresh interpreter, None), or (None, its
    last stderr line)."""
    import json
    out = subprocess.run([sys.executable, "-c", script, str(n)], cwd=ROOT,
                         capture_output=True, text=True, timeout=7200)
    if out.returncode:
        return None, out.stderr.strip().splitlines()[-1:]
    return json.loads(out.stdout), None


_STREAM_CHILD = r"""
import sys, time, json
sys.path.insert(0, "src")
from eofsim.crash.stream import StreamCheck
from eofsim.workload.generate import generate
n = int(sys.argv[1])
def rss(key):
    return [int(x.split()[1]) for x in open("/proc/self/status") if x.startswith(key)][0] / 1024
marks = {}
t0 = time.perf_counter()
sc = StreamCheck(generate(seed=1, n_ops=n, files=("a", "b", "c"), threads=1, lazy=True),
                 "bh-ordered", max_violations=1 << 62)
def tick(done, total):
    for q in (10, 50, 90):
        if q not in marks and done >= total * q // 100:
            marks[q] = rss("VmRSS:")
rep = sc.check(tick)
dt = time.perf_counter() - t0
print(json.dumps([dt, rss("VmHWM:"), marks, rep.crash_points, len(rep.violations)]))
"""


def stream_run(n):
    """(seconds, peak MiB, {percent of ops: RSS MiB}, crash points, violations) of an n-op
    workload simulated and checked together (crash/stream.py), or None."""
    return _child_json(_STREAM_CHILD, n)


_FSX_CHILD = r"""
import atexit, sys
sys.path.insert(0, "src")
def hwm():
    kib = [int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM:")][0]
    print(f"VmHWM {kib}", file=sys.stderr)
atexit.register(hwm)
from eofsim.cli import main
main(sys.argv[1:], prog_name="eofsim")
"""

_FSX_LOG = r"""
import sys
sys.path.insert(0, "src")
from eofsim.workload.fsxops import dump_fsxops
from eofsim.workload.generate import generate
sc = generate(seed=1, n_ops=int(sys.argv[2]), files=("f",), threads=1, lazy=True)
with open(sys.argv[1], "w") as f:
    f.write(dump_fsxops(list(sc.threads[0].ops), lossy=True))
"""


def fsx_stream(n):
    """(seconds, peak MiB of the eofsim process (its own VmHWM: a fork's copy of this
    process is not counted), exit status) of `eofsim fsx --stream` on an n-op fsx log written
    (by another process) from the generator's single-file workload."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "long.fsxops")
        subprocess.run([sys.executable, "-c", _FSX_LOG, path, str(n)], cwd=ROOT, check=True)
        cmd = [sys.executable, "-c", _FSX_CHILD, "fsx", path, "--stream", "--json",
               "--max-violations", str(1 << 62)]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True)
        dt = time.perf_counter() - t0
    kib = [int(x.split()[1]) for x in r.stderr.splitlines() if x.startswith("VmHWM ")]
    return dt, (kib[-1] / 1024 if kib else float("nan")), r.returncode


def compare_wall(jobs=None):
    cmd = [os.path.join(os.path.dirname(sys.executable), "eofsim"), "compare",
           "--threads", "1,8,64,256", "--json"]
    if jobs is not None:
        cmd += ["--jobs", str(jobs)]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL)
    if r.returncode not in (0, 1):  # 1: some design deadlocked or stalled (a verdict)
        raise RuntimeError(f"compare exited {r.returncode}")
    return time.perf_counter() - t0


def kernel_image_s():
    from eofsim.kernel import preflight
    why = preflight.reason()
    if why:
        return None, why
    from eofsim.kernel.check import kernel_check
    from eofsim.scenario_file import load_scenario
    rep = kernel_check(load_scenario("truncate-up"), "bh-ordered", max_states=20)
    return rep["seconds_per_image"], None


def main():
    for name in SPARSE:
        got, err = sparse(name)
        if got is None:
            print(f"sparse_{name}_check_s: FAILED {err} {load()}")
            continue
        dt, mib, states = got
        print(f"sparse_{name}_check_s: {dt:.2f} s ({states} states; target < 1) {load()}")
        print(f"sparse_{name}_peak_mib: {mib:.0f} MiB (target < 100) {load()}")

    base = {}
    for n in (1000, 10_000) + (() if QUICK else (100_000,)):
        dt, rep = per_op(n, reps={1000: 5, 10_000: 3}.get(n, 1))
        base[n] = (dt, rep)
        print(f"check_us_per_op[{n // 1000}k]: {1e6 * dt / n:.0f} us/op "
              f"({dt:.2f} s, {rep.crash_points} crash points, {rep.crash_states} states) {load()}")
    g = (base[10_000][0] / 10_000) / (base[1000][0] / 1000)
    print(f"check_growth_10k_vs_1k: {g:.2f} x (target <= 1.5) {load()}")
    if 100_000 in base:
        print(f"check_100k_s: {base[100_000][0]:.1f} s (target <= 100) {load()}")
    dt, rep = per_op(10_000, "iomap-v4")
    res = rep._explorer.result
    done = sum(1 for o in res.ops if o.end_ns is not None)
    hung = " (DEADLOCKED: the run stops early)" if res.deadlocks else ""
    print(f"check_us_per_op[10k,iomap-v4]: {1e6 * dt / 10_000:.0f} us/op "
          f"({done} of 10000 ops completed{hung}) {load()}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"check_bench_peak_mib: {peak:.0f} MiB (this process, largest workload above) {load()}")

    if not QUICK:
        for n, label in ((100_000, "100k"), (300_000, "300k"), (1_000_000, "1m")):
            got, err = stream_run(n)
            if got is None:
                print(f"stream_{label}: FAILED {err} {load()}")
                continue
            dt, mib, marks, points, nviol = got
            print(f"stream_{label}_s: {dt:.1f} s (generate + simulate + check together, "
                  f"{points} crash points, {nviol} violations) {load()}")
            print(f"stream_{label}_peak_mib: {mib:.0f} MiB (RSS at 10/50/90 % of the ops: "
                  + " / ".join(f"{marks[q]:.0f}" for q in sorted(marks, key=int))
                  + f" MiB; {1024 * mib / n:.3f} KiB per op) {load()}")
        dt, mib, code = fsx_stream(1_000_000)
        print(f"fsx_stream_1m_s: {dt:.1f} s (eofsim fsx --stream of a 1,000,000-op fsx log, "
              f"exit {code}) {load()}")
        print(f"fsx_stream_1m_peak_mib: {mib:.0f} MiB {load()}")
        for n, label in ((100_000, "100k"),):
            got, err = long_run(n)
            if got is None:
                print(f"long_{label}: FAILED {err} {load()}")
                continue
            sim_s, chk_s, sim_mib, mib, points, nbios, nviol, stopped, lag = got
            print(f"long_{label}_sim_s: {sim_s:.1f} s (generate + simulate, {nbios} bios) {load()}")
            whole = f"STOPPED EARLY: {stopped}" if stopped else "every crash point checked"
            print(f"long_{label}_check_s: {chk_s:.1f} s ({points} crash points, {whole}, "
                  f"{nviol} violations) {load()}")
            print(f"long_{label}_peak_mib: {mib:.0f} MiB (after the simulation: {sim_mib:.0f} MiB; "
                  f"{1024 * mib / n:.2f} KiB per op) {load()}")
            print(f"long_{label}_frontier_lag_max: {lag} bios (most bios submitted and not yet "
                  f"behind the durable frontier at once) {load()}")

    w = compare_wall()
    print(f"compare_demo_wall_s: {w:.1f} s (jobs={os.cpu_count()}; target <= 10) {load()}")
    w1 = compare_wall(1)
    print(f"compare_demo_wall_s[jobs=1]: {w1:.1f} s {load()}")

    try:
        img, why = kernel_image_s()
    except Exception as e:  # a real-kernel failure must not hide the other figures
        img, why = None, f"{type(e).__name__}: {e}"
    if img is None:
        print(f"crash_state_vs_kernel_image: skipped ({why})")
        return
    from eofsim.scenario_file import load_scenario
    r = simulate(load_scenario("truncate-up"), "bh-ordered")
    reps = 200
    t0 = time.perf_counter()
    for _ in range(reps):
        rep = check(r)
    small = (time.perf_counter() - t0) / reps / max(rep.crash_states, 1)
    big_dt, big = base[10_000]
    big_s = big_dt / max(big.crash_states, 1)
    print(f"kernel_crash_image_s: {1e3 * img:.1f} ms per image {load()}")
    print(f"model_crash_state_s[truncate-up]: {1e6 * small:.1f} us per state {load()}")
    print(f"model_crash_state_s[random10k]: {1e6 * big_s:.2f} us per state {load()}")
    print(f"crash_state_vs_kernel_image: {img / small:.0f} x (truncate-up; target >= 1000) {load()}")
    print(f"crash_state_vs_kernel_image[random10k]: {img / big_s:.0f} x {load()}")


if __name__ == "__main__":
    main()
