"""Each class of bad input or failing environment from issue 18, refused at its source:
one line on stderr (file:line where there is one), exit 2, no traceback, no hang, nothing
lost; interrupts exit 128 + the signal with one line."""

import errno
import json
import multiprocessing as mp
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from eofsim.cli import main
from eofsim.errors import InputError
from eofsim.params import Tunables
from eofsim.units import parse_int, parse_size, parse_time
from eofsim.workload import campaign as cp

EOFSIM = [sys.executable, "-m", "eofsim.cli"]


def one_line_2(args):
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2, (r.exit_code, r.output, r.exception)
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in r.output, r.output
    return lines[0]


def scenario(tmp_path, text, name="s.yaml"):
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(p)


# ---------------------------------------------------------------- numbers

@pytest.mark.parametrize("fn, text", [(parse_size, "0100"), (parse_size, "04096"),
                                      (parse_time, "05s"), (parse_int, "010")])
def test_a_leading_zero_is_refused_as_ambiguous(fn, text):
    with pytest.raises(InputError, match="leading zero"):
        fn(text, "x")


def test_numbers_that_stay_valid():
    assert parse_size("0") == 0 and parse_size("0x1000") == 4096 and parse_size("4k") == 4096
    assert parse_time("0.5s") == 500_000_000 and parse_time("0") == 0
    assert parse_time("1.0000000015s") == 1_000_000_002   # exact, rounded half up


def test_huge_digit_strings_are_refused_without_converting_them():
    for fn in (parse_size, parse_time, parse_int):
        with pytest.raises(InputError):
            fn("7" * 5000, "x")
    with pytest.raises(InputError, match="more than 10\\^30"):
        parse_size(10 ** 5000, "x")


def test_leading_zero_in_an_op_names_file_and_line(tmp_path):
    p = scenario(tmp_path, "ops:\n  - write f 0 10\n  - write f 0100 10\n")
    assert f"{p}:3: " in one_line_2(["run", p])
    assert "leading zero" in one_line_2(["run", "truncate-up", "--set", "block_size=04096"])


# ---------------------------------------------------------------- YAML

@pytest.mark.parametrize("text, line, needle", [
    ("description: " + "[" * 500 + "]" * 500 + "\nops: [sync]\n", 1, "nested"),
    ("files:\n  - name: f\n    size: !!timestamp soon\nops: [sync]\n", 3, "tag"),
    ("files:\n  - name: f\n    size: " + "9" * 5000 + "\nops: [sync]\n", 3, "integers"),
    ("files:\n  - name: f\n    size: 0100\nops: [sync]\n", 3, "leading zero"),
    ("a: &a [1, 1]\nb: [*a, *a]\nops: [sync]\n", 2, "alias"),
    ("ops:\n  - sync\n  - fsync\x01 f\n", 3, "control character"),
    (b"ops:\n  - \xff sync\n", 2, "not UTF-8"),
    ("ops:\n  - '@1x fsync f'\n", 2, "start time"),
])
def test_yaml_defects_name_file_and_line(tmp_path, text, line, needle):
    p = scenario(tmp_path, text)
    msg = one_line_2(["run", p])
    assert f"{p}:{line}: " in msg and needle in msg, msg


def test_an_alias_bomb_is_refused_at_once(tmp_path):
    lines = ["x0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"] + \
        [f"x{k}: &a{k} [*a{k - 1}] " for k in range(1, 40)]
    p = scenario(tmp_path, "\n".join(lines) + "\nops: [sync]\n")
    t0 = time.monotonic()
    assert "alias" in one_line_2(["run", p])
    assert time.monotonic() - t0 < 30


def test_a_scenario_with_too_many_values_is_refused_early(tmp_path):
    p = scenario(tmp_path, "description: [" + "1," * 300_000 + "1]\nops: [sync]\n")
    assert f"{p}:1: " in one_line_2(["run", p]) and "YAML values" in one_line_2(["run", p])


def test_eofsim_at_in_an_fsx_log_names_file_and_line(tmp_path):
    p = scenario(tmp_path, "write 0x0 0x10 0x0\n#eofsim-at 5x\nfsync 0x0 0x0 0x10\n", "l.fsxops")
    assert f"{p}:2: " in one_line_2(["fsx", p])


# ---------------------------------------------------------------- paths and special files

