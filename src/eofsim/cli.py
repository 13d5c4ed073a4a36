"""The eofsim command line.

Exit status, every command: 0 nothing found, 1 found something (a violation, a
disagreement), 2 bad input or a refusing environment (one line on stderr naming file:line
where there is one, never a traceback), 130 on SIGINT and 143 on SIGTERM (one line)."""

import errno
import json
import os
import signal
import sys

import click

from .errors import InputError, Interrupted, one_line
from .units import fmt_time

MAX_SAMPLES = 100_000_000
"""--samples beyond this would enumerate state spaces no run can finish."""


def _say(text: str):
    """One line on stderr, whatever `text` holds."""
    try:
        click.echo(one_line(text), err=True)
    except OSError:
        pass


def _fail(e: InputError):
    _say(f"eofsim: {e}")
    sys.exit(2)


def _silence_stdout():
    """stdout failed (a full disk, /dev/full, a closed pipe): point its descriptor at
    /dev/null so the interpreter's final flush of what is still buffered cannot fail again
    and print a second message."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, ValueError, AttributeError):
        pass


def _os_code(e: OSError) -> int:
    """Report an OSError in one line; the exit status (0 for a reader that closed the pipe,
    as `eofsim ... | head` expects)."""
    from .inputs import os_message
    if e.errno == errno.EPIPE:
        _silence_stdout()
        return 0
    if e.filename is None:
        _silence_stdout()
        _say(f"eofsim: cannot write output: {os_message(e)}")
    else:
        _say(f"eofsim: {e.filename}: {os_message(e)}")
    return 2


def _os_fail(e: OSError):
    sys.exit(_os_code(e))


def _interrupted(e: KeyboardInterrupt):
    signum = getattr(e, "signum", signal.SIGINT)
    _say(f"eofsim: interrupted by {signal.Signals(signum).name}")
    sys.exit(128 + signum)


class _Group(click.Group):
    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True,
             **extra):
        """click's main without its multi-line usage errors and "Aborted!": usage errors
        are one line and exit 2; SIGTERM is handled like Ctrl-C (the exit status is 128 +
        the signal); a failing stdout is reported once."""
        code = self._main(args, prog_name, complete_var, **extra)
        if standalone_mode:
            sys.exit(code)
        return code

    def _main(self, args, prog_name, complete_var, **extra):
        import threading
        old = None
        terminated = []
        if threading.current_thread() is threading.main_thread():
            def on_term(signum, frame):
                # One orderly stop: a second SIGTERM must not break off the clean-up the
                # first one started (unmounting, detaching loop devices, storing rows), nor
                # the exit with 143 after it: SIGTERM stays ignored from here on.
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                terminated.append(signum)
                raise Interrupted(signum)
            old = signal.signal(signal.SIGTERM, on_term)
        try:
            try:
                rv = super().main(args, prog_name, complete_var, standalone_mode=False,
                                  **extra)
                code = rv if isinstance(rv, int) else 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
                if not isinstance(e.code, (int, type(None))):
                    _say(f"eofsim: {e.code}")
            except click.exceptions.UsageError as e:
                cmd = e.ctx.command_path if e.ctx else "eofsim"
                _say(f"{cmd}: {e.format_message()} (see '{cmd} --help')")
                code = 2
            except click.ClickException as e:
                _say(f"eofsim: {e.format_message()}")
                code = 2
            except (click.Abort, KeyboardInterrupt) as e:
                signum = getattr(e, "signum", getattr(e.__cause__, "signum", signal.SIGINT))
                _say(f"eofsim: interrupted by {signal.Signals(signum).name}")
                code = 128 + signum
            except InputError as e:
                _say(f"eofsim: {e}")
                code = 2
            except OSError as e:  # e.g. --help to a full stdout
                code = _os_code(e)
            try:
                sys.stdout.flush()
            except OSError as e:
                from .inputs import os_message
                _silence_stdout()
                _say(f"eofsim: cannot write output: {os_message(e)}")
                code = 2
            return code
        finally:
            if old is not None and not terminated:
                signal.signal(signal.SIGTERM, old)

    def parse_args(self, ctx, args):
        from . import stamp
        stamp.ARGV[:] = ["eofsim", *args]
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except InputError as e:
            _fail(e)
        except KeyboardInterrupt as e:
            _interrupted(e)
        except OSError as e:
            _os_fail(e)
        except MemoryError:
            _say("eofsim: out of memory")
            sys.exit(2)


def _finite(ctx, param, value):
    """FloatRange lets NaN through (every comparison with it is false)."""
    if value is not None and value != value:
        raise click.BadParameter("nan is not a number of seconds", ctx, param)
    return value


class _OutDir(click.ParamType):
    """An output directory: a path the kernel accepts that is not an existing non-directory
    (whether it can be written is checked, with a probe file, before the work starts)."""
    name = "DIR"

    def convert(self, value, param, ctx):
        from .inputs import check_path
        try:
            path = check_path(value, "directory")
        except InputError as e:
            self.fail(e.message, param, ctx)
        if os.path.lexists(path) and not os.path.isdir(path):
            self.fail(f"{path!r} exists and is not a directory", param, ctx)
        return path


@click.group(cls=_Group)
def main():
    """eofsim: crash-exploring model of ext4's buffered-write path around EOF."""


def _load(scenario):
    from .scenario_file import load_scenario
    return load_scenario(scenario)


def _overrides(sets, device=None):
    from .params import parse_set
    ov = parse_set(sets)
    if device:
        ov["device"] = device
    return ov


def _device_option(f):
    return click.option("--device", default=None, metavar="NAME",
                        help="Device preset: nvme (default), sata-ssd, hdd, throttled, ideal "
                             "(same as --set device=NAME).")(f)


