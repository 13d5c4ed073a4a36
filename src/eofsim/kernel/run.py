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


def data_for(index, off, length) -> bytes:
    return content.to_bytes(content.fill(length, index), off)


def apply_op(fd, index, op, time_scale=1.0):
    """Execute one op on fd with real syscalls. Returns (error name or None, bytes read or None)."""
    k = op.kind
    try:
        if k == "write":
            n = os.pwrite(fd, data_for(index, op.off, op.len), op.off)
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
            os.fsync(fd)
        elif k == "fdatasync":
            os.fdatasync(fd)
        elif k == "sync_file_range":
            sysutil.sync_file_range(fd, op.off, op.len,
                                    sum(sysutil.SFR_BITS[f] for f in op.flags))
        elif k == "sync":
            os.sync()
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
                 image_size=None, direct_io=True, final_sync=False) -> KernelRun:
    """Set up the initial state, run every thread's ops on the logged ext4, tear everything
    down (also on failure / Ctrl-C) and return the log. `settle_s` real seconds are waited
    after the last op, inside the crash window (lets timer commits happen). `final_sync` then
    syncs the filesystem inside the window: the flusher's 30 s expiry is not scaled, so this
    stands in for the model's horizon, by which all dirty data has been written back
    (syncfs(2): what sync(2) does to this filesystem, without touching other users')."""
    why = preflight.reason(opts.fs)
    if why:
        raise RuntimeError(why)
    sysutil.install_signal_handlers()
    scale = default_time_scale(opts) if time_scale is None else time_scale
    all_ops = [op for _, _, op in scenario.all_ops()]
    names = scenario.file_names()
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

        fds = {}
        for name in names:
            fds[name] = os.open(os.path.join(mnt, name), os.O_RDWR)
            cu.push(f"close {name}", os.close, fds[name])
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
            try:
                for r in mine:
                    if r.op.at_ns is not None:
                        stop.wait(max(0.0, start + r.op.at_ns / 1e9 * scale - time.monotonic()))
                    if stop.is_set():
                        return
                    mark(f"S {r.index}")
                    r.start_t = time.monotonic()
                    fd = fds.get(r.op.file) if r.op.file else -1
                    if r.op.kind == "sleep":
                        stop.wait(r.op.dur_ns / 1e9 * scale)
                    else:
                        r.error, r.data = apply_op(fd, r.index, r.op, scale)
                    r.end_t = time.monotonic()
                    mark(f"E {r.index}")
            except BaseException as e:   # surfaced in the main thread
                errors.append(e)
                stop.set()

        threads = [threading.Thread(target=worker, args=(m,), daemon=True) for m in plan]
        try:
            for t in threads:
                t.start()
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
                    journal_blocks=journal,
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
