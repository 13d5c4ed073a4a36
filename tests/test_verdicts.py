"""Issue 14: deadlocks and stalls as verdicts, timing witnesses, standalone counterexamples,
stamps, paced fsx replay, the tunables listing."""

import json
import re

import pytest
import yaml
from click.testing import CliRunner

from eofsim.cli import main
from eofsim.crash.explore import check
from eofsim.crash.schedules import run_schedules, summary
from eofsim.crash.witness import witnesses
from eofsim.scenario_file import builtin_names, load_scenario
from eofsim.sim import simulate


def cli(*args):
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.output


@pytest.mark.parametrize("name, args", [("writeback-waits-endio", ()),
                                         ("endio-waits-zero", ("--schedules", "29"))])
def test_deadlock_scenarios_fail_check_with_a_cycle(name, args):
    code, out = cli("check", name, "-p", "iomap-v4", "--json", *args)
    assert code == 1
    d = json.loads(out)
    if not args:
        assert d["verdict"] == "deadlock"
        cyc = d["deadlocks"][0]
        names = [t["task"] for t in cyc["tasks"]]
        # a cycle: each task is held up by the next one
        for i, t in enumerate(cyc["tasks"]):
            assert names[(i + 1) % len(names)] in t["held_by"]
            assert t["waits_in"] == "folio_wait_writeback"
            assert t["holds"]
        assert cyc["time_ns"] > 0
    else:
        s = d["schedules"]
        assert s["n"] == 29 and len(s["deadlock"]) == s["failed"] > 0


def test_schedule_counts_match_direct_simulation():
    """The oracle: simulate(perturb_seed=k) for k = 1..29, read off the engine's cycles."""
    sc = load_scenario("endio-waits-zero")
    direct = [k for k in range(1, 30) if simulate(sc, "iomap-v4", {}, perturb_seed=k).deadlocks]
    s = summary(run_schedules(sc, "iomap-v4", n=29))
    # Which seeds deadlock depends on the device model's latencies and event order (16 of
    # 29 on the fixed-latency device before issue 15, 13 on the nvme default): the oracle
    # is the direct simulation, and the share stays large.
    assert s["deadlock"] == direct and len(direct) >= 8


def test_run_exits_1_on_deadlock_and_names_the_kernel_wait():
    code, out = cli("run", "writeback-waits-endio", "-p", "iomap-v4")
    assert code == 1
    assert "DEADLOCK at" in out and "kernel: ext4_sync_file >" in out
    code, out = cli("run", "truncate-up")
    assert code == 0 and "DEADLOCK" not in out and "STALL" not in out


def test_one_kib_block_append_deadlock_fails_check(tmp_path):
    """1 KiB blocks: an append into the next block of the same page deadlocks iomap-v4 (the
    end-I/O worker waits on the folio whose writeback it is ending); check must say so."""
    p = tmp_path / "small.yaml"
    p.write_text("name: small-blocks\ntunables: {block_size: 1024}\nfiles: [{name: f, size: 1000}]\n"
                 "threads:\n  - name: t0\n    ops: ['@1s write f 1024 100', 'fsync f']\n")
    code, out = cli("check", str(p), "-p", "iomap-v4", "--json")
    d = json.loads(out)
    assert code == 1 and d["verdict"] == "deadlock"
    assert [t["task"] for t in d["deadlocks"][0]["tasks"]] == ["ext4-endio"]
    code, _ = cli("check", str(p), "-p", "bh-ordered")
    assert code == 0


def test_delay_hook_slows_exactly_one_bio():
    sc = load_scenario("sentinel-truncate-up")
    a = simulate(sc, "iomap-v4-nowait")
    b = simulate(sc, "iomap-v4-nowait", bio_delays={0: 7_000})
    assert b.dev.bios[0].complete_ns - a.dev.bios[0].complete_ns == 7_000
    assert b.dev.bios[0].submit_ns == a.dev.bios[0].submit_ns


GUARANTEE_ONLY = ["iomap-v4-nowait", "xfs", "zero-in-memory"]


@pytest.mark.parametrize("policy", GUARANTEE_ONLY)
def test_every_violation_has_a_witness_that_reproduces_under_timed(policy):
    seen = 0
    for name in builtin_names():
        sc = load_scenario(name)
        rep = check(simulate(sc, policy))
        if not rep.violations:
            continue
        for v, tw in zip(rep.violations, witnesses(sc, policy, {}, rep)):
            seen += 1
            assert tw.reproduced, (name, v, tw.note)
            # independent oracle: the rerun with those delays, checked --timed
            trep = check(simulate(sc, policy, {}, bio_delays=tw.delays), timed=True)
            assert any(x.kind == v.kind and x.file == v.file for x in trep.violations)
    assert seen