def _scale_options(f=None, tail="45s"):
    """The scaling workload's knobs (workload.scaling.ScaleSpec), shared by scale and compare
    (whose neighbour has no tail by default: the main job stays quick)."""
    if f is None:
        return lambda g: _scale_options(g, tail)
    opts = [
        click.option("--files-per-thread", "files", type=click.IntRange(1, 4096), default=1, show_default=True,
                     help="Files each worker thread grows."),
        click.option("--rounds", type=click.IntRange(1, 100000), default=8, show_default=True,
                     help="Times each file is grown."),
        click.option("--size", "size", default="1000", show_default=True,
                     help="Initial file size (its last block is written; size mod block = EOF alignment)."),
        click.option("--gap", default="100", show_default=True, help="Bytes past EOF where each op starts."),
        click.option("--len", "length", default="200", show_default=True,
                     help="Bytes each op writes / allocates (truncate-up grows by gap + len)."),
        click.option("--think", default="1ms", show_default=True, help="Time between one thread's ops."),
        click.option("--stagger", default="10ms", show_default=True, help="Thread starts spread over this."),
        click.option("--neighbour/--no-neighbour", default=True, show_default=True,
                     help="Run a neighbour thread: small appends + fdatasync on its own file."),
        click.option("--neighbour-append", default="4096", show_default=True, help="Bytes per neighbour append."),
        click.option("--neighbour-period", default="1ms", show_default=True,
                     help="Neighbour append period while the workers run."),
        click.option("--neighbour-tail", default=tail, show_default=True,
                     help="How long the neighbour goes on after them (meets the background writeback)."),
        click.option("--neighbour-tail-period", default="100ms", show_default=True,
                     help="Neighbour append period in that tail."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def _scale_spec(kw, seed=0):
    from .units import parse_size, parse_time
    from .workload.scaling import ScaleSpec
    return ScaleSpec(files=kw["files"], rounds=kw["rounds"], size=parse_size(kw["size"], "--size"),
                     gap=parse_size(kw["gap"], "--gap"), length=parse_size(kw["length"], "--len"),
                     think_ns=parse_time(kw["think"], "--think"), stagger_ns=parse_time(kw["stagger"], "--stagger"),
                     neighbour=kw["neighbour"], nb_append=parse_size(kw["neighbour_append"], "--neighbour-append"),
                     nb_period_ns=parse_time(kw["neighbour_period"], "--neighbour-period"),
                     nb_tail_ns=parse_time(kw["neighbour_tail"], "--neighbour-tail"),
                     nb_tail_period_ns=parse_time(kw["neighbour_tail_period"], "--neighbour-tail-period"),
                     seed=seed).check()


def _int_list(text, what, lo=1, hi=4096):
    from .units import parse_int
    try:
        vals = [parse_int(x.strip(), "count", lo, hi) for x in text.split(",") if x.strip()]
    except InputError as e:
        raise InputError(f"{what} {text!r}: each count must be an integer {lo}..{hi} "
                         f"({e.message})") from None
    if not vals:
        raise InputError(f"{what} {text!r}: each count must be {lo}..{hi}")
    return vals


@main.command()
def scenarios():
    """List the built-in scenarios with their full descriptions."""
    import textwrap
    from .scenario_file import builtin_names
    for name in builtin_names():
        sc = _load(name)
        click.echo(name)
        text = " ".join(sc.description.split()) or "(no description)"
        click.echo(textwrap.fill(text, width=96, initial_indent="    ", subsequent_indent="    ",
                                 break_on_hyphens=False, break_long_words=False))
        click.echo("")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def tunables(as_json):
    """List every tunable (`--set KEY=VALUE`, a scenario's `tunables:`): unit, default,
    range and the kernel knob it stands for."""
    import textwrap
    from .tunables_info import rows
    rs = rows()
    if as_json:
        click.echo(json.dumps(rs, sort_keys=True))
        return
    for r in rs:
        click.echo(f"{r['name']} = {r['default']}   [{r['unit']}; range {r['range']}]")
        click.echo(f"    kernel: {r['kernel']}")
        click.echo(textwrap.fill(r["description"], width=96, initial_indent="    ",
                                 subsequent_indent="    "))


@main.command()
@click.argument("specs", nargs=-1)
def policies(specs):
    """List the designs: built-ins, plug-ins registered under the entry-point group
    `eofsim.policies`, and any SPECS given (path/file.py:Class or package.module:Class),
    each with where it comes from."""
    from .policies import listing, resolve
    rows = listing()
    for spec in specs:
        cls, origin, _ = resolve(spec)
        rows.append((cls.name, origin, cls.summary))
    for name, origin, summary in rows:
        click.echo(f"{name:18} {summary}  [{origin}]")


def run_json(res) -> dict:
    from .hang import analyse
    from .stamp import make
    st = res.dev.stats
    h = analyse(res)
    return {
        "scenario": res.scenario.name,
        "description": res.scenario.description,
        "policy": res.policy,
        "tunables": {k: v for k, v in res.tun.__dict__.items()},
        "stamp": make(None, res.tun),
        "ops": [{
            "index": r.index, "thread": r.thread, "op": r.op.text(), "where": r.op.where,
            "start_ns": r.start_ns, "end_ns": r.end_ns, "error": r.error,
            "i_size_after": r.i_size_after, "i_disksize_after": r.i_disksize_after,
            "size_durable_ns": r.size_durable_ns, "sync_tid": r.sync_tid,
        } for r in res.ops],
        "io": st.as_dict(),
        "device": res.dev.device,
        "commits": [{"tid": t, "commit_bio": b, "time_ns": ns} for t, b, ns in res.commits],
        "verdict": h["verdict"],
        "deadlocks": h["deadlocks"],
        "stall": h["stall"],
        "end_ns": res.end_ns,
        "until_ns": res.until_ns,
        "cut_off": list(res.cut_off),
    }


def cut_off_text(res) -> str | None:
    """One line naming the ops a run ended by `until` cut off (None without until)."""
    if res.until_ns is None:
        return None
    by = {r.index: r for r in res.ops}
    names = ", ".join(f"#{i} {by[i].op.text()}" for i in res.cut_off) or "none"
    return f"run ended at until={fmt_time(res.until_ns)}; ops cut off: {names}"


def _delays(items):
    """['3=5s', ...] -> {3: 5_000_000_000} (--delay-bio)."""
    from .units import parse_time
    out = {}
    for item in items:
        if "=" not in item:
            raise InputError(f"--delay-bio {item!r}: expected BIO=DURATION (e.g. 3=5s)")
        k, v = item.split("=", 1)
        from .units import parse_int
        try:
            bid = parse_int(k.strip(), "bio id", 0, (1 << 63) - 1)
        except InputError as e:
            raise InputError(f"--delay-bio {item!r}: {e.message}") from None
        out[bid] = out.get(bid, 0) + parse_time(v.strip(), f"--delay-bio {bid}")
    return out


_DELAY_HELP = ("Add DURATION to the latency of bio N (ids as `run` and the witnesses name "
               "them); repeatable.")


def _describe(sc):
    import textwrap
    if sc.description:
        for para in sc.description.strip().split("\n\n"):
            click.echo(textwrap.fill(" ".join(para.split()), width=96, break_on_hyphens=False,
                                     break_long_words=False))
        click.echo("")


@main.command()
@click.argument("scenario")
@click.option("--policy", "-p", default="bh-ordered", show_default=True, help="Design to run.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a tunable.")
@_device_option
@click.option("--perturb-seed", type=click.IntRange(1, (1 << 64) - 1), default=None,
              help="Run the schedule `check --schedules` calls perturb_seed=N.")
@click.option("--delay-bio", "delay_bio", multiple=True, metavar="N=DURATION", help=_DELAY_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def run(scenario, policy, sets, device, perturb_seed, delay_bio, as_json):
    """Run SCENARIO (a built-in name or a file) and print its timeline. Exit 1 if it
    deadlocks or stalls."""
    from .hang import analyse, text_lines
    from .sim import simulate
    from .stamp import line, make
    from .verdict import flush_text, sync_lines
    sc = _load(scenario)
    res = simulate(sc, policy, _overrides(sets, device), trace=not as_json, perturb_seed=perturb_seed,
                   bio_delays=_delays(delay_bio))
    h = analyse(res)
    if as_json:
        click.echo(json.dumps(run_json(res), sort_keys=True))
        sys.exit(1 if h["verdict"] else 0)
    click.echo(f"scenario {sc.name} under {res.policy} on device {res.dev.device}")
    _describe(sc)
    for t, lane, text in res.events:
        click.echo(f"{t / 1e9:12.6f} s  {lane:5}  {text}")
    click.echo("")
    click.echo("size changes and when they became durable:")
    for r in res.ops:
        if r.op.kind in ("fsync", "fdatasync"):
            continue
        if r.i_size_before is not None and r.i_size_after is not None \
                and r.i_size_after != r.i_size_before and not r.error:
            lat = "" if r.size_durable_ns is None else f" (+{(r.size_durable_ns - r.start_ns) / 1e9:.6f} s)"
            click.echo(f"  #{r.index} {r.op.text():40} i_size {r.i_size_before} -> {r.i_size_after}: "
                       f"durable at {fmt_time(r.size_durable_ns)}{lat}")
    for text in sync_lines(res):
        click.echo(text)
    st = res.dev.stats
    click.echo(f"I/O: {st.writes} writes ({st.data_writes} data, "
               f"{st.journal_writes} journal), {flush_text(st)}, "
               f"{st.zero_block_writes} zero-block writes")
    click.echo(f"device {res.dev.device}: {st.requests} write requests after merging "
               f"({st.req_random} random, {st.req_sequential} sequential, {st.merged_bios} bios merged), "
               f"{st.device_flushes} flush commands, medium busy {st.busy_ns / 1e6:.3f} ms "
               f"({st.zero_busy_ns / 1e6:.3f} ms on zeroed EOF blocks)")
    for text in text_lines(h):
        click.echo(text)
    if cut_off_text(res):
        click.echo(cut_off_text(res))
    click.echo(f"stamp: {line(make(None, res.tun))}")
    sys.exit(1 if h["verdict"] else 0)


_max_violations_option = click.option(
    "--max-violations", type=click.IntRange(1), default=10000, show_default=True,
    help="Stop checking after this many violations (the report's notes say where it stopped).")


@main.command()
@click.argument("scenario")
@click.option("--policy", "-p", default="bh-ordered", show_default=True, help="Design to check.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a tunable.")
@click.option("--samples", type=click.IntRange(1, MAX_SAMPLES), default=20000, show_default=True,
              help="Largest state space enumerated exhaustively; beyond it, a seeded sample of this size.")
@click.option("--timed", is_flag=True, help="Take simulated I/O latencies as given (no guarantee semantics).")
@click.option("--schedules", type=click.IntRange(0, 100_000), default=0, show_default=True,
              help="Also rerun under N seeded perturbations of latencies and event order; "
                   "deadlocks and stalls count as failures.")
@click.option("--perturb-seed", type=click.IntRange(1, (1 << 64) - 1), default=None,
              help="Check the one perturbed schedule perturb_seed=N.")
@click.option("--delay-bio", "delay_bio", multiple=True, metavar="N=DURATION", help=_DELAY_HELP)
@click.option("--torn", is_flag=True, help="Let 512-byte sectors of data writes tear.")
@click.option("--save-counterexample", "save_ce", default=None, metavar="OUT.yaml",
              help="Write the minimised counterexample scenario here.")
@click.option("--no-witness", is_flag=True, help="Skip the timing witnesses and their reruns.")
@_device_option
@click.option("--app-check", "app_cmd", default=None, metavar="CMD",
              help="Also run shell command CMD in a directory holding each distinct recovered "
                   "file tree (real bytes from SCENARIO's .data file); non-zero exit rejects it.")
@click.option("--app-states", type=click.IntRange(1), default=500, show_default=True,
              help="At most this many distinct trees for --app-check.")
@click.option("--app-timeout", type=click.FloatRange(0.1), default=60.0, show_default=True,
              help="Seconds CMD may take on one tree.")
@click.option("--app-keep", default=None, metavar="DIR",
              help="Copy the minimal rejected tree here.")
@_max_violations_option
@click.option("--stream", is_flag=True,
              help="Simulate and check together in bounded memory (a long scenario without "
                   "namespace ops); no minimised counterexample, witness or schedules.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def check(scenario, policy, sets, samples, timed, schedules, perturb_seed, delay_bio, torn,
          save_ce, no_witness, device, app_cmd, app_states, app_timeout, app_keep, max_violations,
          stream, as_json):
    """Crash-check SCENARIO: every disk state a power cut can leave. Exit 1 on a violation,
    a deadlock or a stall (or, with --app-check, on a crash state the application rejects)."""
    from .verdict import check_command
    if save_ce:
        from .inputs import check_path
        save_ce = check_path(save_ce, "--save-counterexample")
    if stream:
        bad = [o for o, v in (("--timed", timed), ("--schedules", schedules),
                              ("--perturb-seed", perturb_seed), ("--delay-bio", delay_bio),
                              ("--save-counterexample", save_ce), ("--app-check", app_cmd)) if v]
        if bad:
            raise InputError(f"--stream cannot be combined with {', '.join(bad)}")
    sc = _load(scenario)
    if app_cmd is not None:
        from .crash.appcheck import run_cli
        from .crash.explore import check as crash_check
        from .sim import simulate
        res = simulate(sc, policy, _overrides(sets, device))
        sys.exit(run_cli(scenario, res, app_cmd, app_states, app_timeout, app_keep, timed,
                         as_json, lambda: crash_check(res, timed=timed, samples=samples, torn=torn)))
    with _check_progress(sc.name, unit="ops" if stream else "crash points") as tick:
        code = check_command(sc, scenario, policy, _overrides(sets, device), samples=samples, timed=timed,
                             schedules=schedules, perturb_seed=perturb_seed,
                             delays=_delays(delay_bio), torn=torn, save_ce=save_ce,
                             witness=not no_witness, as_json=as_json, echo=click.echo,
                             progress=tick, max_violations=max_violations, stream=stream)
    sys.exit(code)


@main.command()
@click.option("--scenarios", default=None, help="Comma-separated built-in names or files (default: all built-ins).")
@click.option("--policies", "pols", default=None, help="Comma-separated policies (default: all).")
@click.option("--threads", default="1,8,64", show_default=True, help="Thread counts for the scaling runs.")
@click.option("--scale-ops", default="append,truncate-up", show_default=True,
              help="Growing operations of the scaling runs: append (extending write), truncate-up, fallocate.")
@_scale_options(tail="0s")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a tunable.")
@_device_option
@click.option("--out", type=_OutDir(), default=None, help="Write the HTML report and JSON here.")
@click.option("--samples", type=click.IntRange(1, MAX_SAMPLES), default=20000, show_default=True)
@click.option("--schedules", type=click.IntRange(0, 1000), default=8, show_default=True,
              help="Also run each cell under N perturbed schedules, for deadlocks and stalls.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON object.")
@click.option("--jobs", type=click.IntRange(1, 256), default=None,
              help="Worker processes (default: one per core); the output does not depend on it.")
def compare(scenarios, pols, threads, scale_ops, sets, device, out, samples, schedules, as_json, jobs, **kw):
    """The designs side by side: safety, durability latency, I/O cost, scaling, deadlock.
    Exit 1 if any run deadlocked or stalled (crash exposures are the comparison's subject,
    not a failure of it)."""
    data = _compare(scenarios, pols, threads, sets, out, samples, as_json, schedules, device=device,
                    scale_spec=_scale_spec(kw), scale_kinds=_kinds(scale_ops), jobs=jobs)
    hung = any(c.get("deadlocks") or c.get("stall") or (c.get("schedules") or {}).get("deadlock")
               or (c.get("schedules") or {}).get("stall")
               for c in data.get("cells", []) + data.get("scaling", []))
    sys.exit(1 if hung else 0)


def _kinds(text):
    from .workload.scaling import grow_op
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    if not kinds:
        raise InputError("--scale-ops: give at least one operation")
    for k in kinds:
        grow_op(k)
    return kinds


def _compare(scenarios, pols, threads, sets, out, samples, as_json, schedules=8, device=None,
             scale_spec=None, scale_kinds=None, jobs=None):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from .policies import POLICIES, get_policy
    from .report.compare import default_jobs, grid_steps, run_grid
    from .scenario_file import builtin_names
    names = scenarios.split(",") if scenarios else builtin_names()
    scs = [_load(n.strip()) for n in names if n.strip()]
    policy_names = [p.strip() for p in pols.split(",")] if pols else list(POLICIES)
    for p in policy_names:
        get_policy(p)
    from .workload.scaling import KINDS
    thread_counts = _int_list(threads, "--threads")
    scale_kinds = scale_kinds or list(KINDS)
    ov = _overrides(sets, device)
    from .params import Tunables
    Tunables().with_values(ov, "--set")
    if out:
        from .inputs import check_out_dir
        out = check_out_dir(out, "--out")
    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=console, transient=True,
                  disable=not console.is_terminal) as prog:
        task = prog.add_task("compare", total=grid_steps(scs, policy_names, thread_counts, scale_kinds))

        def tick(text):
            prog.update(task, advance=1, description=text[:48])

        data = run_grid(scs, policy_names, thread_counts, ov, samples=samples, progress=tick,
                        schedules=schedules, scale_spec=scale_spec, scale_kinds=scale_kinds,
                        jobs=default_jobs() if jobs is None else jobs)
    # Results reach stdout first: a report directory that fails now (a full disk) cannot
    # lose them.
    if as_json:
        click.echo(json.dumps(data, sort_keys=True))
    else:
        from .report.table import print_tables
        print_tables(data)
    sys.stdout.flush()
    if out:
        _write_report(data, out, console)
    return data


@main.command()
@click.option("--policies", "pols", default="bh-ordered,iomap-v4,iomap-deferred,iomap-pending", show_default=True,
              help="Comma-separated designs.")
@click.option("--threads", default="1,8,64,256", show_default=True, help="Comma-separated thread counts.")
@click.option("--op", "ops", default="truncate-up", show_default=True,
              help="Growing operation(s), comma-separated: truncate-up, extending-write (append), fallocate.")
@click.option("--device", "devices", default="nvme", show_default=True,
              help="Device preset(s), comma-separated: nvme, sata-ssd, hdd, throttled, ideal.")
@_scale_options
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=0, show_default=True,
              help="Seed of the thread start times.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a tunable.")
@click.option("--out", type=_OutDir(), default=None,
              help="Write the HTML report (plots per device) and results.json here.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON object.")
@click.option("--markdown", is_flag=True, help="Print the tables as markdown (compact, then full).")
@click.option("--jobs", type=click.IntRange(1, 256), default=None,
              help="Worker processes (default: one per core).")
def scale(pols, threads, ops, devices, seed, sets, out, as_json, markdown, jobs, **kw):
    """Many threads growing their files past an unaligned EOF, and a neighbour's fdatasync:
    blocked time, throughput, device time on zeroed blocks, durability, interference."""
    from rich.console import Console
    from .block import PRESETS
    from .params import Tunables
    from .policies import get_policy
    from .report.scale import run_scale, scale_steps
    from .workload.scaling import grow_op
    spec = _scale_spec(kw, seed)
    policy_names = [p.strip() for p in pols.split(",") if p.strip()]
    for p in policy_names:
        get_policy(p)
    thread_counts = _int_list(threads, "--threads")
    op_names = [grow_op(o) for o in ops.split(",") if o.strip()]
    dev_names = [d.strip() for d in devices.split(",") if d.strip()]
    for d in dev_names:
        if d not in PRESETS:
            raise InputError(f"--device {d!r}: use one of {', '.join(PRESETS)}")
    if not op_names or not dev_names or not policy_names:
        raise InputError("scale: give at least one --op, --device and policy")
    ov = _overrides(sets)
    Tunables().with_values(ov, "--set")
    if out:
        from .inputs import check_out_dir
        out = check_out_dir(out, "--out")
    console = Console(stderr=True)
    total = scale_steps(policy_names, thread_counts, op_names, dev_names)
    with _progress(console, total) as prog:
        task = prog.add_task("scale", total=total)
        from .report.compare import default_jobs
        data = run_scale(spec, policy_names, thread_counts, op_names, dev_names, ov,
                         progress=lambda text: prog.update(task, advance=1, description=text[:48]),
                         jobs=default_jobs() if jobs is None else jobs)
    if as_json:
        click.echo(json.dumps(data, sort_keys=True))
    elif markdown:
        from .report.scale_table import compact_markdown, markdown as full_markdown
        click.echo(f"Workload: {data['workload_text']}.\n")
        click.echo(compact_markdown(data))
        click.echo(full_markdown(data))
    else:
        from .report.scale_table import print_scale
        print_scale(data)
    sys.stdout.flush()
    if out:
        from .report.scale_html import write_scale_report
        _write_report(data, out, console, write_scale_report)
def _write_report(data, out, console, write_report=None):
    """The HTML report and results.json into `out`; if that fails, results.json goes to a
    fresh file in the temporary directory and the one-line error names it (exit 2)."""
    from .inputs import os_message, rescue_json
    if write_report is None:
        from .report.html import write_report
    try:
        path = write_report(data, out)
    except OSError as e:
        saved = rescue_json(json.dumps(data, sort_keys=True, indent=1))
        where = f"{e.filename}: " if e.filename else ""
        raise InputError(f"--out {out}: cannot write the report ({where}{os_message(e)}); "
                         + (f"the results are saved in {saved}" if saved else
                            "the results could not be saved anywhere either: rerun with "
                            "--json to print them")) from None
    console.print(f"HTML report: {path} (JSON beside it: results.json)")


def _mount_opts(text, policy, sc=None):
    """'data=ordered,nodelalloc,noauto_da_alloc' -> (policy, delalloc, scenario); auto_da_alloc
    goes into the scenario's tunables, which both sides read."""
    delalloc = True
    for word in (w.strip() for w in (text or "").split(",") if w.strip()):
        if word in ("auto_da_alloc", "noauto_da_alloc") and sc is not None:
            from dataclasses import replace
            sc = replace(sc, tunables={**sc.tunables, "auto_da_alloc": word == "auto_da_alloc"})
        elif word in ("data=ordered", "data=writeback"):
            policy = "bh-ordered" if word.endswith("ordered") else "bh-writeback"
        elif word in ("delalloc", "nodelalloc"):
            delalloc = word == "delalloc"
        else:
            raise InputError(f"--mount-opts: {word!r} not supported "
                             "(use data=ordered|data=writeback, delalloc|nodelalloc, [no]auto_da_alloc)")
    if policy not in ("bh-ordered", "bh-writeback"):
        raise InputError(f"kernel-check compares the kernel's own paths: policy {policy!r} "
                         "must be bh-ordered or bh-writeback")
    return (policy, delalloc) if sc is None else (policy, delalloc, sc)


def model_outcomes(scenario, policy, delalloc, final_syncfs_after_ns=None):
    """The model's outcome classes for a scenario: every crash state's Outcome. Timed
    semantics, as the kernel side uses: a real device log is one concrete schedule, in which
    a write the device completed before a flush was issued is covered by it.
    `final_syncfs_after_ns`: see kernel_model_scenario."""
    from .crash.explore import check as crash_check
    from .sim import simulate
    sc = kernel_model_scenario(scenario, policy, delalloc, final_syncfs_after_ns)
    return crash_check(simulate(sc, policy, {"delalloc": delalloc}), timed=True).outcomes


def kernel_model_scenario(scenario, policy, delalloc, final_syncfs_after_ns=None):
    """The scenario the model runs for kernel-check: kernel-check's harness ends its crash
    window with syncfs(2) `final_syncfs_after_ns` (in model time) after the last op ends
    (kernel.check.kernel_check, kernel.run.run_scenario); the model runs the same `syncfs`
    op at the same place: its own last op end plus that gap (None: no final syncfs)."""
    from .ops import Op
    from .sim import simulate
    if final_syncfs_after_ns is None:
        return scenario
    ends = [r.end_ns for r in simulate(scenario, policy, {"delalloc": delalloc}).ops
            if r.end_ns is not None]
    return scenario.with_harness_op(Op("syncfs", at_ns=max(ends, default=0) + final_syncfs_after_ns))


@main.command("kernel-check")
@click.argument("scenario")
@click.option("--fs", "fstype", type=click.Choice(["ext4", "xfs"]), default="ext4",
              show_default=True,
              help="Real filesystem: ext4 (policies bh-ordered, bh-writeback) or xfs "
                   "(compared with the model's xfs policy; XFS's default mount options).")
@click.option("--policy", "-p", default=None,
              help="ext4: bh-ordered (data=ordered, the default) or bh-writeback "
                   "(data=writeback). xfs: only xfs.")
@click.option("--mount-opts", default=None, metavar="OPTS",
              help="ext4 mount options, e.g. data=writeback,nodelalloc (override --policy).")
@click.option("--max-states", type=click.IntRange(1, 100_000), default=200, show_default=True,
              help="Crash images to mount at most (per run); beyond it a seeded sample.")
@click.option("--runs", type=click.IntRange(1, 100), default=1, show_default=True,
              help="Real runs whose outcome classes are united (each is one schedule; on a "
                   "busy machine other processes' sync(2) can close a window in one).")
@click.option("--until-agree", is_flag=True,
              help="Stop after the first run whose union of classes equals the model's "
                   "(--runs is then the most); reports whether every run stayed within the "
                   "model's classes.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def kernel_check_cmd(scenario, fstype, policy, mount_opts, max_states, runs, until_agree, as_json):
    """Run SCENARIO on the real kernel (ext4 or XFS on a FUSE-logged loop device) and in the
    model, and compare the outcome classes of their crash states.

    XFS runs set fs.xfs.xfssyncd_centisecs (the log worker's period, machine-wide, XFS
    mounts only) to 1 s for the run and restore it: scenario time runs at 1/30 real second
    per model second (the model's 30 s log worker period)."""
    from .kernel import preflight
    from .kernel.check import kernel_check, text
    if fstype == "xfs":
        if mount_opts:
            raise InputError("--mount-opts: XFS runs with its default mount options only")
        if policy not in (None, "xfs"):
            raise InputError(f"--fs xfs compares with the model's xfs policy, not {policy!r}")
        policy, delalloc = "xfs", True
        sc = _load(scenario)
    else:
        policy, delalloc, sc = _mount_opts(mount_opts, policy or "bh-ordered", _load(scenario))
    why = preflight.reason(fstype)
    if why:
        raise InputError(f"kernel-check cannot run here: {why}")
    rep = kernel_check(sc, policy, delalloc, max_states=max_states, model=model_outcomes,
                       runs=runs, until_agree=until_agree)
    rep.pop("kernel_outcomes", None)
    from .stamp import line, make
    stamp = make("timed", overrides={"delalloc": delalloc} if not delalloc else None)
    if as_json:
        rep["stamp"] = stamp
        click.echo(json.dumps(rep, sort_keys=True))
    else:
        click.echo(text(rep))
        click.echo(f"stamp: {line(stamp)}")
    sys.exit(0 if rep.get("verdict") == "agree" else 1)


@main.command()
@click.option("--out", type=_OutDir(), default="out/report", show_default=True)
def demo(out):
    """The main job on built-in defaults: `compare` over every built-in scenario and policy."""
    _compare(None, None, "1,8,64,256", (), out, 20000, False)



# ---------------------------------------------------------------- fsx op logs and campaigns

def _read_oplog(path):
    """The op log's text: a regular file of bounded size; bytes that are not UTF-8 are bad
    input naming file:line."""
    from .inputs import OPLOG_MAX_BYTES, read_text
    return read_text(path, "op log", OPLOG_MAX_BYTES)


def _report_text(rep, name, policy, samples, timed=False, minimal=None, no_violation=None, device=None):
    """A CheckReport as `check` and `fsx` print it; `minimal` replaces the raw counterexample."""
    mode = "timed" if timed else "guarantee"
    on = f" on device {device}" if device else ""
    click.echo(f"{name} under {policy}{on} ({mode} semantics): {rep.crash_points} crash points, "
               f"{rep.crash_states} crash states"
               + ("" if rep.exhaustive else f" (NOT exhaustive: seeded sample of {samples})"))
    click.echo(f"zeros instead of data (allowed without fsync): {rep.zeros_instead_of_data} states")
    for v in rep.violations:
        click.echo(f"VIOLATION {v.kind} in {v.file} [{v.offset}, {v.offset + v.length}) "
                   f"at crash time {fmt_time(v.crash_time_ns)}" + (f": {v.detail}" if v.detail else ""))
    if minimal is not None:
        click.echo(minimal.text())
    elif rep.counterexample:
        click.echo("counterexample:")
        ce = rep.counterexample
        click.echo(ce if isinstance(ce, str) else json.dumps(ce, indent=1))
    for n in rep.notes:
        click.echo(f"note: {n}")
    if no_violation if no_violation is not None else not rep.violations:
        click.echo("no violation")


@main.command()
@click.argument("opsfile")
@click.option("--policy", "-p", default="bh-ordered", show_default=True, help="Design to check.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a tunable.")
@click.option("--samples", type=click.IntRange(1, MAX_SAMPLES), default=20000, show_default=True,
              help="Largest state space enumerated exhaustively; beyond it, a seeded sample of this size.")
@click.option("--lenient", is_flag=True,
              help="Trim or skip what fsx --replay-ops would (reads past EOF, zero lengths) "
                   "instead of refusing such lines.")
@click.option("--op-interval", default="50ms", show_default=True, metavar="DURATION",
              help="Start one op per DURATION (or when the previous one ends, if later). fsx "
                   "logs carry no times; replayed back to back, 2,000 ops would finish in "
                   "milliseconds, before any commit (5 s) or writeback (30 s expiry) could "
                   "run, and every design would pass. At 50 ms, a 1,000-op log spans 50 s: "
                   "ten commit intervals and a dirty expiry. 0 = back to back.")
@click.option("--timed", is_flag=True, help="Take simulated I/O latencies as given (no guarantee semantics).")
@click.option("--save-counterexample", "save_ce", default=None, metavar="OUT.yaml",
              help="Write the minimised counterexample scenario here.")
@click.option("--no-minimise", is_flag=True, help="Do not shrink the log to a minimal counterexample.")
@_max_violations_option
@click.option("--stream", is_flag=True,
              help="Simulate and check together in bounded memory, reading the log as the run "
                   "goes (for long logs: 100,000 to 1,000,000+ ops); no minimised "
                   "counterexample, no timing witness.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def fsx(opsfile, policy, sets, samples, lenient, op_interval, timed, save_ce, no_minimise,
        max_violations, stream, as_json):
    """Crash-check an fstests fsx op log (`fsx --record-ops`) on one file 'f'. Ops are
    numbered by their log line. Exit 1 on a violation, a deadlock or a stall, 2 on bad
    input (naming file:line)."""
    from pathlib import Path
    from .params import Tunables
    from .policies import get_policy
    from .scenario import FileSpec, Scenario, ThreadSpec
    from .units import fmt_dur, parse_time
    from .verdict import check_command
    from .workload.fsxops import parse_fsxops
    from .workload.pacing import pace, span_warning
    get_policy(policy)
    ov = _overrides(sets)
    interval = parse_time(op_interval, "--op-interval")
    if stream:
        if timed or save_ce:
            raise InputError("--stream checks under the guarantee semantics and saves no "
                             "counterexample: drop --timed / --save-counterexample")
        from .workload.fsxops import FsxLogOps
        ops = FsxLogOps(opsfile, "f", strict=not lenient, interval_ns=interval)
        n_ops = len(ops)     # one pass: bad input stops here, before anything runs
    else:
        ops = parse_fsxops(_read_oplog(opsfile), str(opsfile), "f", strict=not lenient)
        ops = pace(ops, interval)
        n_ops = len(ops)
    sc = Scenario(name=Path(opsfile).name, description=f"fsx op log {opsfile}, one op per "
                  f"{fmt_dur(interval) if interval else '0 (back to back)'}",
                  files=(FileSpec("f"),), threads=(ThreadSpec("fsx", ops if stream else tuple(ops)),),
                  where=str(opsfile))
    warn = span_warning(ops, Tunables().with_values(ov, "--set"), interval)
    if warn and not as_json:
        click.echo(f"eofsim: warning: {warn}", err=True)
    from .counterexample import line_labels
    lines = len({o.where for o in ops}) if not stream else _count_lines(ops)
    labels = (lambda only: line_labels(sc, only)) if stream else line_labels(sc)
    with _check_progress(f"{n_ops} ops", unit="ops" if stream else "crash points") as tick:
        code = check_command(sc, str(opsfile), policy, ov, samples=samples, timed=timed,
                             save_ce=save_ce, as_json=as_json, echo=click.echo,
                             minimise=not no_minimise, labels=labels,
                             max_violations=max_violations, stream=stream,
                             extra_json={"opsfile": str(opsfile), "ops": n_ops,
                                         "op_interval_ns": interval, "warning": warn},
                             header=f"fsx log {opsfile}: {lines} log lines, "
                                    f"{n_ops} model ops (named by their log line), one per "
                                    f"{fmt_dur(interval) if interval else '0 (back to back)'}",
                             progress=tick)
    sys.exit(code)


def _count_lines(ops):
    """Distinct log lines behind a streamed log's ops (consecutive ops share a line)."""
    n, last = 0, None
    for o in ops:
        if o.where != last:
            n += 1
            last = o.where
    return n


class _check_progress:
    """A rich progress bar over the simulation and the main check's crash points (a
    streamed check: over the ops run and checked), on stderr and only on a terminal;
    transient, and gone before any result is printed, so the output is the same with or
    without it."""

    def __init__(self, what, unit="crash points"):
        self.what = what
        self.unit = unit
        self.prog = None

    def __enter__(self):
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn,
                                   TextColumn, TimeElapsedColumn, TimeRemainingColumn)
        console = Console(stderr=True)
        if not console.is_terminal:
            return None
        self.prog = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                             MofNCompleteColumn(), TextColumn(self.unit), TimeElapsedColumn(),
                             TextColumn("ETA"), TimeRemainingColumn(), console=console,
                             transient=True)
        self.prog.start()
        self.task = self.prog.add_task(f"simulating {self.what}", total=None)
        return self.tick

    def tick(self, done, total):
        if self.prog is None:
            return
        self.prog.update(self.task, completed=done, total=total,
                         description=f"checking {self.what}")
        if done >= total:
            self.prog.stop()
            self.prog = None

    def __exit__(self, *exc):
        if self.prog is not None:
            self.prog.stop()
            self.prog = None
        return False


