"""Operations per second through `eofsim mount` against a trivial in-memory mfusepy
filesystem served the same way (single-threaded, foreground, no writeback cache), in the
same run: small appending writes, 4 KiB reads, truncates (alternating up and down) and
write+fsync pairs, each measured as the program sees it (syscalls per second). Prints
each figure, the ratio model / trivial (target >= 0.5) and the load average. Both are
mounted at once and the workloads alternate between them, best of EOFSIM_BENCH_RUNS (3).

    .venv/bin/python bench/bench_mount.py [N]        (N ops per workload, default 2000)
"""

import errno
import os
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from eofsim.fuse.common import daemon_env, load_mfusepy, stop_daemon, tune_gc_for_serving, wait_mounted  # noqa: E402

TARGET = 0.5


def serve_trivial(mountpoint):
    """A dict of bytearrays: the least a FUSE filesystem in Python can do per request."""
    mfusepy = load_mfusepy()

    class Trivial(mfusepy.Operations):
        use_ns = True

        def __init__(self):
            self.data = {}
            self.t = time.time_ns()

        def init(self, path):
            tune_gc_for_serving()     # as the model mount does

        def getattr(self, path, fh=None):
            if path == "/":
                return dict(st_mode=stat.S_IFDIR | 0o755, st_nlink=2, st_mtime=self.t)
            if path not in self.data:
                raise mfusepy.FuseOSError(errno.ENOENT)
            return dict(st_mode=stat.S_IFREG | 0o644, st_nlink=1, st_size=len(self.data[path]),
                        st_mtime=self.t)

        def readdir(self, path, fh):
            return [".", ".."] + [p[1:] for p in self.data]

        def create(self, path, mode, flags=0):
            self.data.setdefault(path, bytearray())
            return 0

        def open(self, path, flags):
            if flags & os.O_TRUNC:
                self.data[path] = bytearray()
            return 0

        def read(self, path, size, offset, fh):
            return bytes(self.data[path][offset:offset + size])

        def write(self, path, data, offset, fh):
            b = self.data[path]
            if len(b) < offset:
                b.extend(bytes(offset - len(b)))
            b[offset:offset + len(data)] = data
            return len(data)

        def truncate(self, path, length, fh=None):
            b = self.data[path]
            if length < len(b):
                del b[length:]
            else:
                b.extend(bytes(length - len(b)))
            return 0

        def fsync(self, path, datasync, fh):
            return 0

        def flush(self, path, fh):
            return 0

        def release(self, path, fh):
            return 0

        def utimens(self, path, times=None):
            return 0

    mfusepy.FUSE(Trivial(), mountpoint, foreground=True, nothreads=True, fsname="trivial")


def one(mp, kind, n, rnd):
    """ops per second of workload `kind` (wall clock, as the program sees it), on a fresh file."""
    p = os.path.join(mp, f"{kind.split()[0]}-{rnd}")
    fd = os.open(p, os.O_CREAT | os.O_RDWR | os.O_TRUNC)
    try:
        if kind == "read 4 KiB":
            os.pwrite(fd, b"y" * (256 << 10), 0)
            os.close(fd)
            fd = os.open(p, os.O_RDONLY)
        m = max(1, n // 4) if kind == "write+fsync" else n
        t0 = time.perf_counter()
        if kind == "write 100 B":
            for i in range(m):
                os.pwrite(fd, b"x" * 100, i * 100)
        elif kind == "read 4 KiB":
            for i in range(m):
                os.pread(fd, 4096, (i * 4096) % (256 << 10))
        elif kind == "truncate":
            for i in range(m):
                os.ftruncate(fd, 5000 + (i % 2) * 7000)
        else:
            for i in range(m):
                os.pwrite(fd, b"z", i)
                os.fsync(fd)
        return m / (time.perf_counter() - t0)
    finally:
        os.close(fd)


KINDS = ("write 100 B", "read 4 KiB", "truncate", "write+fsync")


def start(cmd, tag):
    mp = tempfile.mkdtemp(prefix="eofsim-bench-")
    err = os.path.join(tempfile.gettempdir(), f"eofsim-bench-{os.getpid()}-{tag}.log")
    with open(err, "wb") as e:
        p = subprocess.Popen(cmd + [mp], stdout=e, stderr=e, stdin=subprocess.DEVNULL,
                             env=daemon_env(), start_new_session=True)
    p.errpath = err
    try:
        wait_mounted(p, mp, err, 20, what=tag)
    except BaseException:
        stop_daemon(p, mp)
        os.rmdir(mp)
        raise
    return p, mp


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-trivial":
        serve_trivial(sys.argv[2])
        return
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rounds = int(os.environ.get("EOFSIM_BENCH_RUNS", "3"))
    py = sys.executable
    mounts = {}
    try:
        mounts["trivial"] = start([py, os.path.abspath(__file__), "--serve-trivial"], "trivial")
        mounts["model"] = start([py, "-m", "eofsim.cli", "mount", "-p", "bh-ordered"], "model")
        best = {k: {} for k in mounts}
        # Both mounted at once, the workloads alternating between them round by round, best
        # of `rounds`: load from other processes on the machine falls on both alike.
        for rnd in range(rounds):
            for kind in KINDS:
                for name, (_, mp) in mounts.items():
                    got = one(mp, kind, n, rnd)
                    best[name][kind] = max(best[name].get(kind, 0), got)
    finally:
        for p, mp in mounts.values():
            stop_daemon(p, mp)
            os.rmdir(mp)
            try:
                os.unlink(p.errpath)
            except OSError:
                pass
    trivial, model = best["trivial"], best["model"]
    print(f"eofsim mount (bh-ordered) vs a trivial in-memory mfusepy fs, {n} ops per workload, "
          f"best of {rounds} (load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})")
    print(f"{'workload':14} {'trivial ops/s':>14} {'model ops/s':>12} {'ratio':>7}")
    worst = None
    for k in KINDS:
        r = model[k] / trivial[k]
        worst = r if worst is None else min(worst, r)
        print(f"{k:14} {trivial[k]:14.0f} {model[k]:12.0f} {r:7.2f}")
    print(f"lowest ratio {worst:.2f} (target >= {TARGET})")


if __name__ == "__main__":
    main()