def test_paths_the_kernel_refuses(tmp_path):
    assert "NAME_MAX" in one_line_2(["run", str(tmp_path / ("x" * 300))])
    assert "NUL" in one_line_2(["campaign", "--policies", "bh-ordered", "--seeds", "1",
                                "--db", "a\0b"])


@pytest.mark.parametrize("cmd", ["run", "fsx", "campaign"])
@pytest.mark.parametrize("special", ["fifo", "/dev/zero", "/dev/urandom"])
def test_special_files_are_refused_not_read(tmp_path, cmd, special):
    path = special
    if special == "fifo":
        path = str(tmp_path / "fifo")
        os.mkfifo(path)
    args = {"run": ["run", path], "fsx": ["fsx", path],
            "campaign": ["campaign", "--policies", "bh-ordered", "--seeds", "1", "--db", path]}[cmd]
    t0 = time.monotonic()
    msg = one_line_2(args)
    assert path in msg and ("FIFO" in msg or "character device" in msg), msg
    assert time.monotonic() - t0 < 30


# ---------------------------------------------------------------- tunables

@pytest.mark.parametrize("kv, needle", [
    ("endio_workers=2147483648", "WQ_MAX_ACTIVE"),
    ("endio_workers=513", "WQ_MAX_ACTIVE"),
    ("dirty_writeback_ns=1ns", "dirty_writeback_centisecs"),
    ("dirty_writeback_ns=9ms", "dirty_writeback_centisecs"),
    ("commit_interval_ns=999ns", "INT_MAX/HZ"),
    ("max_batch_ns=4294967296us", "u32"),
    ("seed=18446744073709551616", "seed"),
    ("horizon_ns=2d", "horizon_ns"),
])
def test_tunables_outside_the_kernels_range(kv, needle):
    assert needle in one_line_2(["run", "truncate-up", "--set", kv])


def test_tunables_at_the_edges_of_the_range_are_accepted():
    Tunables().with_values({"endio_workers": "512", "dirty_writeback_ns": "10ms",
                            "commit_interval_ns": "1us", "max_batch_ns": "4294967295us"})


def test_a_run_spanning_too_many_flusher_periods_is_refused_before_it_runs(tmp_path):
    p = scenario(tmp_path, "ops:\n  - '@1000000s fsync f'\nfiles:\n  - name: f\n")
    t0 = time.monotonic()
    msg = one_line_2(["run", p, "--set", "dirty_writeback_ns=10ms"])
    assert "flusher periods" in msg and f"{p}:2: " in msg
    assert time.monotonic() - t0 < 30


# ---------------------------------------------------------------- outputs

def test_compare_out_is_checked_before_the_grid(tmp_path, monkeypatch):
    import eofsim.report.compare as rc

    def no_grid(*a, **k):
        raise AssertionError("the grid ran before --out was checked")
    monkeypatch.setattr(rc, "run_grid", no_grid)
    plain = tmp_path / "plain"
    plain.write_text("x")
    for out in (str(plain / "sub"), str(plain)):
        one_line_2(["compare", "--scenarios", "truncate-up", "--out", out])
    os.chmod(tmp_path, 0o500)
    try:
        if os.geteuid() != 0:  # root writes anywhere
            one_line_2(["compare", "--scenarios", "truncate-up", "--out", str(tmp_path / "r")])
    finally:
        os.chmod(tmp_path, 0o700)


def test_a_report_that_fails_to_write_loses_no_result(tmp_path, monkeypatch):
    import eofsim.report.compare as rc
    import eofsim.report.html as rh
    data = {"marker": 12345}
    monkeypatch.setattr(rc, "run_grid", lambda *a, **k: data)
    monkeypatch.setattr(rc, "grid_steps", lambda *a, **k: 1)

    def full(data, out):
        raise OSError(errno.ENOSPC, "No space left on device", os.path.join(out, "a.png"))
    monkeypatch.setattr(rh, "write_report", full)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))    # gettempdir() caches TMPDIR
    r = CliRunner().invoke(main, ["compare", "--scenarios", "truncate-up", "--json",
                                  "--out", str(tmp_path / "out")])
    assert r.exit_code == 2 and len(r.stderr.splitlines()) == 1
    assert json.loads(r.stdout) == data                      # printed first
    assert "disk is full" in r.stderr
    saved = r.stderr.split("saved in ")[1].strip()
    assert json.loads(open(saved).read()) == data            # and saved
    assert os.path.dirname(saved) == str(tmp_path)


