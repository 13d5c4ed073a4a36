"""`--schedules N`: rerun a scenario under N seeded perturbations of I/O latencies and of
the order of simultaneous events, and say how many failed which way (issue 14).

A schedule fails by a crash violation (the crash checker finds one), a deadlock (a wait-for
cycle formed) or a stall (a task was still blocked at the end with no cycle). A schedule
counts once, under the first of deadlock, stall, crash violation that applies: a run that
hangs cannot finish what its crash states are checked against."""

from dataclasses import dataclass, field

from ..hang import analyse, short


@dataclass
class ScheduleRun:
    perturb_seed: int
    failure: str | None
    """'deadlock' | 'stall' | 'violation' | None"""
    kinds: list = field(default_factory=list)
    """Crash violation kinds found."""
    hang: dict | None = None
    report: object = None

    def as_dict(self):
        return {"perturb_seed": self.perturb_seed, "failure": self.failure, "kinds": self.kinds,
                "hang": self.hang}


def run_schedules(scenario, policy, overrides=None, n=10, timed=False, samples=20000, torn=False,
                  seed=0, simulate=None) -> list:
    """[ScheduleRun] for perturb seeds seed+1 .. seed+n."""
    from .explore import check
    if simulate is None:
        from ..sim import simulate
    out = []
    for k in range(n):
        ps = seed + k + 1
        res = simulate(scenario, policy, overrides or {}, perturb_seed=ps)
        h = analyse(res)
        rep = check(res, timed=timed, samples=samples, seed=seed, torn=torn)
        kinds = sorted(rep.kinds())
        failure = h["verdict"] or ("violation" if kinds else None)
        out.append(ScheduleRun(ps, failure, kinds, h if h["verdict"] else None, rep))
    return out


def summary(runs) -> dict:
    by = {"deadlock": [], "stall": [], "violation": []}
    for r in runs:
        if r.failure:
            by[r.failure].append(r.perturb_seed)
    return {"n": len(runs), "failed": sum(len(v) for v in by.values()),
            "deadlock": by["deadlock"], "stall": by["stall"], "violation": by["violation"]}


def text(runs, scenario_arg, policy) -> list:
    s = summary(runs)
    if not s["failed"]:
        return [f"schedules: {s['n']} perturbed reruns, none failed"]
    parts = [f"{len(s[k])} {k}" for k in ("deadlock", "stall", "violation") if s[k]]
    lines = [f"schedules: {s['failed']} of {s['n']} perturbed reruns failed ({', '.join(parts)})"]
    for k in ("deadlock", "stall", "violation"):
        if s[k]:
            lines.append(f"  {k}: perturb_seed " + ",".join(str(x) for x in s[k]))
    first = next(r for r in runs if r.failure)
    what = short(first.hang) if first.hang else "crash violation: " + ", ".join(first.kinds)
    lines.append(f"  first: perturb_seed={first.perturb_seed} {what}")
    lines.append(f"  reproduce: eofsim run {scenario_arg} -p {policy} --perturb-seed "
                 f"{first.perturb_seed}")
    return lines
