"""`eofsim mount` / `trace` / `crash` / `check --app-check` on a real FUSE mount."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from eofsim.fuse.cli import drop_log, start_mount
from eofsim.fuse.common import is_mounted, stop_daemon
from eofsim.live import Payload, final_contents, payload_path
from eofsim.scenario_file import load_scenario
from eofsim.sim import simulate

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "examples" / "apps"
SQLITE = ROOT / "src" / "eofsim" / "study" / "workloads" / "sqlite_txn.py"
NO_FUSE = None if os.path.exists("/dev/fuse") and shutil.which("fusermount3") else \
    "needs /dev/fuse and fusermount3 (Debian package fuse3)"
pytestmark = pytest.mark.skipif(NO_FUSE is not None, reason=str(NO_FUSE))


def eofsim(*args, cwd=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "eofsim.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout,
                          env=dict(os.environ, FUSE_LIBRARY_NAME="fuse3"))


class Mount:
    """A daemon of ours at a fresh mount point; always unmounted and removed."""

    def __init__(self, tmp_path, *args, **kw):
        self.mp = tempfile.mkdtemp(prefix="eofsim-test-mnt-")
        self.args, self.kw = args, kw

    def __enter__(self):
        try:
            self.p = start_mount(self.mp, *self.args, **self.kw)
        except BaseException:
            os.rmdir(self.mp)
            raise
        return self

    def __exit__(self, *exc):
        stop_daemon(self.p, self.mp)
        drop_log(self.p)
        os.rmdir(self.mp)


def test_shell_sequence_traced_replays_to_what_the_mount_showed_and_checks(tmp_path):
    trace = tmp_path / "sh.yaml"
    seen = tmp_path / "seen"
    script = ("printf old > f && printf new > f.tmp && mv f.tmp f && truncate -s 10000 f && "
              "printf 'xy' | dd of=f bs=1 seek=4096 conv=notrunc status=none && "
              "mkdir d && printf data > d/g && cat f > {0}/f && cat d/g > {0}/g".format(seen))
    seen.mkdir()
    r = eofsim("trace", "-o", str(trace), "--", "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    sc = load_scenario(str(trace))
    kinds = {op.kind for th in sc.threads for op in th.ops}
    assert {"open", "write", "rename", "truncate", "mkdir", "read", "close"} <= kinds
    res = simulate(sc, "bh-ordered")
    got = final_contents(res.fs, Payload.load(payload_path(trace)))
    assert got["f"] == (seen / "f").read_bytes()
    assert got["d/g"] == (seen / "g").read_bytes() == b"data"
    assert got["f"][:3] == b"new" and len(got["f"]) == 10000 and got["f"][4096:4098] == b"xy"
    # a crash may leave f as before or after the rename, with or without its later data;
    # the app check rejects only what no crash can leave (here: nothing)
    chk = "test ! -e f || { s=$(wc -c < f); test $s = 0 || test $s = 3 || test $s = 10000; }"
    r = eofsim("check", str(trace), "--app-check", chk)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 rejected" in r.stdout
    r = eofsim("check", str(trace), "--app-check", "test -e d/g")
    assert r.returncode == 1 and "REJECTED" in r.stdout     # before the mkdir's commit


@pytest.mark.parametrize("mode,sync", [("delete", "EXTRA"), ("wal", "FULL")])
def test_sqlite_workload_traced_and_app_checked_under_bh_ordered(tmp_path, mode, sync):
    """SQLite's durable settings: rollback journal with synchronous=EXTRA (the directory is
    fsync'd after the journal's unlink), WAL with synchronous=FULL."""
    trace, log = tmp_path / "sq.yaml", tmp_path / "commits.log"
    r = eofsim("trace", "-p", "bh-ordered", "-o", str(trace), "--", sys.executable,
               str(SQLITE), "run", mode, "3", str(log), sync)
    assert r.returncode == 0, r.stderr
    assert len(log.read_text().splitlines()) == 3
    sc = load_scenario(str(trace))
    kinds = {op.kind for th in sc.threads for op in th.ops}
    assert "fsync" in kinds or "fdatasync" in kinds
    if mode == "delete":
        assert "unlink" in kinds               # the rollback journal is deleted per commit
    chk = f"{sys.executable} {SQLITE} check {log}"
    r = eofsim("check", str(trace), "-p", "bh-ordered", "--app-check", chk, "--json")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    import json
    app = json.loads(r.stdout)["app_check"]
    assert app["trees"] >= 2 and not app["rejected"]


def test_sqlite_rollback_journal_with_synchronous_full_can_lose_the_last_commit(tmp_path):
    """A finding the app check makes: in DELETE journal mode the commit point is the
    journal's unlink, and with synchronous=FULL SQLite does not fsync the directory after
    it (only EXTRA does), so the unlink can sit in jbd2's running transaction when the
    power goes: the hot journal comes back and SQLite rolls the committed transaction back."""
    trace, log = tmp_path / "sq.yaml", tmp_path / "commits.log"
    r = eofsim("trace", "-o", str(trace), "--", sys.executable, str(SQLITE), "run",
               "delete", "2", str(log), "FULL")
    assert r.returncode == 0, r.stderr
    r = eofsim("check", str(trace), "--app-check", f"{sys.executable} {SQLITE} check {log}")
    assert r.returncode == 1
    assert "transactions committed before the crash" in r.stdout
    assert "minimal counterexample" in r.stdout and "t.db-journal: size" in r.stdout


def test_a_program_killed_inside_the_mount_leaves_its_trace(tmp_path):
    trace = tmp_path / "k.yaml"
    r = eofsim("trace", "-o", str(trace), "--", "sh", "-c", "printf abc > f; kill -9 $$")
    assert r.returncode != 0
    ops = [op.text().split(" ", 1)[1] for th in load_scenario(str(trace)).threads for op in th.ops]
    assert "write f 0 3" in ops


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_ctrl_c_unmount_and_write_the_trace(tmp_path, sig):
    """Also with Python's own handlers installed (the CLI's SIGTERM, KeyboardInterrupt):
    the mount hands the signals to libfuse's handlers, which end the loop at once."""
    trace = tmp_path / "t.yaml"
    m = Mount(tmp_path, trace=trace)
    with m:
        with open(os.path.join(m.mp, "f"), "wb") as f:
            f.write(b"hello")
            f.flush()
            os.fsync(f.fileno())
        m.p.send_signal(sig)
        assert m.p.wait(timeout=10) == 0
        assert not is_mounted(m.mp)
    sc = load_scenario(str(trace))
    assert [op.text().split(" ", 1)[1] for op in sc.threads[0].ops][:3] == \
        ["open f creat trunc", "write f 0 5", "fsync f"]


