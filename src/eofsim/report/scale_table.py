"""Terminal view of `run_scale`'s data: one table per device and growing operation, a row
per thread count and design. A pure function of the data."""

from rich import box
from rich.console import Console
from rich.table import Table


def ms(ns, digits=3) -> str:
    return "-" if ns is None else f"{ns / 1e6:.{digits}f}"


def secs(ns) -> str:
    return "-" if ns is None else f"{ns / 1e9:.2f}"


COLUMNS = (
    ("thr", lambda r: str(r["threads"])),
    ("policy", lambda r: r["policy"]),
    ("call p50\nms", lambda r: ms(r["call_ns_p50"])),
    ("call p99\nms", lambda r: ms(r["call_ns_p99"])),
    ("call max\nms", lambda r: ms(r["call_ns_max"])),
    ("ops/s", lambda r: "-" if r["ops_per_s"] is None else f"{r['ops_per_s']:.0f}"),
    ("busy\nms", lambda r: ms(r["busy_ns"], 1)),
    ("zero\nshare", lambda r: f"{100 * r['zero_busy_share']:.0f}%"),
    ("req\nrand/seq", lambda r: f"{r['req_random']}/{r['req_sequential']}"),
    ("durable\np50 s", lambda r: secs(r["durable_ns_p50"])),
    ("durable\np99 s", lambda r: secs(r["durable_ns_p99"])),
    ("nb fdsync\np50 ms", lambda r: ms(r["nb_ns_p50"], 2)),
    ("nb fdsync\np99 ms", lambda r: ms(r["nb_ns_p99"], 2)),
    ("nb after\nmax ms", lambda r: ms(r.get("nb_after_ns_max"), 2)),
    ("dead\nlock", lambda r: ("cycle" if r["deadlocks"] else "") + (" stall" if r["stall"] else "") or "none"),
)


def scale_table(data, device, op) -> Table:
    t = Table(title=f"device {device}, {op}: {data.get('workload_text', '')}", box=box.SIMPLE_HEAVY,
              title_justify="left", padding=(0, 0, 0, 1), pad_edge=False)
    for name, _ in COLUMNS:
        t.add_column(name, justify="left" if name == "policy" else "right", no_wrap=True)
    for r in data.get("rows", []):
        if r["device"] == device and r["op"] == op:
            t.add_row(*(f(r) for _, f in COLUMNS),
                      style="red" if (r["deadlocks"] or r["stall"]) else None)
    return t


def markdown(data) -> str:
    """The same tables as GitHub markdown (for the README)."""
    out = []
    for dev in data.get("devices", []):
        for op in data.get("ops", []):
            out.append(f"**{dev}, {op}**\n")
            heads = [n.replace("\n", " ") for n, _ in COLUMNS]
            out.append("| " + " | ".join(heads) + " |")
            out.append("|" + "---|" * len(heads))
            for r in data.get("rows", []):
                if r["device"] == dev and r["op"] == op:
                    out.append("| " + " | ".join(f(r) for _, f in COLUMNS) + " |")
            out.append("")
    return "\n".join(out)


def print_scale(data, console=None) -> None:
    if console is None:
        probe = Console()
        console = Console(width=max(150, probe.width) if probe.is_terminal else 150)
    for dev in data.get("devices", []):
        for op in data.get("ops", []):
            console.print(scale_table(data, dev, op))
    for r in data.get("rows", []):
        for d in r["deadlocks"]:
            console.print(f"{r['device']} {r['op']} x{r['threads']} / {r['policy']}: cycle: {d}",
                          markup=False, highlight=False)
        if r["stall"]:
            console.print(f"{r['device']} {r['op']} x{r['threads']} / {r['policy']}: stall: {r['stall']}",
                          markup=False, highlight=False)


def compact_markdown(data) -> str:
    """One table per device and operation: a row per thread count, a column per design,
    each cell 'time in the call p50 / p99 · neighbour fdatasync p99 · the neighbour's worst
    fdatasync afterwards' in ms (the README's table)."""
    out = []
    pols = data.get("policies", [])
    for dev in data.get("devices", []):
        for op in data.get("ops", []):
            rows = {(r["threads"], r["policy"]): r for r in data.get("rows", [])
                    if r["device"] == dev and r["op"] == op}
            if not rows:
                continue
            out.append(f"**{dev}, {op}** (ms: growing op's time in the call p50 / p99 · neighbour fdatasync p99 meanwhile · its worst afterwards)\n")
            out.append("| threads | " + " | ".join(pols) + " |")
            out.append("|---|" + "---|" * len(pols))
            for n in data.get("threads", []):
                cells = []
                for p in pols:
                    r = rows.get((n, p))
                    cells.append("-" if r is None else f"{ms(r['call_ns_p50'], 2)} / {ms(r['call_ns_p99'], 2)} · {ms(r['nb_ns_p99'], 2)}"
                                 f" · {ms(r.get('nb_after_ns_max'), 1)}"
                                 + (" DEADLOCK" if r["deadlocks"] else ""))
                out.append(f"| {n} | " + " | ".join(cells) + " |")
            out.append("")
    return "\n".join(out)