def test_nowait_witness_is_the_zero_bio_missing_the_commit_preflush():
    sc = load_scenario("sentinel-truncate-up")
    rep = check(simulate(sc, "iomap-v4-nowait"))
    assert not check(simulate(sc, "iomap-v4-nowait"), timed=True).violations
    tw = witnesses(sc, "iomap-v4-nowait", {}, rep)[0]
    (n,) = tw.needs
    res = simulate(sc, "iomap-v4-nowait")
    zero, flush = res.dev.bios[n.bio], res.dev.bios[n.flush]
    assert zero.why == "zero-eof" and flush.kind == "commit" and flush.preflush
    assert n.extra_ns == flush.submit_ns - zero.complete_ns + 1
    # one nanosecond less and the write completes before the flush is issued: covered
    short = check(simulate(sc, "iomap-v4-nowait", {}, bio_delays={n.bio: n.extra_ns - 2}),
                  timed=True)
    assert not short.violations


def test_check_json_witness_and_delay_bio_option():
    code, out = cli("check", "sentinel-truncate-up", "-p", "iomap-v4-nowait", "--json")
    assert code == 1
    d = json.loads(out)
    assert d["witness"]["reproduced"] is True and d["witness"]["delays"]
    (bid, dur), = d["witness"]["delays"].items()
    code, out = cli("check", "sentinel-truncate-up", "-p", "iomap-v4-nowait", "--timed",
                    "--delay-bio", f"{bid}={dur}ns", "--json")
    assert code == 1 and json.loads(out)["violations"]
    code, out = cli("check", "sentinel-truncate-up", "-p", "iomap-v4-nowait", "--timed", "--json")
    assert code == 0


def test_counterexample_stands_alone(tmp_path):
    out_yaml = tmp_path / "ce.yaml"
    code, out = cli("check", "sentinel-truncate-up", "-p", "zero-in-memory", "--json",
                    "--save-counterexample", str(out_yaml))
    assert code == 1
    d = json.loads(out)
    ce = d["counterexample"]
    times = set(re.findall(r"crash at (\d+\.\d+) s", ce["timeline"]))
    assert times == {f"{ce['crash_time_ns'] / 1e9:.6f}"}
    lines = ce["timeline"].splitlines()
    assert len(lines) == len(set(lines))
    # the saved scenario reproduces the same kind
    sc = load_scenario(str(out_yaml))
    assert ce["kind"] in check(simulate(sc, "zero-in-memory")).kinds()
    assert yaml.safe_load(out_yaml.read_text())["threads"]


def test_every_output_carries_a_stamp():
    code, out = cli("check", "truncate-up", "--set", "commit_interval_ns=1s", "--json")
    st = json.loads(out)["stamp"]
    assert st["tunables"] == {"commit_interval_ns": 1_000_000_000}
    assert st["semantics"] == "guarantee" and len(st["model"]) == 16
    assert st["command"].startswith("eofsim check truncate-up")
    code, out = cli("run", "truncate-up")
    assert out.rstrip().splitlines()[-1].startswith("stamp: eofsim ")


def test_fsx_paces_ops_and_warns_inside_one_commit(tmp_path):
    log = tmp_path / "a.fsxops"
    log.write_text("".join(f"write 0x{i * 100:x} 0x64 0x0\n" for i in range(10)))
    code, out = cli("fsx", str(log), "--op-interval", "0", "--json")
    d = json.loads(out)
    assert d["warning"] and "commit interval" in d["warning"]
    code, out = cli("fsx", str(log), "--op-interval", "1s", "--json")
    d = json.loads(out)
    assert d["warning"] is None and d["op_interval_ns"] == 1_000_000_000


