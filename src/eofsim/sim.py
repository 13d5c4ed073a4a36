"""Build a world (engine, device, page cache, journal, ext4, policy) from a scenario and run it."""

import gc
from bisect import bisect_left
from dataclasses import dataclass, field

from .block import BlockDevice
from .content import INITIAL, ZERO, fill, garbage, overlay, to_bytes
from .engine import Engine
from .errors import InputError
from .units import fmt_dur
from .ext4 import WRITTEN, Ext4, OpError
from .fs.fs_writeback import flusher
from .fs.sync import ksys_sync, sync_file_range, sync_filesystem
from .jbd2 import RawInode
from .ops import CREATING_OPS, NAMESPACE, SIZE_CHANGING, Op
from .params import Tunables, check_span
from .policies import get_policy
from . import selfcheck


@dataclass
class OpRecord:
    index: int
    """Global op number, 1-based, in scenario order (thread-major); data it writes has src=index."""
    thread: str
    op: Op
    start_ns: int | None = None
    end_ns: int | None = None
    error: str | None = None
    """errno name if the call failed (e.g. 'EFAULT'/'SIGBUS' for mmap past the EOF page)."""
    runs: tuple | None = None
    """read/mread: provenance of the bytes returned (content runs relative to op.off)."""
    i_size_before: int | None = None
    i_size_after: int | None = None
    i_disksize_after: int | None = None
    size_durable_ns: int | None = None
    """Size-changing ops: when the size this op set was first on disk (committed), or None."""
    sync_tid: int | None = None
    """fsync/fdatasync (and dsync/sync writes): the tid it committed and waited for."""
    ino: int | None = None
    """The inode the op acted on (a file's, or a directory's for mkdir / fsync DIR;
    rename: the inode renamed; unlink: the inode unlinked)."""

    @property
    def data(self) -> bytes | None:
        """read/mread: the bytes returned."""
        if self.runs is None:
            return None
        return to_bytes(self.runs, self.op.off)


@dataclass
class RunResult:
    scenario: object
    policy: str
    tun: object
    dev: object
    """block.BlockDevice: dev.bios, dev.log, dev.initial, dev.fill, dev.stats."""
    ops: list = field(default_factory=list)
    """[OpRecord] in index order."""
    inos: dict = field(default_factory=dict)
    """file name -> ino."""
    initial_inodes: dict = field(default_factory=dict)
    """ino -> jbd2.RawInode committed before the scenario."""
    size_history: dict = field(default_factory=dict)
    """file name -> [(time_ns, op index, i_size)] every i_size change, in time order
    (index 0 = the initial size), of the inode the name last linked."""
    ino_history: dict = field(default_factory=dict)
    """ino -> [(time_ns, op index, i_size)] for every file inode of the run."""
    name_history: dict = field(default_factory=dict)
    """path -> [(time_ns, op index, ino or None)]: what the path named from when on (op 0:
    before the scenario; None: no longer exists)."""
    dir_inos: dict = field(default_factory=dict)
    """directory path ('' = the root) -> ino."""
    commits: list = field(default_factory=list)
    """[(tid, commit bio id, time committed)] in tid order."""
    deadlocks: list = field(default_factory=list)
    stall: object = None
    events: list = field(default_factory=list)
    """Timeline: [(time_ns, lane, text)]; lanes: op, cache, io, jbd2, size."""
    end_ns: int = 0
    until_ns: int | None = None
    """The `until` tunable: the run (and crash exploration) ended there."""
    cut_off: list = field(default_factory=list)
    """Indices of ops not finished by `until` (cut off)."""


def make_tunables(scenario, overrides=None) -> Tunables:
    tun = Tunables().with_values(scenario.tunables or {}, scenario.where)
    if overrides:
        tun = tun.with_values(overrides, "--set")
    return tun


def simulate(scenario, policy: str = "bh-ordered", overrides: dict | None = None,
             trace: bool = False, perturb_seed: int | None = None,
             bio_delays: dict | None = None) -> RunResult:
    """Run `scenario` under `policy`. `perturb_seed` reruns it with seeded perturbations of
    I/O latencies and of the order of simultaneous events (crash exploration's schedules).
    `bio_delays` ({bio id: extra ns}) slows exactly those writes (issue 14's witnesses)."""
    # Reference counting frees the engine's short-lived generators; the cyclic collector's
    # passes over the world being built and run only cost time, so it waits until the run
    # is over.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _simulate(scenario, policy, overrides, trace, perturb_seed, bio_delays)
    finally:
        if was_enabled:
            gc.enable()


