"""The mount commands: `eofsim mount`, `eofsim trace`, `eofsim crash` (registered by cli.py)."""

import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click

from ..errors import InputError

MOUNT_HELP = """Serve the files of a live model at MOUNTPOINT (an empty directory) under
POLICY, until unmounted (fusermount3 -u MOUNTPOINT), Ctrl-C or SIGTERM; then write the
trace (--trace) and leave nothing mounted.

\b
Each request becomes a model op of the calling thread at virtual time
  V_prev_end + K * (wall time since the previous request ended)   (K = --time-scale)
with flusher, jbd2 commits and end-I/O running in between; reads return the model's bytes.

\b
Passed on: create/open (O_CREAT, O_EXCL, O_TRUNC), close, read, write, truncate,
fallocate (0, keep_size, punch_hole, zero_range, zero_range|keep_size), fsync/fdatasync
of files and directories (msync arrives as fsync), unlink (open files too), rename
(over an existing file too), mkdir, stat, readdir, mmap through FUSE's page cache (its
write-back arrives as writes).
Not passed on by FUSE: sync_file_range, sync(2)/syncfs, O_DIRECT semantics, the range
of O_SYNC/O_DSYNC writes (they arrive as write + whole-file fsync), per-store mmap timing.
Not modelled (EPERM): rmdir, hard links, symlinks.

\b
Crash on demand: `eofsim crash MOUNTPOINT` (or writing to MOUNTPOINT/.eofsim-crash) stops
the model there: the trace ends with `until:` and the mount turns read-only
(writes EROFS; data reads EIO: the machine is off; stat and readdir still answer).
"""


def _tracepath(path):
    p = Path(path)
    if p.suffix in (".data",):
        raise InputError("the trace must not end in .data (its payload goes there)", str(p))
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise InputError("directory of the trace does not exist", str(p))
    if not os.access(parent, os.W_OK):
        raise InputError("directory of the trace is not writable", str(p))
    return p.resolve()


MAX_FROM_BYTES = 256 << 20


def read_initial(directory):
    """--from DIR: path -> bytes of every regular file under DIR (the files that exist,
    committed and clean, before the first request). Symlinks, special files and empty
    directories are refused or skipped with the reason."""
    if directory is None:
        return {}
    root = Path(directory)
    if not root.is_dir():
        raise InputError("--from: not a directory", str(directory))
    out, total = {}, 0
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            raise InputError("--from: symbolic links are not modelled", str(path))
        if path.is_dir():
            continue
        if not path.is_file():
            raise InputError("--from: not a regular file", str(path))
        if any(c.isspace() or ord(c) < 32 for c in rel) or rel.startswith("@"):
            raise InputError("--from: a name the scenario text cannot hold", str(path))
        try:
            data = path.read_bytes()
        except OSError as e:
            raise InputError(f"--from: cannot read: {e.strerror}", str(path)) from None
        total += len(data)
        if total > MAX_FROM_BYTES:
            raise InputError(f"--from: more than {MAX_FROM_BYTES >> 20} MiB of files", str(directory))
        out[rel] = data
    return out


def _model(policy, sets, time_scale, initial_dir=None):
    from ..live import LiveModel
    from ..params import parse_set
    return LiveModel(policy, parse_set(sets), time_scale=time_scale,
                     initial=read_initial(initial_dir))


@click.command("mount", help=MOUNT_HELP)
@click.argument("mountpoint")
@click.option("--policy", "-p", default="bh-ordered", show_default=True, help="Design to run.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a tunable.")
@click.option("--trace", "trace_out", default=None, metavar="OUT.yaml",
              help="Write the requests as a scenario here (and their bytes to OUT.data).")
@click.option("--time-scale", type=float, default=1.0, show_default=True, metavar="K",
              help="Virtual seconds per wall-clock second between requests.")
@click.option("--log", "logfile", default=None, metavar="FILE", help="Log here instead of stderr.")
@click.option("--from", "from_dir", default=None, metavar="DIR",
              help="Start with DIR's files (copied in, committed and clean; the trace's files:).")
def mount(mountpoint, policy, sets, trace_out, time_scale, logfile, from_dir):
    from .common import check_mountpoint
    from .modelfs import serve
    check_mountpoint(mountpoint)
    trace = _tracepath(trace_out) if trace_out else None
    model = _model(policy, sets, time_scale, from_dir)
    log = open(logfile, "a") if logfile else None
    try:
        ops = serve(mountpoint, model, trace_path=trace, log=log)
    finally:
        if log:
            log.close()
    msg = f"eofsim mount: unmounted; {len(model.records)} requests"
    if ops.errors:
        msg += f", {ops.errors} answered EIO (see the log)"
    if trace:
        msg += f"; trace {trace}"
    click.echo(msg, err=True)


