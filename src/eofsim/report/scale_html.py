"""HTML view of `run_scale`'s data: per device, one figure per growing operation with the
thread count on a log axis and one line per design (time in the call p99, ops/s, share of
the device's time on zeroed EOF blocks, size-durability p99, neighbour fdatasync p99),
then the table."""

from .html import CSS, _figure, _save, _scaling_panel, esc, slug, write_pages
from .scale_table import COLUMNS

PANELS = (("call_ns_p99", "time in call p99 (ms)", 1e-6),
          ("ops_per_s", "growing ops per second", 1.0),
          ("zero_busy_share", "device time on zeroed blocks (%)", 100.0),
          ("durable_ns_p99", "size durable p99 (s)", 1e-9),
          ("nb_ns_p99", "neighbour fdatasync p99 (ms)", 1e-6),
          ("req_random", "random write requests", 1.0))


def plot_device(data, device, op, out_dir) -> str | None:
    rows = [dict(r, kind=op) for r in data.get("rows", []) if r["device"] == device and r["op"] == op]
    if not rows:
        return None
    view = {"scaling": rows, "policies": data.get("policies", [])}
    fig = _figure(13, 7)
    for i, (key, label, scale) in enumerate(PANELS):
        ax = fig.add_subplot(2, 3, i + 1)
        _scaling_panel(ax, view, op, key, label, scale)
        ax.set_title(f"{device}, {op}: {label}", fontsize=9)
    h, lab = fig.axes[0].get_legend_handles_labels()
    fig.legend(h, lab, loc="lower center", ncols=max(1, len(lab)), frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return _save(fig, out_dir, f"scale_{slug(device)}_{slug(op)}.png")


def render(data, out_dir) -> str:
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             "<title>eofsim scale</title>", f"<style>{CSS}</style>", "</head>", "<body>",
             "<h1>eofsim scale: many threads growing files past EOF, and a neighbour</h1>",
             f"<p>Workload: {esc(data.get('workload_text', ''))}.<br>Devices: {esc(', '.join(data.get('devices', [])))}."
             f"<br>Designs: {esc(', '.join(data.get('policies', [])))}.<br>"
             'Raw data: <a href="results.json">results.json</a>.</p>']
    heads = [n.replace("\n", " ") for n, _ in COLUMNS]
    for dev in data.get("devices", []):
        parts.append(f'<h2 id="{esc(slug(dev))}">device {esc(dev)}</h2>')
        for op in data.get("ops", []):
            parts.append(f"<h3>{esc(op)}</h3>")
            img = plot_device(data, dev, op, out_dir)
            if img:
                parts.append(f'<img src="{esc(img)}" alt="{esc(dev)} {esc(op)} vs threads" width="1200">')
            parts.append("<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in heads) + "</tr>")
            for r in data.get("rows", []):
                if r["device"] == dev and r["op"] == op:
                    parts.append("<tr>" + "".join(f'<td class="num">{esc(f(r))}</td>' for _, f in COLUMNS)
                                 + "</tr>")
            parts.append("</table>")
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def write_scale_report(data, out_dir) -> str:
    return write_pages(data, out_dir, render)