def _simulate(scenario, policy, overrides, trace, perturb_seed, bio_delays):
    run = Run(scenario, policy, overrides, trace, perturb_seed, bio_delays)
    for _ in run.flow():
        pass
    return run.result()


class Run:
    """One simulation, advanced by `flow()`. With `retain=False` (crash/stream.py) the run
    keeps only what is still in progress: each op record, bio, size change and commit is
    handed over once (`take_*`) and dropped; `flow(pause_every=N)` then stops after every N
    completed ops (between two instants) so the taker can keep up. Same events either way."""

    def __init__(self, scenario, policy="bh-ordered", overrides=None, trace=False,
                 perturb_seed=None, bio_delays=None, retain=True):
        tun = make_tunables(scenario, overrides)
        check_span(tun, scenario)
        pol = get_policy(policy)
        seed = tun.seed if perturb_seed is None else perturb_seed
        eng = Engine(seed=seed, perturb=perturb_seed is not None)
        dev = BlockDevice(eng, tun, retain=retain)
        if bio_delays:
            dev.extra_delay = dict(bio_delays)
        fs = Ext4(eng, dev, tun, pol, trace=trace)
        res = RunResult(scenario=scenario, policy=pol.name, tun=tun, dev=dev)
        self.tun, self.eng, self.dev, self.fs, self.res = tun, eng, dev, fs, res
        self.retain = retain
        bs = tun.block_size
        for spec in scenario.files:
            d, leaf = fs.setup_path(spec.name)
            inode = fs.new_inode(spec.name)
            d.entries[leaf] = inode.ino
            res.inos[spec.name] = inode.ino
            if spec.dax is not None:
                inode.dax = spec.dax
            if spec.encrypted_nokey is not None:
                inode.encrypted_nokey = spec.encrypted_nokey
            _populate(fs, dev, inode, spec, bs)
            res.initial_inodes[inode.ino] = inode.raw()
            inode.last_raw = inode.raw()
            inode.size_history[:] = [(0, 0, inode.i_size)]
            fs.name_event(spec.name, inode.ino, 0)
        for d in fs.dirs.values():
            res.initial_inodes[d.ino] = d.raw()

        if selfcheck.enabled(tun):
            selfcheck.install(eng, fs)
        eng.spawn("flusher", flusher(eng, tun, lambda: [i.mapping for i in fs.by_ino.values()], fs.wb),
                  kind="daemon")
        index = 0
        self.live = live = [0]
        self.ended = [0]
        self.started = []
        """retain=False: op records handed over by take_ops, oldest first."""
        latest = 0
        until = tun.until
        for th in scenario.threads:
            first = index + 1
            for op in th.ops:
                index += 1
                latest += (op.at_ns or 0) + op.dur_ns
                if until is not None and op.at_ns is not None and op.at_ns > until:
                    raise InputError(f"op #{index} ({op.text()}) is scheduled after until="
                                     f"{fmt_dur(until)}: it can never run", op.where or scenario.where)
            if retain:
                recs = [OpRecord(index=first + k, thread=th.name, op=op) for k, op in enumerate(th.ops)]
                res.ops.extend(recs)
            else:
                recs = _records(th, first, self.started)
            live[0] += 1
            eng.spawn(th.name, _thread(eng, fs, recs, live, {}, self.ended), kind="app")
        self.n_ops = index
        self.cap = latest + 20 * tun.horizon_ns

    def _phase(self, until, stop, pause_every):
        """eng.run(until, stop), stopping after every `pause_every` completed ops at the end
        of that instant (yield) and going on."""
        eng = self.eng
        if pause_every is None:
            eng.run(until=until, stop=stop)
            return
        ended = self.ended
        while True:
            mark = ended[0] + pause_every
            eng.run(until=until, stop=lambda: (stop is not None and stop()) or ended[0] >= mark)
            if stop is not None and stop():
                return
            if ended[0] < mark:
                return                       # reached `until`, or nothing left to run
            eng.run(until=eng.now, stop=stop)    # the rest of this instant
            if stop is not None and stop():
                return
            yield

    def flow(self, pause_every=None):
        """Run the scenario to its end: ops until the last finishes (or `until`), then one
        horizon for the daemons (writeback, commits) to settle. Yields at each pause."""
        eng, tun, res, live = self.eng, self.tun, self.res, self.live
        until = tun.until
        if until is not None:
            yield from self._phase(until, None, pause_every)
            res.stall = None          # ops still running at `until` are cut off, not stalled
        else:
            yield from self._phase(self.cap, lambda: live[0] == 0, pause_every)
            if live[0]:
                res.stall = eng.stalls()
                if not eng.deadlocks and _out_of_time(eng):
                    unfinished = [r for r in self._records() if r.end_ns is None]
                    raise InputError(f"{len(unfinished)} op(s) (first: #{unfinished[0].index} "
                                     f"{unfinished[0].op.text()}) cannot finish within "
                                     f"horizon_ns={fmt_dur(tun.horizon_ns)} (raise it, or set until "
                                     f"to end the run and report them as cut off)", self.res.scenario.where)
            eng.run(until=eng.now + tun.horizon_ns)
            if res.stall is None:
                res.stall = eng.stalls()

    def forget(self):
        """retain=False: drop the committed transactions (a wait for one returns at once:
        jbd2_log_wait_commit finds tid <= j_commit_sequence) and the commit list."""
        j = self.fs.journal
        seq = j.commit_sequence
        for tid in [tid for tid in j.tx_by_tid if tid <= seq]:
            del j.tx_by_tid[tid]
        del j.commits[:]

    def _records(self):
        return self.res.ops if self.retain else self.started

    def result(self) -> RunResult:
        """The RunResult of the finished run (retain=False: without what was handed over)."""
        eng, fs, res = self.eng, self.fs, self.res
        until = self.tun.until
        res.until_ns = until
        res.cut_off = [r.index for r in self._records() if r.end_ns is None] if until is not None else []
        res.end_ns = eng.now
        res.deadlocks = list(eng.deadlocks)
        res.commits = list(fs.journal.commits)
        res.events = fs.events
        res.name_history = {}
        for t, op, path, ino in fs.name_events:
            res.name_history.setdefault(path, []).append((t, op, ino))
            if ino is not None:
                res.inos[path] = ino
        res.ino_history = {i.ino: list(i.size_history) for i in fs.all_inodes}
        res.size_history = {name: res.ino_history.get(ino, []) for name, ino in res.inos.items()}
        res.dir_inos = {d.path: d.ino for d in fs.dirs.values()}
        res.engine = eng
        res.fs = fs
        if self.retain:
            _size_durability(res, fs)
        return res


