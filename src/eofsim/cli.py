"""The eofsim command line. Bad input is one line on stderr and exit status 2."""

import json
import sys

import click

from .errors import InputError
from .units import fmt_time


def _fail(e: InputError):
    click.echo(f"eofsim: {e}", err=True)
    sys.exit(2)


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except InputError as e:
            _fail(e)
        except BrokenPipeError:
            sys.exit(0)


@click.group(cls=_Group)
def main():
    """eofsim: crash-exploring model of ext4's buffered-write path around EOF."""


def _load(scenario):
    from .scenario_file import load_scenario
    return load_scenario(scenario)


def _overrides(sets):
    from .params import parse_set
    return parse_set(sets)


@main.command()
def scenarios():
    """List the built-in scenarios."""
    from .scenario_file import builtin_names
    for name in builtin_names():
        sc = _load(name)
        first = " ".join(sc.description.split())
        click.echo(f"{name:28} {first[:100]}")


@main.command()
def policies():
    """List the designs (policies)."""
    from .policies import POLICIES
    for name, cls in POLICIES.items():
        click.echo(f"{name:18} [{cls.path}] {cls.summary}")


def run_json(res) -> dict:
    st = res.dev.stats
    return {
        "scenario": res.scenario.name,
        "policy": res.policy,
        "tunables": {k: v for k, v in res.tun.__dict__.items()},
        "ops": [{
            "index": r.index, "thread": r.thread, "op": r.op.text(),
            "start_ns": r.start_ns, "end_ns": r.end_ns, "error": r.error,
            "i_size_after": r.i_size_after, "i_disksize_after": r.i_disksize_after,
            "size_durable_ns": r.size_durable_ns,
        } for r in res.ops],
        "io": st.as_dict(),
        "commits": [{"tid": t, "commit_bio": b, "time_ns": ns} for t, b, ns in res.commits],
        "deadlocks": [d.text() for d in res.deadlocks],
        "stall": res.stall.text() if res.stall else None,
        "end_ns": res.end_ns,
    }


