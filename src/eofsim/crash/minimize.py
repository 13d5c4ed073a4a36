"""Minimal counterexample: shrink the operation list by delta debugging (ddmin), keeping a
violation of the same kind, then take the earliest failing crash state and print it as a
short timeline naming the I/O that was, or was not, on disk."""

from dataclasses import dataclass

from ..errors import InputError
from .explore import check, describe_state


class ModelCrash(RuntimeError):
    """The model raised while minimising: a model bug, reported, not "does not reproduce"."""


@dataclass
class Minimized:
    kind: str
    scenario: object
    ops: list
    """[(thread name, op text)] kept."""
    report: object
    violation: object
    timeline: str
    runs: int
    """How many simulations the search took."""

    def text(self):
        lines = [f"minimal counterexample ({self.kind}, {len(self.ops)} operation(s), "
                 f"{self.runs} runs):"]
        lines += [f"  {th}: {t}" for th, t in self.ops]
        lines.append(self.timeline)
        return "\n".join(lines)


def minimize(scenario, policy, kind, overrides=None, timed=False, torn=False, samples=20000,
             simulate=None, max_runs=200) -> Minimized | None:
    if simulate is None:
        from ..sim import simulate
    runs = [0]
    cache = {}

    def fails(keep):
        key = frozenset(keep)
        if key in cache:
            return cache[key]
        if runs[0] >= max_runs:
            return False
        runs[0] += 1
        try:
            res = simulate(scenario.keep_ops(key), policy, overrides or {})
            rep = check(res, timed=timed, torn=torn, samples=samples)
            ok = any(v.kind == kind for v in rep.violations)
        except InputError:  # a sub-scenario the model rejects does not reproduce
            ok = False
        except Exception as e:
            raise ModelCrash(f"model crashed on a sub-scenario of {scenario.name} "
                             f"({len(key)} ops kept): {type(e).__name__}: {e}") from e
        cache[key] = ok
        return ok

    items = [(ti, oi) for ti, oi, _ in scenario.all_ops()]
    if not fails(set(items)):
        return None
    # ddmin
    n = 2
    while len(items) >= 2:
        chunk = max(1, len(items) // n)
        parts = [items[i:i + chunk] for i in range(0, len(items), chunk)]
        reduced = False
        for part in parts:
            rest = [x for x in items if x not in part]
            if rest and fails(set(rest)):
                items = rest
                n = max(n - 1, 2)
                reduced = True
                break
        if not reduced:
            for part in parts:
                if len(part) < len(items) and fails(set(part)):
                    items = part
                    n = 2
                    reduced = True
                    break
        if not reduced:
            if n >= len(items):
                break
            n = min(len(items), 2 * n)
    sub = scenario.keep_ops(items)
    res = simulate(sub, policy, overrides or {})
    rep = check(res, timed=timed, torn=torn, samples=samples)
    vs = [v for v in rep.violations if v.kind == kind]
    v = min(vs, key=lambda v: (v.crash_time_ns, v.offset))
    w = rep.witness[(v.kind, v.crash_time_ns, v.file)]
    timeline = describe_state(rep._explorer, w, v)
    ops = [(th.name, o.text()) for th in sub.threads for o in th.ops]
    return Minimized(kind, sub, ops, rep, v, timeline, runs[0])
