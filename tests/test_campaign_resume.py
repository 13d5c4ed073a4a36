"""Campaigns end to end: SIGKILL mid-run then resume, and a Dask LocalCluster, each giving
exactly the rows of one uninterrupted process-pool run."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from eofsim.cli import main
from eofsim.workload.campaign import Params, open_db, rows, run_campaign

POLICIES = ["bh-writeback", "iomap-deferred"]
SEEDS = range(0, 80)
OPS = 50


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    db = tmp_path_factory.mktemp("ref") / "ref.db"
    out = run_campaign(db, POLICIES, SEEDS, Params(ops=OPS), workers=2)
    assert out.new == len(POLICIES) * len(SEEDS) and out.errors == 0
    con = open_db(db, create=False)
    try:
        return rows(con)
    finally:
        con.close()


def _cli(db, *extra):
    return [sys.executable, "-m", "eofsim.cli", "campaign", "--policies", ",".join(POLICIES),
            "--seeds", f"{SEEDS.start}..{SEEDS.stop - 1}", "--ops", str(OPS), "--db", str(db),
            *extra]


def _count(db):
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def test_reference_finds_violations_with_reproducers(reference):
    res, rep = reference
    assert any(r[8] for r in res), "no violation at all: the campaign tests test little"
    assert rep and all(r[9] for r in rep)  # every reproducer has its scenario file


def test_sigkill_mid_run_then_resume_equals_uninterrupted(tmp_path, reference):
    db = tmp_path / "killed.db"
    total = len(POLICIES) * len(SEEDS)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(os.path.dirname(__file__),
                                                                    "..", "src")]
                                                      + sys.path))
    p = subprocess.Popen(_cli(db, "--workers", "2"), start_new_session=True, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while _count(db) < 12 and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(p.pid, signal.SIGKILL)      # the campaign, its forkserver and its workers
    p.wait()
    assert p.returncode == -signal.SIGKILL, p.stderr.read().decode()
    stored = _count(db)
    assert 12 <= stored < total, f"kill landed at {stored}/{total}: not mid-run"

    r = subprocess.run(_cli(db), env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"{total - stored} run, {stored} already in {db}" in r.stdout
    assert stored_rows(db) == reference

    r = subprocess.run(_cli(db), env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and f"0 run, {total} already" in r.stdout


def stored_rows(db):
    """The result rows of a campaign database, compared without timing columns."""
    con = open_db(db, create=False)
    try:
        return rows(con)
    finally:
        con.close()


def test_local_cluster_equals_process_pool(tmp_path, reference):
    from distributed import LocalCluster
    db = tmp_path / "dask.db"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=50) as cluster:
        r = CliRunner().invoke(main, _cli(db, "--dask", cluster.scheduler_address)[3:])
    assert r.exit_code == 0, r.output
    assert f"{len(POLICIES) * len(SEEDS)} run, 0 already" in r.output
    assert stored_rows(db) == reference