def test_tunables_lists_every_field_with_default():
    from dataclasses import fields

    from eofsim.params import Tunables
    code, out = cli("tunables", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert set(rows) == {f.name for f in fields(Tunables)}
    assert rows["commit_interval_ns"]["default"] == "5s"
    assert all(r["kernel"] != "-" and r["description"] for r in rows.values())


def test_scenarios_prints_whole_descriptions():
    code, out = cli("scenarios")
    flat = " ".join(out.split())
    for name in builtin_names():
        desc = " ".join(load_scenario(name).description.split())
        assert desc in flat


def test_campaign_lists_deadlocked_seeds_with_reproducers(tmp_path):
    from eofsim.scenario_file import load_scenario as load
    from eofsim.workload.campaign import Params, open_db, run_campaign, summary
    db = tmp_path / "c.db"
    # Seed 3 (seed 64 before issue 10 rebased fallocate/punch/zero range and the timers on
    # 6.12.117: the first deadlocking seed of 0..149 now), with the end-I/O worker taking one
    # ioend at a time: its sort and merge (ioend_merge, xfs_end_io's iomap_sort_ioends)
    # takes the queued zeroed block's ioend first and no seed of 0..149 deadlocks.
    run_campaign(str(db), ["iomap-v4"], range(3, 4), Params(threads=4, tunables="ioend_merge=false"),
                 workers=1, repro_dir=str(tmp_path / "r"))
    con = open_db(str(db), create=False)
    s = summary(con)
    con.close()
    h = s["policies"]["iomap-v4"]["hangs"]["deadlock"]
    assert h["seeds"] and h["reproducers"][0]["seed"] == 3
    y = tmp_path / "r" / "iomap-v4-3-deadlock.yaml"
    assert y.is_file() and (tmp_path / "r" / "iomap-v4-3-deadlock.fsxops").is_file()
    # the reproducer deadlocks on its own
    assert simulate(load(str(y)), "iomap-v4").deadlocks


def test_fsx_names_ops_by_log_line_and_minimises(tmp_path):
    """Write, truncate down inside the block, truncate up: zero-in-memory resurrects the
    data only if writeback ran between the ops. Back to back it passes (the blind spot the
    pacing removes); paced 40 s apart it fails, named by log lines, minimised and saved."""
    log = tmp_path / "r.fsxops"
    log.write_text("# comment\nwrite 0x0 0x1000 0x0\nwrite 0x1000 0x800 0x1000\n"
                   "truncate 0x0 0x1400 0x1800\ntruncate 0x0 0x3000 0x1400\n")
    code, out = cli("fsx", str(log), "-p", "zero-in-memory", "--op-interval", "0")
    assert code == 0, out
    out_yaml = tmp_path / "min.yaml"
    code, out = cli("fsx", str(log), "-p", "zero-in-memory", "--op-interval", "40s",
                    "--save-counterexample", str(out_yaml))
    assert code == 1, out
    assert re.search(r"VIOLATION resurrected .*: line 3 written before line 5 re-extended", out), out
    assert "minimal counterexample" in out and out_yaml.is_file()
    ops = yaml.safe_load(out_yaml.read_text())["threads"][0]["ops"]
    assert len(ops) == 3     # the first write is not needed
    assert "resurrected" in check(simulate(load_scenario(str(out_yaml)), "zero-in-memory")).kinds()


def test_standalone_renumbers_to_the_original_ops_and_drops_repeats():
    """A minimised rerun numbers its ops afresh and racing versions of one bio repeat a
    line; the standalone counterexample names the original ops and says each line once."""
    from types import SimpleNamespace

    from eofsim.counterexample import standalone
    from eofsim.crash.checkers import Violation
    from eofsim.ops import parse_op
    a, b, c = (parse_op(t, f"s.yaml:{i}") for i, t in enumerate(["write f 0 10", "fsync f",
                                                                  "truncate f 5"], 10))
    from eofsim.scenario import Scenario, ThreadSpec
    orig = Scenario("s", threads=(ThreadSpec("t0", (a, b, c)),))
    sub = Scenario("s", threads=(ThreadSpec("t0", (a, c)),))
    line = "  newer bio #3 zero-eof submitted at 1.0 s not on disk"
    m = SimpleNamespace(kind="stale", scenario=sub, runs=4,
                        violation=Violation("stale", 7, 0, 5, "f", "data of op #2 after #1"),
                        timeline=f"crash at 0.000000 s: op #2 truncate\n{line}\n{line}\nbio #2 ok")
    ce = standalone(orig, m)
    assert [o["index"] for o in ce["ops"]] == [1, 3]
    assert ce["violation"]["detail"] == "data of op #3 after #1"
    assert ce["timeline"].splitlines() == ["crash at 0.000000 s: op #3 truncate", line, "bio #2 ok"]
    assert ce["ops"][1]["where"] == "s.yaml:12"
