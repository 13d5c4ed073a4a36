"""What `check` and `fsx` print (issue 14): one verdict out of the crash check, the wait-for
graph and the perturbed schedules, with a timing witness under every guarantee-only
violation, a minimised counterexample that stands alone, and the stamp."""

import json
from functools import partial

from .units import fmt_time


def flush_text(st) -> str:
    """The one wording of cache flushes, for every command: each REQ_PREFLUSH (an empty flush
    bio from blkdev_issue_flush, or the flush half of a PREFLUSH write such as a jbd2 commit
    block) is one flush."""
    from .report.table import flush_words
    return flush_words(st.as_dict())


def sync_lines(res) -> list:
    """What each fsync / fdatasync made durable: the transaction it committed and the
    inode size that transaction put on disk, or that it never returned."""
    out = []
    fs = getattr(res, "fs", None)
    committed = {tid: (bio, ns) for tid, bio, ns in res.commits}
    for r in res.ops:
        if r.op.kind not in ("fsync", "fdatasync"):
            continue
        head = f"  #{r.index} {r.op.text():40}"
        if r.end_ns is None:
            out.append(f"{head} never returned (blocked: see below)")
            continue
        if r.error:
            out.append(f"{head} failed: {r.error}")
            continue
        dur = f"returned at {fmt_time(r.end_ns)} (+{(r.end_ns - r.start_ns) / 1e9:.6f} s)"
        tid = r.sync_tid
        if not tid or tid not in committed:
            out.append(f"{head} {dur}: no commit needed (nothing of the file's metadata was "
                       "uncommitted); its data writes waited for")
            continue
        size = None
        if fs is not None:
            tx = fs.journal.tx_by_tid.get(tid)
            ino = r.ino if getattr(r, "ino", None) is not None else res.inos.get(r.op.file)
            raw = tx.raw.get(ino) if tx is not None else None
            size = raw.size if raw is not None else None
        what = f"i_disksize {size}" if size is not None else "no inode of this file"
        ino = r.ino if getattr(r, "ino", None) is not None else res.inos.get(r.op.file)
        data = [b.id for b in res.dev.bios if b.op == "write" and b.kind == "data"
                and b.ino == ino and b.complete_ns is not None and b.complete_ns <= r.end_ns]
        out.append(f"{head} {dur}: made durable tid {tid} ({what}) at "
                   f"{fmt_time(committed[tid][1])}"
                   + (f" with data bios {', '.join('#' + str(i) for i in data)}" if data else ""))
    return out


MAX_TEXT_VIOLATIONS = 8


def _witness_lines(ws, viols, scenario_arg, policy, echo, labels=None):
    from .counterexample import relabel
    from .crash.witness import text_lines
    prev = None
    for i, (v, tw) in enumerate(zip(viols, ws)):
        if i == MAX_TEXT_VIOLATIONS:
            kinds = {}
            for x in viols[i:]:
                kinds[x.kind] = kinds.get(x.kind, 0) + 1
            echo(f"... and {len(viols) - i} more violation(s) ("
                 + ", ".join(f"{k} x{n}" for k, n in sorted(kinds.items()))
                 + "; all of them in --json)")
            break
        echo(f"VIOLATION {v.kind} in {v.file} [{v.offset}, {v.offset + v.length}) "
             f"at crash time {fmt_time(v.crash_time_ns)}"
             + (f": {relabel(v.detail, labels)}" if v.detail else ""))
        if tw is None:
            continue
        key = (tuple(sorted(tw.delays.items())), tw.reproduced,
               tuple((n.bio, n.flush, n.extra_ns) for n in tw.needs))
        if key == prev:
            echo("  witness: the same as above")
            continue
        prev = key
        for line in text_lines(tw, scenario_arg, policy):
            echo(line)


def _named_ops(rep):
    """The op numbers a report's violations and counterexample name ('#N')."""
    import re
    text = "\n".join(v.detail for v in rep.violations)
    if isinstance(rep.counterexample, str):
        text += "\n" + rep.counterexample
    return {int(m) for m in re.findall(r"#(\d+)", text)}


