"""Run a scenario's operations with real syscalls on an ext4 or XFS whose device writes are
logged.

Setup: 0xE5 image -> mkfs -> initial files committed -> sentinels planted (image.prepare);
that image is `base`. Then the FUSE log daemon serves a copy, a loop device sits on it, ext4
is mounted with the scenario's options, and every op runs between two markers in the log.

Op numbering: global, 1-based, thread-major in scenario order (as the model), so data written
by op #N at file offset x is content.byte_value(N, x).

Time: an op's at_ns and sleeps run at `time_scale` real seconds per virtual second. The
built-in scenarios leave seconds-long gaps for the 5 s jbd2 commit interval, so the default
mounts commit=1 and scales time by commit_s / 5 s: gaps keep their meaning relative to the
commit timer. The flusher (dirty_writeback 5 s, dirty_expire 30 s) is a machine-wide sysctl
and is NOT scaled: background writeback differs from the model's in timed scenarios.

Namespace ops (create, open, close, unlink, rename, mkdir, fsync DIR) run as the model's
ops do: an op on a path the thread opened (create / open) uses that descriptor; any other op
on a path uses one descriptor per path, opened at the path's first op (with O_CREAT for
write, truncate and fallocate, which create a missing file) and kept open until the run
ends, as the declared files' are, so no close (ext4_release_file) happens that the
scenario does not ask for. An unlink or a rename over a path closes that path's
descriptor right after the call (the model frees such an inode in the call), and a rename
moves it to the new path. Each op records the inode it acted on as (st_ino, i_generation),
which is how crash images tell an old file from its replacement.

mmap ops touch only pages up to the EOF page, as a real program would before SIGBUS: the
part of [off, off+len) inside the EOF page is stored/loaded, and the op then reports
error 'SIGBUS' if the range went past it (no signal is actually taken).
"""

import ctypes
import os
import threading
import time
from dataclasses import dataclass, field

from .. import content
from ..ops import CREATING_OPS
from ..scenario import Scenario
from . import fuselog, image, preflight, sysutil
from .image import MountOpts
from .sysutil import PAGE, errno_name

MODEL_COMMIT_S = 5.0


@dataclass
class OpResult:
    index: int
    thread: str
    op: object
    error: str | None = None
    data: bytes | None = None
    start_t: float = 0.0
    end_t: float = 0.0
    start_rec: int | None = None
    """Log position of the op's start marker (records before it were logged before the op)."""
    end_rec: int | None = None
    key: tuple | None = None
    """(st_ino, i_generation) of the file the op acted on, or None."""


@dataclass
class KernelRun:
    scenario: Scenario
    opts: MountOpts
    bs: int
    base: bytes
    """The image at the scenario's initial state (before the daemon logged anything)."""
    log: list
    """fuselog.read_log records: (kind, off, len, t, payload)."""
    ops: list = field(default_factory=list)
    begin_rec: int = 0
    end_rec: int = 0
    """Log positions of the BEGIN / END markers: the crash window."""
    blocks: dict = field(default_factory=dict)
    """file name -> physical blocks at the initial state."""
    plant_bytes: frozenset = frozenset()
    timings: dict = field(default_factory=dict)
    loop_direct_io: bool = False
    journal_blocks: list = field(default_factory=list)
    """Physical blocks of the journal inode (8), first = journal superblock; for XFS the
    internal log's blocks."""
    names: list = field(default_factory=list)
    """Every path that was a regular file at some point of the run (declared ones first):
    the names crash images are read at."""
    initial_keys: dict = field(default_factory=dict)
    """(st_ino, i_generation) -> declared file name, at the initial state."""


def data_for(index, off, length) -> bytes:
    return content.to_bytes(content.fill(length, index), off)


FS_IOC_GETVERSION = 0x80087601
OPEN_BITS = {"creat": os.O_CREAT, "excl": os.O_EXCL, "trunc": os.O_TRUNC, "sync": os.O_SYNC,
             "dsync": os.O_DSYNC}


_GENERATIONS = {}
"""st_ino -> the i_generation last read for it (so a path's key needs no extra open: an
open and close of its own would run ext4_release_file, auto_da_alloc included)."""


