"""What every FUSE daemon of eofsim shares (kernel/fuselog's logging passthrough and the
model mount): loading mfusepy on libfuse3, the checks before mounting, waiting for a
daemon's mount and stopping it.

Facts relied on (/work/shared/reference/machine-notes.md): mfusepy loads libfuse2 unless
FUSE_LIBRARY_NAME=fuse3; it registers every attribute whose name is a FUSE operation, so
daemon state lives under other names; one thread and no writeback cache keep requests in
order, one per syscall.
"""

import os
import shutil
import signal
import subprocess
import time

from ..errors import InputError


def load_mfusepy():
    """The mfusepy module bound to libfuse3."""
    os.environ.setdefault("FUSE_LIBRARY_NAME", "fuse3")
    import mfusepy
    return mfusepy


def tune_gc_for_serving():
    """Collector settings for a daemon that serves requests until unmounted (the model mount
    and bench/'s trivial filesystem alike): the cyclic collector is off, as simulate keeps
    it off for a run. The model keeps a record of every request (the trace, the device's
    I/O log), so each collection re-scanned a heap that only grows: 9-12 us of a small
    write at the default thresholds, 48 us of a write+fsync pair with the young
    generation collected every 100,000 allocations (bench/bench_mount.py, gc.callbacks).
    Reference counting frees everything a request drops: requests leave no cyclic
    garbage (tests/test_live.py checks every op class), so nothing accumulates.
    What exists once mounted is frozen first, out of reach of any explicit collection."""
    import gc
    gc.collect()
    gc.freeze()
    gc.disable()


def daemon_env():
    return dict(os.environ, FUSE_LIBRARY_NAME="fuse3")


def check_mountpoint(path):
    """Refuse, as one InputError, what FUSE cannot mount on: a missing path, a non-directory,
    a directory that is not empty or is already a mount point; and a machine without
    /dev/fuse or fusermount3."""
    p = str(path)
    if not os.path.exists(p):
        raise InputError("mount point does not exist", p)
    if not os.path.isdir(p):
        raise InputError("mount point is not a directory", p)
    if os.path.ismount(p):
        raise InputError("mount point is already mounted", p)
    try:
        if os.listdir(p):
            raise InputError("mount point is not empty", p)
    except PermissionError:
        raise InputError("mount point is not readable", p) from None
    if not os.path.exists("/dev/fuse"):
        raise InputError("no /dev/fuse on this machine (load the fuse module or run with --device /dev/fuse)")
    if shutil.which("fusermount3") is None:
        raise InputError("fusermount3 not found (install the Debian package fuse3)")
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        raise InputError("/dev/fuse is not readable and writable by this user (run as root or join group fuse)")


def wait_mounted(p, mountpoint, errpath, timeout=10.0, what="FUSE daemon"):
    """Wait until the daemon `p` (a Popen) has mounted `mountpoint`; RuntimeError naming
    the daemon's last stderr if it exits or times out first."""
    deadline = time.monotonic() + timeout
    while not os.path.ismount(mountpoint):
        if p.poll() is not None or time.monotonic() > deadline:
            with open(errpath, "rb") as f:
                msg = f.read().decode(errors="replace").strip()[-500:]
            raise RuntimeError(f"{what} did not mount {mountpoint}: {msg or p.returncode}")
        time.sleep(0.01)


def is_mounted(mountpoint):
    """Whether the kernel's mount table has `mountpoint`. Not os.path.ismount: a FUSE mount
    whose daemon is gone answers lstat with ENOTCONN, and ismount then says False while the
    mount is still there."""
    target = os.path.realpath(mountpoint)
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 1 and _unescape(fields[1]) == target:
                    return True
    except OSError:
        return os.path.ismount(mountpoint)
    return False


def _unescape(field):
    # /proc/self/mounts writes space, tab, newline and backslash as octal escapes
    for code, ch in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, ch)
    return field


def unmount(mountpoint, lazy=False):
    """fusermount3 -u (the daemon's loop then ends); returns True if nothing is mounted there."""
    if is_mounted(mountpoint):
        subprocess.run(["fusermount3", "-u"] + (["-z"] if lazy else []) + [mountpoint],
                       capture_output=True)
    return not is_mounted(mountpoint)


def stop_daemon(p, mountpoint, timeout=5.0):
    """Unmount (libfuse then exits its loop), then make sure our pid is gone: SIGTERM and
    SIGKILL only if it does not exit by itself. Lazy unmount as a last resort."""
    unmount(mountpoint)
    for sig in (None, signal.SIGTERM, signal.SIGKILL):
        if sig is not None and p.poll() is None:
            p.send_signal(sig)
        try:
            p.wait(timeout=timeout)
            break
        except subprocess.TimeoutExpired:
            continue
    if is_mounted(mountpoint):
        unmount(mountpoint, lazy=True)


def statfs_answer(bsize=4096):
    return dict(f_bsize=bsize, f_frsize=bsize, f_blocks=1 << 20, f_bfree=1 << 19,
                f_bavail=1 << 19, f_files=1 << 16, f_ffree=1 << 15, f_namemax=255)
