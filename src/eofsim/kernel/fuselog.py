"""A FUSE passthrough filesystem serving one image file and logging every change, in order.

dm-log-writes does not exist on this machine, so a loop device is put on a file this daemon
serves. Kernel behaviours relied on:
  * loop turns each block write into a write(2)/direct write on the backing file, REQ_OP_FLUSH
    (and the post-flush that emulates FUA: loop has a volatile write cache and no FUA) into
    vfs_fsync, REQ_OP_DISCARD into fallocate(PUNCH_HOLE), REQ_OP_WRITE_ZEROES into
    fallocate(ZERO_RANGE or PUNCH_HOLE);
  * FUSE without writeback cache is write-through: a WRITE reaches the daemon before the
    loop's bio completes, so a write logged before a flush completed before it;
  * one daemon thread (-s) serves requests one at a time, so the log order is the order the
    requests were answered.
The harness writes text to /marker (op i start / end); it is logged in the same sequence, so
the log can be cut at op boundaries.

Log format (append-only file): records of HDR = kind(1) off(u64) len(u64) t(f64 monotonic)
followed by `len` payload bytes for kinds W (write) and M (marker).
Kinds: W write, F flush (fsync/fdatasync), D discard (punch hole), Z zero range,
A other fallocate (no content change), T truncate, M marker.

Run as:  python -m eofsim.kernel.fuselog BACKING MOUNTPOINT LOGFILE
"""

import errno
import os
import stat
import struct
import sys
import time

from ..fuse.common import daemon_env, load_mfusepy, statfs_answer, stop_daemon, wait_mounted

HDR = struct.Struct("<cQQd")
IMAGE, MARKER = "/disk.img", "/marker"


def read_log(path):
    """[(kind, off, len, t, payload-or-None)] from a log file."""
    out = []
    with open(path, "rb") as f:
        buf = f.read()
    i = 0
    while i + HDR.size <= len(buf):
        k, off, n, t = HDR.unpack_from(buf, i)
        i += HDR.size
        kind = k.decode()
        payload = None
        if kind in "WM":
            payload = buf[i:i + n]
            i += n
        out.append((kind, off, n, t, payload))
    return out


def serve(backing, mountpoint, logpath):
    mfusepy = load_mfusepy()
    from .sysutil import FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE, fallocate

    class LogFS(mfusepy.Operations):
        # Field names must not collide with FUSE operation names (mfusepy registers them).
        use_ns = True

        def __init__(self):
            self.bfd = os.open(backing, os.O_RDWR)
            self.logfd = os.open(logpath, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

        def _log(self, kind, off, n, payload=b""):
            os.write(self.logfd, HDR.pack(kind, off, n, time.monotonic()) + payload)

        def getattr(self, path, fh=None):
            now = int(time.time() * 1e9)
            base = dict(st_uid=0, st_gid=0, st_atime=now, st_mtime=now, st_ctime=now)
            if path == "/":
                return dict(base, st_mode=stat.S_IFDIR | 0o755, st_nlink=2)
            if path == IMAGE:
                return dict(base, st_mode=stat.S_IFREG | 0o600, st_nlink=1,
                            st_size=os.fstat(self.bfd).st_size)
            if path == MARKER:
                return dict(base, st_mode=stat.S_IFREG | 0o600, st_nlink=1, st_size=0)
            raise mfusepy.FuseOSError(errno.ENOENT)

        def readdir(self, path, fh):
            return [".", "..", IMAGE[1:], MARKER[1:]]

        def open(self, path, flags):
            if path not in (IMAGE, MARKER):
                raise mfusepy.FuseOSError(errno.ENOENT)
            return 0

        def read(self, path, size, offset, fh):
            return os.pread(self.bfd, size, offset) if path == IMAGE else b""

        def write(self, path, data, offset, fh):
            if path == MARKER:
                self._log(b"M", 0, len(data), data)
            else:
                os.pwrite(self.bfd, data, offset)
                self._log(b"W", offset, len(data), data)
            return len(data)

        def fsync(self, path, datasync, fh):
            # The backing file lives on tmpfs: durability is the log's business, not ours.
            if path == IMAGE:
                self._log(b"F", 0, 0)
            return 0

        def flush(self, path, fh):   # close(2) of a FUSE file, not a device flush
            return 0

        def release(self, path, fh):
            return 0

        def truncate(self, path, length, fh=None):
            if path == IMAGE:
                os.ftruncate(self.bfd, length)
                self._log(b"T", length, 0)
            return 0

        def fallocate(self, path, mode, offset, size, fh):
            try:
                fallocate(self.bfd, mode, offset, size)
            except OSError as e:
                raise mfusepy.FuseOSError(e.errno)
            kind = b"D" if mode & FALLOC_FL_PUNCH_HOLE else b"Z" if mode & FALLOC_FL_ZERO_RANGE \
                else b"A"
            self._log(kind, offset, size)
            return 0

        def utimens(self, path, times=None):
            return 0

        def chmod(self, path, mode):
            return 0

        def statfs(self, path):
            return statfs_answer()

    # foreground, one thread (in-order log), no writeback cache (write-through), kernel
    # page cache of the FUSE file is irrelevant: loop is its only user.
    mfusepy.FUSE(LogFS(), mountpoint, foreground=True, nothreads=True, fsname="eofsim-log")


def start(backing, mountpoint, logpath, cleanup, timeout=10.0):
    """Start the daemon as a subprocess in its own session (a terminal Ctrl-C reaches only the
    harness, which then tears down mount -> loop -> FUSE in order); wait until it is mounted.
    The cleanup stack gets `stop` for it. Returns the Popen."""
    import subprocess
    open(logpath, "ab").close()
    env = daemon_env()
    errpath = logpath + ".stderr"
    with open(errpath, "wb") as err:
        p = subprocess.Popen([sys.executable, "-m", "eofsim.kernel.fuselog", backing, mountpoint,
                              logpath], stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                             env=env, start_new_session=True)
    cleanup.push(f"stop FUSE daemon pid {p.pid}", stop, p, mountpoint)
    wait_mounted(p, mountpoint, errpath, timeout, what="FUSE log daemon")
    return p


def stop(p, mountpoint):
    """Unmount (libfuse then exits its loop), then make sure our pid is gone."""
    stop_daemon(p, mountpoint)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: python -m eofsim.kernel.fuselog BACKING MOUNTPOINT LOGFILE")
    serve(*sys.argv[1:])
