"""Deadlocks and stalls as verdicts (issue 14).

The engine finds wait-for cycles the moment they form (engine.Engine._check_cycle) and the
tasks still blocked when a run ends (engine.Engine.stalls). This module turns both into a
result of its own kind, with what a reviewer needs to paste into a reply: every task of the
cycle, the resource it waits on and the kernel function it sleeps in, what it holds that the
others wait for, and the virtual time.

- A *deadlock* is a wait-for cycle: each task waits on a resource the next one holds.
- A *stall* is a task still blocked when the run ends without being on a cycle (nothing
  left to wake it: an application thread, or a daemon blocked on anything but its idle
  queue).

The kernel function a task waits in is read from the model's own call chain: every modelled
function's docstring starts with the kernel function it stands for (the project's standard),
so walking the task's generator chain (gi_yieldfrom) and taking the first identifier of each
docstring gives the kernel call chain, innermost last. Where a model function has no such
docstring, the wait queue's kind names the kernel wait (WAIT_IN below).
"""

import re

WAIT_IN = {
    # kind of wait queue -> the kernel function a task sleeps in on it (6.12)
    "folio_writeback": "folio_wait_writeback",      # mm/page-writeback.c
    "folio_lock": "__folio_lock",                   # mm/filemap.c (folio_lock's slow path)
    "i_rwsem": "inode_lock",                        # include/linux/fs.h: down_write(&i_rwsem)
    "commit_wait": "jbd2_log_wait_commit",          # fs/jbd2/journal.c
    "t_updates": "jbd2_journal_wait_updates",       # fs/jbd2/transaction.c
    "journal_locked": "wait_transaction_locked",    # fs/jbd2/transaction.c
    "jbd2_log_io": "jbd2_journal_commit_transaction",   # fs/jbd2/commit.c: log buffers' I/O
    "jbd2_commit_io": "jbd2_journal_commit_transaction",  # commit block's I/O
    "flush_io": "submit_bio_wait",                  # block/bio.c via blkdev_issue_flush
    "dax_io": "submit_bio_wait",
}

_KFN = re.compile(r"\s*([a-z_][a-z0-9_]*)")


def _kernel_name(code):
    """The kernel function a model function stands for: its docstring's first identifier."""
    doc = code.co_consts[0] if code.co_consts and isinstance(code.co_consts[0], str) else None
    if not doc:
        return None
    m = _KFN.match(doc)
    if not m or "_" not in m.group(1):
        return None
    return m.group(1)


def call_chain(task):
    """[(model function 'file:line qualname', kernel name or None)] from the task's outermost
    generator to the innermost one (where it is blocked)."""
    out = []
    g = task.gen
    while g is not None and hasattr(g, "gi_code"):
        code = g.gi_code
        fr = g.gi_frame
        line = fr.f_lineno if fr is not None else code.co_firstlineno
        fname = code.co_filename.rsplit("/", 1)[-1]
        out.append((f"{fname}:{line} {getattr(code, 'co_qualname', code.co_name)}",
                    _kernel_name(code)))
        g = g.gi_yieldfrom
    return out


def _task_info(task, wq, holds):
    chain = call_chain(task) if task is not None else []
    kernel = []
    for _, k in chain:
        if k and (not kernel or kernel[-1] != k):
            kernel.append(k)
    waits_in = WAIT_IN.get(wq.kind) if wq is not None else None
    if waits_in and (not kernel or kernel[-1] != waits_in):
        kernel.append(waits_in)
    return {
        "task": task.name if task is not None else "?",
        "waits_on": wq.name if wq is not None else None,
        "wait_kind": wq.kind if wq is not None else None,
        "waits_in": kernel[-1] if kernel else (wq.kind if wq is not None else None),
        "kernel_stack": kernel,
        "model_stack": [m for m, _ in chain],
        "holds": sorted(holds.get(task.name, ())) if task is not None else [],
        "held_by": sorted({o.name for o in wq.owners()}) if wq is not None else [],
        "blocked_since_ns": task.blocked_since if task is not None and wq is not None else None,
    }


def _holds(eng):
    """task name -> resources (wait queues) it holds that some blocked task waits on."""
    out = {}
    for t in eng.tasks:
        wq = t.blocked_on
        if t.done or wq is None:
            continue
        for o in wq.owners():
            out.setdefault(o.name, set()).add(wq.name)
    return out