def inode_key(fd):
    """(st_ino, i_generation): an inode's identity, also across crash recovery."""
    import fcntl
    import struct
    try:
        gen = struct.unpack("I", fcntl.ioctl(fd, FS_IOC_GETVERSION, bytes(8))[:4])[0]
    except OSError:
        gen = 0
    ino = os.fstat(fd).st_ino
    _GENERATIONS[ino] = gen
    return ino, gen


def apply_op(fd, index, op, time_scale=1.0):
    """Execute one op on fd with real syscalls. Returns (error name or None, bytes read or None)."""
    k = op.kind
    try:
        if k == "write":
            data = data_for(index, op.off, op.len)
            if op.flags:
                flag = os.RWF_SYNC if op.flags[0] == "sync" else os.RWF_DSYNC
                n = os.pwritev(fd, [data], op.off, flag)
            else:
                n = os.pwrite(fd, data, op.off)
            return (None if n == op.len else "SHORT_WRITE"), None
        if k == "read":
            return None, os.pread(fd, op.len, op.off)
        if k in ("mwrite", "mread"):
            return _mmap_op(fd, index, op)
        if k == "truncate":
            os.ftruncate(fd, op.size)
        elif k == "fallocate":
            sysutil.fallocate(fd, sysutil.FALLOC_MODE_BITS[op.mode], op.off, op.len)
        elif k == "fsync":
            if fd is None:
                raise FileNotFoundError(2, "no such file")
            os.fsync(fd)
        elif k == "fdatasync":
            os.fdatasync(fd)
        elif k == "sync_file_range":
            sysutil.sync_file_range(fd, op.off, op.len,
                                    sum(sysutil.SFR_BITS[f] for f in op.flags))
        elif k == "sync":
            os.sync()
        elif k == "syncfs":
            sysutil.syncfs_fd(fd)
        elif k == "sleep":
            time.sleep(op.dur_ns / 1e9 * time_scale)
        else:
            raise ValueError(f"unknown op kind {k}")
        return None, None
    except OSError as e:
        return errno_name(e), None