def start_mount(mountpoint, policy="bh-ordered", sets=(), trace=None, time_scale=1.0, log=None,
                timeout=20.0, from_dir=None):
    """`eofsim mount` as a subprocess in its own session; returns the Popen once mounted."""
    from .common import daemon_env, wait_mounted
    cmd = [sys.executable, "-m", "eofsim.cli", "mount", str(mountpoint), "-p", policy,
           "--time-scale", repr(float(time_scale))]
    for s in sets:
        cmd += ["--set", s]
    if trace:
        cmd += ["--trace", str(trace)]
    if from_dir:
        cmd += ["--from", str(from_dir)]
    errpath = log or os.path.join(tempfile.gettempdir(), f"eofsim-mount-{os.getpid()}-{time.time_ns()}.log")
    with open(errpath, "ab") as err:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                             env=daemon_env(), start_new_session=True)
    p.errpath = errpath
    p.own_log = log is None
    try:
        wait_mounted(p, str(mountpoint), errpath, timeout, what="eofsim mount")
    except BaseException:
        from .common import stop_daemon
        stop_daemon(p, str(mountpoint))
        drop_log(p)
        raise
    return p


def drop_log(p):
    """Remove the daemon log start_mount made (not one the caller named)."""
    if getattr(p, "own_log", False):
        try:
            os.unlink(p.errpath)
        except OSError:
            pass


def run_traced(cmd, out, policy="bh-ordered", sets=(), time_scale=1.0, timeout=None,
               from_dir=None):
    """Run CMD (a list) in a fresh temporary mount of the model with that directory as its
    working directory, unmount, and return (CMD's exit status, trace path). The API behind
    `eofsim trace` (for studies that trace workloads). Raises InputError on bad input or a
    mount that fails."""
    from ..policies import get_policy
    from .common import check_mountpoint, stop_daemon
    get_policy(policy)        # bad input before anything is mounted
    _model(policy, sets, time_scale, from_dir)
    outp = _tracepath(out)
    mp = tempfile.mkdtemp(prefix="eofsim-trace-")
    p = None
    rc = 127
    try:
        check_mountpoint(mp)
        p = start_mount(mp, policy, sets, outp, time_scale, from_dir=from_dir)
        try:
            rc = subprocess.call(list(cmd), cwd=mp, timeout=timeout)
        except OSError as e:
            click.echo(f"eofsim trace: cannot run {shlex.join(cmd)}: {e.strerror}", err=True)
            rc = 127
        except subprocess.TimeoutExpired:
            click.echo(f"eofsim trace: {shlex.join(cmd)} timed out after {timeout} s", err=True)
            rc = 124
    except RuntimeError as e:
        raise InputError(str(e)) from None
    finally:
        if p is not None:
            stop_daemon(p, mp, timeout=30)
        try:
            os.rmdir(mp)
        except OSError:
            pass
    if p is not None:
        if p.returncode not in (0, None):
            with open(p.errpath, errors="replace") as f:
                click.echo(f.read().rstrip(), err=True)
        drop_log(p)
    if not outp.exists():
        raise InputError("the mount wrote no trace", str(outp))
    return rc, outp


@click.command("trace", context_settings={"ignore_unknown_options": True})
@click.option("--policy", "-p", default="bh-ordered", show_default=True, help="Design to run.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a tunable.")
@click.option("--out", "-o", "out", required=True, metavar="OUT.yaml", help="The trace to write.")
@click.option("--time-scale", type=float, default=1.0, show_default=True, metavar="K",
              help="Virtual seconds per wall-clock second between requests.")
@click.option("--from", "from_dir", default=None, metavar="DIR",
              help="Start with DIR's files (copied in, committed and clean; the trace's files:).")
@click.argument("cmd", nargs=-1, type=click.UNPROCESSED, required=True)
def trace(policy, sets, out, time_scale, from_dir, cmd):
    """Run CMD (after --) in a fresh temporary mount of the model, unmount, write the trace.
    Exits with CMD's status."""
    rc, outp = run_traced(cmd, out, policy, sets, time_scale, from_dir=from_dir)
    click.echo(f"eofsim trace: {shlex.join(cmd)} exited {rc}; trace {outp}", err=True)
    sys.exit(rc if 0 <= rc < 256 else 1)


@click.command("crash")
@click.argument("mountpoint")
def crash(mountpoint):
    """Crash the model mounted at MOUNTPOINT now: the trace gets `until:` this instant and
    the mount turns read-only."""
    from .modelfs import CONTROL
    ctl = os.path.join(mountpoint, CONTROL.lstrip("/"))
    if not os.path.ismount(mountpoint) or not os.path.exists(ctl):
        raise InputError("not an eofsim mount", mountpoint)
    try:
        with open(ctl, "w") as f:
            f.write("crash\n")
    except OSError as e:
        raise InputError(f"cannot crash: {e.strerror}", mountpoint) from None
    click.echo(f"eofsim crash: {mountpoint} stopped; read-only from now", err=True)