def analyse(res) -> dict:
    """{"deadlocks": [cycle dicts], "stall": dict or None, "verdict": "deadlock" | "stall" |
    None} for a sim.RunResult."""
    eng = res.engine
    by_name = {t.name: t for t in eng.tasks}
    holds = _holds(eng)
    cycles = []
    in_cycle = set()
    for d in res.deadlocks:
        tasks = []
        persists = True
        for name, wq_name, kind in d.cycle:
            t = by_name.get(name)
            wq = t.blocked_on if t is not None else None
            if wq is None or wq.name != wq_name:
                persists = False
                info = {"task": name, "waits_on": wq_name, "wait_kind": kind,
                        "waits_in": WAIT_IN.get(kind, kind), "kernel_stack": [],
                        "model_stack": [], "holds": [], "held_by": [], "blocked_since_ns": None}
            else:
                info = _task_info(t, wq, holds)
            tasks.append(info)
            in_cycle.add(name)
        cycles.append({"time_ns": d.time_ns, "tasks": tasks, "persists": persists})
    stall = None
    blocked = []
    for t in eng.tasks:
        wq = t.blocked_on
        if t.done or wq is None or t.name in in_cycle:
            continue
        if t.kind == "app" or (t.kind == "daemon" and not wq.idle):
            info = _task_info(t, wq, holds)
            info["behind_cycle"] = any(o.name in in_cycle for o in wq.owners())
            blocked.append(info)
    if blocked or (res.stall is not None and not cycles):
        stall = {"time_ns": res.end_ns, "tasks": blocked}
    verdict = "deadlock" if cycles else ("stall" if stall is not None else None)
    return {"verdict": verdict, "deadlocks": cycles, "stall": stall}


def _task_text(i):
    s = f"{i['task']} waits on {i['waits_on']} in {i['waits_in']}"
    if i.get("held_by"):
        s += f" (held by {', '.join(i['held_by'])})"
    if i.get("holds"):
        s += f", holding {', '.join(i['holds'])}"
    return s


def fmt_ns(ns):
    return f"{ns / 1e9:.6f} s"


def text_lines(h: dict) -> list:
    """The verdict as printed by run, check, fsx and compare."""
    out = []
    for c in h["deadlocks"]:
        names = " -> ".join(i["task"] for i in c["tasks"]) + " -> " + c["tasks"][0]["task"]
        out.append(f"DEADLOCK at {fmt_ns(c['time_ns'])}: wait-for cycle {names}"
                   + ("" if c["persists"] else " (later broken)"))
        for i in c["tasks"]:
            out.append(f"  {_task_text(i)}")
            if i["kernel_stack"]:
                out.append(f"    kernel: {' > '.join(i['kernel_stack'])}")
    st = h["stall"]
    if st is not None:
        if st["tasks"]:
            out.append(f"STALL at {fmt_ns(st['time_ns'])}: "
                       f"{len(st['tasks'])} task(s) still blocked when the run ended")
            for i in st["tasks"]:
                out.append(f"  {_task_text(i)}" + (" (behind the cycle)" if i.get("behind_cycle") else ""))
        else:
            out.append(f"STALL at {fmt_ns(st['time_ns'])}")
    return out


def short(h: dict) -> str:
    """One line: 'deadlock: a -> b -> a' or 'stall: t1 in folio_wait_writeback'."""
    if h["deadlocks"]:
        c = h["deadlocks"][0]
        return "deadlock: " + " -> ".join(f"{i['task']} [{i['waits_in']}]" for i in c["tasks"])
    st = h["stall"]
    if st is not None:
        return "stall: " + ", ".join(f"{i['task']} [{i['waits_in']}]" for i in st["tasks"])
    return ""


class HangEvent:
    """A deadlock or stall in the shape of a crash Violation (for counterexamples)."""

    def __init__(self, kind, time_ns, detail):
        self.kind, self.crash_time_ns, self.detail = kind, time_ns, detail

    def as_dict(self):
        return {"kind": self.kind, "crash_time_ns": self.crash_time_ns, "detail": self.detail,
                "file": None, "offset": None, "length": None}


class HangMinimized:
    def __init__(self, kind, scenario, runs, hang, complete=True):
        self.kind, self.scenario, self.runs, self.complete = kind, scenario, runs, complete
        first = hang["deadlocks"][0]["time_ns"] if hang["deadlocks"] else hang["stall"]["time_ns"]
        self.violation = HangEvent(kind, first, short(hang))
        self.timeline = "\n".join(text_lines(hang))


def minimize_hang(scenario, policy, overrides, kind, simulate=None, budget=60):
    """The scenario shrunk (delta debugging, workload.campaign.ddmin) to a 1-minimal op list
    that still deadlocks (kind='deadlock') or stalls (kind='stall'); None if the budget
    runs out before the whole scenario was confirmed."""
    from .workload.campaign import ddmin
    if simulate is None:
        from .sim import simulate
    cache = {}

    sub = scenario.keep_ops

    def fails(items):
        key = tuple(items)
        if key not in cache:
            try:
                h = analyse(simulate(sub(items), policy, overrides or {}))
                cache[key] = h if h["verdict"] == kind else None
            except Exception:  # a sub-scenario the model refuses does not reproduce
                cache[key] = None
        return cache[key] is not None

    items = [(ti, oi) for ti, oi, _ in scenario.all_ops()]
    if not fails(items):
        return None
    items, complete, _ = ddmin(items, fails, budget)
    if not fails(items):
        return None
    return HangMinimized(kind, sub(items), len(cache), cache[tuple(items)], complete)