def _progress(console, total):
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn,
                               TextColumn, TimeElapsedColumn, TimeRemainingColumn)
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task):
            return Text("  -  wl/s" if not task.speed else f"{task.speed:6.1f} wl/s")

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    RateColumn(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                    console=console, transient=False, disable=not console.is_terminal)


@main.group(invoke_without_command=True)
@click.option("--policies", "pols", default=None, metavar="P1,P2", help="Comma-separated policies.")
@click.option("--seeds", default=None, metavar="A..B", help="Seed range, inclusive (or one seed).")
@click.option("--ops", type=click.IntRange(1, 1_000_000), default=40, show_default=True,
              help="Operations per workload.")
@click.option("--threads", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Threads per workload.")
@click.option("--samples", type=click.IntRange(1, MAX_SAMPLES), default=20000, show_default=True,
              help="Crash-check sample size (see `check --samples`).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a tunable for every workload (recorded with the campaign).")
@click.option("--db", default="eofsim-campaign.db", show_default=True, metavar="FILE",
              help="SQLite database holding the results (created if absent; resumed if not).")
@click.option("--dask", "dask_address", default=None, metavar="ADDRESS",
              help="Run on this Dask distributed scheduler (e.g. tcp://host:8786) instead of "
                   "a local process pool; its workers need eofsim installed.")
@click.option("--dask-timeout", type=click.FloatRange(0.1, 3600), callback=_finite, default=5.0, show_default=True,
              help="Seconds to wait for the Dask scheduler to answer.")
@click.option("--workers", type=click.IntRange(1, 1024), default=2, show_default=True,
              help="Local process-pool workers (ignored with --dask).")
@click.option("--repro-dir", default=None, metavar="DIR",
              help="Also write each reproducer here (POLICY-SEED-KIND.yaml and .fsxops; KIND "
                   "is a violation kind, deadlock or stall).")
@click.option("--op-interval", default="0", show_default=True, metavar="DURATION",
              help="Start each thread's ops on this grid (see `fsx --op-interval`). 0: the "
                   "generator already sleeps 5 s and 30 s between ops, so its workloads span "
                   "commits and dirty expiry by themselves.")
@click.option("--namespace", is_flag=True,
              help="Workloads also replace files by rename, unlink and re-create them and "
                   "truncate them with O_TRUNC (without it: one name per file, as before).")
@click.pass_context
def campaign(ctx, pols, seeds, ops, threads, samples, sets, db, dask_address, dask_timeout, workers,
             repro_dir, op_interval, namespace):
    """Random fsx-style workloads under each policy, crash-checked, one row per (policy,
    seed) in a SQLite database. Resumable: rerun the same command after any interruption.
    `eofsim campaign report --db FILE` summarises a database."""
    if ctx.invoked_subcommand is not None:
        return
    import os
    from rich.console import Console
    from .workload.campaign import Params, parse_policies, parse_seeds, run_campaign
    if pols is None or seeds is None:
        raise InputError("campaign needs --policies and --seeds (or: eofsim campaign report "
                         "--db FILE)")
    policy_names = parse_policies(pols)
    seed_range = parse_seeds(seeds)
    from .params import Tunables, parse_set
    ov = parse_set(sets)
    Tunables().with_values(ov, "--set")
    from .units import parse_time
    params = Params(ops=ops, threads=threads, samples=samples, namespace=namespace,
                    tunables=",".join(f"{k}={v}" for k, v in sorted(ov.items())),
                    op_interval_ns=parse_time(op_interval, "--op-interval"))
    from .inputs import check_out_dir, regular_or_absent
    db = regular_or_absent(db, "--db")
    if repro_dir:
        repro_dir = check_out_dir(repro_dir, "--repro-dir")
    console = Console(stderr=True)
    total = len(seed_range) * len(policy_names)
    found = [0, 0, 0]
    with _progress(console, total) as prog:
        task = prog.add_task("campaign", total=total)

        def tick(row):
            found[0] += bool(row["n_violations"])
            found[1] += 1
            found[2] += bool(row.get("deadlocks") or row.get("stall"))
            prog.update(task, advance=1,
                        description=f"campaign ({found[0]} violating, {found[2]} hung)")

        try:
            # skipped results count as done before the rate starts
            from .workload.campaign import done_keys, open_db
            con = open_db(db, params)
            already = sum(1 for k in done_keys(con) if k[0] in policy_names
                          and k[1] in seed_range)
            con.close()
            prog.update(task, completed=already)
            prog.reset(task, total=total, completed=already)
            out = run_campaign(db, policy_names, seed_range, params, workers=workers,
                               dask=dask_address, dask_timeout=dask_timeout,
                               repro_dir=repro_dir, progress=tick)
        except KeyboardInterrupt as e:
            import signal
            prog.stop()
            signum = getattr(e, "signum", signal.SIGINT)
            _say(f"eofsim: interrupted by {signal.Signals(signum).name} after {found[1]} new "
                 f"results, all stored in {db}; rerun the same command to resume")
            sys.exit(128 + signum)
    rate = out.new / out.elapsed_s if out.elapsed_s > 0 else 0.0
    click.echo(f"campaign: {out.total} (policy, seed) pairs: {out.new} run, {out.skipped} "
               f"already in {db}; {out.with_violations} of the new ones with violations"
               + (f", {found[2]} deadlocked or stalled" if found[2] else "")
               + (f", {out.errors} errors" if out.errors else "")
               + (f"; {rate:.1f} workloads/s, {out.states_checked / out.elapsed_s:.0f} "
                  "crash states checked/s" if out.new and out.elapsed_s > 0 else ""))
    click.echo(f"summary: eofsim campaign report --db {db}")


@campaign.command("report")
@click.option("--db", default=None, metavar="FILE", help="The campaign database.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def campaign_report(ctx, db, as_json):
    """Summarise a campaign database by policy and violation kind."""
    from .workload.campaign import open_db, report_text, summary
    from .inputs import check_path
    db = check_path(db or ctx.parent.params.get("db"), "--db")
    con = open_db(db, create=False)
    try:
        s = summary(con)
    finally:
        con.close()
    from .stamp import line, make
    tun = dict(kv.split("=", 1) for kv in ((s.get("params") or {}).get("tunables") or "").split(",") if kv)
    stamp = make(None, overrides=tun)
    if as_json:
        s["db"] = str(db)
        s["stamp"] = stamp
        click.echo(json.dumps(s, sort_keys=True))
    else:
        click.echo(report_text(s))
        click.echo(f"stamp: {line(stamp)}")


# ---------------------------------------------------------------- the model as a mount

def _add_mount_commands():
    from .fuse.cli import crash, mount, trace
    for cmd in (mount, trace, crash):
        main.add_command(cmd)


_add_mount_commands()


def _add_study_command():
    from .study.cli import study
    main.add_command(study)


_add_study_command()


if __name__ == "__main__":
    main()