@pytest.mark.parametrize("args", [["scenarios"], ["--help"], ["run", "truncate-up", "--json"]])
def test_stdout_to_dev_full_is_one_line(args):
    with open("/dev/full", "w") as full:
        r = subprocess.run(EOFSIM + args, stdout=full, stderr=subprocess.PIPE,
                           text=True, timeout=120)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr
    assert "disk is full" in r.stderr


# ---------------------------------------------------------------- campaigns

def test_seeds_beyond_sqlite_integers_are_refused_before_work():
    assert cp.parse_seeds(f"{2**63 - 2}..{2**63 - 1}") == range(2**63 - 2, 2**63)
    for bad in (str(2**63), f"0..{2**63}", "٣", "1_0", "+1"):
        with pytest.raises(InputError):
            cp.parse_seeds(bad)


def _open(path, barrier, q):
    barrier.wait()
    try:
        cp.open_db(path, cp.Params()).close()
        q.put("ok")
    except Exception as e:
        q.put(f"{type(e).__name__}: {e}")


def test_concurrent_starts_on_a_new_database(tmp_path):
    ctx = mp.get_context("fork")
    for trial in range(8):
        path = str(tmp_path / f"c{trial}.db")
        b, q = ctx.Barrier(5), ctx.Queue()
        ps = [ctx.Process(target=_open, args=(path, b, q)) for _ in range(5)]
        for p in ps:
            p.start()
        for p in ps:
            p.join(60)
        assert [q.get(timeout=5) for _ in ps] == ["ok"] * 5
        con = sqlite3.connect(path)
        assert con.execute("SELECT count(*) FROM meta WHERE key='params'").fetchone() == (1,)
        con.close()


def _row(seed):
    row = {c: 0 for c in cp.RESULT_COLS}
    row.update(policy="bh-ordered", seed=seed, kinds="", kind_counts="{}",
               violations="x" * 20000, notes="[]", worker="w", counterexample=None,
               stall=None, error=None, reproducers=[])
    return row


def test_disk_full_in_store_is_reported_as_such_and_keeps_rows(tmp_path):
    db = tmp_path / "full.db"
    con = cp.open_db(db, cp.Params())
    cp.store(con, _row(1))
    pages = con.execute("PRAGMA page_count").fetchone()[0]
    con.execute(f"PRAGMA max_page_count={pages + 1}")  # SQLITE_FULL on the next big row
    with pytest.raises(cp.DiskFull):
        for s in range(2, 10):
            cp.store(con, _row(s))
    con.execute("PRAGMA max_page_count=1000000")
    cp.store(con, _row(99))                             # the connection is still usable
    assert 1 in {s for _, s in cp.done_keys(con)} and 99 in {s for _, s in cp.done_keys(con)}
    con.close()


def test_disk_full_during_a_campaign_is_one_line(tmp_path, monkeypatch):
    def full(con, row):
        raise cp.DiskFull("database or disk is full")
    monkeypatch.setattr(cp, "store", full)

    class Runner:
        def run(self, tasks, params):
            yield _row(1)
    with pytest.raises(InputError, match="disk is full.*rerun"):
        cp.run_campaign(tmp_path / "c.db", ["bh-ordered"], range(1), cp.Params(),
                        runner=Runner())