def _records(th, first, started):
    """A thread's op records made as the thread reaches each op (retain=False)."""
    for k, op in enumerate(th.ops):
        rec = OpRecord(index=first + k, thread=th.name, op=op)
        started.append(rec)
        yield rec


def _out_of_time(eng):
    """At the cap, an application thread is runnable or sleeping (not blocked on a wait
    queue): the run ran out of time rather than deadlocked."""
    return any(t.kind == "app" and not t.done and t.blocked_on is None for t in eng.tasks)


def _populate(fs, dev, inode, spec, bs):
    """The file as it exists, committed and clean, before the scenario: written blocks with
    initial data, zeros past EOF in the last block unless garbage is planted there."""
    nblk = (spec.size + bs - 1) // bs
    for lblk in range(nblk):
        pblk = fs.alloc()
        fs.set_state(inode, lblk, WRITTEN, pblk)
        start = lblk * bs
        runs = fill(bs, ZERO)
        runs = overlay(runs, 0, min(bs, spec.size - start), INITIAL)
        for p in spec.plants:
            s, e = max(p.off, start), min(p.off + p.len, start + bs)
            if s < e:
                runs = overlay(runs, s - start, e - start, garbage(p.byte))
        dev.initial[pblk] = runs
    inode.i_size = inode.i_disksize = spec.size


