"""`eofsim compare`: the designs side by side. Runs the grid and returns plain data (dicts,
lists, ints, strings) so JSON, the terminal table and the HTML report are views of one thing.

Per scenario x policy: safety (crash checker verdict and minimal counterexample), durability
latency of every size-changing op, I/O cost, deadlocks and stalls. Across scenarios:
latency distributions with random start phases, I/O per GiB appended, and scaling with the
number of threads."""

import random

from ..ops import SIZE_CHANGING
from ..sim import simulate
from ..workload.scaling import KINDS, append_stream, scaling_scenario, shifted

DIST_SCENARIOS = ("truncate-up", "append-fallocate", "append-write")


def _latencies(res):
    out = []
    for r in res.ops:
        if r.op.kind in SIZE_CHANGING and r.i_size_before is not None and not r.error \
                and r.i_size_after != r.i_size_before:
            out.append({"index": r.index, "op": r.op.text(),
                        "latency_ns": None if r.size_durable_ns is None else r.size_durable_ns - r.start_ns})
    return out


def _one_each(ce):
    """A counterexample text without repeated lines (racing versions of one bio repeat)."""
    from ..counterexample import dedupe_lines
    if ce is None or isinstance(ce, dict):
        return ce
    return dedupe_lines(ce) if isinstance(ce, str) else ce.as_dict()


def schedule_hangs(sc, policy, overrides=None, n=8) -> dict:
    """Deadlocks and stalls in n seeded perturbed schedules (as `check --schedules`, without
    the crash check): a design can deadlock only when completions reorder
    (`endio-waits-zero` under iomap-v4)."""
    from ..hang import analyse
    out = {"n": n, "deadlock": [], "stall": []}
    for k in range(1, n + 1):
        v = analyse(simulate(sc, policy, overrides, perturb_seed=k))["verdict"]
        if v:
            out[v].append(k)
    return out


def run_cell(sc, policy, overrides=None, check=True, samples=20000, timed=False,
             schedules=8) -> dict:
    """One scenario under one policy: run, crash-check, and measure."""
    from ..hang import analyse
    res = simulate(sc, policy, overrides)
    h = analyse(res)
    cell = {
        "scenario": sc.name, "policy": policy, "description": sc.description,
        "latency": _latencies(res),
        "io": res.dev.stats.as_dict(),
        "writeback_calls": dict(sorted(res.fs.writeback_calls.items())),
        "hang": h["verdict"],
        "deadlocks": h["deadlocks"],
        "stall": h["stall"],
        "end_ns": res.end_ns,
        "schedules": schedule_hangs(sc, policy, overrides, schedules) if schedules else None,
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
            "counterexample": _one_each(ce),
            "first_violation_ns": min((v.crash_time_ns for v in rep.violations), default=None),
            "witness": None,
        }
        if rep.violations and not timed:
            from ..crash.witness import witness
            tw = witness(sc, policy, overrides, rep, rep.violations[0], samples=samples)
            cell["safety"]["witness"] = tw.as_dict()
        if not rep.ok or h["verdict"]:
            traced = simulate(sc, policy, overrides, trace=True)
            cell["timeline"] = [[t, lane, text] for t, lane, text in traced.events]
            cell["bios"] = [[b.id, b.kind, b.why, b.submit_ns, b.complete_ns,
                             [p for p, _ in b.blocks], b.preflush, b.fua] for b in traced.dev.bios]
    sch = cell["schedules"] or {}
    if not h["verdict"] and (sch.get("deadlock") or sch.get("stall")):
        cell["perturbed_hang"] = _perturbed_hang(sc, policy, overrides,
                                                 (sch.get("deadlock") or sch.get("stall"))[0])
    return cell


def _perturbed_hang(sc, policy, overrides, seed) -> dict:
    """The first hanging perturbed schedule, traced, for the report's wait-for picture."""
    from ..hang import analyse
    res = simulate(sc, policy, overrides, trace=True, perturb_seed=seed)
    h = analyse(res)
    return {"scenario": sc.name, "policy": policy, "perturb_seed": seed,
            "deadlocks": h["deadlocks"], "stall": h["stall"], "end_ns": res.end_ns,
            "timeline": [[t, lane, text] for t, lane, text in res.events],
            "bios": [[b.id, b.kind, b.why, b.submit_ns, b.complete_ns, [p for p, _ in b.blocks],
                      b.preflush, b.fua] for b in res.dev.bios]}


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