def test_a_zombie_parent_counts_as_gone():
    """os.kill(pid, 0) succeeds on a zombie; the liveness check must not."""
    p = subprocess.Popen(["true"])
    fd = os.pidfd_open(p.pid)
    deadline = time.monotonic() + 10
    while not cp.process_gone(p.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(p.pid, 0)                       # still there, a zombie
    assert cp.process_gone(p.pid) and cp.process_gone(p.pid, 0, fd)
    q = subprocess.Popen(["sleep", "30"])
    fdq = os.pidfd_open(q.pid)
    try:
        assert not cp.process_gone(q.pid) and not cp.process_gone(q.pid, 0.05, fdq)
    finally:
        q.kill()
        q.wait()
        p.wait()
        os.close(fd)
        os.close(fdq)


# ---------------------------------------------------------------- interrupts

def _interrupt(args, sig, tmp_path, wait_for, repeat=0):
    p = subprocess.Popen(EOFSIM + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not wait_for():
        time.sleep(0.1)
    time.sleep(1.0)
    p.send_signal(sig)
    for _ in range(repeat):   # a second signal must not break off the clean-up
        time.sleep(0.02)
        p.send_signal(sig)
    out, err = p.communicate(timeout=120)
    return p.returncode, err


def test_sigterm_during_a_campaign_is_143_and_one_line(tmp_path):
    db = tmp_path / "c.db"
    code, err = _interrupt(["campaign", "--policies", "bh-ordered", "--seeds", "0..100000",
                            "--db", str(db), "--workers", "1"], signal.SIGTERM, tmp_path,
                           lambda: db.exists(), repeat=3)
    assert code == 143, err
    assert len(err.splitlines()) == 1 and "SIGTERM" in err and "resume" in err, err


def test_sigterm_storm_until_exit_is_still_143(tmp_path):
    """SIGTERM every 2 ms until the process is gone: none may land on a restored default
    handler between the clean-up and the exit (that was a -15 under load)."""
    db = tmp_path / "c.db"
    p = subprocess.Popen(EOFSIM + ["campaign", "--policies", "bh-ordered", "--seeds",
                                   "0..100000", "--db", str(db), "--workers", "1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         cwd=tmp_path)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not db.exists():
        time.sleep(0.1)
    time.sleep(1.0)
    while p.poll() is None:
        try:
            p.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            break
        time.sleep(0.002)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 143, err


def test_sigint_during_compare_is_130_and_one_line(tmp_path):
    code, err = _interrupt(["compare"], signal.SIGINT, tmp_path, lambda: True)
    assert code == 130, err
    assert err.splitlines() == ["eofsim: interrupted by SIGINT"], err


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount a small tmpfs")
def test_a_disk_that_fills_mid_campaign_is_one_line_and_rows_are_kept(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], check=True)
    try:
        with open(mnt / "filler", "wb") as f:
            f.write(b"\0" * (1024 * 1024 - 160 * 1024))
        db = mnt / "c.db"
        r = CliRunner().invoke(main, ["campaign", "--policies", "bh-ordered", "--seeds",
                                      "0..100000", "--ops", "200", "--db", str(db),
                                      "--workers", "1"])
        assert r.exit_code == 2, (r.output, r.exception)
        lines = r.stderr.splitlines()
        assert len(lines) == 1 and "disk is full" in lines[0], r.stderr
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        kept = con.execute("SELECT count(*) FROM results").fetchone()[0]
        con.close()
        assert kept >= 1 and f"after {kept} new results" in lines[0]
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_workers_of_a_killed_campaign_let_go_of_the_callers_pipes(tmp_path):
    """SIGKILL the campaign and do not reap it (a zombie, as under a caller that waits for
    EOF before it waits for the child): its pool workers must still exit and close the
    stdout/stderr pipes they inherited, so the caller sees EOF."""
    import select
    db = tmp_path / "c.db"
    p = subprocess.Popen(EOFSIM + ["campaign", "--policies", "bh-ordered", "--seeds",
                                   "0..100000", "--db", str(db), "--workers", "2"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if db.exists():
                con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
                try:
                    if con.execute("SELECT count(*) FROM results").fetchone()[0] >= 2:
                        break
                except sqlite3.DatabaseError:
                    pass
                finally:
                    con.close()
            time.sleep(0.2)
        os.kill(p.pid, signal.SIGKILL)
        time.sleep(0.5)
        with open(f"/proc/{p.pid}/stat") as f:
            assert f.read().rsplit(")", 1)[1].split()[0] == "Z"   # a zombie, not reaped
        fd = p.stdout.fileno()
        eof = False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 1.0)
            if r and not os.read(fd, 65536):
                eof = True
                break
        assert eof, "the workers still hold the caller's pipe 30 s after the campaign died"
    finally:
        p.kill()
        p.wait()


def test_docs_list_every_tunable_range():
    from pathlib import Path
    from eofsim.params import BOUNDS
    doc = (Path(__file__).resolve().parent.parent / "docs" / "inputs.md").read_text()
    assert all(f"| `{k}` |" in doc for k in BOUNDS)
