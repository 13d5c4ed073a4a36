"""One scenario both ways: real-kernel crash Outcomes next to the model's, with a verdict.

The CLI (`eofsim kernel-check`) calls `kernel_check` and prints `text(report)` or the dict.
The model side is a callable (scenario, policy, delalloc) -> set[Outcome] supplied by the
caller (MODEL INTEGRATION POINT), so this module never imports the model's crash explorer.
"""

import platform
import time

from . import crash, preflight, run
from .image import MountOpts


def verdict(kernel: set, model: set) -> dict:
    """agree | model-only | kernel-only | both-differ, with the classes on each side only."""
    k_only, m_only = sorted(kernel - model), sorted(model - kernel)
    v = "agree" if not (k_only or m_only) else "kernel-only" if not m_only \
        else "model-only" if not k_only else "both-differ"
    return dict(verdict=v, kernel_only=[o.text() for o in k_only],
                model_only=[o.text() for o in m_only])


def kernel_check(scenario, policy="bh-ordered", delalloc=True, commit_s=1, settle_s=None,
                 max_states=200, seed=0, model=None, final_sync=True) -> dict:
    """Run `scenario` on the real kernel under the mount options standing for `policy`, explore
    its crash images, and compare with model(scenario, policy, delalloc) if given.
    Raises RuntimeError(preflight reason) when the machine cannot do it."""
    why = preflight.reason()
    if why:
        raise RuntimeError(why)
    from dataclasses import replace
    from ..params import Tunables
    tun = Tunables().with_values(scenario.tunables or {})
    if tun.until is not None and commit_s == 1:
        # A window that ends is compared at the model's own time scale (commit=5, one real
        # second a virtual second): jbd2 arms its commit timer with round_jiffies_up
        # (start_this_handle -> jbd2_get_transaction), up to a whole real second late,
        # which scaled time would stretch to 5 virtual seconds.
        commit_s = 5
    opts = replace(MountOpts.for_policy(policy, delalloc, commit_s), auto_da_alloc=tun.auto_da_alloc)
    settle = 2.5 * commit_s if settle_s is None else settle_s   # let the timer commit happen
    t0 = time.monotonic()
    # A scenario with `until` ends the crash window there (scaled), as the model does.
    r = run.run_scenario(scenario, opts, settle_s=settle, final_sync=final_sync,
                         until_ns=tun.until)
    res = crash.explore(r, max_states=max_states, seed=seed)
    out = dict(scenario=scenario.name, policy=policy, mount_options=opts.text(),
               kernel_version=platform.release(), date=time.strftime("%Y-%m-%d"),
               crash_points=res.crash_points, crash_states=len(res.states),
               states_possible=res.states_possible, exhaustive=res.exhaustive, note=res.note,
               seconds_per_image=round(res.seconds_per_image, 4),
               failures=[f"after log record {k}: {m}" for k, m in res.failures],
               kernel=[o.text() for o in sorted(res.outcomes)],
               op_errors={r_.index: r_.error for r_ in r.ops if r_.error},
               cut_off=[r_.index for r_ in r.ops if r_.end_rec is None or r_.end_rec > r.end_rec]
               if tun.until is not None else [],
               seconds=round(time.monotonic() - t0, 2), kernel_outcomes=res.outcomes)
    if model is not None:
        m = set(model(scenario, policy, delalloc))
        out["model"] = [o.text() for o in sorted(m)]
        out.update(verdict(res.outcomes, m))
    return out


def text(rep: dict) -> str:
    lines = [f"{rep['scenario']}  policy={rep['policy']}  mount -o {rep['mount_options']}  "
             f"(Linux {rep['kernel_version']}, {rep['date']})",
             f"  {rep['crash_states']} crash images of {rep['states_possible']} possible states "
             f"at {rep['crash_points']} crash points, {rep['seconds_per_image'] * 1000:.1f} ms "
             f"each" + ("" if rep["exhaustive"] else f"  -- SAMPLED: {rep['note']}")]
    kern, model = rep["kernel"], rep.get("model")
    width = max([len(x) for x in kern] + [6])
    lines.append(f"  {'kernel':{width}s}   model")
    rows = sorted(set(kern) | set(model or []))
    for row in rows:
        lines.append(f"  {row if row in kern else '-':{width}s}   "
                     f"{(row if row in model else '-') if model is not None else '(not run)'}")
    for f in rep["failures"]:
        lines.append(f"  image failed: {f}")
    if "verdict" in rep:
        lines.append(f"  verdict: {rep['verdict']}")
    return "\n".join(lines)
