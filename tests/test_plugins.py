"""Designs as plug-ins (issue 9): a design file outside the package, a module, an entry
point; errors; campaigns on a process pool and on Dask; the public contract's layering."""

import ast
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from eofsim.cli import main
from eofsim.params import Tunables

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "src" / "eofsim"
EXAMPLE = ROOT / "examples" / "plugins" / "defer_sync_grow.py"
EOFSIM = [sys.executable, "-m", "eofsim.cli"]


@pytest.fixture
def plugin(tmp_path):
    """The tutorial's plug-in, copied outside the repository."""
    d = tmp_path / "outside"
    d.mkdir()
    shutil.copy(EXAMPLE, d / "defer_sync_grow.py")
    return f"{d / 'defer_sync_grow.py'}:DeferSyncGrow"


def cli(*args):
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.output


def durable_after(spec, scenario):
    import json
    code, out = cli("run", scenario, "-p", spec, "--json")
    assert code == 0, out
    op = json.loads(out)["ops"][0]
    return op["size_durable_ns"] - op["start_ns"]


def test_plugin_design_changes_what_it_says(plugin):
    """Truncate up and fallocate write and wait the pending block: their size rides the next
    commit, where the deferred design it builds on waits for the dirty expiry."""
    t = Tunables()
    for sc in ("truncate-up", "append-fallocate"):
        assert durable_after(plugin, sc) < t.commit_interval_ns + t.dirty_writeback_ns
        assert durable_after("iomap-deferred", sc) > t.dirty_expire_ns


@pytest.mark.parametrize("scenario", ["sentinel-truncate-up", "sentinel-fallocate", "sentinel-append",
                                      "sync-file-range-past-eof"])
def test_plugin_runs_under_check(plugin, scenario):
    code, out = cli("check", scenario, "-p", plugin)
    assert code == 0 and "no violation" in out, out


def test_plugin_runs_under_compare_and_policies(plugin):
    code, out = cli("compare", "--scenarios", "truncate-up", "--policies", f"bh-ordered,{plugin}",
                    "--threads", "1")
    assert code == 0, out
    code, out = cli("policies", plugin)
    assert code == 0 and "defer-sync-grow" in out and str(Path(plugin.split(":")[0])) in out