def _thread(eng, fs, recs, live, fds, ended=None):
    """One application thread. `fds`: path -> [(Inode or Dir, open flags)], the thread's
    open files (newest last): an op on a path the thread has open acts on that file."""
    for rec in recs:
        yield from run_op(eng, fs, rec, fds)
        if ended is not None:
            ended[0] += 1
    live[0] -= 1


def run_op(eng, fs, rec, fds):
    """One application call in the calling thread's task: wait for its start time, pay the
    syscall cost, run it, record what it did (shared by simulate and live.LiveModel)."""
    op = rec.op
    if op.at_ns is not None and eng.now < op.at_ns:
        yield op.at_ns - eng.now
    rec.start_ns = eng.now
    inode = _target(fs, op, fds)
    if inode is not None and hasattr(inode, "mapping"):
        rec.i_size_before = inode.i_size
    if fs.trace:   # the text costs more than many ops: build it only for a timeline
        fs.event("op", f"#{rec.index} {op.text()} starts")
    syscall_ns = fs.tun.syscall_ns
    if syscall_ns and op.kind != "sleep":
        yield syscall_ns
    try:
        inode = yield from _do(fs, rec, op, inode, fds)
    except OpError as e:
        rec.error = str(e)
    rec.end_ns = eng.now
    if inode is not None:
        rec.ino = inode.ino
        if hasattr(inode, "mapping"):
            rec.i_size_after = inode.i_size
            rec.i_disksize_after = inode.i_disksize
    if fs.trace:
        fs.event("op", f"#{rec.index} {op.kind} ends" + (f" ({rec.error})" if rec.error else ""))


def _target(fs, op, fds):
    """The file an op names: the thread's open file of that path, else the namespace's."""
    k = op.kind
    if op.file is None or k == "create" or k == "mkdir":
        return None
    held = fds.get(op.file) if k not in _NAMESPACE else None
    if held:
        return held[-1][0]
    try:
        return fs.lookup(op.file)
    except OpError:
        return None