def test_crash_on_demand_ends_the_trace_and_makes_the_mount_read_only(tmp_path):
    trace = tmp_path / "c.yaml"
    with Mount(tmp_path, trace=trace) as m:
        p = os.path.join(m.mp, "f")
        with open(p, "wb") as f:
            f.write(b"x" * 5000)
        r = eofsim("crash", m.mp)
        assert r.returncode == 0, r.stderr
        with pytest.raises(OSError) as e:
            with open(p, "ab") as f:
                f.write(b"y")
        assert e.value.errno == 30          # EROFS
    sc = load_scenario(str(trace))
    res = simulate(sc, "bh-ordered")
    assert res.until_ns is not None
    assert res.end_ns == res.until_ns and not res.commits   # within 5 s: nothing committed
    r = eofsim("check", str(trace), "--app-check", "test ! -s f")
    assert r.returncode == 0, r.stdout


def test_bad_mount_points_are_one_line_and_exit_2(tmp_path):
    r = eofsim("mount", str(tmp_path / "missing"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "does not exist" in r.stderr
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    r = eofsim("mount", str(tmp_path / "full"))
    assert r.returncode == 2 and "not empty" in r.stderr and r.stderr.count("\n") == 1
    with Mount(tmp_path) as m:
        r = eofsim("mount", m.mp)
        assert r.returncode == 2 and "already mounted" in r.stderr
    r = eofsim("crash", str(tmp_path))
    assert r.returncode == 2 and "not an eofsim mount" in r.stderr
    r = eofsim("trace", "-p", "no-such-design", "-o", str(tmp_path / "t.yaml"), "--", "true")
    assert r.returncode == 2 and r.stderr.count("\n") == 1


def test_reads_through_the_mount_are_the_models_bytes_even_for_mmap(tmp_path):
    import mmap
    with Mount(tmp_path, trace=tmp_path / "m.yaml") as m:
        p = os.path.join(m.mp, "f")
        fd = os.open(p, os.O_CREAT | os.O_RDWR)
        os.pwrite(fd, b"a" * 100, 0)
        os.ftruncate(fd, 8192)
        mm = mmap.mmap(fd, 8192)
        mm[4096:4100] = b"MMAP"
        mm.flush()
        mm.close()
        os.fsync(fd)
        os.close(fd)
        fd = os.open(p, os.O_RDWR)
        os.posix_fallocate(fd, 0, 12000)
        os.close(fd)
        with open(p, "rb") as f:
            data = f.read()
    assert data[:100] == b"a" * 100 and data[4096:4100] == b"MMAP" and len(data) == 12000
    sc = load_scenario(str(tmp_path / "m.yaml"))
    res = simulate(sc, "bh-ordered")
    assert final_contents(res.fs, Payload.load(payload_path(tmp_path / "m.yaml")))["f"] == data


@pytest.mark.parametrize("policy", ["bh-ordered", "iomap-v4"])
def test_replace_via_rename_with_fsync_is_old_or_new_in_every_crash_state(tmp_path, policy):
    """The pattern POSIX programs rely on (write tmp, fsync it, rename over, fsync the
    directory): the app check finds f holding all of the old or all of the new content in
    every crash state, absent only before anything was durable."""
    trace = tmp_path / "rep.yaml"
    r = eofsim("trace", "-p", policy, "-o", str(trace), "--", sys.executable,
               str(APPS / "replace_workload.py"), "fsync")
    assert r.returncode == 0, r.stderr
    r = eofsim("check", str(trace), "-p", policy, "--app-check",
               f"{sys.executable} {APPS / 'replace_check.py'}", "--json")
    import json
    app = json.loads(r.stdout)["app_check"]
    assert app["trees"] >= 3 and app["rejected"] == [], app
    # without the fsync of f.tmp and without auto_da_alloc (ext4_alloc_da_blocks before the
    # rename), the 2009 zero-length file comes back and the same checker rejects it
    r = eofsim("trace", "-p", policy, "-o", str(trace), "--", sys.executable,
               str(APPS / "replace_workload.py"))
    r = eofsim("check", str(trace), "-p", policy, "--set", "auto_da_alloc=false", "--app-check",
               f"{sys.executable} {APPS / 'replace_check.py'}")
    assert r.returncode == 1 and "f is zero-length" in r.stdout


def test_from_dir_starts_with_its_files_and_their_bytes(tmp_path):
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "a").write_bytes(b"A" * 5000)
    (src / "d" / "b").write_bytes(b"hello")
    trace, seen = tmp_path / "f.yaml", tmp_path / "seen"
    r = eofsim("trace", "--from", str(src), "-o", str(trace), "--", "sh", "-c",
               f"cat a > {seen}; cat d/b >> {seen}; printf X | dd of=a bs=1 seek=10 conv=notrunc status=none")
    assert r.returncode == 0, r.stderr
    assert seen.read_bytes() == b"A" * 5000 + b"hello"
    sc = load_scenario(str(trace))
    assert [(f.name, f.size) for f in sc.files] == [("a", 5000), ("d/b", 5)]
    res = simulate(sc, "bh-ordered")
    got = final_contents(res.fs, Payload.load(payload_path(trace)))
    assert got == {"a": b"A" * 10 + b"X" + b"A" * 4989, "d/b": b"hello"}
    # every crash state holds the initial bytes or the new one: never the model's pattern
    chk = "test $(tr -d 'AX' < a | wc -c) = 0 && test \"$(cat d/b)\" = hello"
    r = eofsim("check", str(trace), "--app-check", chk)
    assert r.returncode == 0, r.stdout
    r = eofsim("mount", str(tmp_path / "mp"), "--from", str(tmp_path / "nope"))
    assert r.returncode == 2


def test_a_file_held_open_at_unmount_still_leaves_nothing_mounted(tmp_path):
    """fusermount3 -u fails on a busy mount; the daemon is stopped and the mount detached
    lazily (found when an fd leaked: a dead FUSE mount answers lstat with ENOTCONN, so
    os.path.ismount cannot tell it is still there)."""
    trace = tmp_path / "busy.yaml"
    m = Mount(tmp_path, trace=trace)
    with m:
        fd = os.open(os.path.join(m.mp, "f"), os.O_CREAT | os.O_RDWR)
        os.write(fd, b"held")
        mp = m.mp
    try:
        assert not is_mounted(mp)
        assert "write f 0 4" in trace.read_text()
    finally:
        try:
            os.close(fd)            # the flush of a detached mount: ENOTCONN
        except OSError:
            pass


def test_a_model_error_inside_a_request_is_eio_through_the_mount_and_serving_goes_on(tmp_path):
    """The requests that go from the ctypes callback straight to ModelOps (write, read,
    truncate, fsync) still answer a model bug with EIO, log it, and keep serving."""
    from eofsim.fuse.common import daemon_env, wait_mounted
    daemon = tmp_path / "buggy.py"
    log = tmp_path / "buggy.log"
    daemon.write_text(
        "import sys\n"
        "from eofsim.fuse.modelfs import serve\n"
        "from eofsim.live import LiveModel\n"
        "m = LiveModel('bh-ordered')\n"
        "real = m.fs.write\n"
        "def write(inode, off, length, op):\n"
        "    if off == 666:\n"
        "        raise ZeroDivisionError('injected model bug')\n"
        "    return (yield from real(inode, off, length, op))\n"
        "m.fs.write = write\n"
        "serve(sys.argv[1], m, log=open(sys.argv[2], 'a'))\n")
    mp = tempfile.mkdtemp(prefix="eofsim-test-mnt-")
    err = tmp_path / "daemon.err"
    with open(err, "wb") as e:
        p = subprocess.Popen([sys.executable, str(daemon), mp, str(log)], stdout=e, stderr=e,
                             stdin=subprocess.DEVNULL, env=daemon_env(), start_new_session=True)
    try:
        wait_mounted(p, mp, str(err), 20)
        fd = os.open(os.path.join(mp, "f"), os.O_CREAT | os.O_RDWR)
        try:
            assert os.pwrite(fd, b"a" * 10, 0) == 10
            with pytest.raises(OSError) as e:
                os.pwrite(fd, b"b", 666)
            assert e.value.errno == 5                    # EIO
            assert os.pwrite(fd, b"c" * 4, 700) == 4      # the daemon serves on
            os.ftruncate(fd, 702)
            os.fsync(fd)
            fd2 = os.open(os.path.join(mp, "f"), os.O_RDONLY | os.O_DIRECT)
            try:
                assert os.pread(fd2, 4096, 0) == b"a" * 10 + bytes(690) + b"cc"
            finally:
                os.close(fd2)
        finally:
            os.close(fd)
    finally:
        stop_daemon(p, mp)
        os.rmdir(mp)
    text = log.read_text()
    assert "EIO: write f 666 1: ZeroDivisionError: injected model bug" in text
