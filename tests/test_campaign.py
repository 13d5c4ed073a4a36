"""Campaign pieces: arguments, delta debugging, the database, the report, bad input."""

import json
import sqlite3

import pytest
from click.testing import CliRunner

from eofsim.cli import main
from eofsim.errors import InputError
from eofsim.scenario_file import load_text
from eofsim.workload.campaign import (APPLICATION_ID, Params, ddmin, open_db, parse_policies,
                                      parse_seeds, rows, run_task, store)
from eofsim.workload.fsxops import parse_fsxops


def test_parse_seeds():
    assert parse_seeds("3..7") == range(3, 8)
    assert parse_seeds(" 5 ") == range(5, 6)
    for bad in ("", "a..b", "3..", "..3", "7..3", "-1..2", "1...3", "1-3", "0..99999999"):
        with pytest.raises(InputError, match="--seeds"):
            parse_seeds(bad)


def test_parse_policies():
    assert parse_policies("bh-ordered, xfs,bh-ordered") == ["bh-ordered", "xfs"]
    with pytest.raises(InputError, match="unknown policy 'nope'"):
        parse_policies("bh-ordered,nope")
    with pytest.raises(InputError, match="at least one"):
        parse_policies(" , ")


def test_ddmin_finds_a_1_minimal_subset():
    items = list(range(40))
    calls = []

    def fails(c):
        calls.append(1)
        return {3, 17, 31} <= set(c)

    out, minimal, tests = ddmin(items, fails, 1000)
    assert out == [3, 17, 31] and minimal and tests == len(calls)
    out, minimal, tests = ddmin(items, fails, 3)
    assert not minimal and tests == 3 and fails(out)


def test_task_is_deterministic_and_reproducers_replay():
    """Same (policy, seed, params), same row; each reproducer's scenario and .fsxops still
    show its kind. Scans seeds of the unsafe baseline, which campaigns catch resurrecting
    data within the first 50 seeds at 80 ops."""
    params = Params(ops=80).as_dict()
    found = None
    for seed in range(38, 60):
        row = run_task("zero-in-memory", seed, params)
        if row["reproducers"]:
            found = (seed, row)
            break
    assert found is not None, "zero-in-memory survived 22 random workloads"
    seed, row = found
    again = run_task("zero-in-memory", seed, params)
    strip = ("elapsed_s", "worker")
    assert {k: v for k, v in row.items() if k not in strip} == \
        {k: v for k, v in again.items() if k not in strip}
    from eofsim.crash.explore import check
    from eofsim.sim import simulate
    for r in row["reproducers"]:
        assert r["ops_after"] <= r["ops_before"]
        sc = load_text(r["scenario_yaml"], "repro.yaml")
        assert sum(len(t.ops) for t in sc.threads) == r["ops_after"]
        assert r["kind"] in check(simulate(sc, "zero-in-memory")).kinds()
        ops = parse_fsxops(r["fsxops"], "repro.fsxops")
        assert ops == [op for t in sc.threads for op in t.ops]


def _row(policy, seed, kinds=(), zid=0, states=10, checked=5, points=3, error=None):
    counts = {k: n for k, n in kinds}
    return {
        "policy": policy, "seed": seed, "n_ops": 10, "crash_points": points,
        "crash_states": states, "states_checked": checked, "exhaustive": 1,
        "zeros_instead_of_data": zid, "n_violations": sum(counts.values()),
        "kinds": ",".join(sorted(counts)), "kind_counts": json.dumps(counts),
        "violations": "[]", "counterexample": None, "deadlocks": 0, "stall": None,
        "error": error, "notes": "[]", "elapsed_s": 0.5, "worker": "hand",
        "reproducers": [{
            "policy": policy, "seed": seed, "kind": k, "ops_before": 10, "ops_after": n + 1,
            "minimal": 1, "tests": 7, "violation": "{}", "scenario_yaml": "name: x\n",
            "fsxops": "", "fsxops_note": None} for k, n in kinds],
    }