def _do(fs, rec, op, inode, fds):
    """Run one op; returns the inode (or Dir) it acted on."""
    k = op.kind
    n = rec.index
    if k in _NOT_ON_FILE_DATA:
        if k in ("create", "open"):
            flags = op.flags
            created = False
            if k == "create":
                inode = yield from fs.create(op.file, n, excl=True)
                created = True
            elif inode is None or "excl" in flags:
                if "creat" not in flags:
                    fs.lookup(op.file)          # the errno (ENOENT, ENOTDIR)
                before = inode
                inode = yield from fs.create(op.file, n, excl="excl" in flags)
                created = inode is not before
            if hasattr(inode, "mapping"):
                if "trunc" in flags and not created:
                    # do_open: O_TRUNC is dropped for a file this open created (FMODE_CREATED).
                    # do_open -> handle_truncate -> do_truncate(0): ext4_setattr(ATTR_SIZE).
                    yield from fs.truncate(inode, 0, n)
                inode.opens += 1
            elif "trunc" in flags or "creat" in flags:
                raise OpError("EISDIR")
            fds.setdefault(op.file, []).append((inode, flags))
            return inode
        if k == "close":
            held = fds.get(op.file)
            if not held:
                raise OpError("EBADF")
            inode, _ = held.pop()
            if not held:
                del fds[op.file]
            if hasattr(inode, "mapping"):
                yield from fs.release_file(inode, n)
            return inode
        if k == "mkdir":
            return (yield from fs.mkdir(op.file, n))
        if k == "unlink":
            return (yield from fs.unlink(op.file, n))
        if k == "rename":
            return (yield from fs.rename(op.file, op.new, n))
        if k in ("sync", "syncfs", "sleep"):
            if k == "sync":
                yield from ksys_sync(fs)
            elif k == "syncfs":
                yield from sync_filesystem(fs)
            else:
                yield op.dur_ns
            return None
    if k in ("fsync", "fdatasync") and inode is not None and not hasattr(inode, "mapping"):
        rec.sync_tid = yield from fs.fsync_dir(inode)
        return inode
    if inode is None:
        if k in CREATING_OPS:
            # open(O_CREAT) without O_EXCL: a journalled create (ext4_create), then the op.
            inode = yield from fs.create(op.file, n, excl=False)
            rec.i_size_before = 0
        else:
            # Looked up again inside the call: another thread may have created it since.
            inode = fs.lookup(op.file)      # or the errno (ENOENT, ENOTDIR)
            if hasattr(inode, "mapping"):
                rec.i_size_before = inode.i_size
    if not hasattr(inode, "mapping"):
        held = fds.get(op.file)
        if held and held[-1][0] is inode:
            # A directory the thread opened (O_RDONLY | O_DIRECTORY): what the syscalls
            # say on such a descriptor (not FMODE_WRITE: EBADF, do_sys_ftruncate: EINVAL,
            # read: EISDIR, mmap: EACCES / ENODEV); sync_file_range accepts directories.
            err = _DIR_FD_ERRNO.get(k)
            if err is None:
                return inode
            raise OpError(err)
        raise OpError("EISDIR")
    if inode.evicted:
        raise OpError("ENOENT")
    if k == "write":
        yield from fs.write(inode, op.off, op.len, n)
        sync = op.flags[0] if op.flags else _osync(fds.get(op.file))
        if sync:
            # generic_write_sync -> vfs_fsync_range over the bytes written only
            # (datasync unless O_SYNC / RWF_SYNC).
            rec.sync_tid = yield from fs.fsync(inode, sync == "dsync", op.off, op.off + op.len - 1)
    elif k == "read":
        rec.runs = yield from fs.read(inode, op.off, op.len)
    elif k == "mwrite":
        yield from fs.mwrite(inode, op.off, op.len, n)
    elif k == "mread":
        limit = fs.mmap_limit(inode)
        end = min(op.off + op.len, limit)
        rec.runs = (yield from fs.mread(inode, op.off, end - op.off)) if end > op.off else ()
        if op.off + op.len > limit:
            raise OpError("SIGBUS")
    elif k == "truncate":
        yield from fs.truncate(inode, op.size, n)
    elif k == "fallocate":
        yield from fs.fallocate(inode, op.off, op.len, op.mode, n,
                                o_sync=_osync(fds.get(op.file)) is not None)
    elif k in ("fsync", "fdatasync"):
        rec.sync_tid = yield from fs.fsync(inode, k == "fdatasync")
    elif k == "sync_file_range":
        yield from sync_file_range(inode.mapping, op.off, op.len, op.flags)
    else:
        raise InputError(f"unknown operation {k!r}", op.where)
    return inode


_NAMESPACE = frozenset(NAMESPACE)
_NOT_ON_FILE_DATA = frozenset(NAMESPACE + ("sync", "syncfs", "sleep"))
"""Ops _do runs without a file's data path: one set lookup sends a data op past them."""

_DIR_FD_ERRNO = {"write": "EBADF", "fallocate": "EBADF", "truncate": "EINVAL", "read": "EISDIR",
                 "mwrite": "EACCES", "mread": "ENODEV"}


def _osync(held):
    """O_SYNC / O_DSYNC of the thread's open file, if any ('sync', 'dsync' or None)."""
    if held:
        flags = held[-1][1]
        if "sync" in flags:
            return "sync"
        if "dsync" in flags:
            return "dsync"
    return None


def _size_durability(res, fs):
    """For each op that changed i_size: when a commit first put that size on disk (the commit
    block's completion: with PREFLUSH|FUA it is durable then), or None."""
    per_ino = {}
    for tid, bio_id, _ in fs.journal.commits:
        t = res.dev.bios[bio_id].complete_ns
        for ino, raw in fs.journal.tx_by_tid[tid].raw.items():
            if not isinstance(raw, RawInode):
                continue
            per_ino.setdefault(ino, ([], []))
            per_ino[ino][0].append(t)
            per_ino[ino][1].append(raw.size)
    for rec in res.ops:
        if rec.op.kind not in SIZE_CHANGING or rec.i_size_before is None or rec.i_size_after is None \
                or rec.error or rec.ino is None:
            continue
        before, after = rec.i_size_before, rec.i_size_after
        if before == after:
            continue
        times, sizes = per_ino.get(rec.ino, ((), ()))
        for i in range(bisect_left(times, rec.start_ns), len(times)):
            size = sizes[i]
            if (after > before and size >= after) or (after < before and size <= after):
                rec.size_durable_ns = times[i]
                break
