"""The wait-for cycle drawn on the run's timeline (issue 14): one lane per blocked task, a
bar from the moment it blocked to the end of the run labelled with what it waits on and the
kernel function it waits in, arrows from each waiter to the task holding what it waits for
(closing the cycle), a vertical line at the instant the cycle formed, and the operations
and device I/O of the run above for context. Same data, same PNG (see report.html)."""

from matplotlib.patches import FancyArrowPatch

from .html import BIO_COLORS, NS_PER_S, TimeAxis, _figure, _save, bio_class


def plot_waitfor(cell, out_dir, name) -> str | None:
    # older data (and hand-made test data) may carry cycles and stalls as text: nothing to draw
    cycles = [c for c in cell.get("deadlocks") or [] if isinstance(c, dict)]
    stall = cell.get("stall") if isinstance(cell.get("stall"), dict) else {}
    if not cycles and not stall:
        return None
    tasks = []
    seen = set()
    for c in cycles:
        for t in c.get("tasks") or []:
            if t["task"] not in seen:
                seen.add(t["task"])
                tasks.append((t, True))
    for t in (stall.get("tasks") if isinstance(stall, dict) else None) or []:
        if t["task"] not in seen:
            seen.add(t["task"])
            tasks.append((t, False))
    if not tasks:
        return None
    events = cell.get("timeline") or []
    bios = cell.get("bios") or []
    end = cell.get("end_ns") or max([e[0] for e in events] + [1])
    times = [e[0] for e in events if e[1] == "op"] + [end]
    times += [b[3] for b in bios if b[3] is not None] + [b[4] for b in bios if b[4] is not None]
    times += [t.get("blocked_since_ns") for t, _ in tasks if t.get("blocked_since_ns") is not None]
    times += [c["time_ns"] for c in cycles]
    ax_t = TimeAxis(times)
    n = len(tasks)
    fig = _figure(14, 2.2 + 0.75 * n + 0.6)
    ax = fig.add_subplot(1, 1, 1)
    # context: operations (markers) and device I/O (bars) in the two top rows
    for t, lane, text in events:
        if lane == "op" and text.endswith("starts"):
            ax.plot([ax_t(t)], [0.3], marker="v", color="#333333", markersize=5)
    for b in bios:
        bid, kind, why, sub, comp = (list(b) + [None] * 8)[:5]
        if sub is None:
            continue
        x0 = ax_t(sub)
        x1 = ax_t(comp if comp is not None else end)
        ax.broken_barh([(x0, max(x1 - x0, 0.05))], (0.8, 0.4),
                       facecolors=BIO_COLORS[bio_class(kind, why)], edgecolor="#222", linewidth=0.5)
    rows = {}
    x_end = ax_t(end)
    for i, (t, in_cycle) in enumerate(tasks):
        y = 2.0 + i * 0.75
        rows[t["task"]] = y
        since = t.get("blocked_since_ns")
        x0 = ax_t(since) if since is not None else x_end - 0.5
        ax.broken_barh([(x0, max(x_end - x0, 0.05))], (y - 0.22, 0.44),
                       facecolors="#e45756" if in_cycle else "#f2b701", edgecolor="#222", linewidth=0.6)
        ax.text(x0 + 0.05, y, f"{t['task']}: waits on {t.get('waits_on')} in {t.get('waits_in')}",
                fontsize=8, va="center", ha="left")
    for c in cycles:
        xc = ax_t(c["time_ns"])
        ax.axvline(xc, color="#7b1fa2", linewidth=1.4)
        ax.text(xc, 1.55, f"cycle at {c['time_ns'] / NS_PER_S:.6f} s", color="#7b1fa2", fontsize=8,
                ha="center", va="bottom")
        ts = c.get("tasks") or []
        for k, t in enumerate(ts):
            holder = ts[(k + 1) % len(ts)]["task"]
            y0, y1 = rows[t["task"]], rows.get(holder, rows[t["task"]])
            if y0 == y1:   # a task waiting on itself: a loop over its bar
                arrow = FancyArrowPatch((xc + 1.0, y0 + 0.22), (xc - 1.0, y0 + 0.22),
                                        connectionstyle="arc3,rad=-0.5", arrowstyle="-|>",
                                        mutation_scale=16, color="#7b1fa2", linewidth=1.6)
                ax.text(xc + 1.1, y0 + 0.4, f"waits on itself: it holds {t.get('waits_on')}",
                        color="#7b1fa2", fontsize=8, ha="left", va="center")
            else:
                arrow = FancyArrowPatch((xc - 0.15, y0), (xc - 0.15, y1),
                                        connectionstyle="arc3,rad=0.5", arrowstyle="-|>",
                                        mutation_scale=12, color="#7b1fa2", linewidth=1.2)
            ax.add_patch(arrow)
    ax.set_ylim(2.0 + n * 0.75 + 0.3, -0.2)
    ax.set_xlim(-0.5, x_end + 1.0)
    ax.set_yticks([0.3, 1.0] + [rows[t["task"]] for t, _ in tasks])
    ax.set_yticklabels(["operations", "device I/O"] + [t["task"] for t, _ in tasks])
    ticks = sorted({ax_t(x): x for x in times}.items())
    keep, last = [], None
    for x, t in ticks:
        if last is None or x - last >= (x_end + 1.5) * 0.06:
            keep.append((x, t))
            last = x
    ax.set_xticks([x for x, _ in keep])
    ax.set_xticklabels([f"{t / NS_PER_S:.6f}" for _, t in keep], rotation=30, ha="right")
    ax.set_xlabel("time (s); axis compressed: gaps drawn by log of their length")
    kind = "deadlock" if cycles else "stall"
    ax.set_title(f"{cell.get('scenario')} / {cell.get('policy')}: {kind}; arrows point from a "
                 "waiter to the task holding what it waits for")
    fig.tight_layout()
    return _save(fig, out_dir, name)
