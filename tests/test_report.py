"""The views of `eofsim compare`: terminal tables and the HTML report.

Most tests use a small `data` dict built by hand (the shape `report.compare.run_grid`
returns), so they are fast and do not depend on the simulator's current verdicts. The
browser test opens the report in Debian's headless chromium and is skipped, with the reason
printed as a warning, when chromium is not installed (apt package `chromium`)."""

import copy
import io
import json
import os
import shutil
import struct
import subprocess
import warnings
from html.parser import HTMLParser

import pytest
from rich.console import Console

from eofsim.report.html import TimeAxis, bio_class, write_report
from eofsim.report.table import dist_summary, print_tables

S = 1_000_000_000
EVIL = "<script>alert('x')</script> & \"q\""


def _io(writes=3, data=1, zero=1, preflush=1, fua=1):
    return {"writes": writes, "write_bytes": 4096 * writes, "data_writes": data, "data_bytes": 4096 * data,
            "journal_writes": writes - data, "sequential": 0, "random": data, "flushes": 0,
            "preflush": preflush, "fua": fua, "zero_block_writes": zero, "reads": 1, "sizes": {"4096": writes}}


def _safety(ok=True, violations=None, exhaustive=True, ce=None, first=None):
    return {"ok": ok, "violations": violations or {}, "crash_points": 8, "crash_states": 12,
            "exhaustive": exhaustive, "zeros_instead_of_data": 0, "counterexample": ce,
            "first_violation_ns": first}


def _cell(scenario, policy, latency_ns=5 * S + 1_400_000, **kw):
    c = {"scenario": scenario, "policy": policy,
         "latency": [{"index": 1, "op": "@1000000000ns truncate f 16384", "latency_ns": latency_ns}],
         "io": _io(), "writeback_calls": {"kupdate": 1}, "deadlocks": [], "stall": None,
         "safety": _safety()}
    c.update(kw)
    return c


TIMELINE = [
    [1 * S, "op", "#1 @1000000000ns truncate f 16384 starts"],
    [1 * S + 100_000, "cache", "f: zeroed [1000, 4096) in block 0 (written)"],
    [1 * S + 100_000, "size", "f: i_disksize=16384"],
    [1 * S + 100_000, "size", "f: i_size=16384"],
    [1 * S + 100_000, "op", "#1 truncate ends"],
    [6 * S + 100_000, "jbd2", "commit tid 1 starts (1 inodes, 0 ordered)"],
    [6 * S + 1_500_000, "jbd2", "tid 1 committed (commit block bio 1); on disk: ino 12 size=16384"],
    [35 * S, "io", "f: submit bio 2 (kupdate) blocks 0-0 -> pblk 1048576 " + EVIL],
    [35 * S + 200_000, "cache", "f: folio 0 writeback ends"],
]
BIOS = [
    [0, "journal", "jbd2 log tid 1", 6 * S + 100_000, 6 * S + 300_000, [1 << 40, (1 << 40) + 1], False, False],
    [1, "commit", "jbd2 commit tid 1", 6 * S + 300_000, 6 * S + 1_500_000, [(1 << 40) + 2], True, True],
    [2, "data", "kupdate, zeroed EOF block", 35 * S, 35 * S + 200_000, [1048576], False, False],
    [3, "data", "kupdate", 35 * S, None, [1048577], False, False],
]


