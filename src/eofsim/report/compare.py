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


def scaling_row(kind, threads, policy, overrides=None, spec: ScaleSpec | None = None) -> dict:
    """One scaling run (workload.scaling.ScaleSpec with `kind` and `threads`), measured:
    the issue-4 figures plus report.scale.scale_metrics."""
    from dataclasses import replace
    from ..hang import analyse
    from .scale import scale_metrics
    spec = replace(spec or ScaleSpec(nb_tail_ns=0), op=grow_op(kind), threads=threads)
    res = simulate(scale_scenario(spec), policy, overrides)
    hang = analyse(res)
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
        "deadlocks": hang["deadlocks"],
        "stall": hang["stall"],
    })
    return row


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


def _units(scenarios, policies, threads, overrides, check, samples, dist_n, schedules=8,
           scale_spec=None, scale_kinds=KINDS):
    """The grid as independent units of work, in output order: (section, label, weight,
    function, args). Each unit is a pure function of its arguments."""
    out = []
    for sc in scenarios:
        for pol in policies:
            out.append(("cells", f"{sc.name} / {pol}", 1 + schedules // 2, run_cell,
                        (sc, pol, overrides, check, samples, False, schedules)))
    by_name = {s.name: s for s in scenarios}
    for name in DIST_SCENARIOS:
        if name not in by_name:
            continue
        for pol in policies:
            out.append(("latency_dist", f"latency distribution {name} / {pol}", 3, _dist_entry,
                        (by_name[name], pol, dist_n, overrides)))
    for pol in policies:
        out.append(("io_cost", f"I/O per GiB / {pol}", 12, io_per_gib, (pol, overrides)))
    for kind in scale_kinds:
        for n in threads:
            for pol in policies:
                out.append(("scaling", f"scaling {kind} x{n} / {pol}", 1 + n // 8, scaling_row,
                            (kind, n, pol, overrides, scale_spec)))
    return out


def _dist_entry(sc, pol, n, overrides):
    return {"scenario": sc.name, "policy": pol,
            "latency_ns": latency_distribution(sc, pol, n, overrides=overrides)}


def _call(fn, args):
    return fn(*args)


def _worker_init(parent_pid, plugins):
    """In a pool worker: exit with the parent, and resolve plug-in designs from the
    parent's source text (the worker needs neither the file nor the package)."""
    import signal
    from ..policies import install_sources
    from ..workload.campaign import _watch_parent
    # The parent owns interrupts (one line, exit 130/143): a terminal's Ctrl-C reaches the
    # whole process group, and workers must not each report it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _watch_parent(parent_pid)
    install_sources(plugins)


def run_units(units, policies, jobs, tick):
    """Run [(label, weight, fn, args)] and return the results in the same order. jobs > 1:
    a fork process pool, heaviest units first so the cores finish together; `tick(label)`
    as each unit completes. The results never depend on `jobs`."""
    results = [None] * len(units)
    if jobs <= 1 or len(units) < 2:
        for i, (label, _, fn, args) in enumerate(units):
            tick(label)
            results[i] = fn(*args)
        return results
    import multiprocessing as mp
    import os
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    from ..policies import plugin_sources
    # fork: workers start with the model already imported, and nothing is pickled to start
    # them (a forkserver child unpickling its semaphores after an interrupted parent cleaned
    # them up prints a traceback).
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("fork"),
                               initializer=_worker_init,
                               initargs=(os.getpid(), plugin_sources(policies)))
    try:
        order = sorted(range(len(units)), key=lambda i: (-units[i][1], i))
        futs = {pool.submit(_call, units[i][2], units[i][3]): i for i in order}
        pending = set(futs)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in sorted(done, key=lambda f: futs[f]):
                i = futs[f]
                results[i] = f.result()
                tick(units[i][0])
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return results


def default_jobs() -> int:
    """Worker processes for the grid: one per core the process may run on."""
    import os
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def run_grid(scenarios, policies, threads=(1, 8, 64), overrides=None, check=True,
             samples=20000, dist_n=24, progress=None, schedules=8, scale_spec=None,
             scale_kinds=KINDS, jobs=1) -> dict:
    """The whole comparison. `progress(step_text)` is called once per unit of work done.
    jobs > 1 runs the units in a process pool (heaviest first, so the cores finish
    together); the result is the same data in the same order whatever `jobs` is."""
    from ..block import DEFAULT_DEVICE
    tick = progress or (lambda text: None)
    from ..stamp import make
    out = {"stamp": make("guarantee", overrides=overrides),
           "scenarios": [s.name for s in scenarios], "policies": list(policies),
           "threads": list(threads), "cells": [], "latency_dist": [], "io_cost": [],
           "scaling": [], "device": (overrides or {}).get("device", DEFAULT_DEVICE),
           "scaling_workload": (scale_spec or ScaleSpec(nb_tail_ns=0)).text()}
    units = _units(scenarios, policies, threads, overrides, check, samples, dist_n, schedules,
                   scale_spec, scale_kinds)
    results = run_units([(label, weight, fn, args) for _, label, weight, fn, args in units],
                        policies, jobs, tick)
    for (section, _, _, _, _), r in zip(units, results):
        out[section].append(r)
    return out


def grid_steps(scenarios, policies, threads, scale_kinds=KINDS) -> int:
    names = {s.name for s in scenarios}
    return (len(scenarios) * len(policies) + sum(1 for n in DIST_SCENARIOS if n in names) * len(policies)
            + len(policies) + len(scale_kinds) * len(threads) * len(policies))
