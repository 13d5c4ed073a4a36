"""Terminal view of `run_grid`'s data: one rich table per scenario (a row per policy), then
the latency distributions, I/O per GiB appended and thread scaling.

The text helpers here (`safety_text`, `latency_text`, `io_text`, `deadlock_text`, ...) are the
one wording of each cell; the HTML report uses them too, so both views say the same thing.
Output is a pure function of the data: no timestamps, no terminal-width guessing beyond
rich's own wrapping (readable at 120 columns)."""

from rich import box
from rich.console import Console
from rich.table import Table

NS_PER_S = 1_000_000_000


def seconds(ns, digits=3) -> str:
    """`5001400000` -> '5.001 s'; None -> 'never'."""
    if ns is None:
        return "never"
    return f"{ns / NS_PER_S:.{digits}f} s"


def slug_text(text) -> str:
    """An HTML id fragment for a name (the same rule as report.html.slug)."""
    import re
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "x"


def short_op(text: str) -> str:
    """'@1000000000ns truncate f 16384' -> 'truncate f 16384' (the start time is shown
    elsewhere)."""
    parts = text.split(" ", 1)
    if len(parts) == 2 and parts[0].startswith("@") and parts[0].endswith("ns"):
        return parts[1]
    return text


def cell_failed(cell) -> bool:
    s = cell.get("safety")
    return bool(s) and not s.get("ok", True)


def safety_text(cell) -> str:
    s = cell.get("safety")
    if not s:
        return "not checked"
    head = "OK" if s.get("ok") else "VIOLATION"
    lines = [head]
    for kind, n in sorted((s.get("violations") or {}).items()):
        lines.append(f"{kind} x{n}")
    z = s.get("zeros_instead_of_data") or 0
    if z:
        lines.append(f"zeros-for-data x{z}")
    lines.append(f"{s.get('crash_points', 0)} points / {s.get('crash_states', 0)} states"
                 + ("" if s.get("exhaustive", True) else " (sampled)"))
    return "\n".join(lines)


def latency_text(cell) -> str:
    lats = cell.get("latency") or []
    if not lats:
        return "no size change"
    return "\n".join(f"#{x.get('index', '?')} {short_op(x.get('op', ''))}: {seconds(x.get('latency_ns'))}"
                     for x in lats)


def io_flushes(io) -> int:
    return int(io.get("flushes", 0)) + int(io.get("preflush", 0))


def flush_words(io) -> str:
    """The one wording of cache flushes for every command (see verdict.flush_text)."""
    n = io_flushes(io)
    p = int(io.get("preflush", 0))
    return (f"{n} flush{'es' if n != 1 else ''} ({int(io.get('flushes', 0))} empty, {p} PREFLUSH "
            f"write{'s' if p != 1 else ''}), {io.get('fua', 0)} FUA")


def io_text(cell) -> str:
    io = cell.get("io") or {}
    return (f"{io.get('writes', 0)} writes ({io.get('data_writes', 0)} data)\n"
            f"{flush_words(io)}\n"
            f"{io.get('zero_block_writes', 0)} zero-block")


def cycle_text(d) -> str:
    """One wait-for cycle (hang.analyse's dict, or an older text form) on one line."""
    if isinstance(d, str):
        return d
    tasks = d.get("tasks") or []
    return " -> ".join(f"{t.get('task')} [{t.get('waits_in')} on {t.get('waits_on')}]" for t in tasks) + (
        f" -> {tasks[0].get('task')}" if tasks else "")


def stall_text(st) -> str:
    if isinstance(st, str):
        return st
    return ", ".join(f"{t.get('task')} [{t.get('waits_in')} on {t.get('waits_on')}]"
                     for t in st.get("tasks") or []) or "blocked"


def deadlock_text(cell) -> str:
    dl = cell.get("deadlocks") or []
    stall = cell.get("stall")
    sch = cell.get("schedules") or {}
    out = [(f"cycle at {seconds(d.get('time_ns'), 6)}: " if isinstance(d, dict) else "cycle: ")
           + cycle_text(d) for d in dl]
    if stall:
        out.append(f"stall: {stall_text(stall)}")
    for kind in ("deadlock", "stall"):
        seeds = sch.get(kind) or []
        if seeds:
            out.append(f"{kind} in {len(seeds)} of {sch.get('n')} perturbed schedules "
                       f"(perturb_seed {','.join(str(x) for x in seeds)}; `eofsim run "
                       f"{cell.get('scenario')} -p {cell.get('policy')} --perturb-seed {seeds[0]}`)")
    return "\n".join(out) or "none"


def witness_text(w) -> str:
    """A compare cell's timing witness (crash.witness.TimingWitness.as_dict) on one line."""
    if not w:
        return ""
    d = w.get("delays") or {}
    delays = ", ".join(f"bio #{k} +{v / NS_PER_S:.9f} s" for k, v in sorted(d.items(), key=lambda kv: int(kv[0])))
    verdict = "reproduced" if w.get("reproduced") else "NOT reproduced"
    return (f"witness: {delays or 'no extra latency needed'}; --timed rerun with these delays: "
            f"{verdict}")


