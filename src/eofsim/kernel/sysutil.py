"""libc calls Python lacks, and a cleanup stack that survives failure, Ctrl-C and SIGTERM.

Why ctypes: os has no sync_file_range, fallocate modes, mount(2); and Python's mmap refuses
to map past st_size, while the EOF page (bytes beyond EOF up to the page end) is exactly
what the EOF-zeroing question is about.
"""

import atexit
import ctypes
import ctypes.util
import errno
import os
import shutil
import signal
import subprocess
import threading
import time

libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
libc.sync_file_range.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int64]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                       ctypes.c_char_p]
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
libc.syncfs.argtypes = [ctypes.c_int]

FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_ZERO_RANGE = 0x10
FALLOC_MODE_BITS = {"": 0, "keep_size": FALLOC_FL_KEEP_SIZE,
                    "punch_hole": FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                    "zero_range": FALLOC_FL_ZERO_RANGE,
                    "zero_range,keep_size": FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE}
SFR_BITS = {"wait_before": 1, "write": 2, "wait_after": 4}
PAGE = os.sysconf("SC_PAGE_SIZE")
PROT_READ, PROT_WRITE, MAP_SHARED = 1, 2, 1
MNT_DETACH = 2
BLKFLSBUF = 0x1261


def _check(ret):
    if ret != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def syncfs(path):
    """syncfs(2) on the filesystem holding `path`: sync_filesystem for that one superblock.
    Used instead of sync(2) wherever the harness only needs its own filesystem synced: a
    machine-wide sync(2) also writes back and commits every other engineer's filesystems,
    changing the one real schedule their crash runs record."""
    fd = os.open(path, os.O_RDONLY)
    try:
        syncfs_fd(fd)
    finally:
        os.close(fd)


def syncfs_fd(fd):
    """syncfs(2) on the filesystem holding the open file `fd` (the `syncfs` op)."""
    _check(libc.syncfs(fd))


def fallocate(fd, mode_bits, off, length):
    _check(libc.fallocate(fd, mode_bits, off, length))


def sync_file_range(fd, off, length, bits):
    _check(libc.sync_file_range(fd, off, length, bits))


MS_FLAGS = {"ro": 1, "noatime": 1024}


def mount(dev, target, fstype="ext4", options=""):
    """mount(2); 'ro'/'noatime' become flags, the rest is the fs's data string."""
    words = [w for w in options.split(",") if w]
    flags = sum(MS_FLAGS[w] for w in words if w in MS_FLAGS)
    data = ",".join(w for w in words if w not in MS_FLAGS)
    _check(libc.mount(dev.encode(), target.encode(), fstype.encode(), flags, data.encode()))


def umount(target, tries=50):
    """umount(2), retrying EBUSY briefly (a just-closed fd can keep it busy for a moment)."""
    for i in range(tries):
        if libc.umount2(target.encode(), 0) == 0:
            return
        e = ctypes.get_errno()
        if e == errno.EINVAL:          # not mounted (already gone)
            return
        if e == errno.EBUSY and i == tries - 1:
            # still busy (a thread we could not stop holds a file): detach lazily so the
            # mount disappears now and the loop device is freed on last close
            libc.umount2(target.encode(), MNT_DETACH)
            raise OSError(e, f"umount {target}: busy, detached lazily")
        if e != errno.EBUSY:
            raise OSError(e, f"umount {target}: {os.strerror(e)}")
        time.sleep(0.02)


def mmap_pages(fd, start, length, writable):
    """mmap(2) [start, start+length) of fd, MAP_SHARED; start must be page aligned."""
    prot = PROT_READ | (PROT_WRITE if writable else 0)
    addr = libc.mmap(None, length, prot, MAP_SHARED, fd, start)
    if addr in (None, ctypes.c_void_p(-1).value):
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return addr


def munmap(addr, length):
    _check(libc.munmap(addr, length))


def flush_bdev(dev):
    """BLKFLSBUF: drop the block device's buffer cache, so a rewritten backing file is reread."""
    import fcntl
    fd = os.open(dev, os.O_RDONLY)
    try:
        fcntl.ioctl(fd, BLKFLSBUF, 0)
    finally:
        os.close(fd)


def run(cmd, **kw):
    """Run a command; raise RuntimeError with its stderr on failure."""
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))}: exit {p.returncode}: "
                           f"{(p.stderr or p.stdout).strip()}")
    return p.stdout


def errno_name(e: OSError) -> str:
    """'EOPNOTSUPP' rather than Python's alias 'ENOTSUP' (same number on Linux)."""
    if e.errno == errno.EOPNOTSUPP:
        return "EOPNOTSUPP"
    return errno.errorcode.get(e.errno, str(e.errno))


class Cleanup:
    """LIFO stack of undo actions. close() runs every one, even if some fail, and is also
    run at interpreter exit (atexit) and on SIGTERM/SIGHUP (turned into KeyboardInterrupt in
    the main thread) so mounts, loop devices, daemons and temp dirs never outlive us."""

    _live: "set[Cleanup]" = set()
    _lock = threading.Lock()

    def __init__(self):
        self._stack = []
        self.errors = []
        with Cleanup._lock:
            Cleanup._live.add(self)

    def push(self, what, fn, *args):
        self._stack.append((what, fn, args))

    def tempdir(self, prefix="eofsim-k-"):
        base = "/dev/shm" if os.path.isdir("/dev/shm") else None
        import tempfile
        d = tempfile.mkdtemp(prefix=prefix, dir=base)
        self.push(f"rm -r {d}", shutil.rmtree, d, True)
        return d

    def undo_last(self, n):
        """Run the n most recent actions now (LIFO); errors propagate."""
        for _ in range(n):
            what, fn, args = self._stack.pop()
            fn(*args)

    def close(self):
        while self._stack:
            what, fn, args = self._stack.pop()
            try:
                fn(*args)
            except BaseException as e:  # keep going: later entries still need undoing
                self.errors.append(f"{what}: {e}")
        with Cleanup._lock:
            Cleanup._live.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@atexit.register
def _close_all():
    for c in list(Cleanup._live):
        c.close()


def _on_signal(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def install_signal_handlers():
    """SIGTERM/SIGHUP -> KeyboardInterrupt, so try/finally cleanup runs (main thread only)."""
    if threading.current_thread() is threading.main_thread():
        for s in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(s) in (signal.SIG_DFL, None):
                signal.signal(s, _on_signal)