@main.command()
@click.argument("scenario")
@click.option("--policy", "-p", default="bh-ordered", show_default=True, help="Design to run.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a tunable.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def run(scenario, policy, sets, as_json):
    """Run SCENARIO (a built-in name or a file) and print its timeline."""
    from .sim import simulate
    sc = _load(scenario)
    res = simulate(sc, policy, _overrides(sets), trace=not as_json)
    if as_json:
        click.echo(json.dumps(run_json(res), sort_keys=True))
        return
    click.echo(f"scenario {sc.name} under {res.policy}")
    for t, lane, text in res.events:
        click.echo(f"{t / 1e9:12.6f} s  {lane:5}  {text}")
    click.echo("")
    click.echo("size changes and when they became durable:")
    for r in res.ops:
        if r.i_size_before is not None and r.i_size_after != r.i_size_before and not r.error:
            lat = "" if r.size_durable_ns is None else f" (+{(r.size_durable_ns - r.start_ns) / 1e9:.6f} s)"
            click.echo(f"  #{r.index} {r.op.text():40} i_size {r.i_size_before} -> {r.i_size_after}: "
                       f"durable at {fmt_time(r.size_durable_ns)}{lat}")
    st = res.dev.stats
    click.echo(f"I/O: {st.writes} writes ({st.data_writes} data, {st.journal_writes} journal), "
               f"{st.flushes} flushes, {st.preflush} preflush, {st.fua} FUA, "
               f"{st.zero_block_writes} zero-block writes")
    for d in res.deadlocks:
        click.echo(f"DEADLOCK at {fmt_time(d.time_ns)}: {d.text()}")
    if res.stall:
        click.echo(f"STALL at {fmt_time(res.stall.time_ns)}: {res.stall.text()}")


@main.command()
@click.argument("scenario")
@click.option("--policy", "-p", default="bh-ordered", show_default=True, help="Design to check.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a tunable.")
@click.option("--samples", type=click.IntRange(1), default=20000, show_default=True,
              help="Largest state space enumerated exhaustively; beyond it, a seeded sample of this size.")
@click.option("--timed", is_flag=True, help="Take simulated I/O latencies as given (no guarantee semantics).")
@click.option("--schedules", type=click.IntRange(0), default=0, show_default=True,
              help="Also rerun under N seeded perturbations of latencies and event order.")
@click.option("--torn", is_flag=True, help="Let 512-byte sectors of data writes tear.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def check(scenario, policy, sets, samples, timed, schedules, torn, as_json):
    """Crash-check SCENARIO: every disk state a power cut can leave. Exit 1 on a violation."""
    from .crash.explore import check as crash_check, check_schedules
    from .sim import simulate
    sc = _load(scenario)
    ov = _overrides(sets)
    res = simulate(sc, policy, ov)
    rep = crash_check(res, timed=timed, samples=samples, torn=torn)
    failing = None
    if schedules:
        _, failing = check_schedules(sc, policy, ov, n=schedules, timed=timed, samples=samples, torn=torn)
    bad = bool(rep.violations) or failing is not None
    if as_json:
        d = rep.as_dict()
        d["schedules"] = schedules
        d["failing_schedule"] = None if failing is None else {
            "perturb_seed": failing[0], "violations": [v.as_dict() for v in failing[1].violations],
            "counterexample": failing[1].as_dict()["counterexample"]}
        click.echo(json.dumps(d, sort_keys=True))
    else:
        mode = "timed" if timed else "guarantee"
        click.echo(f"{sc.name} under {res.policy} ({mode} semantics): {rep.crash_points} crash points, "
                   f"{rep.crash_states} crash states"
                   + ("" if rep.exhaustive else f" (NOT exhaustive: seeded sample of {samples})"))
        click.echo(f"zeros instead of data (allowed without fsync): {rep.zeros_instead_of_data} states")
        for v in rep.violations:
            click.echo(f"VIOLATION {v.kind} in {v.file} [{v.offset}, {v.offset + v.length}) "
                       f"at crash time {fmt_time(v.crash_time_ns)}" + (f": {v.detail}" if v.detail else ""))
        if rep.counterexample:
            click.echo("counterexample:")
            ce = rep.counterexample
            click.echo(ce if isinstance(ce, str) else json.dumps(ce, indent=1))
        for n in rep.notes:
            click.echo(f"note: {n}")
        if schedules:
            click.echo(f"schedules: {schedules} perturbed reruns, "
                       + ("none failed" if failing is None else f"perturb_seed={failing[0]} fails: "
                          + ", ".join(sorted({v.kind for v in failing[1].violations}))))
        if not bad:
            click.echo("no violation")
    sys.exit(1 if bad else 0)


@main.command()
@click.option("--scenarios", default=None, help="Comma-separated built-in names or files (default: all built-ins).")
@click.option("--policies", "pols", default=None, help="Comma-separated policies (default: all).")
@click.option("--threads", default="1,8,64", show_default=True, help="Thread counts for the scaling runs.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a tunable.")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Write the HTML report and JSON here.")
@click.option("--samples", type=click.IntRange(1), default=20000, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON object.")
def compare(scenarios, pols, threads, sets, out, samples, as_json):
    """The designs side by side: safety, durability latency, I/O cost, scaling, deadlock."""
    _compare(scenarios, pols, threads, sets, out, samples, as_json)


def _compare(scenarios, pols, threads, sets, out, samples, as_json):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from .policies import POLICIES, get_policy
    from .report.compare import grid_steps, run_grid
    from .scenario_file import builtin_names
    names = scenarios.split(",") if scenarios else builtin_names()
    scs = [_load(n.strip()) for n in names if n.strip()]
    policy_names = [p.strip() for p in pols.split(",")] if pols else list(POLICIES)
    for p in policy_names:
        get_policy(p)
    try:
        thread_counts = [int(x) for x in threads.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"--threads {threads!r}: expected comma-separated integers") from None
    if not thread_counts or any(n < 1 or n > 4096 for n in thread_counts):
        raise InputError(f"--threads {threads!r}: each count must be 1..4096")
    ov = _overrides(sets)
    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=console, transient=True,
                  disable=not console.is_terminal) as prog:
        task = prog.add_task("compare", total=grid_steps(scs, policy_names, thread_counts))

        def tick(text):
            prog.update(task, advance=1, description=text[:48])

        data = run_grid(scs, policy_names, thread_counts, ov, samples=samples, progress=tick)
    if out:
        from .report.html import write_report
        path = write_report(data, out)
        console.print(f"report: {path}")
    if as_json:
        click.echo(json.dumps(data, sort_keys=True))
    else:
        from .report.table import print_tables
        print_tables(data)


def _mount_opts(text, policy):
    """'data=ordered,nodelalloc' -> (policy, delalloc)."""
    delalloc = True
    for word in (w.strip() for w in (text or "").split(",") if w.strip()):
        if word in ("data=ordered", "data=writeback"):
            policy = "bh-ordered" if word.endswith("ordered") else "bh-writeback"
        elif word in ("delalloc", "nodelalloc"):
            delalloc = word == "delalloc"
        else:
            raise InputError(f"--mount-opts: {word!r} not supported "
                             "(use data=ordered|data=writeback and delalloc|nodelalloc)")
    if policy not in ("bh-ordered", "bh-writeback"):
        raise InputError(f"kernel-check compares the kernel's own paths: policy {policy!r} "
                         "must be bh-ordered or bh-writeback")
    return policy, delalloc


def model_outcomes(scenario, policy, delalloc):
    """The model's outcome classes for a scenario: every crash state's Outcome."""
    from .crash.explore import check as crash_check
    from .sim import simulate
    return crash_check(simulate(scenario, policy, {"delalloc": delalloc})).outcomes


@main.command("kernel-check")
@click.argument("scenario")
@click.option("--policy", "-p", default="bh-ordered", show_default=True,
              help="bh-ordered (data=ordered) or bh-writeback (data=writeback).")
@click.option("--mount-opts", default=None, metavar="OPTS",
              help="Mount options, e.g. data=writeback,nodelalloc (override --policy).")
@click.option("--max-states", type=click.IntRange(1), default=200, show_default=True,
              help="Crash images to mount at most; beyond it a seeded sample.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def kernel_check_cmd(scenario, policy, mount_opts, max_states, as_json):
    """Run SCENARIO on the real kernel (ext4 on a FUSE-logged loop device) and in the model,
    and compare the outcome classes of their crash states."""
    from .kernel import preflight
    from .kernel.check import kernel_check, text
    policy, delalloc = _mount_opts(mount_opts, policy)
    sc = _load(scenario)
    why = preflight.reason()
    if why:
        raise InputError(f"kernel-check cannot run here: {why}")
    rep = kernel_check(sc, policy, delalloc, max_states=max_states, model=model_outcomes)
    rep.pop("kernel_outcomes", None)
    if as_json:
        click.echo(json.dumps(rep, sort_keys=True))
    else:
        click.echo(text(rep))
    sys.exit(0 if rep.get("verdict") == "agree" else 1)


@main.command()
@click.option("--out", type=click.Path(file_okay=False), default="out/report", show_default=True)
def demo(out):
    """The main job on built-in defaults: `compare` over every built-in scenario and policy."""
    _compare(None, None, "1,8,64", (), out, 20000, False)


if __name__ == "__main__":
    main()
