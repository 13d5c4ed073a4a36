"""`eofsim compare`: the designs side by side. Runs the grid and returns plain data (dicts,
lists, ints, strings) so JSON, the terminal table and the HTML report are views of one thing.

Per scenario x policy: safety (crash checker verdict and minimal counterexample), durability
latency of every size-changing op, I/O cost, deadlocks and stalls. Across scenarios:
latency distributions with random start phases, I/O per GiB appended, and scaling with the
number of threads."""

import random

from ..ops import SIZE_CHANGING
from ..sim import simulate
from ..workload.scaling import KINDS, NEIGHBOUR, ScaleSpec, append_stream, grow_op, scale_scenario, shifted

DIST_SCENARIOS = ("truncate-up", "append-fallocate", "append-write")


def _latencies(res):
    out = []
    for r in res.ops:
        if r.op.kind in SIZE_CHANGING and r.i_size_before is not None and not r.error \
                and r.i_size_after != r.i_size_before:
            out.append({"index": r.index, "op": r.op.text(),
                        "latency_ns": None if r.size_durable_ns is None else r.size_durable_ns - r.start_ns})
    return out


def run_cell(sc, policy, overrides=None, check=True, samples=20000, timed=False) -> dict:
    """One scenario under one policy: run, crash-check, and measure."""
    res = simulate(sc, policy, overrides)
    cell = {
        "scenario": sc.name, "policy": policy,
        "latency": _latencies(res),
        "io": res.dev.stats.as_dict(),
        "writeback_calls": dict(sorted(res.fs.writeback_calls.items())),
        "deadlocks": [d.text() for d in res.deadlocks],
        "stall": res.stall.text() if res.stall else None,
        "safety": None,
    }
    if check:
        from ..crash.explore import check as crash_check
        rep = crash_check(res, timed=timed, samples=samples)
        kinds = {}
        for v in rep.violations:
            kinds[v.kind] = kinds.get(v.kind, 0) + 1
        ce = rep.counterexample
        cell["safety"] = {
            "ok": rep.ok, "violations": dict(sorted(kinds.items())),
            "crash_points": rep.crash_points, "crash_states": rep.crash_states,
            "exhaustive": rep.exhaustive, "zeros_instead_of_data": rep.zeros_instead_of_data,
            "counterexample": ce if ce is None or isinstance(ce, (str, dict)) else ce.as_dict(),
            "first_violation_ns": min((v.crash_time_ns for v in rep.violations), default=None),
        }
        if not rep.ok:
            traced = simulate(sc, policy, overrides, trace=True)
            cell["timeline"] = [[t, lane, text] for t, lane, text in traced.events]
            cell["bios"] = [[b.id, b.kind, b.why, b.submit_ns, b.complete_ns,
                             [p for p, _ in b.blocks], b.preflush, b.fua] for b in traced.dev.bios]
    return cell


