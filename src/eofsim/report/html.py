"""HTML view of `run_grid`'s data: `write_report(data, out_dir)` writes `index.html` (inline
CSS, no external resources), `results.json` and PNG plots beside it, referenced relatively.

Same data -> byte-identical files: matplotlib runs on the Agg canvas with its default style
(not the user's matplotlibrc), fixed figure sizes and dpi, and no Software/date metadata in
the PNGs; the HTML has no timestamps and iterates the data in its own order.

Plots: latency distributions (a box and strip plot per scenario), I/O per GiB appended,
scaling with threads (log x), and a timeline picture of each failing cell's counterexample:
lanes for operations, page cache, device I/O (bars from submit to completion), journal
commits and sizes, with the crash point as a vertical line. The time axis of a timeline is
compressed: every gap between consecutive event times is drawn with a width that grows with
the logarithm of its length, so microsecond-apart I/O and 30-second flusher gaps are both
visible; tick labels give the real times."""

import html
import json
import math
import os
import re

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from .table import (IO_COLUMNS, NS_PER_S, SCALING_COLUMNS, cell_failed, cells_of, deadlock_short,
                    deadlock_text, dist_summary, flush_words, latency_text, safety_text)

DPI = 100
LANES = (("op", "operations"), ("cache", "page cache"), ("io", "device I/O"),
         ("jbd2", "journal commits"), ("size", "sizes"))
BIO_COLORS = {"data": "#4c78a8", "zero": "#f58518", "journal": "#54a24b", "commit": "#b279a2",
              "flush": "#9d9d9d"}
LANE_COLORS = {"op": "#333333", "cache": "#4c78a8", "io": "#f58518", "jbd2": "#b279a2", "size": "#e45756"}
POLICY_MARKERS = "osD^v<>ph*"
MAX_STACK = 6       # simultaneous events drawn one above the other in a timeline lane
MAX_BIO_ROWS = 12   # rows of overlapping bios in the device I/O lane

CSS = """
body { font-family: DejaVu Sans, Helvetica, Arial, sans-serif; margin: 24px auto; max-width: 1240px;
       color: #1d1d1d; background: #ffffff; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.3em; margin-top: 1.8em; border-bottom: 2px solid #ddd; padding-bottom: 0.2em; }
h3 { font-size: 1.1em; margin-top: 1.2em; }
p.explain { color: #444; max-width: 62em; }
table { border-collapse: collapse; margin: 0.6em 0 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; vertical-align: top; text-align: left; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.ok { background: #e7f5e7; }
td.bad { background: #fbe3e3; font-weight: bold; }
td.warn { background: #fff3d6; }
td pre, pre.ce { margin: 0; white-space: pre-wrap; font-family: DejaVu Sans Mono, monospace; font-size: 0.95em; }
pre.ce { background: #f7f7f7; border: 1px solid #ddd; padding: 8px; }
img { max-width: 100%; height: auto; border: 1px solid #e4e4e4; margin: 0.4em 0; }
nav a { margin-right: 1em; }
table.summary { width: 100%; }
table.summary td:first-child { width: 12em; }
table.summary td:nth-child(3) { min-width: 16em; }
table.summary td:nth-child(4) { min-width: 22em; }
.muted { color: #777; }
details { margin: 0.4em 0 1em 0; }
details.section > summary { cursor: pointer; }
details.section > summary h2 { display: inline; }
p.stamp { font-size: 0.85em; color: #333; background: #f7f7f7; border: 1px solid #ddd; padding: 6px; }
table.matrix td { min-width: 8em; }
table.matrix tr > th:first-child { white-space: nowrap; }
table.matrix a { color: inherit; text-decoration: none; }
"""

# Marks the body once the page has loaded: how many images there are and how many failed.
# A broken image also gets a visible note, so a reader sees it too (and a headless browser
# test can read the marker from the DOM).
SCRIPT = """
window.addEventListener('load', function () {
  var imgs = document.images, bad = 0;
  for (var i = 0; i < imgs.length; i++) {
    if (!(imgs[i].complete && imgs[i].naturalWidth > 0)) {
      bad++;
      var note = document.createElement('p');
      note.className = 'bad';
      note.textContent = 'image failed to load: ' + imgs[i].getAttribute('src');
      imgs[i].parentNode.insertBefore(note, imgs[i]);
    }
  }
  document.body.setAttribute('data-images-loaded', (imgs.length - bad) + '/' + imgs.length);
});
"""


def esc(x) -> str:
    return html.escape(str(x), quote=True)


def slug(text) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("_") or "x"


# ---------------------------------------------------------------- figures

def _figure(w, h):
    fig = Figure(figsize=(w, h), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, out_dir, name) -> str:
    fig.savefig(os.path.join(out_dir, name), format="png", dpi=DPI, metadata={"Software": None})
    return name


def _style():
    """The default style regardless of the user's matplotlibrc, so plots are reproducible."""
    return matplotlib.rc_context(rc={**matplotlib.rcParamsDefault, "backend": "agg",
                                     "svg.hashsalt": "eofsim", "font.family": "DejaVu Sans",
                                     "axes.titlesize": 10, "axes.labelsize": 9,
                                     "xtick.labelsize": 8, "ytick.labelsize": 8, "legend.fontsize": 8})