def deadlock_short(row) -> str:
    dl = row.get("deadlocks") or []
    stall = row.get("stall")
    parts = []
    if dl:
        parts.append(f"{len(dl)} cycle" + ("s" if len(dl) > 1 else ""))
    if stall:
        parts.append("stall")
    return ", ".join(parts) or "none"


def dist_summary(values) -> dict:
    """min / median / max (ns) over the finite values, plus counts."""
    vals = sorted(v for v in values if v is not None)
    never = sum(1 for v in values if v is None)
    if not vals:
        return {"n": len(values), "never": never, "min": None, "median": None, "max": None}
    m = len(vals) // 2
    med = vals[m] if len(vals) % 2 else (vals[m - 1] + vals[m]) // 2
    return {"n": len(values), "never": never, "min": vals[0], "median": med, "max": vals[-1]}


def cells_of(data, scenario):
    by_policy = {c["policy"]: c for c in data.get("cells", []) if c.get("scenario") == scenario}
    return [(p, by_policy.get(p)) for p in data.get("policies", [])]


def _scenario_table(data, scenario) -> Table:
    t = Table(title=f"scenario {scenario}", box=box.SIMPLE_HEAVY, show_lines=True,
              title_justify="left", expand=False)
    t.add_column("policy", no_wrap=True, style="bold")
    t.add_column("safety", min_width=14)
    t.add_column("size durable after", min_width=24)
    t.add_column("I/O", min_width=18)
    t.add_column("deadlock", min_width=8, max_width=40)
    for pol, cell in cells_of(data, scenario):
        if cell is None:
            t.add_row(pol, "-", "-", "-", "-")
            continue
        style = "red" if cell_failed(cell) else None
        dstyle = "red" if (cell.get("deadlocks") or cell.get("stall")) else None
        t.add_row(pol, _styled(safety_text(cell), style), latency_text(cell), io_text(cell),
                  _styled(deadlock_text(cell), dstyle))
    return t


def _styled(text, style):
    from rich.text import Text
    return Text(text, style=style or "")


def _matrix_table(data) -> Table:
    """The scenario x design verdict matrix (report.matrix), first in the terminal view too:
    the verdict, then the longest time until a new size was durable ('never' if one never
    was). Exposure kinds are in the per-scenario tables below."""
    from .matrix import matrix
    t = Table(title="verdicts: scenario x design (longest size-durability latency below; "
                    "* = only in perturbed schedules)",
              box=box.SIMPLE_HEAVY, title_justify="left")
    t.add_column("scenario", no_wrap=True)
    for p in data.get("policies", []):
        t.add_column(p.replace("-", "-\n") if len(p) > 9 else p, no_wrap=True)
    colour = {"safe": "green", "exposes": "red", "deadlocks": "red", "stalls": "red"}
    for sc, row in matrix(data):
        cells = []
        for _pol, v, _a in row:
            if not v.get("changes"):
                lat = "-"
            elif v["never"]:
                lat = "never"
            else:
                lat = seconds(v["latency_ns"], 3)
            word = {"deadlocks": "DEADLOCK", "stalls": "STALL", "exposes": "EXPOSES"}.get(
                v["verdict"], v["verdict"])
            if v.get("perturbed"):
                word += "*"
            cells.append(_styled(f"{word}\n{lat}", colour.get(v["verdict"])))
        t.add_row(sc, *cells)
    return t


def _counterexamples(data, console):
    for c in data.get("cells", []):
        s = c.get("safety") or {}
        ce = s.get("counterexample")
        if not cell_failed(c) or not ce:
            continue
        console.print(f"[bold]counterexample[/bold] {c['scenario']} / {c['policy']}", highlight=False)
        text = ce if isinstance(ce, str) else "\n".join(f"{k}: {v}" for k, v in sorted(ce.items()))
        for line in text.splitlines():
            console.print("  " + line, markup=False, highlight=False)
        w = witness_text(s.get("witness"))
        if w:
            console.print("  " + w, markup=False, highlight=False, soft_wrap=True)
        console.print()


def _dist_table(data) -> Table:
    t = Table(title="size-durability latency with random start phases (seconds)", box=box.SIMPLE_HEAVY,
              title_justify="left")
    for col in ("scenario", "policy", "runs", "never", "min", "median", "max"):
        t.add_column(col, justify="left" if col in ("scenario", "policy") else "right", no_wrap=True)
    for d in data.get("latency_dist", []):
        s = dist_summary(d.get("latency_ns") or [])
        t.add_row(d["scenario"], d["policy"], str(s["n"]), str(s["never"]),
                  *(seconds(s[k]).removesuffix(" s") if s[k] is not None else "-"
                    for k in ("min", "median", "max")))
    return t


