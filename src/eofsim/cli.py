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
def demo():
    """The main job on built-in defaults."""
    from .scenario_file import builtin_names
    from .policies import POLICIES
    from .sim import simulate
    for name in builtin_names():
        sc = _load(name)
        for pol in POLICIES:
            res = simulate(sc, pol)
            lats = [f"#{r.index}:{fmt_time(r.size_durable_ns - r.start_ns) if r.size_durable_ns else 'never'}"
                    for r in res.ops if r.i_size_before is not None and r.i_size_after != r.i_size_before]
            click.echo(f"{name:28} {pol:14} size durable after {' '.join(lats) or '-'}")


if __name__ == "__main__":
    main()
