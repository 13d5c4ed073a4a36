"""`eofsim study` (registered by cli.py)."""

import json

import click


@click.command("study")
@click.option("--workloads", default=None, metavar="W1,W2",
              help="Workloads to run (default: all; see the list below).")
@click.option("--policies", "pols", default=None, metavar="P1,P2",
              help="Designs (default: bh-ordered, iomap-v4, iomap-deferred, iomap-pending).")
@click.option("--device", default=None, metavar="NAME", help="Device preset (default: the model's default).")
@click.option("--scale", type=click.FloatRange(0.05, 100), default=1.0, show_default=True,
              help="Multiply every workload's size (transactions, files, records, bytes).")
@click.option("--no-crash", is_flag=True, help="Skip crash exploration and application checks.")
@click.option("--out", type=click.Path(file_okay=False), default="out/study", show_default=True,
              help="Directory for traces, study.json, study.html and plots.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def study(workloads, pols, device, scale, no_crash, out, as_json):
    """Real workloads on the mounted model, each traced once and replayed under every design:
    how often they grow a file past an unaligned EOF, what each design pays for the zeroed
    EOF block, how long sizes and fsync'd data take to be durable, and the crash verdicts
    (including the application's own check where it has one). Needs root and /dev/fuse.

    \b
    Workloads: sqlite-rollback, sqlite-wal, git, tar, applog, grow-store, fio-appends,
    fio-holes, fio-falloc, fio-jobs8 (src/eofsim/study/workloads/)."""
    from rich.console import Console
    from ..policies import get_policy
    from ..report.study import print_tables, write_report
    from . import DEFAULT_POLICIES
    from .run import parse_workloads, run_study
    names = parse_workloads(workloads)
    policies = [p.strip() for p in pols.split(",") if p.strip()] if pols else list(DEFAULT_POLICIES)
    for p in policies:
        get_policy(p)
    if device:
        from ..params import Tunables
        Tunables().with_values({"device": device}, "--device")
    console = Console(stderr=True)
    with console.status("study") as status:
        data = run_study(names, policies, device=device, scale=scale, out_dir=out, crash=not no_crash,
                         progress=lambda text: status.update(f"study: {text}"))
    path = write_report(data, out)
    if as_json:
        click.echo(json.dumps(data, sort_keys=True))
    else:
        print_tables(data)
        click.echo(f"HTML report: {path}")