@pytest.fixture
def hand_db(tmp_path):
    db = tmp_path / "hand.db"
    con = open_db(db, Params(ops=10))
    for r in (_row("zeta", 4, [("garbage", 2)], zid=1),
              _row("alpha", 2, [("resurrected", 1), ("garbage", 3)], states=20),
              _row("alpha", 1, zid=4),
              _row("alpha", 3, [("garbage", 1)]),
              _row("alpha", 7, [("fsync-size", 2)], points=1),
              _row("alpha", 5, error="boom")):
        store(con, r)
    con.close()
    return db


EXPECTED = """\
campaign: ops=10, threads=1, samples=20000, max_size=262144, files=1; 6 results

alpha: 5 workloads, 3 with violations (7 violations), zeros instead of data in 4 states, 60 crash states (25 checked) at 13 crash points
  also: 1 errors
  seeds with violations: 2..3,7
  garbage               2 workloads        4 violations  reproducers 2 (smallest 2 ops)  seeds 2..3
  resurrected           1 workloads        1 violations  reproducers 1 (smallest 2 ops)  seeds 2
  fsync-size            1 workloads        2 violations  reproducers 1 (smallest 3 ops)  seeds 7

zeta: 1 workloads, 1 with violations (2 violations), zeros instead of data in 1 states, 10 crash states (5 checked) at 3 crash points
  seeds with violations: 4
  garbage               1 workloads        2 violations  reproducers 1 (smallest 3 ops)  seeds 4"""


def test_report_by_policy_and_kind(hand_db):
    r = CliRunner().invoke(main, ["campaign", "report", "--db", str(hand_db)])
    assert r.exit_code == 0, r.output
    body, stamp = r.output.rstrip("\n").rsplit("\n", 1)
    assert body == EXPECTED
    assert stamp.startswith("stamp: eofsim ") and "command: eofsim campaign report" in stamp
    r = CliRunner().invoke(main, ["campaign", "--db", str(hand_db), "report", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["workloads"] == 6 and list(d["policies"]) == ["alpha", "zeta"]
    a = d["policies"]["alpha"]
    assert (a["workloads"], a["workloads_with_violations"], a["violations"], a["errors"]) == (5, 3, 7, 1)
    assert a["seeds_with_violations"] == "2..3,7"
    assert set(a["kinds"]) == {"garbage", "resurrected", "fsync-size"}
    assert a["kinds"]["garbage"] == {"workloads": 2, "violations": 4, "seeds": "2..3",
                                     "reproducers": 2, "smallest_reproducer_ops": 2}
    assert d["params"] == Params(ops=10).as_dict()


def test_empty_campaign_report(tmp_path):
    open_db(tmp_path / "e.db", Params()).close()
    r = CliRunner().invoke(main, ["campaign", "report", "--db", str(tmp_path / "e.db")])
    assert r.exit_code == 0 and "no results yet" in r.output


def _one_line_exit_2(args):
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1, r.output
    return lines[0]


def test_bad_databases_are_refused_and_left_alone(tmp_path, hand_db):
    text = tmp_path / "notes.db"
    text.write_text("not a database\n")
    line = _one_line_exit_2(["campaign", "--policies", "bh-ordered", "--seeds", "0..1",
                             "--db", str(text)])
    assert "not a usable eofsim campaign database" in line
    assert text.read_text() == "not a database\n"

    foreign = tmp_path / "foreign.db"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE results (x)")
    con.execute("INSERT INTO results VALUES (42)")
    con.commit()
    con.close()
    before = foreign.read_bytes()
    for args in (["campaign", "--policies", "bh-ordered", "--seeds", "0..1", "--db", str(foreign)],
                 ["campaign", "report", "--db", str(foreign)]):
        line = _one_line_exit_2(args)
        assert "not an eofsim campaign database (tables results)" in line
    assert foreign.read_bytes() == before

    line = _one_line_exit_2(["campaign", "report", "--db", str(tmp_path / "absent.db")])
    assert "no such campaign database" in line
    assert not (tmp_path / "absent.db").exists()

    broken = tmp_path / "broken.db"
    broken.write_bytes(hand_db.read_bytes()[:3000])
    line = _one_line_exit_2(["campaign", "report", "--db", str(broken)])
    assert "not a usable eofsim campaign database" in line

    newer = tmp_path / "newer.db"
    open_db(newer, Params()).execute("PRAGMA user_version=99").connection.close()
    line = _one_line_exit_2(["campaign", "report", "--db", str(newer)])
    assert "schema version 99" in line


def test_other_parameters_are_refused_and_nothing_is_lost(hand_db):
    before = rows(open_db(hand_db, create=False), timing=True)
    line = _one_line_exit_2(["campaign", "--policies", "bh-ordered", "--seeds", "0..9", "--ops", "11",
                             "--db", str(hand_db)])
    assert "holds a campaign run with ops=10; this run asks ops=11" in line
    line = _one_line_exit_2(["campaign", "--policies", "bh-ordered", "--seeds", "0..9", "--ops",
                             "10", "--threads", "2", "--samples", "7", "--db", str(hand_db)])
    assert "threads=1, samples=20000; this run asks threads=2, samples=7" in line
    assert rows(open_db(hand_db, create=False), timing=True) == before
    con = sqlite3.connect(hand_db)
    assert con.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("args,msg", [
    (["--policies", "bh-ordered", "--seeds", "1..x"], "--seeds '1..x'"),
    (["--policies", "bh-ordered,nope", "--seeds", "0..3"], "unknown policy 'nope'"),
    (["--seeds", "0..3"], "campaign needs --policies and --seeds"),
])
def test_bad_arguments(tmp_path, args, msg):
    db = tmp_path / "c.db"
    line = _one_line_exit_2(["campaign", *args, "--db", str(db)])
    assert msg in line
    assert not db.exists()


def test_dask_address_that_does_not_answer(tmp_path, hand_db):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))            # a port nobody listens on
    port = s.getsockname()[1]
    s.close()
    before = rows(open_db(hand_db, create=False), timing=True)
    line = _one_line_exit_2(["campaign", "--policies", "bh-ordered", "--seeds", "0..9", "--ops", "10",
                             "--db", str(hand_db), "--dask", f"tcp://127.0.0.1:{port}",
                             "--dask-timeout", "1"])
    assert f"--dask tcp://127.0.0.1:{port}: no Dask scheduler answers there" in line
    assert rows(open_db(hand_db, create=False), timing=True) == before
    line = _one_line_exit_2(["campaign", "--policies", "bh-ordered", "--seeds", "0..9", "--ops", "10",
                             "--db", str(hand_db), "--dask", "no-port-here"])
    assert "--dask no-port-here" in line