def plot_latency(data, scenario, out_dir) -> str | None:
    rows = [d for d in data.get("latency_dist", []) if d.get("scenario") == scenario]
    if not rows:
        return None
    fig = _figure(9, 4)
    ax = fig.add_subplot(1, 1, 1)
    names = [r["policy"] for r in rows]
    finite = [[v / NS_PER_S for v in r.get("latency_ns") or [] if v is not None] for r in rows]
    never = [sum(1 for v in r.get("latency_ns") or [] if v is None) for r in rows]
    pos = list(range(1, len(rows) + 1))
    boxed = [(p, f) for p, f in zip(pos, finite) if f]
    if boxed:
        ax.boxplot([f for _, f in boxed], positions=[p for p, _ in boxed], widths=0.5, showfliers=False,
                   medianprops={"color": "#d62728"})
    for p, f in zip(pos, finite):
        n = len(f)
        xs = [p + (((i * 7) % (n or 1)) / max(1, n - 1) - 0.5) * 0.3 if n > 1 else p for i in range(n)]
        ax.scatter(xs, f, s=12, alpha=0.6, color="#4c78a8", zorder=3, linewidths=0)
    top = max((max(f) for f in finite if f), default=1.0)
    for p, n in zip(pos, never):
        if n:
            ax.text(p, top * 1.04, f"{n} never", ha="center", va="bottom", fontsize=8, color="#d62728")
    ax.set_xticks(pos)
    ax.set_xticklabels(names, rotation=15, ha="right")
    ax.set_xlim(0.4, len(rows) + 0.6)
    ax.set_ylim(0, top * 1.15 if top > 0 else 1)
    ax.set_ylabel("size durable after (s)")
    ax.set_title(f"{scenario}: size-durability latency, random start phases")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _save(fig, out_dir, f"latency_{slug(scenario)}.png")


