"""Campaign throughput: random workloads (generate + simulate + crash check + shrinking every
violation to a reproducer, one SQLite commit per result) per second, with 1 and 2 workers,
on the local process pool and on a Dask LocalCluster (processes, 1 thread each). Workers are
started and warmed before the clock starts; each figure is the best of 2 runs on a fresh
database. Also: crash states per second (as counted by the checker) and states checked per
second (block-version evaluations actually performed), and the scaling per added worker,
(rate(2) - rate(1)) / rate(1); target >= 0.8."""

import os
import sys
import tempfile
import time

sys.path.insert(0, "src")

from eofsim.workload.campaign import DaskRunner, Params, PoolRunner, run_campaign  # noqa: E402

POLICIES = ["bh-ordered", "iomap-deferred"]
OPS = 60
SEEDS = int(os.environ.get("EOFSIM_BENCH_SEEDS", "300"))  # per policy
TARGET = 0.8


def measure(runner, seeds=SEEDS, runs=2):
    best = None
    for r in range(runs):
        with tempfile.TemporaryDirectory() as d:
            db = os.path.join(d, "c.db")
            t0 = time.perf_counter()
            out = run_campaign(db, POLICIES, range(seeds), Params(ops=OPS), runner=runner)
            dt = time.perf_counter() - t0
        got = (out.new / dt, out.crash_states / dt, out.states_checked / dt)
        if best is None or got[0] > best[0]:
            best = got
    return best


def report(name, rates):
    wl, cs, sc = rates
    print(f"campaign_workloads_per_s[{name}]: {wl:.1f} workloads/s")
    print(f"campaign_crash_states_per_s[{name}]: {cs:.0f} states/s")
    print(f"campaign_states_checked_per_s[{name}]: {sc:.0f} states/s")


def main():
    res = {}
    for w in (1, 2):
        runner = PoolRunner(w)
        try:
            runner.warm()
            res[("pool", w)] = measure(runner)
        finally:
            runner.close()
        report(f"pool,{w}w", res[("pool", w)])

    from distributed import LocalCluster
    for w in (1, 2):
        with LocalCluster(n_workers=w, threads_per_worker=1, processes=True,
                          dashboard_address=None, silence_logs=50) as cluster:
            runner = DaskRunner(cluster.scheduler_address)
            try:
                runner.warm()
                res[("dask", w)] = measure(runner)
            finally:
                runner.close()
        report(f"dask,{w}w", res[("dask", w)])

    for ex in ("pool", "dask"):
        r1, r2 = res[(ex, 1)][0], res[(ex, 2)][0]
        print(f"campaign_scaling_per_added_worker[{ex}]: {(r2 - r1) / r1:.2f} x")
        print(f"campaign_scaling_vs_target[{ex}]: {(r2 - r1) / r1 / TARGET:.2f} x")
    print(f"campaign_cpus: {os.cpu_count()} cpus")


if __name__ == "__main__":
    main()