def test_a_second_writer_is_refused(hand_db):
    import fcntl
    import os
    fd = os.open(hand_db, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)   # as a running campaign holds it
        line = _one_line_exit_2(["campaign", "--policies", "bh-ordered", "--seeds", "0..1",
                                 "--ops", "10", "--db", str(hand_db)])
        assert "another campaign is running on this database" in line
    finally:
        os.close(fd)
    r = CliRunner().invoke(main, ["campaign", "report", "--db", str(hand_db)])
    assert r.exit_code == 0


def test_resuming_with_another_model_is_refused(tmp_path, monkeypatch):
    """A database remembers the model that filled it; another model may not add rows."""
    import eofsim.workload.campaign as camp
    db = str(tmp_path / "m.db")
    open_db(db, Params(ops=5), create=True).close()
    open_db(db, Params(ops=5), create=True).close()      # same model: resumes
    monkeypatch.setattr(camp, "model_fingerprint", lambda: "f" * 64)
    with pytest.raises(InputError, match="another version of the model"):
        open_db(db, Params(ops=5), create=True)


def test_campaign_set_overrides_are_recorded_and_applied(tmp_path):
    db = str(tmp_path / "s.db")
    r = CliRunner().invoke(main, ["campaign", "--policies", "bh-ordered", "--seeds", "1..2",
                                  "--ops", "10", "--set", "block_size=1024", "--db", db])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["campaign", "report", "--db", db])
    assert "tunables=block_size=1024" in r.output
    r = CliRunner().invoke(main, ["campaign", "--policies", "bh-ordered", "--seeds", "1..2",
                                  "--ops", "10", "--db", db])
    assert r.exit_code == 2 and "tunables=block_size=1024" in r.output
    r = CliRunner().invoke(main, ["campaign", "--policies", "bh-ordered", "--seeds", "1",
                                  "--set", "nope=1", "--db", str(tmp_path / "t.db")])
    assert r.exit_code == 2 and "unknown tunable 'nope'" in r.output