def sample_data():
    scen = ["truncate-up", "sentinel-truncate-up"]
    pols = ["bh-ordered", "iomap-v4-nowait", "iomap-deferred"]
    cells = []
    for sc in scen:
        for p in pols:
            cells.append(_cell(sc, p))
    # a failing, sampled cell with a counterexample and its timeline
    bad = cells[4]
    bad["safety"] = _safety(ok=False, violations={"garbage": 4, "stale": 1}, exhaustive=False,
                            ce="crash at 6.000300 s: garbage in f [1000, 4096)\n" + EVIL, first=6 * S + 300_000)
    bad["timeline"] = copy.deepcopy(TIMELINE)
    bad["bios"] = copy.deepcopy(BIOS)
    # a size that never became durable, a deadlock and a stall, an unchecked cell
    cells[2]["latency"][0]["latency_ns"] = None
    cells[2]["deadlocks"] = ["kworker/1 waits folio 0 held by app/0; app/0 waits writeback of folio 0 held by kworker/1"]
    cells[5]["stall"] = "app/0 waits i_rwsem; nothing left to wake it"
    cells[3]["safety"] = None
    dist = [{"scenario": "truncate-up", "policy": p, "latency_ns": [5 * S + i * 10_000_000 for i in range(6)]}
            for p in pols]
    dist[2]["latency_ns"] = [35 * S + i * S for i in range(5)] + [None]
    io_cost = [{"policy": p, "appended_bytes": 16 << 20, "writes_per_gib": 896 * (i + 1), "data_writes_per_gib": 256,
                "bytes_written_per_gib": 1 << 30, "random_writes_per_gib": 64, "flushes_per_gib": 320,
                "fua_per_gib": 320, "zero_block_writes_per_gib": i * 7} for i, p in enumerate(pols)]
    scaling = []
    for kind in ("append", "truncate-up"):
        for n in (1, 8, 64):
            for i, p in enumerate(pols):
                scaling.append({"kind": kind, "threads": n, "policy": p, "zero_block_writes": n * (i + 1),
                                "data_writes": 2 * n, "random_writes": n, "writeback_calls": n,
                                "folio_lock_waits": i * n, "blocked_ns_per_thread": i * 400_000,
                                "op_latency_ns_mean": 12_500, "durable_latency_ns_mean": None if i == 2 and n == 64
                                else 5 * S, "durable_never": 1 if i == 2 and n == 64 else 0,
                                "deadlocks": ["A waits B; B waits A"] if (i == 1 and n == 64) else [],
                                "stall": None})
    return {"scenarios": scen, "policies": pols, "threads": [1, 8, 64], "cells": cells,
            "latency_dist": dist, "io_cost": io_cost, "scaling": scaling}


def _render_tables(data, width=120):
    buf = io.StringIO()
    print_tables(data, Console(file=buf, width=width, color_system=None, force_terminal=False,
                               legacy_windows=False))
    return buf.getvalue()


# ---------------------------------------------------------------- terminal tables

def test_table_names_every_scenario_and_policy():
    data = sample_data()
    out = _render_tables(data)
    for name in data["scenarios"] + data["policies"]:
        assert name in out, name
    for word in ("OK", "VIOLATION", "garbage x4", "stale x1", "(sampled)", "never", "not checked",
                 "cycle: kworker/1", "stall: app/0", "5.001 s", "writes", "FUA", "zero-block"):
        assert word in out, word
    # counterexample text and the summaries
    assert "crash at 6.000300 s" in out and EVIL in out
    assert "35.000" in out and "39.000" in out          # the distribution's min and max
    assert "1 cycle" in out                              # scaling deadlock


def test_table_fits_120_columns_and_is_deterministic():
    data = sample_data()
    a, b = _render_tables(data), _render_tables(copy.deepcopy(data))
    assert a == b
    assert max(len(line) for line in a.splitlines()) <= 120
    # every scaling row's policy is printed whole (not cut with an ellipsis)
    assert "…" not in a


def test_dist_summary():
    s = dist_summary([3, None, 1, 2, 4])
    assert (s["n"], s["never"], s["min"], s["median"], s["max"]) == (5, 1, 1, 2, 4)
    assert dist_summary([None])["median"] is None


def test_table_tolerates_missing_sections():
    out = _render_tables({"scenarios": ["s"], "policies": ["p"], "cells": []})
    assert "s" in out and "p" in out


# ---------------------------------------------------------------- HTML report

