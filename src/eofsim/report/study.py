"""`eofsim study` output: terminal tables, and an HTML page with plots (events per GiB by
workload, latency distributions by design)."""

import html
import json
import os

from rich.console import Console
from rich.table import Table



def _t(ns):
    """Compact: 0.8 ms, 12 ms, 5.0 s."""
    if ns is None:
        return "-"
    if ns < 10_000_000:
        return f"{ns / 1e6:.1f} ms"
    if ns < 1_000_000_000:
        return f"{ns / 1e6:.0f} ms"
    return f"{ns / 1e9:.1f} s"


def verdict(row) -> str:
    c = row.get("crash")
    parts = []
    if row.get("deadlocks"):
        parts.append("DEADLOCK")
    if c is not None:
        parts.append("safe" if not c["violations"] else
                     "EXPOSES " + ", ".join(f"{k}×{n}" for k, n in sorted(c["violations"].items())))
        if c["zeros_instead_of_data"]:
            parts.append(f"zeros-for-data in {c['zeros_instead_of_data']} states")
    a = row.get("app_check")
    if a is not None:
        parts.append(f"app: {a['rejected']}/{a['trees']} trees rejected" if a["rejected"]
                     else f"app: {a['trees']} trees ok")
    return "; ".join(parts) or "-"


def print_tables(data, console=None):
    con = console or Console(width=160)
    con.print(f"study on device {data['device']}, scale {data['scale']} "
              f"({len(data['workloads'])} workloads × {len(data['policies'])} designs)")
    for name in data["workloads"]:
        tr = data["traces"][name]
        t = Table(title=f"{name}: {data['descriptions'][name]} — {tr['ops']} ops, "
                        f"{tr['threads']} threads", title_justify="left", box=None, pad_edge=False)
        for col in ("design", "grow past\nunaligned EOF\n/s  /GiB", "written EOF\nblock zeroed",
                    "zero-block\nwrites", "data\nwrites", "flushes", "commits", "random\nrequests",
                    "size durable\np50 / p99 / max", "fsync\np50 / p99", "in syscalls", "crash verdict"):
            t.add_column(col)
        for pol in data["policies"]:
            r = data["rows"][name].get(pol)
            if r is None:
                continue
            s, f = r["size_durable_ns"] or {}, r["fsync_ns"] or {}
            t.add_row(pol, f"{r['grow_unaligned_per_s']:.1f}  {r['grow_unaligned_per_gib']:.0f}",
                      f"{r['eof_zeroings_written']} of {r['eof_zeroings']}",
                      str(r["zero_block_writes"]), str(r["data_writes"]), str(r["flushes"]),
                      str(r["commits"]), f"{r['random_requests']}/{r['requests']}",
                      f"{_t(s.get('p50'))} / {_t(s.get('p99'))} / {_t(s.get('max'))}"
                      + (f" ({r['size_never_durable']} never)" if r["size_never_durable"] else ""),
                      f"{_t(f.get('p50'))} / {_t(f.get('p99'))}", _t(r["syscall_ns"]), verdict(r))
        con.print(t)
        con.print()
    for n in data["notes"]:
        con.print(f"note: {n}")


def _plots(data, out_dir):
    """The study's two figures, drawn and saved the way every report figure is
    (report.html: default style, no backend state, no timestamps in the PNG)."""
    from .html import _figure, _save, _style
    wl = data["workloads"]
    pols = data["policies"]
    if not wl:
        return []
    first = pols[0]
    x = range(len(wl))
    with _style():
        fig = _figure(8, 3.2)
        ax = fig.subplots()
        grows = [data["rows"][w][first]["grow_unaligned_per_gib"] for w in wl]
        zeroed = [data["rows"][w][first]["eof_zeroings_written"] * (1 << 30)
                  / max(1, data["rows"][w][first]["bytes_written"]) for w in wl]
        ax.bar([i - 0.2 for i in x], grows, 0.4, label="grows past an unaligned EOF")
        ax.bar([i + 0.2 for i in x], zeroed, 0.4, label="…finding a written EOF block")
        ax.set_yscale("symlog")
        ax.set_ylabel("events per GiB written")
        events = _finish(fig, ax, wl, 8, out_dir, "study-events.png")
        fig = _figure(8, 3.2)
        ax = fig.subplots()
        width = 0.8 / len(pols)
        for j, p in enumerate(pols):
            vals = [(data["rows"][w][p]["size_durable_ns"] or {}).get("p99", 0) / 1e9 for w in wl]
            ax.bar([i + j * width - 0.4 + width / 2 for i in x], vals, width, label=p)
        ax.set_ylabel("size durable, p99 (s)")
        latency = _finish(fig, ax, wl, 7, out_dir, "study-latency.png")
    return [events, latency]


def _finish(fig, ax, wl, legend_size, out_dir, name):
    from .html import _save
    ax.set_xticks(list(range(len(wl))), wl, rotation=30, ha="right", fontsize=8)
    ax.legend(fontsize=legend_size)
    fig.tight_layout()
    return _save(fig, out_dir, name)


def write_report(data, out_dir) -> str:
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "study.json"), "w", encoding="utf-8") as f:
        json.dump(data, f, sort_keys=True, indent=1)
    pics = _plots(data, out_dir)
    e = html.escape
    rows = []
    for name in data["workloads"]:
        tr = data["traces"][name]
        rows.append(f"<h2 id='{e(name)}'>{e(name)}</h2><p>{e(data['descriptions'][name])}: "
                    f"{tr['ops']} ops, {tr['threads']} threads</p><table><tr><th>design</th>"
                    "<th>grows past unaligned EOF /s, /GiB</th><th>written EOF block zeroed</th>"
                    "<th>zero-block writes</th><th>flushes</th><th>commits</th>"
                    "<th>size durable p50/p99/max</th><th>fsync p50/p99</th><th>verdict</th></tr>")
        for pol in data["policies"]:
            r = data["rows"][name][pol]
            s, f = r["size_durable_ns"] or {}, r["fsync_ns"] or {}
            rows.append(f"<tr><td>{e(pol)}</td><td>{r['grow_unaligned_per_s']:.1f}, "
                        f"{r['grow_unaligned_per_gib']:.0f}</td><td>{r['eof_zeroings_written']} of "
                        f"{r['eof_zeroings']}</td><td>{r['zero_block_writes']}</td><td>{r['flushes']}</td>"
                        f"<td>{r['commits']}</td><td>{_t(s.get('p50'))} / {_t(s.get('p99'))} / "
                        f"{_t(s.get('max'))}</td><td>{_t(f.get('p50'))} / {_t(f.get('p99'))}</td>"
                        f"<td>{e(verdict(r))}</td></tr>")
        rows.append("</table>")
    notes = "".join(f"<li>{e(n)}</li>" for n in data["notes"])
    imgs = "".join(f"<img src='{p}' alt='{p}'>" for p in pics)
    page = (f"<!doctype html><meta charset=utf-8><title>eofsim study</title>"
            "<style>body{font-family:sans-serif;max-width:75em}td,th{padding:2px 8px;text-align:left}"
            "table{border-collapse:collapse}tr:nth-child(even){background:#f4f4f4}</style>"
            f"<h1>Real workloads under each design</h1><p>device {e(data['device'])}, scale "
            f"{data['scale']}, {e(data['machine'])}</p>{imgs}{''.join(rows)}<ul>{notes}</ul>")
    path = os.path.join(out_dir, "study.html")
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
    return path