def check_command(sc, scenario_arg, policy, overrides, samples=20000, timed=False, schedules=0,
                  perturb_seed=None, delays=None, torn=False, save_ce=None, witness=True,
                  as_json=False, echo=print, minimise=True, extra_json=None, header=None,
                  labels=None, progress=None, max_violations=10000, stream=False) -> int:
    """Run, crash-check and report; returns the exit status (1 on any failure).
    `progress(done, total)` follows the crash points of the main check (`stream`: the ops
    run); the check stops (and says so in its notes) past `max_violations`. `stream`
    simulates and checks together in bounded memory (crash/stream.py): no minimised
    counterexample, timing witness or schedules; `labels` is then a function of the op
    numbers the report names, giving their labels."""
    from .counterexample import save, standalone
    from .counterexample import text as ce_text
    from .crash.explore import check as crash_check
    from .crash.schedules import run_schedules, summary
    from .crash.schedules import text as sched_text
    from .hang import analyse, minimize_hang
    from .hang import text_lines as hang_lines
    from .sim import simulate
    from .stamp import line, make
    delays = dict(delays or {})
    if save_ce:
        import os

        from .errors import InputError
        d = os.path.dirname(os.path.abspath(save_ce))
        if not os.path.isdir(d) or not os.access(d, os.W_OK) or os.path.isdir(save_ce):
            raise InputError(f"--save-counterexample {save_ce}: not a writable file location")
    sim = partial(simulate, perturb_seed=perturb_seed)
    if stream:
        from .crash.stream import check_stream
        rep, res = check_stream(sc, policy, overrides, torn=torn, max_violations=max_violations,
                                progress=progress)
        witness = minimise = False
        schedules = 0
        if callable(labels):
            labels = labels(_named_ops(rep))
    else:
        res = sim(sc, policy, overrides, bio_delays=delays)
        rep = crash_check(res, timed=timed, samples=samples, torn=torn, progress=progress,
                          max_violations=max_violations)
    h = analyse(res)
    ws = [None] * len(rep.violations)
    if witness and not timed and rep.violations:
        from .crash.witness import witnesses
        ws = witnesses(sc, policy, overrides, rep, samples=samples, torn=torn,
                       base_delays=delays, simulate=sim)
    minimal = None
    ce = None
    notes = list(rep.notes)
    if stream:
        notes.append("streamed (simulated and checked together in bounded memory): the "
                     "counterexample is not minimised and has no timing witness")
    total_ops = sum(len(t.ops) for t in sc.threads)
    if rep.violations and minimise:
        if delays:
            notes.append("not minimised: --delay-bio names bios of the whole scenario")
        else:
            from .crash.minimize import minimize
            minimal = minimize(sc, policy, rep.violations[0].kind, overrides, timed=timed,
                               torn=torn, samples=samples, simulate=sim)
            if minimal is not None:
                ce = standalone(sc, minimal, labels)
    hang_min = None
    if h["verdict"] and not rep.violations and minimise and not delays:
        hang_min = minimize_hang(sc, policy, overrides, h["verdict"], simulate=sim)
    runs = run_schedules(sc, policy, overrides, n=schedules, timed=timed, samples=samples,
                         torn=torn) if schedules else []
    ssum = summary(runs) if schedules else None
    bad = bool(rep.violations) or bool(h["verdict"]) or bool(ssum and ssum["failed"])
    if save_ce:
        if minimal is not None:
            save(save_ce, sc, minimal, policy)
        elif hang_min is not None:
            save(save_ce, sc, hang_min, policy)
        else:
            notes.append(f"--save-counterexample: nothing to save ({save_ce} not written)")
    semantics = "timed" if timed else "guarantee"
    stamp = make(semantics, res.tun)
    if as_json:
        d = rep.as_dict()
        d["description"] = sc.description
        d["notes"] = notes
        from .counterexample import relabel
        for vd, tw in zip(d["violations"], ws):
            vd["witness"] = None if tw is None else tw.as_dict()
            vd["detail"] = relabel(vd["detail"], labels)
        d["witness"] = None if not ws or ws[0] is None else ws[0].as_dict()
        if ce is not None:
            d["counterexample"] = ce
        elif rep.violations:
            v = rep.violations[0]
            from .counterexample import dedupe_lines
            tl = rep.counterexample
            d["counterexample"] = {"kind": v.kind, "ops": None, "crash_time_ns": v.crash_time_ns,
                                   "violation": v.as_dict(),
                                   "timeline": dedupe_lines(tl) if isinstance(tl, str) else tl}
        if hang_min is not None:
            d["counterexample"] = standalone(sc, hang_min, labels)
        d["verdict"] = ("violation" if rep.violations else h["verdict"]) or (
            "schedule" if bad else "ok")
        d["deadlocks"] = h["deadlocks"]
        d["stall"] = h["stall"]
        d["schedules"] = None if not schedules else dict(ssum, runs=[r.as_dict() for r in runs])
        d["stamp"] = stamp
        d["until_ns"] = res.until_ns
        d["cut_off"] = list(res.cut_off)
        d.update(extra_json or {})
        echo(json.dumps(d, sort_keys=True))
        return 1 if bad else 0
    from .counterexample import relabel
    if header:
        echo(header)
    else:
        from .cli import _describe
        echo(f"scenario {sc.name} under {res.policy}")
        _describe(sc)
    echo(f"{sc.name} under {res.policy} ({semantics} semantics): {rep.crash_points} crash points, "
         f"{rep.crash_states} crash states"
         + ("" if rep.exhaustive else f" (NOT exhaustive: seeded sample of {samples})"))
    echo(f"zeros instead of data (allowed without fsync): {rep.zeros_instead_of_data} states")
    for text in hang_lines(h):
        echo(text)
    _witness_lines(ws, rep.violations, scenario_arg, policy, echo, labels)
    if ce is not None:
        echo(ce_text(ce, total_ops, labels))
    elif rep.counterexample:
        c = rep.counterexample
        from .counterexample import dedupe_lines
        echo("counterexample:")
        echo(relabel(dedupe_lines(c), labels) if isinstance(c, str) else json.dumps(c, indent=1))
    if hang_min is not None:
        if sum(len(t.ops) for t in hang_min.scenario.threads) == total_ops:
            echo(f"counterexample: the scenario itself ({total_ops} operation(s)); no op can go")
        else:
            echo(ce_text(standalone(sc, hang_min, labels), total_ops, labels))
    for n in notes:
        echo(f"note: {n}")
    from .cli import cut_off_text
    if cut_off_text(res):
        echo(cut_off_text(res))
    for text in sched_text(runs, scenario_arg, policy) if schedules else ():
        echo(text)
    if save_ce and (minimal is not None or hang_min is not None):
        echo(f"minimised counterexample written to {save_ce}")
    if not bad:
        echo("no violation, no deadlock, no stall")
    else:
        what = []
        if rep.violations:
            what.append(f"{len(rep.violations)} crash violation(s)")
        if h["verdict"]:
            what.append(h["verdict"])
        if ssum and ssum["failed"]:
            what.append(f"{ssum['failed']} of {ssum['n']} schedules failed")
        echo("verdict: FAIL (" + ", ".join(what) + ")")
    echo(f"stamp: {line(stamp)}")
    return 1 if bad else 0