class _Checker(HTMLParser):
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.imgs, self.links, self.scripts, self.ids = [], [], [], [], 0, []
        self.text = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a.get("src"))
            if not a.get("alt"):
                self.errors.append("img without alt")
        if tag == "a" and "href" in a:
            self.links.append(a["href"])
        if tag == "script":
            self.scripts += 1
            if "src" in a:
                self.errors.append("external script")
        if tag == "link":
            self.errors.append("external stylesheet or link")
        if "id" in a:
            self.ids.append(a["id"])
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            if tag in self.stack:
                while self.stack and self.stack.pop() != tag:
                    pass
            return
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def _files(d):
    out = {}
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name), "rb") as f:
            out[name] = f.read()
    return out


def test_html_writes_files_deterministically(tmp_path):
    data = sample_data()
    pa = write_report(data, str(tmp_path / "a"))
    pb = write_report(copy.deepcopy(data), str(tmp_path / "b"))
    assert os.path.basename(pa) == "index.html" and os.path.exists(pa) and os.path.exists(pb)
    fa, fb = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert list(fa) == list(fb)
    for name in fa:
        assert fa[name] == fb[name], f"{name} differs between two writes of the same data"
    # writing again into the same directory gives the same bytes too
    write_report(data, str(tmp_path / "a"))
    assert _files(tmp_path / "a") == fa
    assert fa["results.json"].decode() == json.dumps(data, sort_keys=True, indent=1)
    pngs = [n for n in fa if n.endswith(".png")]
    assert any(n.startswith("timeline_") for n in pngs)
    assert any(n.startswith("latency_") for n in pngs)
    assert "scaling_io.png" in pngs and "scaling_zero.png" in pngs and "io_cost.png" in pngs
    assert sum(n.startswith("timeline_") for n in pngs) == 1       # one failing cell


def _png_chunks(blob):
    assert blob[:8] == b"\x89PNG\r\n\x1a\n"
    i, out = 8, []
    while i < len(blob):
        (n,) = struct.unpack(">I", blob[i:i + 4])
        out.append((blob[i + 4:i + 8], blob[i + 8:i + 8 + n]))
        i += 12 + n
    return out


def test_pngs_carry_no_software_or_date(tmp_path):
    write_report(sample_data(), str(tmp_path))
    for name, blob in _files(tmp_path).items():
        if name.endswith(".png"):
            for kind, body in _png_chunks(blob):
                if kind in (b"tEXt", b"iTXt", b"zTXt"):
                    assert not body.startswith((b"Software", b"Creation Time")), (name, body[:40])
                assert kind != b"tIME", name


def test_html_is_well_formed_and_self_contained(tmp_path):
    data = sample_data()
    path = write_report(data, str(tmp_path))
    text = open(path, encoding="utf-8").read()
    p = _Checker()
    p.feed(text)
    p.close()
    assert not p.errors, p.errors
    assert p.stack == [], f"unclosed tags: {p.stack}"
    assert text.startswith("<!DOCTYPE html>")
    assert p.imgs, "no images"
    for src in p.imgs:
        assert src and not src.startswith(("/", "http:", "https:", "data:", "file:")), src
        assert os.path.isfile(tmp_path / src), f"missing image {src}"
    for href in p.links:
        if href.startswith("#"):
            assert href[1:] in p.ids, f"dangling anchor {href}"
        else:
            assert os.path.isfile(tmp_path / href), href
    assert p.scripts == 1                        # only the report's own load check
    assert EVIL not in text                      # escaped everywhere ...
    assert EVIL in "".join(p.text)               # ... and still shown as text
    body = "".join(p.text)
    for name in data["scenarios"] + data["policies"]:
        assert name in body
    for word in ("VIOLATION", "(sampled)", "never", "cycle: kworker/1", "stall: app/0"):
        assert word in body


