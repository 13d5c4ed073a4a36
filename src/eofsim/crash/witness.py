"""Timing witnesses (issue 14): the concrete schedule that makes a guarantee-semantics
violation happen, and a rerun that shows it.

Under the default *guarantee* semantics a write is durable only through a flush whose
issuer knew the write had completed (states.durable_times). A violation there may need
some write to be still in flight (or completed but not covered) at a flush that, in the
simulated latencies, it actually beat. The witness names, for the earliest failing crash
state of a violation:

- each write the state needs *not* on disk: the newer versions of the failing block that
  the state passes over (DiskModel.options' range above the version it holds);
- the flush each of them must miss: the latest-issued of the flushes that completed by the
  crash time and the PREFLUSH halves of the commit blocks the state has recovered (the
  flushes that, under --timed, cover every write that completed before they were issued);
- the smallest extra latency that makes the write complete after that flush was issued
  (by one nanosecond: in the device log a completion at the instant of a submission may go
  either way).

Then the scenario is rerun with exactly those latencies added at submission
(block.BlockDevice.extra_delay, `--delay-bio N=DURATION`) and crash-checked under --timed:
the witness *reproduces* when that rerun has a violation of the same kind in the same file.
Slowing a write may change what happens after it (a task that waits for it waits longer),
so if the first rerun does not reproduce, the witness is computed once more on the rerun
and the delays are added to; a witness that still does not reproduce is reported as such
(a model bug or a semantics gap to look at), never dropped.
"""

from dataclasses import dataclass, field

from .states import NEVER, log_positions


@dataclass
class Need:
    bio: int
    what: str
    submit_ns: int
    complete_ns: int | None
    flush: int | None
    flush_what: str = ""
    flush_submit_ns: int | None = None
    extra_ns: int = 0

    def as_dict(self):
        return {"bio": self.bio, "what": self.what, "submitted_ns": self.submit_ns,
                "completed_ns": self.complete_ns, "flush": self.flush, "flush_what": self.flush_what,
                "flush_submitted_ns": self.flush_submit_ns, "extra_ns": self.extra_ns}


@dataclass
class TimingWitness:
    violation: object
    needs: list = field(default_factory=list)
    delays: dict = field(default_factory=dict)
    """bio id -> extra ns (in the schedule the rerun uses)."""
    reproduced: bool | None = None
    rerun_violation: object = None
    rounds: int = 0
    note: str = ""

    def as_dict(self):
        rv = self.rerun_violation
        return {"delays": {str(k): v for k, v in sorted(self.delays.items())},
                "reproduced": self.reproduced,
                "bios": [n.as_dict() for n in self.needs],
                "rerun": None if rv is None else rv.as_dict(),
                "rounds": self.rounds, "note": self.note}


def _what(b):
    w = b.why or b.kind
    if b.ino is not None and b.lblk is not None:
        w += f" (ino {b.ino} lblk {b.lblk})"
    if b.op == "flush":
        w += " (flush)"
    elif b.preflush:
        w += " (PREFLUSH)"
    return w


def needs_for(rep, v) -> list:
    """[Need] for violation v of CheckReport rep (its earliest failing state)."""
    ex = rep._explorer
    w = rep.witness.get((v.kind, v.crash_time_ns, v.file))
    if w is None:
        return []
    dev = ex.result.dev
    bios = dev.bios
    jr = ex.journal
    t, p = w.t, w.p
    forced = jr.forced(p)
    chosen = []
    if w.pblk is not None:
        chosen.append((w.pblk, w.version))
    elif w.choice:
        chosen.extend((pb, vi) for (pb, _), vi in sorted(w.choice.items()))
    ids = []
    for pb, vi in chosen:
        lo, hi = ex.disk.options(pb, t, forced)
        for vj in range(vi + 1, hi + 1):
            bid = ex.disk.bio_of(pb, vj)
            if bid is not None and bid not in ids:
                ids.append(bid)
    if not ids:
        return []
    sub, _ = log_positions(dev)
    flushers = [b for b in bios if (b.op == "flush" or b.preflush) and b.complete_ns is not None
                and b.complete_ns <= t]
    for tid in jr.tids[:p]:
        cb = jr.commit.get(tid)
        if cb is not None and cb.preflush and cb not in flushers:
            flushers.append(cb)
    last = max(flushers, key=lambda b: sub[b.id], default=None)
    out = []
    for bid in ids:
        b = bios[bid]
        n = Need(bid, _what(b), b.submit_ns, b.complete_ns, None)
        if last is not None and sub[last.id] > sub[bid]:
            n.flush, n.flush_what, n.flush_submit_ns = last.id, _what(last), last.submit_ns
            done = b.complete_ns if b.complete_ns is not None else NEVER
            if done <= last.submit_ns:
                n.extra_ns = last.submit_ns - done + 1
        out.append(n)
    return out


