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
                 max_states=200, seed=0, model=None, final_sync=True, runs=1,
                 until_agree=False) -> dict:
    """Run `scenario` on the real kernel under the mount options standing for `policy`
    (bh-ordered / bh-writeback: ext4; xfs: XFS), explore its crash images, and compare with
    model(scenario, policy, delalloc) if given. `runs` > 1 repeats the real run and takes
    the union of the outcome classes: every run is a schedule the kernel really took, and on
    a shared machine another process's sync(2) can close a window in any one of them.
    `until_agree`: stop repeating at the first run after which the union equals the model's
    classes (`runs` is then the most). What the verdict compares: the union over the runs
    done with the model's classes (one schedule each side: the model's default); besides,
    `within_model` tells whether every single run's classes were a subset of the model's,
    and `per_run` lists each run's classes.
    Raises RuntimeError(preflight reason) when the machine cannot do it."""
    why = preflight.reason("xfs" if policy == "xfs" else "ext4")
    if why:
        raise RuntimeError(why)
    from dataclasses import replace
    from ..params import Tunables
    tun = Tunables().with_values(scenario.tunables or {})
    if tun.until is not None and commit_s == 1 and policy != "xfs":
        # A window that ends is compared at the model's own time scale (commit=5, one real
        # second a virtual second): jbd2 arms its commit timer with round_jiffies_up
        # (start_this_handle -> jbd2_get_transaction), up to a whole real second late,
        # which scaled time would stretch to 5 virtual seconds.
        commit_s = 5
    opts = MountOpts.for_policy(policy, delalloc, commit_s)
    if opts.fs == "ext4":
        opts = replace(opts, auto_da_alloc=tun.auto_da_alloc)
    if settle_s is not None:
        settle = settle_s
    elif opts.fs == "xfs":
        # let one periodic log force (xfs_log_worker) happen after the last op, as the
        # model's horizon lets its log timer fire: that is when an XFS size reaches disk
        # without an fsync or sync
        settle = opts.xfs_syncd_cs / 100 + 1.5
    else:
        settle = 2.5 * commit_s      # let the timer commit happen
    t0 = time.monotonic()
    from ..params import Tunables
    bs = Tunables().with_values(scenario.tunables or {}, scenario.where).block_size
    m = None
    kw = {}
    if model is not None:
        if final_sync and tun.until is None:
            # The window ends with syncfs(2) settle_s after the last op (run_scenario): the
            # model runs the same op that long (in virtual time) after its last op.
            kw["final_syncfs_after_ns"] = round(settle / run.default_time_scale(opts) * 1e9)
        m = set(model(scenario, policy, delalloc, **kw))
    outcomes, failures, resurrected, errors = set(), [], [], {}
    per_run = []
    points = states = possible = 0
    exhaustive, notes, per_image, cut_off = True, [], [], set()
    for i in range(runs):
        tag = f"run {i + 1}: " if runs > 1 else ""
        # A scenario with `until` ends the crash window there, as the model does.
        r = run.run_scenario(scenario, opts, bs=bs, settle_s=settle, final_sync=final_sync,
                             until_ns=tun.until)
        if tun.until is not None:
            cut_off |= {r_.index for r_ in r.ops if r_.end_rec is None or r_.end_rec > r.end_rec}
        res = crash.explore(r, max_states=max_states, seed=seed)
        outcomes |= res.outcomes
        per_run.append(set(res.outcomes))
        points += res.crash_points
        states += len(res.states)
        possible += res.states_possible
        exhaustive = exhaustive and res.exhaustive
        if res.note:
            notes.append(tag + res.note)
        per_image.append(res.seconds_per_image)
        failures += [f"{tag}after log record {k}: {m}" for k, m in res.failures]
        resurrected += [f"{tag}after log record {x.crash_rec}: {x.file} [{x.start}, {x.end})"
                        for x in res.resurrected]
        errors.update({r_.index: r_.error for r_ in r.ops if r_.error})
        if until_agree and m is not None and outcomes == m:
            break
    out = dict(scenario=scenario.name, policy=policy, fs=opts.fs, mount_options=opts.text(),
               kernel_version=platform.release(), date=time.strftime("%Y-%m-%d"),
               runs=len(per_run), per_run=[[o.text() for o in sorted(p)] for p in per_run],
               crash_points=points, crash_states=states, states_possible=possible,
               exhaustive=exhaustive, note="; ".join(notes),
               seconds_per_image=round(sum(per_image) / len(per_image), 4),
               failures=failures, resurrected=resurrected,
               kernel=[o.text() for o in sorted(outcomes)], op_errors=errors,
               cut_off=sorted(cut_off),
               seconds=round(time.monotonic() - t0, 2), kernel_outcomes=outcomes)
    if m is not None:
        out["model_final_syncfs_after_ns"] = kw.get("final_syncfs_after_ns")
        out["model"] = [o.text() for o in sorted(m)]
        out["within_model"] = all(p <= m for p in per_run)
        out.update(verdict(outcomes, m))
    return out


def cell(rep: dict) -> str:
    """A fidelity-table cell: the verdict over the union of the runs done, how many runs
    that took when more than one, and whether it was sampled."""
    out = rep["verdict"]
    notes = []
    if rep.get("runs", 1) > 1:
        notes.append(f"{rep['runs']} runs")
    if not rep["exhaustive"]:
        notes.append("sampled")
    return out + (f" ({', '.join(notes)})" if notes else "")


def text(rep: dict) -> str:
    lines = [f"{rep['scenario']}  policy={rep['policy']}  "
             f"mount -t {rep.get('fs', 'ext4')} -o {rep['mount_options']}  "
             f"(Linux {rep['kernel_version']}, {rep['date']})",
             f"  {rep['crash_states']} crash images of {rep['states_possible']} possible states "
             f"at {rep['crash_points']} crash points"
             + (f" over {rep['runs']} real runs" if rep.get("runs", 1) > 1 else "")
             + f", {rep['seconds_per_image'] * 1000:.1f} ms "
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
    if rep.get("resurrected"):
        lines.append(f"  resurrected data (truncated bytes read back) in "
                     f"{len(rep['resurrected'])} images, first {rep['resurrected'][0]}")
    if "verdict" in rep:
        lines.append(f"  verdict: {rep['verdict']}"
                     + (f" (union of {rep['runs']} runs; every run within the model's classes: "
                        f"{'yes' if rep['within_model'] else 'no'})" if rep.get("runs", 1) > 1 else ""))
    return "\n".join(lines)
