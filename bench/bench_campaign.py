"""Campaign throughput: random workloads (generate + simulate + crash check + shrinking every
violation to a reproducer, one SQLite commit per result) per second, with 1 and 2 workers,
on the local process pool and on a Dask LocalCluster (processes, 1 thread each). Workers are
started and warmed before the clock starts; each figure is the best of 3 runs on a fresh
database, the 1- and 2-worker runs alternating. Also: crash states per second (as counted by the checker) and states checked per
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
SEEDS = int(os.environ.get("EOFSIM_BENCH_SEEDS", "600"))  # per policy: long enough that start-up and the last batches do not dominate
TARGET = 0.8


def once(runner, seeds=SEEDS):
    with tempfile.TemporaryDirectory() as d:
        db = os.path.join(d, "c.db")
        t0 = time.perf_counter()
        out = run_campaign(db, POLICIES, range(seeds), Params(ops=OPS), runner=runner)
        dt = time.perf_counter() - t0
    return out.new / dt, out.crash_states / dt, out.states_checked / dt


def measure(runners, runs=int(os.environ.get("EOFSIM_BENCH_RUNS", "3"))):
    """Best of `runs` for each runner, alternating between them so that load from other
    processes on the machine falls on both alike."""
    best = {}
    for _ in range(runs):
        for key, runner in runners.items():
            got = once(runner)
            if key not in best or got[0] > best[key][0]:
                best[key] = got
    return best


def report(name, rates):
    wl, cs, sc = rates
    print(f"campaign_workloads_per_s[{name}]: {wl:.1f} workloads/s")
    print(f"campaign_crash_states_per_s[{name}]: {cs:.0f} states/s")
    print(f"campaign_states_checked_per_s[{name}]: {sc:.0f} states/s")


def main():
    print(f"campaign_loadavg_1min_before: {os.getloadavg()[0]:.2f} runnable")
    res = {}
    pools = {("pool", w): PoolRunner(w) for w in (1, 2)}
    try:
        for r in pools.values():
            r.warm()
        res.update(measure(pools))
    finally:
        for r in pools.values():
            r.close()
    for w in (1, 2):
        report(f"pool,{w}w", res[("pool", w)])

    import logging
    from distributed import LocalCluster
    logging.getLogger("distributed").setLevel(logging.ERROR)  # closing chatter on stderr
    clusters = {w: LocalCluster(n_workers=w, threads_per_worker=1, processes=True,
                                dashboard_address=":0", silence_logs=50) for w in (1, 2)}
    try:
        runners = {("dask", w): DaskRunner(c.scheduler_address) for w, c in clusters.items()}
        for r in runners.values():
            r.warm()
        res.update(measure(runners))
        for r in runners.values():
            r.close()
    finally:
        for c in clusters.values():
            c.close()
    for w in (1, 2):
        report(f"dask,{w}w", res[("dask", w)])

    for ex in ("pool", "dask"):
        r1, r2 = res[(ex, 1)][0], res[(ex, 2)][0]
        print(f"campaign_scaling_per_added_worker[{ex}]: {(r2 - r1) / r1:.2f} x")
        print(f"campaign_scaling_vs_target[{ex}]: {(r2 - r1) / r1 / TARGET:.2f} x")
    print(f"campaign_cpus: {os.cpu_count()} cpus")
    print(f"campaign_loadavg_1min_after: {os.getloadavg()[0]:.2f} runnable")


if __name__ == "__main__":
    main()
