"""Operations per second through `eofsim mount` against a trivial in-memory mfusepy
filesystem served the same way (single-threaded, foreground, no writeback cache, the same
collector settings), in the same run: small appending writes, 4 KiB reads (cached: what a
program sees; and O_DIRECT: every one a request), truncates (alternating up and down) and
write+fsync pairs, each measured as the program sees it (syscalls per second). Every
request completes in the model before FUSE replies, so nothing the model does for an op is
left past the timed loop. Prints each figure, the ratio model / trivial (target >= 0.5),
the daemons' own CPU time per op (/proc/PID/task/*/schedstat), the model's CPU time per op
driven in-process without FUSE (its own share: the rest is the FUSE round trip both pay),
the time the model daemon waited for a CPU (the machine's load) and the load average. Both
are mounted at once and the workloads alternate between them, best of EOFSIM_BENCH_RUNS (3).
The model daemon's write/read/truncate/fsync callbacks skip mfusepy's Operations dispatch
(fuse/modelfs.py); the trivial filesystem uses it, as a plain mfusepy filesystem does.

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


def cpu_ns(pid):
    """(on-CPU ns, ns spent runnable but waiting for a CPU) of all of pid's threads
    (/proc/PID/task/*/schedstat): the daemon's own cost per op, which load on the machine
    stretches far less than wall time, and how much that load delayed it."""
    run = wait = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                a, b, _ = f.read().split()
        except (OSError, ValueError):
            continue
        run += int(a)
        wait += int(b)
    return run, wait


def one(mp, pid, kind, n, rnd):
    """(ops per second of workload `kind`, wall clock as the program sees it; daemon CPU
    ns per op; daemon ns per op waiting for a CPU), on a fresh file."""
    p = os.path.join(mp, f"{kind.split()[0]}-{rnd}")
    fd = os.open(p, os.O_CREAT | os.O_RDWR | os.O_TRUNC)
    try:
        if kind.startswith("read"):
            os.pwrite(fd, b"y" * (256 << 10), 0)
            os.close(fd)
            fd = os.open(p, os.O_RDONLY | (os.O_DIRECT if "O_DIRECT" in kind else 0))
        m = max(1, n // 4) if kind == "write+fsync" else n
        c0 = cpu_ns(pid)
        t0 = time.perf_counter()
        if kind == "write 100 B":
            for i in range(m):
                os.pwrite(fd, b"x" * 100, i * 100)
        elif kind.startswith("read"):
            for i in range(m):
                os.pread(fd, 4096, (i * 4096) % (256 << 10))
        elif kind == "truncate":
            for i in range(m):
                os.ftruncate(fd, 5000 + (i % 2) * 7000)
        else:
            for i in range(m):
                os.pwrite(fd, b"z", i)
                os.fsync(fd)
        dt = time.perf_counter() - t0
        c1 = cpu_ns(pid)
        return m / dt, (c1[0] - c0[0]) / m, (c1[1] - c0[1]) / m
    finally:
        os.close(fd)


def in_process(kind, n):
    """CPU us per op of the same workload driven into ModelOps directly, without FUSE:
    the model's own work per request (live.py, the model, the bookkeeping of modelfs)."""
    from eofsim.fuse.modelfs import ModelOps
    from eofsim.live import LiveModel
    ops = ModelOps(LiveModel("bh-ordered"))
    fh = ops.create("/f", 0o644, os.O_RDWR)
    if kind.startswith("read"):
        ops.write(None, b"y" * (256 << 10), 0, fh)
    if kind == "read 4 KiB":
        return None            # the page cache answers these in the mount, not the model
    m = max(1, n // 4) if kind == "write+fsync" else n
    t0 = time.process_time()
    if kind == "write 100 B":
        for i in range(m):
            ops.write(None, b"x" * 100, i * 100, fh)
    elif kind.startswith("read"):
        for i in range(m):
            ops.read(None, 4096, (i * 4096) % (256 << 10), fh)
    elif kind == "truncate":
        for i in range(m):
            ops.truncate(None, 5000 + (i % 2) * 7000, fh)
            ops.getattr(None, fh)          # FUSE answers SETATTR with the attributes
    else:
        for i in range(m):
            ops.write(None, b"z", i, fh)
            ops.fsync(None, 0, fh)
    return (time.process_time() - t0) / m * 1e6


KINDS = ("write 100 B", "read 4 KiB", "read O_DIRECT", "truncate", "write+fsync")
NOTES = {
    "write 100 B": "pwrite of 100 B appending: one WRITE request each",
    "read 4 KiB": "pread 4 KiB of a 256 KiB file: the first pass reaches the daemon "
                  "(128 KiB readahead requests), the rest is FUSE's page cache",
    "read O_DIRECT": "the same preads with O_DIRECT: every one is a READ request",
    "truncate": "ftruncate up and down: SETATTR, answered with the new attributes",
    "write+fsync": "pwrite 1 B then fsync, per pair: the model's fsync waits for its "
                   "writeback and jbd2 commit (virtual time; wall time is the simulation's)",
}


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
        inproc = {}
        for rnd in range(rounds):
            for kind in KINDS:
                got = in_process(kind, n)
                if got is not None:
                    inproc[kind] = min(inproc.get(kind, got), got)
                for name, (p, mp) in mounts.items():
                    got = one(mp, p.pid, kind, n, rnd)
                    old = best[name].get(kind)
                    best[name][kind] = got if old is None else (max(old[0], got[0]),
                                                                min(old[1], got[1]), min(old[2], got[2]))
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
    print(f"{'workload':14} {'trivial ops/s':>14} {'model ops/s':>12} {'ratio':>7}   "
          f"{'daemon CPU us/op: trivial':>26} {'model':>7}   {'model without FUSE':>18}   "
          f"{'waited for a CPU us/op (model)':>30}")
    worst = None
    for k in KINDS:
        r = model[k][0] / trivial[k][0]
        worst = r if worst is None else min(worst, r)
        ip = f"{inproc[k]:18.1f}" if k in inproc else f"{'-':>18}"
        print(f"{k:14} {trivial[k][0]:14.0f} {model[k][0]:12.0f} {r:7.2f}   "
              f"{trivial[k][1] / 1e3:26.1f} {model[k][1] / 1e3:7.1f}   {ip}   {model[k][2] / 1e3:30.1f}")
    print(f"lowest ratio {worst:.2f} (target >= {TARGET})")
    for k in KINDS:
        print(f"  {k}: {NOTES[k]}")


if __name__ == "__main__":
    main()