IO_COLUMNS = (("writes", "writes_per_gib"), ("data", "data_writes_per_gib"),
              ("random", "random_writes_per_gib"), ("flushes", "flushes_per_gib"),
              ("FUA", "fua_per_gib"), ("zero-block", "zero_block_writes_per_gib"),
              ("MiB written", "bytes_written_per_gib"))


def _io_table(data) -> Table:
    rows = data.get("io_cost", [])
    dirty = [r.get("dirty_bytes_at_end") for r in rows if r.get("dirty_bytes_at_end") is not None]
    note = ""
    if dirty:
        run = max((r.get("run_s") or 0) for r in rows)
        note = ("; every appended byte written back" if not any(dirty) else
                f"; STILL DIRTY at the end: up to {max(dirty) >> 10} KiB") + f" (runs of {run:.0f} s)"
    t = Table(title="I/O per GiB appended (one stream of appends)" + note, box=box.SIMPLE_HEAVY,
              title_justify="left")
    t.add_column("policy", no_wrap=True)
    for name, _ in IO_COLUMNS:
        t.add_column(name, justify="right", no_wrap=True)
    for r in data.get("io_cost", []):
        vals = []
        for name, key in IO_COLUMNS:
            v = r.get(key)
            if v is None:
                vals.append("-")
            elif key == "bytes_written_per_gib":
                vals.append(f"{v / (1 << 20):.0f}")
            else:
                vals.append(str(v))
        t.add_row(r["policy"], *vals)
    return t


SCALING_COLUMNS = (("zero\nblk", "zero_block_writes"), ("data\nwr", "data_writes"),
                   ("rand\nwr", "random_writes"), ("wb\ncalls", "writeback_calls"),
                   ("folio\nwaits", "folio_lock_waits"))


def _scaling_table(data) -> Table:
    t = Table(title=f"scaling on device {data.get('device', 'nvme')}: "
                    f"{data.get('scaling_workload', 'each thread grows its own file past EOF')}", box=box.SIMPLE_HEAVY,
              title_justify="left", padding=(0, 0, 0, 2), pad_edge=False)
    t.add_column("kind", no_wrap=True)
    t.add_column("thr", justify="right", no_wrap=True)
    t.add_column("policy", no_wrap=True)
    for name, _ in SCALING_COLUMNS:
        t.add_column(name, justify="right", no_wrap=True)
    t.add_column("blocked\nms/thr", justify="right", no_wrap=True)
    t.add_column("op\nus", justify="right", no_wrap=True)
    t.add_column("durable\nmean s", justify="right", no_wrap=True)
    t.add_column("never\ndurbl", justify="right", no_wrap=True)
    t.add_column("deadlock", no_wrap=True)
    for r in data.get("scaling", []):
        dur = r.get("durable_latency_ns_mean")
        t.add_row(str(r["kind"]), str(r["threads"]), str(r["policy"]),
                  *(str(r.get(k, "-")) for _, k in SCALING_COLUMNS),
                  f"{r.get('blocked_ns_per_thread', 0) / 1e6:.3f}",
                  f"{r.get('op_latency_ns_mean', 0) / 1e3:.1f}",
                  "never" if dur is None else f"{dur / NS_PER_S:.3f}",
                  str(r.get("durable_never", 0)), deadlock_short(r),
                  style="red" if (r.get("deadlocks") or r.get("stall")) else None)
    return t


def _scaling_deadlocks(data, console):
    for r in data.get("scaling", []):
        for d in [cycle_text(x) for x in r.get("deadlocks") or []]:
            console.print(f"{r['kind']} x{r['threads']} / {r['policy']}: cycle: {d}", markup=False, highlight=False)
        if r.get("stall"):
            console.print(f"{r['kind']} x{r['threads']} / {r['policy']}: stall: {stall_text(r['stall'])}",
                          markup=False, highlight=False)


def print_tables(data, console=None) -> None:
    """Print the whole comparison to `console` (a rich Console; stdout by default)."""
    if console is None:
        # The tables are laid out for 120 columns; a pipe or `make` would otherwise get 80
        # and ellipses.
        probe = Console()
        console = Console(width=max(120, probe.width) if probe.is_terminal else 120)
    if data.get("cells"):
        console.print(_matrix_table(data))
    for scenario in data.get("scenarios", []):
        console.print(_scenario_table(data, scenario))
    _counterexamples(data, console)
    if data.get("latency_dist"):
        console.print(_dist_table(data))
    if data.get("io_cost"):
        console.print(_io_table(data))
    if data.get("scaling"):
        console.print(_scaling_table(data))
        _scaling_deadlocks(data, console)
    if data.get("stamp"):
        from ..stamp import line
        console.print(f"stamp: {line(data['stamp'])}", markup=False, highlight=False, soft_wrap=True)