def _same(v, rep):
    hits = [x for x in rep.violations if x.kind == v.kind and x.file == v.file]
    return min(hits, key=lambda x: (x.crash_time_ns, x.offset), default=None)


def witness(scenario, policy, overrides, rep, v, samples=20000, torn=False, base_delays=None,
            simulate=None, cache=None) -> TimingWitness:
    """The timing witness of violation v in rep (a guarantee-semantics CheckReport of the run
    of `scenario` under `policy` with `base_delays` already applied), and its --timed rerun."""
    from .explore import check
    if simulate is None:
        from ..sim import simulate
    cache = {} if cache is None else cache
    tw = TimingWitness(v)
    delays = dict(base_delays or {})
    cur_rep, cur_v = rep, v
    for rnd in range(2):
        needs = needs_for(cur_rep, cur_v)
        if rnd == 0:
            tw.needs = needs
        for n in needs:
            if n.extra_ns:
                delays[n.bio] = delays.get(n.bio, 0) + n.extra_ns
        tw.rounds = rnd + 1
        key = tuple(sorted(delays.items()))
        got = cache.get(key)
        if got is None:
            res = simulate(scenario, policy, overrides or {}, bio_delays=delays)
            trep = check(res, timed=True, samples=samples, torn=torn)
            grep = check(res, timed=False, samples=samples, torn=torn) if rnd == 0 else None
            got = cache[key] = (trep, grep)
        trep, grep = got
        hit = _same(v, trep)
        if hit is not None:
            tw.reproduced, tw.rerun_violation, tw.delays = True, hit, dict(delays)
            return tw
        if grep is None:
            break
        cur_v = _same(v, grep)
        if cur_v is None:
            tw.note = "the delayed run no longer shows the violation even under guarantee semantics"
            break
        cur_rep = grep
        if not any(n.extra_ns for n in needs_for(cur_rep, cur_v)):
            break
    tw.reproduced = False
    tw.delays = dict(delays)
    if not tw.note:
        tw.note = ("with these latencies the --timed rerun shows no such violation: a model bug "
                   "or a gap between guarantee and timed semantics to investigate")
    return tw


def witnesses(scenario, policy, overrides, rep, samples=20000, torn=False, base_delays=None,
              simulate=None) -> list:
    """[TimingWitness] for every violation of rep, in rep.violations' order (reruns shared)."""
    cache = {}
    return [witness(scenario, policy, overrides, rep, v, samples=samples, torn=torn,
                    base_delays=base_delays, simulate=simulate, cache=cache)
            for v in rep.violations]


def _t(ns):
    return "never" if ns is None else f"{ns / 1e9:.6f} s"


def _dur(ns):
    """An extra latency to the nanosecond, in seconds: '5.000000001 s'."""
    text = f"{ns / 1e9:.9f}".rstrip("0").rstrip(".")
    return f"{text} s"


def delay_args(delays) -> str:
    from ..units import fmt_dur
    return " ".join(f"--delay-bio {k}={fmt_dur(v)}" for k, v in sorted(delays.items()))


def text_lines(tw: TimingWitness, scenario_arg: str, policy: str) -> list:
    out = []
    if not tw.needs:
        out.append("  witness: no write has to be slower (the state needs no newer write kept "
                   "off the disk)")
    for n in tw.needs:
        if n.flush is None:
            out.append(f"  witness: bio #{n.bio} {n.what} (submitted {_t(n.submit_ns)}) "
                       "need not be slower: no flush issued after it covers it")
        elif n.extra_ns:
            out.append(f"  witness: bio #{n.bio} {n.what}, completed at {_t(n.complete_ns)}, "
                       f"must still be in flight when bio #{n.flush} {n.flush_what} is issued at "
                       f"{_t(n.flush_submit_ns)}: +{_dur(n.extra_ns)} extra latency")
        else:
            out.append(f"  witness: bio #{n.bio} {n.what} already misses bio #{n.flush} "
                       f"{n.flush_what} issued at {_t(n.flush_submit_ns)} (no extra latency)")
    rerun = f"eofsim check {scenario_arg} -p {policy} --timed" + (
        f" {delay_args(tw.delays)}" if tw.delays else "")
    if tw.reproduced:
        rv = tw.rerun_violation
        out.append(f"  rerun `{rerun}`: REPRODUCED ({rv.kind} in {rv.file} "
                   f"[{rv.offset}, {rv.offset + rv.length}) at crash time {_t(rv.crash_time_ns)})")
    else:
        out.append(f"  rerun `{rerun}`: NOT REPRODUCED: {tw.note}")
    return out
