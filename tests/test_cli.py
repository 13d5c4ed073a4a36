"""The command line: exit codes, one-line errors, determinism."""

import json

import pytest
from click.testing import CliRunner

from eofsim.cli import main


def run(*args):
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.output, r.stderr if hasattr(r, "stderr") else ""


def test_run_json_has_the_promised_fields():
    code, out, _ = run("run", "truncate-up", "--json")
    assert code == 0
    d = json.loads(out)
    assert d["scenario"] == "truncate-up" and d["policy"] == "bh-ordered"
    op = d["ops"][0]
    assert {"index", "op", "start_ns", "end_ns", "size_durable_ns"} <= set(op)
    assert 4e9 < op["size_durable_ns"] - op["start_ns"] < 6.1e9
    assert {"writes", "flushes", "fua"} <= set(d["io"])


def test_same_inputs_same_bytes():
    a = run("run", "sentinel-append", "--policy", "iomap-v4", "--json")[1]
    b = run("run", "sentinel-append", "--policy", "iomap-v4", "--json")[1]
    assert a == b
    c = run("check", "sentinel-truncate-up", "-p", "zero-in-memory", "--json")[1]
    d = run("check", "sentinel-truncate-up", "-p", "zero-in-memory", "--json")[1]
    assert c == d


def test_check_exit_codes_and_json_fields():
    code, out, _ = run("check", "sentinel-truncate-up", "--json")
    assert code == 0
    d = json.loads(out)
    for k in ("scenario", "policy", "crash_points", "crash_states", "exhaustive", "violations",
              "zeros_instead_of_data", "counterexample"):
        assert k in d
    assert d["violations"] == [] and d["counterexample"] is None
    code, out, _ = run("check", "sentinel-truncate-up", "-p", "zero-in-memory", "--json")
    assert code == 1
    d = json.loads(out)
    v = d["violations"][0]
    assert v["kind"] == "garbage" and {"crash_time_ns", "offset", "length"} <= set(v)
    ops = d["counterexample"]["ops"]
    assert [(o["index"], o["thread"], o["op"]) for o in ops] == [(1, "t0", "@1s truncate f 16384")]
    assert ops[0]["where"] == "eofsim/scenarios/sentinel-truncate-up.yaml:19"


@pytest.mark.parametrize("args, needle", [
    (("run", "no-such-scenario"), "built-in"),
    (("run", "truncate-up", "--policy", "nope"), "unknown policy 'nope'"),
    (("run", "truncate-up", "--set", "bogus=1"), "unknown tunable 'bogus'"),
    (("run", "truncate-up", "--set", "block_size=3000"), "block_size"),
    (("run", "truncate-up", "--set", "commit_interval_ns"), "not key=value"),
    (("check", "truncate-up", "--set", "dirty_expire_ns=-5s"), "dirty_expire_ns"),
    (("kernel-check", "truncate-up", "--mount-opts", "data=journal"), "data=journal"),
    (("compare", "--threads", "0"), "--threads"),
])
def test_bad_input_is_one_line_exit_2(args, needle):
    code, out, _ = run(*args)
    assert code == 2, out
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in out


def test_malformed_scenario_file_names_file_and_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("ops:\n  - write f 0 4k\n  - wrte f 0 1\n")
    code, out, _ = run("run", str(p))
    assert code == 2
    assert f"{p}:3" in out and "unknown operation 'wrte'" in out


def test_absurd_offsets_are_refused(tmp_path):
    p = tmp_path / "huge.yaml"
    p.write_text("ops:\n  - write f 0x100000000000000 4k\n")
    code, out, _ = run("run", str(p))
    assert code == 2 and f"{p}:2" in out and "absurd" in out


def test_scenarios_and_policies_list_everything():
    from eofsim.policies import POLICIES
    from eofsim.scenario_file import builtin_names
    out = run("scenarios")[1]
    assert all(n in out for n in builtin_names())
    out = run("policies")[1]
    assert all(n in out for n in POLICIES)