def test_bio_class_and_time_axis():
    assert bio_class("data", "kupdate, zeroed EOF block") == "zero"
    assert bio_class("data", "zero-eof") == "zero"
    assert bio_class("data", "kupdate") == "data"
    assert bio_class("commit", "jbd2 commit tid 1") == "commit"
    ax = TimeAxis([10, 5, 1000, 10_000_000_000, 10])
    xs = [ax(t) for t in (5, 10, 500, 1000, 5_000_000_000, 10_000_000_000)]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)
    # a 10 s gap is drawn wider than a 1 us gap, but not a million times wider
    assert 1 < (ax(10_000_000_000) - ax(1000)) / (ax(1000) - ax(10)) < 50


def test_report_of_a_real_grid_run(tmp_path):
    """The views accept what run_grid really returns (no crash check: fast, and independent
    of the checker's verdicts)."""
    from eofsim.report.compare import run_grid
    from eofsim.scenario_file import load_scenario
    data = run_grid([load_scenario("truncate-up")], ["bh-ordered", "iomap-deferred"], (1, 2), check=False,
                    dist_n=3)
    data = json.loads(json.dumps(data))
    out = _render_tables(data)
    assert "iomap-deferred" in out and "not checked" in out
    path = write_report(data, str(tmp_path))
    assert os.path.exists(path)


# ---------------------------------------------------------------- a real browser

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"]


def _chromium():
    for name in ("chromium", "chromium-browser"):
        exe = shutil.which(name)
        if exe:
            return exe
    reason = "chromium not installed (Debian: apt-get install chromium): browser rendering test skipped"
    warnings.warn(reason)
    pytest.skip(reason)


def _run_chromium(exe, tmp_path, *args):
    profile = tmp_path / f"profile{len(os.listdir(tmp_path))}"
    profile.mkdir()
    return subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, timeout=180, stdin=subprocess.DEVNULL)


def test_report_renders_in_chromium(tmp_path):
    exe = _chromium()
    from PIL import Image
    data = sample_data()
    rep = tmp_path / "report"
    path = os.path.abspath(write_report(data, str(rep)))
    url = "file://" + path
    shot = tmp_path / "out.png"
    r = _run_chromium(exe, tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", url)
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-2000:]
    assert shot.is_file() and shot.stat().st_size > 0
    with Image.open(shot) as im:
        assert im.size == (1280, 2000)
        rgb = im.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 20)
        assert colours is not None and len(colours) > 50, "screenshot looks blank"
        white = max(colours)[0] / (rgb.width * rgb.height)
        assert white < 0.97, "screenshot is almost all one colour"

    r = _run_chromium(exe, tmp_path, "--dump-dom", url)
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-2000:]
    dom = r.stdout.decode("utf-8", errors="replace")
    n_img = open(path, encoding="utf-8").read().count("<img ")
    assert n_img > 0
    # set by the report's load handler: every image decoded (naturalWidth > 0)
    assert f'data-images-loaded="{n_img}/{n_img}"' in dom, "images failed to load in the browser"
    assert "<p class=\"bad\">image failed to load" not in dom
    for name in data["scenarios"] + data["policies"]:
        assert name in dom
    assert "Per scenario" in dom and "VIOLATION" in dom


def test_grid_in_a_process_pool_equals_serial():
    """jobs > 1 runs the units heaviest first in worker processes; the data (and so every
    view of it) is the same, in the same order, as the serial run."""
    import json

    from eofsim.report.compare import run_grid
    from eofsim.scenario_file import load_scenario
    scs = [load_scenario("sentinel-truncate-up"), load_scenario("append-write")]
    pols = ["bh-ordered", "iomap-v4"]
    seen = []
    a = run_grid(scs, pols, (1, 4), dist_n=3, jobs=1)
    b = run_grid(scs, pols, (1, 4), dist_n=3, jobs=2, progress=seen.append)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert len(seen) == len(a["cells"]) + len(a["latency_dist"]) + len(a["io_cost"]) + len(a["scaling"])