def latency_distribution(sc, policy, n=24, seed=0, overrides=None, span_ns=10_000_000_000) -> list:
    """Size-durability latency of the scenario's first size-changing op, with the whole
    scenario shifted by a random phase in [0, span) (seeded): the spread the commit timer
    and flusher phases give."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        res = simulate(shifted(sc, rng.randrange(span_ns)), policy, overrides)
        lats = _latencies(res)
        out.append(lats[0]["latency_ns"] if lats else None)
    return out


def scaling_row(kind, threads, policy, overrides=None, spec: ScaleSpec | None = None) -> dict:
    """One scaling run (workload.scaling.ScaleSpec with `kind` and `threads`), measured:
    the issue-4 figures plus report.scale.scale_metrics."""
    from dataclasses import replace
    from .scale import scale_metrics
    spec = replace(spec or ScaleSpec(), op=grow_op(kind), threads=threads)
    res = simulate(scale_scenario(spec), policy, overrides)
    eng = res.engine
    apps = [t for t in eng.tasks if t.kind == "app" and t.name != NEIGHBOUR]
    mine = [r for r in res.ops if r.thread != NEIGHBOUR]
    durs = [r.end_ns - r.start_ns for r in mine if r.end_ns is not None]
    lat_all = [x for x in _latencies(res) if res.ops[x["index"] - 1].thread != NEIGHBOUR]
    lats = [x["latency_ns"] for x in lat_all if x["latency_ns"] is not None]
    st = res.dev.stats
    row = scale_metrics(res)
    row.update({
        "kind": kind, "threads": threads, "policy": policy, "device": res.dev.device,
        "zero_block_writes": st.zero_block_writes,
        "data_writes": st.data_writes, "random_writes": st.random,
        "writeback_calls": sum(res.fs.writeback_calls.values()),
        "folio_lock_waits": eng.wait_counts.get("folio_lock", 0),
        "blocked_ns_per_thread": sum(t.blocked_ns for t in apps) // max(1, len(apps)),
        "op_latency_ns_mean": sum(durs) // max(1, len(durs)),
        "durable_latency_ns_mean": sum(lats) // max(1, len(lats)) if lats else None,
        "durable_never": sum(1 for x in lat_all if x["latency_ns"] is None),
        "deadlocks": [d.text() for d in res.deadlocks],
        "stall": res.stall.text() if res.stall else None,
    })
    return row


def io_per_gib(policy, overrides=None, total=16 << 20) -> dict:
    res = simulate(append_stream(total), policy, overrides)
    st = res.dev.stats
    scale = (1 << 30) / total
    return {"policy": policy, "appended_bytes": total,
            "writes_per_gib": round(st.writes * scale), "data_writes_per_gib": round(st.data_writes * scale),
            "bytes_written_per_gib": round(st.write_bytes * scale),
            "random_writes_per_gib": round(st.random * scale),
            "flushes_per_gib": round((st.flushes + st.preflush) * scale),
            "fua_per_gib": round(st.fua * scale),
            "zero_block_writes_per_gib": round(st.zero_block_writes * scale)}


def run_grid(scenarios, policies, threads=(1, 8, 64), overrides=None, check=True,
             samples=20000, dist_n=24, progress=None, scale_spec=None, scale_kinds=KINDS) -> dict:
    """The whole comparison. `progress(step_text)` is called once per unit of work."""
    from ..block import DEFAULT_DEVICE
    tick = progress or (lambda text: None)
    out = {"scenarios": [s.name for s in scenarios], "policies": list(policies),
           "threads": list(threads), "cells": [], "latency_dist": [], "io_cost": [],
           "scaling": [], "device": (overrides or {}).get("device", DEFAULT_DEVICE),
           "scaling_workload": (scale_spec or ScaleSpec()).text()}
    for sc in scenarios:
        for pol in policies:
            tick(f"{sc.name} / {pol}")
            out["cells"].append(run_cell(sc, pol, overrides, check=check, samples=samples))
    by_name = {s.name: s for s in scenarios}
    for name in DIST_SCENARIOS:
        if name not in by_name:
            continue
        for pol in policies:
            tick(f"latency distribution {name} / {pol}")
            out["latency_dist"].append({"scenario": name, "policy": pol,
                                        "latency_ns": latency_distribution(by_name[name], pol, dist_n,
                                                                           overrides=overrides)})
    for pol in policies:
        tick(f"I/O per GiB / {pol}")
        out["io_cost"].append(io_per_gib(pol, overrides))
    for kind in scale_kinds:
        for n in threads:
            for pol in policies:
                tick(f"scaling {kind} x{n} / {pol}")
                out["scaling"].append(scaling_row(kind, n, pol, overrides, scale_spec))
    return out


def grid_steps(scenarios, policies, threads, scale_kinds=KINDS) -> int:
    names = {s.name for s in scenarios}
    return (len(scenarios) * len(policies) + sum(1 for n in DIST_SCENARIOS if n in names) * len(policies)
            + len(policies) + len(scale_kinds) * len(threads) * len(policies))