def _mmap_op(fd, index, op):
    size = os.fstat(fd).st_size
    limit = -(-size // PAGE) * PAGE            # end of the EOF page: mapping beyond it SIGBUSes
    end = min(op.off + op.len, limit)
    data = b""
    if end > op.off:
        start = op.off // PAGE * PAGE
        maplen = -(-end // PAGE) * PAGE - start
        addr = sysutil.mmap_pages(fd, start, maplen, op.kind == "mwrite")
        try:
            if op.kind == "mwrite":
                buf = data_for(index, op.off, end - op.off)
                ctypes.memmove(addr + op.off - start, buf, len(buf))
            else:
                data = ctypes.string_at(addr + op.off - start, end - op.off)
        finally:
            sysutil.munmap(addr, maplen)
    err = "SIGBUS" if op.off + op.len > limit else None
    return err, (data if op.kind == "mread" else None)


def default_time_scale(opts: MountOpts, model_commit_s=MODEL_COMMIT_S) -> float:
    """ext4: commit=N stands for the model's 5 s commit, so gaps scale by N / 5 s. XFS has no
    mount option for its log timing (xfs_log_worker runs every fs.xfs.xfssyncd_centisecs, a
    machine-wide sysctl left alone here), so XFS runs in real time."""
    if opts.fs == "xfs":
        return opts.xfs_syncd_cs / XFS_SYNCD_DEFAULT_CS
    return opts.commit_s / model_commit_s


XFS_SYNCD = "/proc/sys/fs/xfs/xfssyncd_centisecs"
XFS_SYNCD_DEFAULT_CS = 3000
XFS_SYNCD_LOCK = "/dev/shm/.eofsim-xfssyncd.lock"


def xfs_syncd(centisecs, cleanup):
    """Set XFS's log worker period (xfs_log_worker is requeued by xfs_log_work_queue every
    xfs_syncd_centisecs; the first one is queued at mount, so call this before mounting) for
    the duration of a run, and restore it through `cleanup`. The sysctl is machine-wide but
    touches only XFS mounts: refused (RuntimeError) when an XFS not mounted by eofsim is
    mounted. An exclusive flock serialises eofsim's XFS runs, so the value restored is the
    one found. Without this, XFS's 30 s period would make every run last 30 s of real time
    (and other engineers' sync(2) calls would land inside the window)."""
    import fcntl
    lk = os.open(XFS_SYNCD_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    cleanup.push("unlock xfssyncd", os.close, lk)
    fcntl.flock(lk, fcntl.LOCK_EX)
    with open("/proc/mounts") as f:
        foreign = [ln.split()[1] for ln in f if ln.split()[2:3] == ["xfs"]
                   and "/eofsim-" not in ln.split()[1]]
    if foreign:
        raise RuntimeError(f"an XFS is mounted at {foreign[0]}: not changing the machine-wide "
                           "fs.xfs.xfssyncd_centisecs under it")
    with open(XFS_SYNCD) as f:
        old = f.read().strip()
    cleanup.push(f"restore xfssyncd_centisecs={old}", _write, XFS_SYNCD, old)
    _write(XFS_SYNCD, str(centisecs))


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def run_scenario(scenario: Scenario, opts: MountOpts, bs=4096, time_scale=None, settle_s=0.0,
                 image_size=None, direct_io=True, final_sync=False, until_ns=None) -> KernelRun:
    """Set up the initial state, run every thread's ops on the logged ext4, tear everything
    down (also on failure / Ctrl-C) and return the log. `settle_s` real seconds are waited
    after the last op, inside the crash window (lets timer commits happen). `final_sync` then
    syncs the filesystem inside the window: the flusher's 30 s expiry is not scaled, so this
    stands in for the model's horizon, by which all dirty data has been written back
    (syncfs(2): what sync(2) does to this filesystem, without touching other users').
    `until_ns` (the scenario's `until`) instead ends the crash window at that virtual time
    (scaled): the END marker is written then, whatever is still running (cut off), and
    neither settle nor final sync happens inside the window."""
    why = preflight.reason(opts.fs)
    if why:
        raise RuntimeError(why)
    sysutil.install_signal_handlers()
    scale = default_time_scale(opts) if time_scale is None else time_scale
    all_ops = [op for _, _, op in scenario.all_ops()]
    names = [f.name for f in scenario.files]
    t0 = time.monotonic()
    with sysutil.Cleanup() as cu:
        work = cu.tempdir()
        base_path = os.path.join(work, "base.img")
        image.make_image(base_path, image_size or image.image_size_for(scenario.files, all_ops),
                         bs, opts.fs)
        blocks = image.prepare(base_path, scenario.files, names, bs, cu, work, opts.fs)
        if opts.fs == "xfs":
            journal = image.xfs_log_blocks(base_path)      # the internal log
        else:
            journal = image.file_blocks(base_path, "<8>")  # inode 8: the jbd2 journal
        with open(base_path, "rb") as f:
            base = f.read()
        os.rename(base_path, os.path.join(work, "disk.img"))
        t_setup = time.monotonic()
        if opts.fs == "xfs":
            xfs_syncd(opts.xfs_syncd_cs, cu)
        fmnt, mnt = os.path.join(work, "fuse"), os.path.join(work, "mnt")
        os.makedirs(fmnt)
        logpath = os.path.join(work, "log.bin")
        fuselog.start(os.path.join(work, "disk.img"), fmnt, logpath, cu)
        dev = image.losetup(os.path.join(fmnt, "disk.img"), cu, direct_io=direct_io)
        dio = _loop_dio(dev)
        image.mount(dev, mnt, opts.text(), cu, opts.fs)
        if opts.fs == "xfs":
            # XFS writes its log at mount (xlog_clear_stale_blocks stamps the blocks past the
            # head) with no flush after it. The scenario's initial state is durable (as in
            # the model), so flush the device before the window opens: fsync on the loop
            # device -> blkdev_issue_flush -> the daemon logs F.
            flush_device(dev)
        mfd = os.open(os.path.join(fmnt, "marker"), os.O_WRONLY)
        cu.push("close marker", os.close, mfd)
        mlock = threading.Lock()

        def mark(text):
            with mlock:
                os.pwrite(mfd, text.encode(), 0)

        ns = Namespace(mnt, cu)
        for name in names:
            ns.implicit[name] = os.open(os.path.join(mnt, name), os.O_RDWR)
        initial_keys = {inode_key(fd): name for name, fd in ns.implicit.items()}
        seen = list(names)
        results = []
        index = 0
        plan = []
        for th in scenario.threads:
            mine = []
            for op in th.ops:
                index += 1
                r = OpResult(index, th.name, op)
                results.append(r)
                mine.append(r)
            plan.append(mine)
        errors = []
        stop = threading.Event()       # set on Ctrl-C/failure: workers end before teardown
        mark("BEGIN")
        start = time.monotonic()

        def worker(mine):
            held = {}
            ns.helds.append(held)
            try:
                for r in mine:
                    if r.op.at_ns is not None:
                        stop.wait(max(0.0, start + r.op.at_ns / 1e9 * scale - time.monotonic()))
                    if stop.is_set():
                        return
                    mark(f"S {r.index}")
                    r.start_t = time.monotonic()
                    if r.op.kind == "sleep":
                        stop.wait(r.op.dur_ns / 1e9 * scale)
                    else:
                        r.error, r.data, r.key = ns.apply(held, r.index, r.op, scale)
                        for p in ns.files_at(r.op):
                            if p not in seen:
                                seen.append(p)
                    r.end_t = time.monotonic()
                    mark(f"E {r.index}")
            except BaseException as e:   # surfaced in the main thread
                errors.append(e)
                stop.set()

        threads = [threading.Thread(target=worker, args=(m,), daemon=True) for m in plan]
        try:
            for t in threads:
                t.start()
            if until_ns is not None:
                while not stop.is_set() and time.monotonic() < start + until_ns / 1e9 * scale:
                    stop.wait(min(0.05, max(0.0, start + until_ns / 1e9 * scale - time.monotonic())))
                mark("END")
            for t in threads:
                while t.is_alive():
                    t.join(0.1)          # short joins keep Ctrl-C deliverable
        except BaseException:
            stop.set()
            for t in threads:
                t.join(10)
            raise
        if errors:
            raise errors[0]
        if until_ns is None:
            if settle_s:
                time.sleep(settle_s)
            if final_sync:
                mark("SYNC")
                sysutil.syncfs(mnt)    # this filesystem's sync(2) (sync_filesystem), no other's
            mark("END")
        t_run = time.monotonic()
        log = fuselog.read_log(logpath)     # complete up to END: the daemon logs before replying
    if cu.errors:
        raise RuntimeError("cleanup failed: " + "; ".join(cu.errors))
    run = KernelRun(scenario, opts, bs, base, log, results, blocks=blocks, loop_direct_io=dio,
                    journal_blocks=journal, names=seen, initial_keys=initial_keys,
                    plant_bytes=frozenset(p.byte & 0xFF for f in scenario.files for p in f.plants))
    marks = {}
    for i, (kind, _, _, _, payload) in enumerate(log):
        if kind == "M":
            marks[payload.decode()] = i
    run.begin_rec, run.end_rec = marks["BEGIN"], marks["END"]
    for r in results:
        r.start_rec, r.end_rec = marks.get(f"S {r.index}"), marks.get(f"E {r.index}")
    run.timings = dict(setup_s=t_setup - t0, run_s=t_run - t_setup,
                       teardown_s=time.monotonic() - t_run)
    return run


def flush_device(dev):
    fd = os.open(dev, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _loop_dio(dev):
    try:
        with open(f"/sys/block/{os.path.basename(dev)}/loop/dio") as f:
            return f.read().strip() == "1"
    except OSError:
        return False


class Namespace:
    """Descriptors of a running scenario on the mounted ext4 (see the module docstring):
    `implicit` path -> fd for ops without an open, `held` (per thread) path -> [fd, ...]."""

    def __init__(self, mnt, cleanup):
        import threading as _t
        self.mnt = mnt
        self.implicit = {}
        self.helds = []
        """Each thread's held descriptors: closed at teardown, after the END marker, as a
        file the scenario leaves open is never closed inside the crash window."""
        self.lock = _t.Lock()
        cleanup.push("close scenario files", self.close_all)

    def close_all(self):
        for held in self.helds:
            for stack in held.values():
                for fd in stack:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            held.clear()
        for fd in self.implicit.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self.implicit.clear()

    def path(self, p):
        return os.path.join(self.mnt, p)

    def files_at(self, op):
        """Paths the op may have made regular files (for the crash images' name list)."""
        out = []
        for p in (op.file, op.new):
            if p is None:
                continue
            full = self.path(p)
            if os.path.isfile(full):
                out.append(p)
            elif op.kind == "rename" and p == op.new and os.path.isdir(full):
                for root, _, files in sorted(os.walk(full)):
                    out += [os.path.relpath(os.path.join(root, f), self.mnt) for f in sorted(files)]
        return out

    def _drop(self, p):
        with self.lock:
            fd = self.implicit.pop(p, None)
        if fd is not None:
            os.close(fd)

    def fd_for(self, held, op):
        """The descriptor a data op uses, opening the path's on first use."""
        stack = held.get(op.file)
        if stack:
            return stack[-1]
        with self.lock:
            fd = self.implicit.get(op.file)
            if fd is None:
                flags = os.O_RDWR | (os.O_CREAT if op.kind in CREATING_OPS else 0)
                if op.kind in ("fsync", "fdatasync") and os.path.isdir(self.path(op.file)):
                    return None
                fd = self.implicit[op.file] = os.open(self.path(op.file), flags, 0o644)
        return fd

    def apply(self, held, index, op, scale):
        """One op: (errno name or None, bytes read or None, inode key or None)."""
        k = op.kind
        try:
            if k == "create" or k == "open":
                flags = (os.O_CREAT | os.O_EXCL) if k == "create" else 0
                for f in op.flags:
                    flags |= OPEN_BITS[f]
                if k == "open" and os.path.isdir(self.path(op.file)) and \
                        not flags & (os.O_CREAT | os.O_TRUNC):
                    fd = os.open(self.path(op.file), os.O_RDONLY | os.O_DIRECTORY)
                else:
                    fd = os.open(self.path(op.file), os.O_RDWR | flags, 0o644)
                held.setdefault(op.file, []).append(fd)
                return None, None, inode_key(fd)
            if k == "close":
                stack = held.get(op.file)
                if not stack:
                    return "EBADF", None, None
                fd = stack.pop()
                if not stack:
                    del held[op.file]
                key = inode_key(fd)
                os.close(fd)
                return None, None, key
            if k == "mkdir":
                os.mkdir(self.path(op.file))
                return None, None, None
            if k == "unlink":
                st = os.lstat(self.path(op.file))
                key = _stat_key(self.path(op.file), st)
                os.unlink(self.path(op.file))
                self._drop(op.file)
                return None, None, key
            if k == "rename":
                old, new = self.path(op.file), self.path(op.new)
                key = _stat_key(old, os.lstat(old))
                os.rename(old, new)
                with self.lock:
                    replaced = self.implicit.pop(op.new, None) if op.new != op.file else None
                    moved = {p: fd for p, fd in self.implicit.items()
                             if p == op.file or p.startswith(op.file + "/")}
                    for p, fd in moved.items():
                        del self.implicit[p]
                        self.implicit[op.new + p[len(op.file):]] = fd
                if replaced is not None:
                    os.close(replaced)
                return None, None, key
            if k in ("fsync", "fdatasync") and not held.get(op.file) and \
                    os.path.isdir(self.path(op.file)):
                fd = os.open(self.path(op.file), os.O_RDONLY | os.O_DIRECTORY)
                try:
                    (os.fsync if k == "fsync" else os.fdatasync)(fd)
                finally:
                    os.close(fd)
                return None, None, None
            if k == "sync":
                os.sync()
                return None, None, None
            if k == "syncfs":
                sysutil.syncfs(self.mnt)      # the op's syncfs(2): this filesystem only
                return None, None, None
            fd = self.fd_for(held, op)
        except OSError as e:
            return errno_name(e), None, None
        err, data = apply_op(fd, index, op, scale)
        key = None
        try:
            key = inode_key(fd)
        except (OSError, TypeError):
            pass
        return err, data, key


def _stat_key(path, st):
    """inode_key for a path from lstat and the generation seen when it was opened."""
    return st.st_ino, _GENERATIONS.get(st.st_ino, 0)