def plot_io_cost(data, out_dir) -> str | None:
    rows = data.get("io_cost") or []
    if not rows:
        return None
    keys = [("writes", "writes_per_gib"), ("flushes", "flushes_per_gib"), ("FUA", "fua_per_gib"),
            ("zero-block", "zero_block_writes_per_gib"), ("random", "random_writes_per_gib")]
    fig = _figure(9, 4)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / len(keys)
    colors = ["#4c78a8", "#54a24b", "#b279a2", "#f58518", "#9d9d9d"]
    for k, ((label, key), color) in enumerate(zip(keys, colors)):
        xs = [i + (k - (len(keys) - 1) / 2) * width for i in range(len(rows))]
        ys = [max(0, r.get(key) or 0) for r in rows]
        ax.bar(xs, ys, width=width * 0.95, color=color, label=label)
        for x, y in zip(xs, ys):
            if y == 0:
                ax.text(x, 0.75, "0", ha="center", va="bottom", fontsize=7, color=color)
    ax.set_yscale("log")
    top = max((max(0, r.get(k) or 0) for r in rows for _, k in keys), default=1)
    ax.set_ylim(0.6, max(10, top) * 2.5)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([r["policy"] for r in rows], rotation=15, ha="right")
    ax.set_ylabel("per GiB appended (log scale)")
    ax.set_title("I/O per GiB appended")
    ax.legend(ncols=len(keys), loc="upper center", bbox_to_anchor=(0.5, -0.22), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _save(fig, out_dir, "io_cost.png")


def _scaling_series(data, kind, key, scale=1.0):
    """{policy: ([threads], [values])} in data order; None values are skipped."""
    out = {}
    for r in data.get("scaling", []):
        if r.get("kind") != kind:
            continue
        v = r.get(key)
        xs, ys = out.setdefault(r["policy"], ([], []))
        if v is not None:
            xs.append(r["threads"])
            ys.append(v * scale)
    return out


def _scaling_panel(ax, data, kind, key, ylabel, scale=1.0, counts=False):
    pols = data.get("policies", [])
    series = _scaling_series(data, kind, key, scale)
    top = 0
    for i, pol in enumerate(pols):
        if pol not in series:
            continue
        xs, ys = series[pol]
        # dodge policies sideways a little so equal values do not hide each other
        dodge = 2 ** ((i - (len(pols) - 1) / 2) * 0.05)
        ax.plot([x * dodge for x in xs], ys, marker=POLICY_MARKERS[i % len(POLICY_MARKERS)], label=pol,
                linewidth=1.2, markersize=5, alpha=0.85)
        top = max([top] + ys)
    if counts and top > 20:
        # counts grow with the thread count: a log-like y (linear below 1, so 0 is drawn)
        ax.set_yscale("symlog", linthresh=1)
        ax.set_ylim(0, top * 1.6)
        ylabel += " (symlog)"
    else:
        ax.set_ylim(0, top * 1.1 if top > 0 else 1)
    ax.set_xscale("log", base=2)
    thr = sorted({r["threads"] for r in data.get("scaling", []) if r.get("kind") == kind})
    if thr:
        ax.set_xticks(thr)
        ax.set_xticklabels([str(t) for t in thr])
        ax.set_xlim(thr[0] / 1.4, thr[-1] * 1.4)
    ax.set_xlabel("threads")
    ax.set_ylabel(ylabel)
    ax.set_title(f"{kind}: {ylabel}")
    ax.grid(alpha=0.3)


def _scaling_kinds(data):
    kinds = []
    for r in data.get("scaling", []):
        if r.get("kind") not in kinds:
            kinds.append(r.get("kind"))
    return kinds


def plot_scaling_io(data, out_dir) -> str | None:
    kinds = _scaling_kinds(data)
    if not kinds:
        return None
    fig = _figure(11, 3.4 * len(kinds) + 0.6)
    for k, kind in enumerate(kinds):
        _scaling_panel(fig.add_subplot(len(kinds), 2, 2 * k + 1), data, kind, "data_writes", "data writes",
                       counts=True)
        _scaling_panel(fig.add_subplot(len(kinds), 2, 2 * k + 2), data, kind, "blocked_ns_per_thread",
                       "blocked ms per thread", 1e-6)
    h, lab = fig.axes[0].get_legend_handles_labels()
    fig.legend(h, lab, loc="lower center", ncols=max(1, len(lab)), frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return _save(fig, out_dir, "scaling_io.png")


def plot_scaling_zero(data, out_dir) -> str | None:
    kinds = _scaling_kinds(data)
    if not kinds or not any(r.get("zero_block_writes") for r in data.get("scaling", [])):
        return None   # every value 0: an empty plot says nothing the table does not
    fig = _figure(11, 4)
    for k, kind in enumerate(kinds):
        _scaling_panel(fig.add_subplot(1, len(kinds), k + 1), data, kind, "zero_block_writes", "zero-block writes",
                       counts=True)
    h, lab = fig.axes[0].get_legend_handles_labels()
    fig.legend(h, lab, loc="lower center", ncols=max(1, len(lab)), frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return _save(fig, out_dir, "scaling_zero.png")


def bio_class(kind, why) -> str:
    """data / zero / journal / commit / flush: a data bio that writes a zeroed EOF block
    (the bio's `why` says so) is 'zero'."""
    if kind == "data" and "zero" in (why or "").lower():
        return "zero"
    return kind if kind in BIO_COLORS else "data"


class TimeAxis:
    """Compressed time: knots at every distinct event time; the gap between consecutive
    knots is drawn 0.6 + log10(1 + gap/1us) wide, so short and long gaps both show."""

    def __init__(self, times):
        self.t = sorted(set(int(t) for t in times))
        self.x = [0.0]
        for a, b in zip(self.t, self.t[1:]):
            self.x.append(self.x[-1] + 0.6 + math.log10(1 + (b - a) / 1000.0))

    def __call__(self, t):
        t = int(t)
        ts, xs = self.t, self.x
        if t <= ts[0]:
            return xs[0] - (ts[0] - t) / max(1, ts[-1] - ts[0] or 1)
        if t >= ts[-1]:
            return xs[-1] + 0.6 + math.log10(1 + (t - ts[-1]) / 1000.0) if t > ts[-1] else xs[-1]
        lo, hi = 0, len(ts) - 1
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if ts[mid] <= t:
                lo = mid
            else:
                hi = mid
        return xs[lo] + (xs[hi] - xs[lo]) * (t - ts[lo]) / (ts[hi] - ts[lo])

    @property
    def end(self):
        return self.x[-1]


def _bio_label(b) -> str:
    bid, kind, why, _sub, comp, _pblks, preflush, fua = (list(b) + [None] * 8)[:8]
    flags = "+".join(f for f, on in (("PREFLUSH", preflush), ("FUA", fua)) if on)
    return (f"bio {bid} {why or kind}" + (f" [{flags}]" if flags else "")
            + ("" if comp is not None else " (never completed)"))


def _bio_rows(bios, ax_t, x_end, char_w):
    """Greedy row assignment in drawn (x) space, counting each bar's label as part of it, so
    neither bars nor labels hide each other. Returns [(bio, row, x0, width)], rows."""
    rows_end = []
    out = []
    for b in sorted(bios, key=lambda b: (b[3] if b[3] is not None else 0, b[0])):
        x0 = ax_t(b[3] if b[3] is not None else 0)
        x1 = ax_t(b[4]) if b[4] is not None else x_end
        width = max(x1 - x0, 0.12)
        occupied = x0 + width + 0.1 + char_w * (len(_bio_label(b)) + 1)
        for r, last in enumerate(rows_end):
            if last <= x0:
                rows_end[r] = occupied
                out.append((b, r, x0, width))
                break
        else:
            if len(rows_end) < MAX_BIO_ROWS:
                rows_end.append(occupied)
                out.append((b, len(rows_end) - 1, x0, width))
            else:   # crowded: the row that frees first
                r = min(range(len(rows_end)), key=lambda k: (rows_end[k], k))
                rows_end[r] = max(rows_end[r], occupied)
                out.append((b, r, x0, width))
    return out, max(1, len(rows_end))


def plot_timeline(cell, out_dir, name) -> str | None:
    events = cell.get("timeline") or []
    bios = cell.get("bios") or []
    crash = (cell.get("safety") or {}).get("first_violation_ns")
    times = [e[0] for e in events]
    for b in bios:
        times += [t for t in (b[3], b[4]) if t is not None]
    if crash is not None:
        times.append(crash)
    if not times:
        return None
    ax_t = TimeAxis(times)
    x_end = ax_t.end + 1.0
    x_lo, x_hi = -0.5, x_end + 3.5
    fig_w = 14
    # one character of a 7 pt label in x units (the axes take about 78% of the width)
    char_w = (x_hi - x_lo) / (fig_w * DPI * 0.78) * 7 * 0.6 * DPI / 72

    # lane geometry, top to bottom: ops, cache, io (event row + bio rows), jbd2, size
    placed, nrows = _bio_rows(bios, ax_t, x_end, char_w)
    per_lane = {}
    for i, (t, lane, _text) in enumerate(events):
        per_lane.setdefault(lane, []).append((i, t))
    heights = {}
    stacks = {}
    for lane, _ in LANES:
        # events at the same time in one lane stack vertically
        depth = {}
        for i, t in per_lane.get(lane, []):
            # at most MAX_STACK rows; further simultaneous events share the last one
            stacks[i] = min(depth.get(t, 0), MAX_STACK - 1)
            depth[t] = min(depth.get(t, 0) + 1, MAX_STACK)
        heights[lane] = max(1, max(depth.values(), default=1)) * 0.5 + 0.4
    heights["io"] += nrows * 0.7
    y = 0.0
    lane_top = {}
    for lane, _ in LANES:
        lane_top[lane] = y
        y += heights[lane]
    total = y

    fig = _figure(fig_w, 1.2 + total * 0.55)
    ax = fig.add_subplot(1, 1, 1)
    for k, (lane, label) in enumerate(LANES):
        if k % 2 == 0:
            ax.axhspan(lane_top[lane], lane_top[lane] + heights[lane], color="#f4f4f4", zorder=0)
    # operations: a thin bar from '#N ... starts' to '#N ... ends'
    started = {}
    for t, lane, text in events:
        m = re.match(r"#(\d+) .*\b(starts|ends)$", text) if lane == "op" else None
        if m and m.group(2) == "starts":
            started[m.group(1)] = t
        elif m and m.group(1) in started:
            t0 = started.pop(m.group(1))
            ax.plot([ax_t(t0), ax_t(t)], [lane_top["op"] + 0.35] * 2, color="#888888", linewidth=3,
                    solid_capstyle="butt", zorder=2)
    # events: numbered markers (the numbers index the event table under the picture)
    for i, (t, lane, _text) in enumerate(events):
        if lane not in lane_top:
            continue
        yy = lane_top[lane] + 0.35 + stacks[i] * 0.5
        x = ax_t(t)
        ax.plot([x], [yy], marker="o", markersize=5, color=LANE_COLORS.get(lane, "#333"), zorder=4)
        ax.text(x + 0.08, yy, str(i + 1), fontsize=7, va="center", ha="left", zorder=5)
    # bios: bars from submit to completion
    io_rows_top = lane_top["io"] + heights["io"] - nrows * 0.7 - 0.1
    for b, r, x0, width in placed:
        _bid, kind, why, _sub, _comp, _pblks, preflush, fua = (list(b) + [None] * 8)[:8]
        yy = io_rows_top + r * 0.7
        ax.broken_barh([(x0, width)], (yy, 0.55), facecolors=BIO_COLORS[bio_class(kind, why)], edgecolor="#222",
                       linewidth=0.6, hatch="///" if (preflush or fua) else None, zorder=3)
        ax.text(x0 + width + 0.08, yy + 0.28, _bio_label(b), fontsize=7, va="center", ha="left", zorder=5)
    # the crash point
    if crash is not None:
        xc = ax_t(crash)
        ax.axvline(xc, color="#d62728", linewidth=1.6, zorder=6)
        ax.text(xc, -0.15, f"crash {crash / NS_PER_S:.6f} s", color="#d62728", fontsize=8, ha="center",
                va="bottom", zorder=6)
    ax.set_ylim(total, -0.6)
    ax.set_xlim(x_lo, x_hi)
    ax.set_yticks([lane_top[lane] + heights[lane] / 2 for lane, _ in LANES])
    ax.set_yticklabels([label for _, label in LANES])
    # ticks at the start of each cluster of close times, labelled with real seconds
    ticks, last = [], None
    min_gap = (x_hi - x_lo) * 0.05   # about 55 px: labels are rotated, so this keeps them apart
    for t, x in zip(ax_t.t, ax_t.x):
        if last is None or x - last >= min_gap:
            ticks.append((x, t))
            last = x
    ax.set_xticks([x for x, _ in ticks])
    ax.set_xticklabels([f"{t / NS_PER_S:.6f}" for _, t in ticks], rotation=30, ha="right")
    ax.set_xlabel("time (s); axis compressed: gaps drawn by log of their length")
    ax.set_title(f"{cell.get('scenario')} / {cell.get('policy')}: counterexample timeline")
    ax.legend(handles=[Patch(facecolor=BIO_COLORS[k], edgecolor="#222", label=k)
                       for k in ("data", "zero", "journal", "commit")]
              + [Patch(facecolor="white", edgecolor="#222", hatch="///", label="PREFLUSH/FUA")],
              loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    return _save(fig, out_dir, name)


# ---------------------------------------------------------------- HTML

def _pre(text) -> str:
    return f"<pre>{esc(text)}</pre>"


def _summary_table(data, scenario) -> str:
    out = ['<table class="summary">', "<tr><th>policy</th><th>safety</th><th>size durable after</th><th>I/O</th>"
           "<th>deadlock</th></tr>"]
    for pol, cell in cells_of(data, scenario):
        if cell is None:
            out.append(f"<tr><td>{esc(pol)}</td><td colspan=\"4\" class=\"muted\">not run</td></tr>")
            continue
        s = cell.get("safety")
        scls = "muted" if not s else ("ok" if s.get("ok") else "bad")
        dl = bool(cell.get("deadlocks") or cell.get("stall"))
        ce_link = ""
        if cell_failed(cell):
            ce_link = f'<a href="#ce-{esc(slug(scenario))}-{esc(slug(pol))}">counterexample</a>'
        lat_cls = "warn" if any(x.get("latency_ns") is None for x in cell.get("latency") or []) else ""
        from .table import slug_text
        out.append(f"<tr id=\"cell-{esc(slug_text(scenario))}-{esc(slug_text(pol))}\"><td><b>{esc(pol)}</b></td><td class=\"{scls}\">{_pre(safety_text(cell))}{ce_link}</td>"
                   f"<td class=\"{lat_cls}\">{_pre(latency_text(cell))}</td><td>{_pre(_io_detail(cell))}</td>"
                   f"<td class=\"{'bad' if dl else 'ok'}\">{_pre(deadlock_text(cell))}</td></tr>")
    out.append("</table>")
    return "\n".join(out)


def _io_detail(cell) -> str:
    io = cell.get("io") or {}
    return (f"{io.get('writes', 0)} writes ({io.get('data_writes', 0)} data, {io.get('journal_writes', 0)} journal)\n"
            f"{io.get('write_bytes', 0)} bytes; {io.get('sequential', 0)} seq / {io.get('random', 0)} random\n"
            f"{flush_words(io)}\n"
            f"{io.get('zero_block_writes', 0)} zero-block writes\n"
            f"writeback: " + (", ".join(f"{k} x{v}" for k, v in (cell.get("writeback_calls") or {}).items())
                              or "none"))


def _counterexample_section(data, out_dir) -> str:
    out = []
    n = 0
    for cell in data.get("cells", []):
        if not cell_failed(cell):
            continue
        n += 1
        sc, pol = cell.get("scenario"), cell.get("policy")
        s = cell.get("safety") or {}
        out.append(f'<h3 id="ce-{esc(slug(sc))}-{esc(slug(pol))}">{esc(sc)} / {esc(pol)}</h3>')
        ce = s.get("counterexample")
        if ce:
            text = ce if isinstance(ce, str) else json.dumps(ce, sort_keys=True, indent=1)
            out.append(f'<pre class="ce">{esc(text)}</pre>')
        else:
            out.append('<p class="muted">no counterexample text recorded</p>')
        from .table import witness_text
        wt = witness_text(s.get("witness"))
        if wt:
            out.append(f'<p class="{"ok" if s["witness"].get("reproduced") else "bad"}">{esc(wt)}</p>')
        img = plot_timeline(cell, out_dir, f"timeline_{n:02d}_{slug(sc)}_{slug(pol)}.png")
        if img:
            out.append(f'<img src="{esc(img)}" alt="timeline of {esc(sc)} / {esc(pol)}" width="1400">')
        ev = cell.get("timeline") or []
        if ev:
            out.append(f"<details open><summary>events ({len(ev)})</summary><table>"
                       "<tr><th>#</th><th>time (s)</th><th>lane</th><th>event</th></tr>")
            for i, (t, lane, text) in enumerate(ev):
                out.append(f'<tr><td class="num">{i + 1}</td><td class="num">{esc(f"{t / NS_PER_S:.6f}")}</td>'
                           f"<td>{esc(lane)}</td><td>{esc(text)}</td></tr>")
            out.append("</table></details>")
        bios = cell.get("bios") or []
        if bios:
            out.append(f"<details><summary>bios ({len(bios)})</summary><table>"
                       "<tr><th>id</th><th>kind</th><th>why</th><th>submit (s)</th><th>complete (s)</th>"
                       "<th>pblks</th><th>PREFLUSH</th><th>FUA</th></tr>")
            for b in bios:
                bid, kind, why, sub, comp, pblks, pf, fua = (list(b) + [None] * 8)[:8]
                out.append(f'<tr><td class="num">{esc(bid)}</td><td>{esc(bio_class(kind, why))}</td>'
                           f"<td>{esc(why)}</td>"
                           f'<td class="num">{esc("-" if sub is None else f"{sub / NS_PER_S:.6f}")}</td>'
                           f'<td class="num">{esc("never" if comp is None else f"{comp / NS_PER_S:.6f}")}</td>'
                           f"<td>{esc(', '.join(str(p) for p in pblks or []))}</td>"
                           f"<td>{'yes' if pf else ''}</td><td>{'yes' if fua else ''}</td></tr>")
            out.append("</table></details>")
    if not n:
        out.append('<p class="muted">No cell failed the crash check: nothing to show.</p>')
    return "\n".join(out)


def _dist_section(data, out_dir) -> str:
    rows = data.get("latency_dist") or []
    if not rows:
        return '<p class="muted">No latency distributions in this run.</p>'
    out = []
    scen = []
    for r in rows:
        if r["scenario"] not in scen:
            scen.append(r["scenario"])
    for sc in scen:
        img = plot_latency(data, sc, out_dir)
        if img:
            out.append(f'<img src="{esc(img)}" alt="latency distribution for {esc(sc)}" width="900">')
    out.append("<table><tr><th>scenario</th><th>policy</th><th>runs</th><th>never</th><th>min (s)</th>"
               "<th>median (s)</th><th>max (s)</th></tr>")
    for r in rows:
        s = dist_summary(r.get("latency_ns") or [])
        cells = "".join(f'<td class="num">{esc("-" if s[k] is None else f"{s[k] / NS_PER_S:.3f}")}</td>'
                        for k in ("min", "median", "max"))
        out.append(f"<tr><td>{esc(r['scenario'])}</td><td>{esc(r['policy'])}</td>"
                   f'<td class="num">{s["n"]}</td><td class="num{" warn" if s["never"] else ""}">{s["never"]}</td>'
                   f"{cells}</tr>")
    out.append("</table>")
    return "\n".join(out)


def _io_section(data, out_dir) -> str:
    rows = data.get("io_cost") or []
    if not rows:
        return '<p class="muted">No I/O cost measurement in this run.</p>'
    out = []
    img = plot_io_cost(data, out_dir)
    if img:
        out.append(f'<img src="{esc(img)}" alt="I/O per GiB appended" width="900">')
    dirty = [r.get("dirty_bytes_at_end") for r in rows if r.get("dirty_bytes_at_end") is not None]
    if dirty:
        out.append("<p>" + ("Every appended byte was written back before the run ended."
                            if not any(dirty) else
                            f"Still dirty when the run ended: up to {max(dirty)} bytes (not counted).")
                   + "</p>")
    out.append("<table><tr><th>policy</th>" + "".join(f"<th>{esc(n)}</th>" for n, _ in IO_COLUMNS) + "</tr>")
    for r in rows:
        vals = []
        for _, key in IO_COLUMNS:
            v = r.get(key)
            vals.append("-" if v is None else (f"{v / (1 << 20):.0f}" if key == "bytes_written_per_gib" else str(v)))
        out.append(f"<tr><td>{esc(r['policy'])}</td>" + "".join(f'<td class="num">{esc(v)}</td>' for v in vals)
                   + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _scaling_section(data, out_dir) -> str:
    rows = data.get("scaling") or []
    if not rows:
        return '<p class="muted">No scaling runs in this report.</p>'
    out = []
    for img, alt in ((plot_scaling_io(data, out_dir), "data writes and blocked time vs threads"),
                     (plot_scaling_zero(data, out_dir), "zero-block writes vs threads")):
        if img:
            out.append(f'<img src="{esc(img)}" alt="{esc(alt)}" width="1100">')
        elif alt.startswith("zero"):
            out.append('<p class="muted">No zero-block writes at any thread count (no plot).</p>')
    heads = ["kind", "threads", "policy"] + [n.replace("\n", " ") for n, _ in SCALING_COLUMNS] + [
        "blocked ms/thread", "op latency us", "durable mean s", "never durable", "deadlock"]
    out.append("<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in heads) + "</tr>")
    for r in rows:
        dur = r.get("durable_latency_ns_mean")
        dl = bool(r.get("deadlocks") or r.get("stall"))
        detail = deadlock_short(r)
        if dl:
            detail = deadlock_text(r)
        vals = [str(r.get(k, "-")) for _, k in SCALING_COLUMNS] + [
            f"{(r.get('blocked_ns_per_thread') or 0) / 1e6:.3f}", f"{(r.get('op_latency_ns_mean') or 0) / 1e3:.1f}",
            "never" if dur is None else f"{dur / NS_PER_S:.3f}", str(r.get("durable_never", 0))]
        out.append(f"<tr><td>{esc(r['kind'])}</td><td class=\"num\">{esc(r['threads'])}</td><td>{esc(r['policy'])}</td>"
                   + "".join(f'<td class="num">{esc(v)}</td>' for v in vals)
                   + f'<td class="{"bad" if dl else "ok"}">{_pre(detail)}</td></tr>')
    out.append("</table>")
    return "\n".join(out)


EXPLAIN = {
    "matrix": "One cell per scenario and design. <b>safe</b>: no crash state of the run violates a "
              "check; <b>exposes</b>: some crash state shows what it must not (kinds in brackets); "
              "<b>deadlocks</b>: a wait-for cycle formed; <b>stalls</b>: a task was still blocked at "
              "the end with no cycle. Below each verdict, the longest time until a new file size was "
              "durable. Each cell links to its row in the per-scenario details.",
    "deadlock": "Each deadlocked or stalled cell: the tasks of the wait-for cycle, what each waits on "
                "and holds, and the kernel function it waits in; the picture puts the blocked tasks "
                "on the run's timeline, with arrows from each waiter to the task holding what it "
                "waits for.",
    "summary": "One table per scenario, a row per policy. <b>Safety</b> is the crash checker's verdict: "
               "every crash point in the run's I/O log and every state the device may hold there, recovered "
               "and checked; violations are counted by kind, and &lsquo;(sampled)&rsquo; means the states were "
               "sampled rather than enumerated. <b>Size durable after</b> is, for every operation that changes "
               "the file size, the time from its start until that size is on stable storage "
               "(&lsquo;never&rsquo; if it never got there within the run). <b>I/O</b> counts device writes, "
               "cache flushes (explicit and PREFLUSH), FUA writes and writes of zeroed EOF blocks. "
               "<b>Deadlock</b> lists wait-for cycles (tasks and resources named) and stalls where nothing is "
               "left to wake a waiter.",
    "ce": "For each failing cell: the minimal counterexample in words, and a timeline of the run with "
          "lanes for operations, the page cache, device I/O (bars from submission to completion, coloured by "
          "kind, hatched when the bio carries PREFLUSH or FUA), journal commits and inode sizes. The red line "
          "is the earliest crash point at which the checker found a violation. Numbers on the markers index "
          "the event table below each picture.",
    "dist": "The scenario is shifted by random start phases (seeded) and run again: the spread of the "
            "size-durability latency of its first size-changing operation comes from where the commit timer "
            "and the flusher happen to be when the operation runs. Boxes show quartiles, points the runs.",
    "io": "One stream of appends through each policy, scaled to one GiB appended: how many device writes, "
          "random (non-sequential) writes, flushes, FUAs and zero-block writes each design costs.",
    "scaling": "N threads, each appending past EOF or truncating up its own file. Plotted against the number "
               "of threads (log scale): data writes and zero-block writes issued, and the mean time each thread "
               "spent blocked waiting. Lines of different policies are dodged sideways a little so equal "
               "values stay visible. The table adds writeback invocations, "
               "folio-lock waits, mean operation latency and mean size-durability latency.",
}


VERDICT_CLASS = {"safe": "ok", "exposes": "bad", "deadlocks": "bad", "stalls": "bad",
                 "not checked": "muted", "not run": "muted"}


def _stamp_html(data) -> str:
    st = data.get("stamp")
    if not st:
        return '<p id="stamp" class="muted">no stamp recorded</p>'
    tun = ", ".join(f"{k}={v}" for k, v in (st.get("tunables") or {}).items()) or "defaults"
    return (f'<p id="stamp" class="stamp">eofsim {esc(st.get("eofsim"))} &middot; model '
            f'<code>{esc(st.get("model"))}</code> &middot; {esc(st.get("semantics") or "-")} semantics '
            f'&middot; tunables: {esc(tun)} &middot; command: <code>{esc(st.get("command"))}</code></p>')


def _matrix_html(data) -> str:
    from .matrix import latency_word, matrix
    pols = data.get("policies", [])
    out = ['<table id="matrix" class="matrix"><tr><th>scenario \\ design</th>'
           + "".join(f"<th>{esc(p)}</th>" for p in pols) + "</tr>"]
    for sc, row in matrix(data):
        out.append(f'<tr><th><a href="#sc-{esc(slug(sc))}">{esc(sc)}</a></th>')
        for pol, v, anchor in row:
            kinds = f" ({', '.join(v['kinds'])})" if v["kinds"] and v["verdict"] == "exposes" else ""
            extra = f" {v['perturbed']}" if v.get("perturbed") else ""
            out.append(f'<td class="{VERDICT_CLASS.get(v["verdict"], "")}"><a href="#{esc(anchor)}">'
                       f'<b>{esc(v["verdict"])}</b>{esc(extra)}{esc(kinds)}</a><br>'
                       f'<span class="muted">{esc(latency_word(v))}</span></td>')
        out.append("</tr>")
    out.append("</table>")
    return "\n".join(out)


def _deadlock_section(data, out_dir) -> str:
    from .waitfor import plot_waitfor
    out = []
    n = 0
    for cell in data.get("cells", []):
        sch = cell.get("schedules") or {}
        if not (cell.get("deadlocks") or cell.get("stall") or sch.get("deadlock") or sch.get("stall")):
            continue
        n += 1
        sc, pol = cell.get("scenario"), cell.get("policy")
        out.append(f'<h3 id="dl-{esc(slug(sc))}-{esc(slug(pol))}">{esc(sc)} / {esc(pol)}</h3>')
        out.append(f'<pre class="ce">{esc(deadlock_text(cell))}</pre>')
        for c in cell.get("deadlocks") or []:
            if isinstance(c, dict):
                for t in c.get("tasks") or []:
                    if t.get("kernel_stack"):
                        out.append(f'<p class="muted">{esc(t["task"])}: '
                                   f'{esc(" > ".join(t["kernel_stack"]))}</p>')
        ph = cell.get("perturbed_hang")
        if ph and not (cell.get("deadlocks") or cell.get("stall")):
            out.append(f'<p>Drawn: perturbed schedule perturb_seed={esc(ph.get("perturb_seed"))}.</p>')
            out.append(f'<pre class="ce">{esc(deadlock_text(ph))}</pre>')
            cell = dict(ph, scenario=sc, policy=f"{pol} (perturb_seed={ph.get('perturb_seed')})")
        img = plot_waitfor(cell, out_dir, f"waitfor_{n:02d}_{slug(sc)}_{slug(pol)}.png")
        if img:
            out.append(f'<img src="{esc(img)}" alt="wait-for cycle of {esc(sc)} / {esc(pol)}" width="1400">')
    if not n:
        out.append('<p class="muted">No cell deadlocked or stalled.</p>')
    return "\n".join(out)


OPEN_SCRIPT = """
function eofsimOpen() {
  var el = location.hash ? document.getElementById(location.hash.slice(1)) : null;
  while (el) { if (el.tagName === 'DETAILS') el.open = true; el = el.parentElement; }
}
window.addEventListener('hashchange', eofsimOpen);
window.addEventListener('load', eofsimOpen);
"""


def _section(sid, title, explain, body, open_=False) -> str:
    return (f'<details id="{sid}" class="section"{" open" if open_ else ""}><summary><h2>{esc(title)}</h2>'
            f"</summary>" + (f'<p class="explain">{explain}</p>' if explain else "") + body + "</details>")


def render(data, out_dir) -> str:
    """The HTML text; writes the plots into out_dir as a side effect. Order: stamp, the
    scenario x design verdict matrix, the latency distributions, then collapsible details."""
    scen = data.get("scenarios", [])
    pols = data.get("policies", [])
    n_fail = sum(1 for c in data.get("cells", []) if cell_failed(c))
    n_hang = sum(1 for c in data.get("cells", []) if c.get("deadlocks") or c.get("stall"))
    summary = []
    for sc in scen:
        summary.append(f'<h3 id="sc-{esc(slug(sc))}">{esc(sc)}</h3>')
        desc = next((c.get("description") for c in data.get("cells", [])
                     if c.get("scenario") == sc and c.get("description")), None)
        if desc:
            summary.append(f'<p class="explain">{esc(" ".join(desc.split()))}</p>')
        summary.append(_summary_table(data, sc))
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             "<title>eofsim compare</title>", f"<style>{CSS}</style>", "</head>", "<body>",
             "<h1>eofsim compare: EOF designs side by side</h1>",
             _stamp_html(data),
             '<h2 id="verdicts">Verdicts: scenario &times; design</h2>',
             _matrix_html(data),
             f"<p>Cells failing the crash check: {n_fail} of {len(data.get('cells', []))}; "
             f"deadlocked or stalled: {n_hang}. Device: {esc(data.get('device', 'nvme'))} "
             f"(block.py presets). Scaling thread counts: "
             f"{esc(', '.join(str(t) for t in data.get('threads', [])))}; workload: "
             f"{esc(data.get('scaling_workload', ''))}. "
             'Raw data: <a href="results.json">results.json</a>.</p>',
             f'<p class="explain">{EXPLAIN["matrix"]}</p>',
             '<h2 id="latency">Size-durability latency distributions</h2>',
             f'<p class="explain">{EXPLAIN["dist"]}</p>', _dist_section(data, out_dir),
             '<nav><a href="#summary">per scenario</a><a href="#counterexamples">counterexamples</a>'
             '<a href="#deadlocks">deadlocks</a><a href="#io">I/O per GiB</a>'
             '<a href="#scaling">scaling</a></nav>',
             _section("summary", "Per scenario", EXPLAIN["summary"], "\n".join(summary)),
             _section("counterexamples", "Counterexamples", EXPLAIN["ce"],
                      _counterexample_section(data, out_dir)),
             _section("deadlocks", "Deadlocks and stalls", EXPLAIN["deadlock"],
                      _deadlock_section(data, out_dir)),
             _section("io", "I/O per GiB appended", EXPLAIN["io"], _io_section(data, out_dir)),
             _section("scaling", "Scaling with threads", EXPLAIN["scaling"],
                      _scaling_section(data, out_dir)),
             f"<script>{SCRIPT}{OPEN_SCRIPT}</script>", "</body>", "</html>", ""]
    return "\n".join(parts)


def write_report(data, out_dir) -> str:
    """Write index.html, results.json and the PNG plots into out_dir; return index.html's path."""
    return write_pages(data, out_dir, render)


def write_pages(data, out_dir, render_page) -> str:
    """index.html from `render_page(data, out_dir)` (which draws its plots there) and
    results.json beside it; returns index.html's path."""
    os.makedirs(out_dir, exist_ok=True)
    with _style():
        text = render_page(data, out_dir)
    with open(os.path.join(out_dir, "results.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(data, sort_keys=True, indent=1))
    path = os.path.join(out_dir, "index.html")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path