def test_plugin_campaign_on_a_process_pool_and_resume_refused_when_changed(plugin, tmp_path):
    db = tmp_path / "c.db"
    args = ["campaign", "--policies", f"iomap-deferred,{plugin}", "--seeds", "0..3", "--ops", "20",
            "--workers", "2", "--db", str(db)]
    r = subprocess.run(EOFSIM + args, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "8 run, 0 already" in r.stdout
    path = Path(plugin.split(":")[0])
    path.write_text(path.read_text() + "\n# changed\n")
    r = subprocess.run(EOFSIM + args, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "changed" in r.stderr


def test_plugin_campaign_on_dask(plugin, tmp_path):
    from distributed import LocalCluster
    db = tmp_path / "d.db"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=50) as cluster:
        code, out = cli("campaign", "--policies", plugin, "--seeds", "0..3", "--ops", "20",
                        "--db", str(db), "--dask", cluster.scheduler_address)
    assert code == 0, out
    assert "4 run, 0 already" in out


def test_workers_resolve_a_plugin_from_its_source_alone(tmp_path):
    """What a campaign hands a worker is the source text: the file need not exist there."""
    from eofsim import policies
    spec = f"{tmp_path / 'gone.py'}:DeferSyncGrow"
    policies.install_sources({spec: EXAMPLE.read_text()})
    assert policies.get_policy(spec).name == "defer-sync-grow"


def test_module_and_entry_point_plugins(tmp_path):
    pkg = tmp_path / "mydesigns"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    shutil.copy(EXAMPLE, pkg / "defer.py")
    dist = tmp_path / "mydesigns-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mydesigns\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[eofsim.policies]\nmy-defer = mydesigns.defer:DeferSyncGrow\n")
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    r = subprocess.run(EOFSIM + ["policies"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0 and "my-defer" in r.stdout and "entry point mydesigns.defer:DeferSyncGrow" in r.stdout
    for spec in ("my-defer", "mydesigns.defer:DeferSyncGrow"):
        r = subprocess.run(EOFSIM + ["check", "sentinel-truncate-up", "-p", spec], capture_output=True,
                           text=True, env=env, timeout=120)
        assert r.returncode == 0 and "no violation" in r.stdout, r.stdout + r.stderr


@pytest.mark.parametrize("body,cls,needle", [
    (None, "DeferSyncGrow", "no such file"),
    ("x = 1\n", "DeferSyncGrow", "has no class"),
    ("class DeferSyncGrow:\n    pass\n", "DeferSyncGrow", "does not subclass"),
    ("def broken(:\n", "DeferSyncGrow", "SyntaxError"),
    ("import no_such_module_anywhere\n", "DeferSyncGrow", "ModuleNotFoundError"),
])
def test_bad_plugins_are_one_line_exit_2(tmp_path, body, cls, needle):
    f = tmp_path / "p.py"
    if body is not None:
        f.write_text(body)
    r = subprocess.run(EOFSIM + ["check", "truncate-up", "-p", f"{f}:{cls}"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and str(f) in lines[0], r.stderr


# --- the contract's layering -------------------------------------------------------------------

def _py(d):
    return sorted(p for p in d.rglob("*.py") if "__pycache__" not in p.parts)


def test_policies_read_no_private_name_of_another_module():
    for f in _py(PKG / "policies"):
        if f.name == "context.py":
            continue
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") \
                    and not node.attr.startswith("__"):
                pytest.fail(f"{f.name}:{node.lineno} reads {node.attr}")
            if isinstance(node, ast.ImportFrom):
                for a in node.names:
                    assert not a.name.startswith("_"), f"{f.name}:{node.lineno} imports {a.name}"


CORE = ("engine.py", "block.py", "content.py", "jbd2.py", "sim.py", "mm", "fs", "ext4", "iomap",
        "policies")
ON_TOP = ("crash", "workload", "report", "kernel", "cli")


def test_core_never_reaches_into_the_layers_on_top():
    for entry in CORE:
        p = PKG / entry
        for f in ([p] if p.is_file() else _py(p)):
            for node in ast.walk(ast.parse(f.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module:
                    top = node.module.split(".")[0]
                    assert top not in ON_TOP, f"{f.relative_to(PKG)}:{node.lineno} imports {node.module}"


def test_no_design_branches_in_the_core():
    for entry in ("mm", "fs", "ext4", "iomap"):
        for f in _py(PKG / entry):
            text = f.read_text()
            assert "policy.path" not in text and "policy.name" not in text, f


def test_ranged_fsync_finds_the_pending_block():
    """ext4_sync_file over a range that misses the pending EOF block still writes it
    (PendingEofBlock.before_fsync), so the size it commits is the file's."""
    from eofsim import sim
    from eofsim.scenario import FileSpec, Scenario, ThreadSpec
    from eofsim.ops import parse_op

    # An RWF_DSYNC write: generic_write_sync -> vfs_fsync_range over [8192, 12287] only.
    ops = tuple(parse_op(t) for t in ("@1s truncate f 16k", "@3s write f 8192 4096 dsync"))
    sc = Scenario(name="ranged", files=(FileSpec("f", size=1000),), threads=(ThreadSpec("t", ops),))
    for pol in ("iomap-pending", "iomap-deferred"):
        r = sim.simulate(sc, pol, {"horizon_ns": "1s"})
        sync = r.ops[1]
        committed = [raw.size for tid, _, t in r.commits if t <= sync.end_ns
                     for raw in r.fs.journal.tx_by_tid[tid].raw.values()]
        assert committed and committed[-1] == 16384, (pol, committed)


def test_xfs_setattr_flush_follows_this_calls_zeroing_only():
    """xfs_setattr_size writes and waits when *its* zeroing did something (did_zeroing), or
    the on-disk size lags; an earlier extending write's zeroing does not leak into it."""
    from eofsim.ops import parse_op
    from eofsim.scenario import FileSpec, Scenario, ThreadSpec
    from eofsim.sim import simulate

    def calls(texts):
        ops = tuple(parse_op(t) for t in texts)
        sc = Scenario(name="x", files=(FileSpec("f", size=1000),), threads=(ThreadSpec("t", ops),))
        return simulate(sc, "xfs", {"horizon_ns": "1s"}).fs.writeback_calls.get("xfs setattr", 0)

    assert calls(["write f 8192 4096", "fsync f", "truncate f 32k"]) == 0
    assert calls(["truncate f 32k"]) == 1
    assert calls(["write f 8192 100", "fsync f", "truncate f 32k"]) == 1