def scaling_row(kind, threads, policy, overrides=None) -> dict:
    from ..hang import analyse
    res = simulate(scaling_scenario(kind, threads), policy, overrides)
    hang = analyse(res)
    eng = res.engine
    apps = [t for t in eng.tasks if t.kind == "app"]
    durs = [r.end_ns - r.start_ns for r in res.ops if r.end_ns is not None]
    lats = [x["latency_ns"] for x in _latencies(res) if x["latency_ns"] is not None]
    st = res.dev.stats
    return {
        "kind": kind, "threads": threads, "policy": policy,
        "zero_block_writes": st.zero_block_writes,
        "data_writes": st.data_writes, "random_writes": st.random,
        "writeback_calls": sum(res.fs.writeback_calls.values()),
        "folio_lock_waits": eng.wait_counts.get("folio_lock", 0),
        "blocked_ns_per_thread": sum(t.blocked_ns for t in apps) // max(1, len(apps)),
        "op_latency_ns_mean": sum(durs) // max(1, len(durs)),
        "durable_latency_ns_mean": sum(lats) // max(1, len(lats)) if lats else None,
        "durable_never": sum(1 for x in _latencies(res) if x["latency_ns"] is None),
        "deadlocks": hang["deadlocks"],
        "stall": hang["stall"],
    }


def _dirty_bytes(res) -> int:
    return sum(len(i.mapping.dirty) for i in res.fs.inodes.values()) * res.tun.folio_size


def io_per_gib(policy, overrides=None, total=16 << 20) -> dict:
    """I/O per GiB appended, counting every byte appended: the run goes on (a longer horizon,
    up to 20 minutes of virtual time) until the page cache is clean, and the row states what
    was still dirty if it never is."""
    sc = append_stream(total)
    base = dict(overrides or {})
    for horizon in ("120s", "300s", "1200s"):
        ov = dict(base)
        ov.setdefault("horizon_ns", horizon)
        res = simulate(sc, policy, ov)
        if not _dirty_bytes(res) or "horizon_ns" in base:
            break
    st = res.dev.stats
    appended = sum(op.len for th in sc.threads for op in th.ops)
    scale = (1 << 30) / appended
    return {"policy": policy, "appended_bytes": appended,
            "data_bytes_written": st.data_bytes, "dirty_bytes_at_end": _dirty_bytes(res),
            "run_s": round(res.end_ns / 1e9, 3),
            "writes_per_gib": round(st.writes * scale), "data_writes_per_gib": round(st.data_writes * scale),
            "bytes_written_per_gib": round(st.write_bytes * scale),
            "random_writes_per_gib": round(st.random * scale),
            "flushes_per_gib": round((st.flushes + st.preflush) * scale),
            "fua_per_gib": round(st.fua * scale),
            "zero_block_writes_per_gib": round(st.zero_block_writes * scale)}


def run_grid(scenarios, policies, threads=(1, 8, 64), overrides=None, check=True,
             samples=20000, dist_n=24, progress=None, schedules=8) -> dict:
    """The whole comparison. `progress(step_text)` is called once per unit of work."""
    tick = progress or (lambda text: None)
    from ..stamp import make
    out = {"stamp": make("guarantee", overrides=overrides),
           "scenarios": [s.name for s in scenarios], "policies": list(policies),
           "threads": list(threads), "cells": [], "latency_dist": [], "io_cost": [],
           "scaling": []}
    for sc in scenarios:
        for pol in policies:
            tick(f"{sc.name} / {pol}")
            out["cells"].append(run_cell(sc, pol, overrides, check=check, samples=samples,
                                         schedules=schedules))
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
    for kind in KINDS:
        for n in threads:
            for pol in policies:
                tick(f"scaling {kind} x{n} / {pol}")
                out["scaling"].append(scaling_row(kind, n, pol, overrides))
    return out


def grid_steps(scenarios, policies, threads) -> int:
    names = {s.name for s in scenarios}
    return (len(scenarios) * len(policies) + sum(1 for n in DIST_SCENARIOS if n in names) * len(policies)
            + len(policies) + len(KINDS) * len(threads) * len(policies))
