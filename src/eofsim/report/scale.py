"""`eofsim scale` (issue 15): the scaling workload per device, growing operation, thread
count and design, measured. Plain data out (dicts, lists, numbers, strings), so JSON, the
terminal table and the HTML report are views of one thing.

Metrics of one run (`scale_metrics`):
- time in the call of the growing ops (p50 / p99 / max; nearest-rank percentiles): the model
  spends no CPU time except `syscall_ns` per call, so this is the time blocked (waiting for
  I/O, locks, journal) plus that constant;
- growing ops per second: ops / (last end - first start) over the worker threads;
- device: busy time of the medium, the share of it spent writing zeroed EOF blocks, write
  requests after merging (random / sequential), merged bios, device flush commands;
- durability latency of the new sizes (op start -> commit that put the size on disk; p50 /
  p99, and how many never got there within the run);
- the neighbour's fdatasync latency while the workers run (p50 / p99 / max: fdatasyncs that
  start before the last growing op ends), and afterwards (p99 / max: its tail, which meets
  the background writeback of what the workers left dirty).
"""

from ..sim import simulate
from ..workload.scaling import NEIGHBOUR, GROW_OPS, ScaleSpec, grow_op, scale_scenario

DEFAULT_POLICIES = ("bh-ordered", "iomap-v4", "iomap-deferred", "iomap-pending")
DEFAULT_THREADS = (1, 8, 64, 256)


def pct(values, q):
    """Nearest-rank percentile (q in 0..100) of a non-empty list; None for an empty one."""
    if not values:
        return None
    v = sorted(values)
    k = max(1, -(-len(v) * q // 100))      # ceil(n * q / 100), at least 1
    return v[min(len(v), int(k)) - 1]


def scale_metrics(res) -> dict:
    grow = [r for r in res.ops if r.thread != NEIGHBOUR and r.op.kind in ("truncate", "write", "fallocate")]
    done = [r for r in grow if r.end_ns is not None]
    call = [r.end_ns - r.start_ns for r in done]
    dur = [r.size_durable_ns - r.start_ns for r in done if r.size_durable_ns is not None]
    never = sum(1 for r in done if r.size_durable_ns is None and not r.error
                and r.i_size_after != r.i_size_before)
    span = (max(r.end_ns for r in done) - min(r.start_ns for r in done)) if done else 0
    worker_end = max((r.end_ns for r in done), default=0)
    nbr = [r for r in res.ops if r.thread == NEIGHBOUR and r.op.kind == "fdatasync" and r.end_ns is not None]
    nb = [r.end_ns - r.start_ns for r in nbr if r.start_ns <= worker_end]
    nb_after = [r.end_ns - r.start_ns for r in nbr if r.start_ns > worker_end]
    st = res.dev.stats
    busy = st.busy_ns
    return {
        "ops": len(grow), "ops_done": len(done),
        "call_ns_p50": pct(call, 50), "call_ns_p99": pct(call, 99), "call_ns_max": max(call, default=None),
        "ops_per_s": round(len(done) * 1e9 / span, 1) if span else None,
        "busy_ns": busy, "zero_busy_ns": st.zero_busy_ns,
        "zero_busy_share": round(st.zero_busy_ns / busy, 4) if busy else 0.0,
        "zero_block_writes": st.zero_block_writes, "data_writes": st.data_writes,
        "requests": st.requests, "req_random": st.req_random, "req_sequential": st.req_sequential,
        "merged_bios": st.merged_bios, "device_flushes": st.device_flushes, "flushes": st.flushes,
        "preflush": st.preflush, "throttled_ns": st.throttled_ns,
        "durable_ns_p50": pct(dur, 50), "durable_ns_p99": pct(dur, 99), "durable_never": never,
        "nb_fdatasyncs": len(nb), "nb_ns_p50": pct(nb, 50), "nb_ns_p99": pct(nb, 99),
        "nb_ns_max": max(nb, default=None),
        "nb_after_fdatasyncs": len(nb_after), "nb_after_ns_p99": pct(nb_after, 99),
        "nb_after_ns_max": max(nb_after, default=None),
        "deadlocks": [d.text() for d in res.deadlocks],
        "stall": res.stall.text() if res.stall else None,
        "end_ns": res.end_ns,
    }


def scale_row(spec: ScaleSpec, policy: str, overrides=None) -> dict:
    ov = dict(overrides or {})
    sc = scale_scenario(spec)
    res = simulate(sc, policy, ov)
    row = {"device": res.dev.device, "op": grow_op(spec.op), "threads": spec.threads, "policy": policy}
    row.update(scale_metrics(res))
    return row


def run_scale(spec: ScaleSpec, policies=DEFAULT_POLICIES, threads=DEFAULT_THREADS, ops=("truncate-up",),
              devices=("nvme",), overrides=None, progress=None, jobs=1) -> dict:
    """Every device x growing op x thread count x policy. `progress(text)` once per run.
    jobs > 1 runs them in compare's process pool (largest thread counts first); the data is
    the same, in the same order, whatever `jobs` is."""
    from dataclasses import asdict, replace
    tick = progress or (lambda text: None)
    ov = dict(overrides or {})
    out = {"workload": {k: v for k, v in asdict(spec).items() if k not in ("op", "threads")},
           "workload_text": spec.text(threads, ops),
           "devices": list(devices), "ops": [grow_op(o) for o in ops], "threads": list(threads),
           "policies": list(policies), "overrides": {k: str(v) for k, v in sorted(ov.items())},
           "rows": []}
    units = [(f"{dev} {op} x{n} / {pol}", n, (replace(spec, op=op, threads=n), pol, {**ov, "device": dev}))
             for dev in devices for op in out["ops"] for n in threads for pol in policies]
    from .compare import run_units
    rows = run_units([(label, weight, scale_row, args) for label, weight, args in units],
                     policies, jobs, tick)
    out["rows"] = rows
    return out


def scale_steps(policies, threads, ops, devices) -> int:
    return len(policies) * len(threads) * len(ops) * len(devices)


__all__ = ["GROW_OPS", "ScaleSpec", "pct", "run_scale", "scale_metrics", "scale_row", "scale_steps"]
