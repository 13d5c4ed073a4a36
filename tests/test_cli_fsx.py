"""`eofsim fsx OPSFILE`: an fstests op log crash-checked; exit 0/1, and 2 naming file:line."""

import json
from pathlib import Path

from click.testing import CliRunner

from eofsim.cli import main

DATA = Path(__file__).parent / "data"
SAMPLE = DATA / "sample.fsxops"


def _run(*args):
    return CliRunner().invoke(main, ["fsx", *map(str, args)])


def test_sample_runs_clean_under_bh_ordered():
    r = _run(SAMPLE)
    assert r.exit_code == 0, r.output
    assert "\nsample.fsxops under bh-ordered" in r.output
    assert "no violation" in r.output


def test_sample_json_has_check_fields():
    r = _run(SAMPLE, "--policy", "bh-ordered", "--samples", "500", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    for key in ("scenario", "policy", "crash_points", "crash_states", "exhaustive",
                "violations", "zeros_instead_of_data", "counterexample"):
        assert key in d
    assert d["policy"] == "bh-ordered" and d["scenario"] == "sample.fsxops"
    assert d["ops"] == 15 and d["violations"] == [] and d["counterexample"] is None
    assert d["crash_points"] > 0 and d["crash_states"] >= d["crash_points"] // 2


def _bad(tmp_path, text, name="bad.fsxops", binary=False):
    p = tmp_path / name
    p.write_bytes(text if binary else text.encode())
    r = CliRunner().invoke(main, ["fsx", str(p)])
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1, r.output
    return p, lines[0]


def test_truncated_copy_names_file_and_line(tmp_path):
    text = SAMPLE.read_text()
    cut = text[:text.rindex("0x10")]          # the last line loses its last two numbers
    p, line = _bad(tmp_path, cut)
    assert line.startswith(f"eofsim: {p}:20: write needs 3 numbers, found 1 (truncated line?)")


def test_corrupt_bytes_name_file_and_line(tmp_path):
    data = SAMPLE.read_bytes().replace(b"truncate 0x0 0x2345", b"trunc\xff\xfe 0x0 0x2345")
    p, line = _bad(tmp_path, data, binary=True)
    assert line.startswith(f"eofsim: {p}:17: ") and "UTF-8" in line


def test_unknown_and_refused_operations_name_the_line(tmp_path):
    p, line = _bad(tmp_path, "write 0x0 0x10 0x0\nfrobnicate 0x0 0x10 0x10\n")
    assert line == f"eofsim: {p}:2: unknown fsx operation 'frobnicate'"
    p, line = _bad(tmp_path, "write 0x0 0x10 0x0\ncollapse_range 0x0 0x1000 0x10\n")
    assert line.startswith(f"eofsim: {p}:2: fsx operation collapse_range is not modelled")
    p, line = _bad(tmp_path, "write 0x0 zz 0x0\n")
    assert line.startswith(f"eofsim: {p}:1: write argument 2 'zz' is not a number")


def test_missing_file_and_unknown_policy(tmp_path):
    r = _run(tmp_path / "nope.fsxops")
    assert r.exit_code == 2 and "cannot read op log" in r.output
    assert len(r.output.strip().splitlines()) == 1
    r = _run(SAMPLE, "--policy", "nope")
    assert r.exit_code == 2 and "unknown policy 'nope'" in r.output


def test_lenient_does_what_fsx_replay_does(tmp_path):
    p = tmp_path / "trim.fsxops"
    p.write_text("write 0x0 0x100 0x0\nread 0x80 0x1000 0x100\n")
    assert _run(p).exit_code == 2
    r = _run(p, "--lenient", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["ops"] == 2


def test_violation_exits_1(tmp_path):
    """A log a campaign shrank for zero-in-memory (seed 40): data written, synced, cut off by
    a truncate down inside its block, then the file extended: the old bytes come back."""
    p = tmp_path / "resurrect.fsxops"
    p.write_text("write 0x5be6 0x1001 0x0\n#eofsim sync\ntruncate 0x0 0x5b14 0x6be7\n"
                 "zero_range 0x3f000 0x1000 0x5b14\n")
    assert _run(p, "--policy", "bh-ordered").exit_code == 0
    r = _run(p, "--policy", "zero-in-memory", "--json")
    assert r.exit_code == 1, r.output
    d = json.loads(r.output)
    assert {v["kind"] for v in d["violations"]} == {"resurrected"}
    assert d["counterexample"]