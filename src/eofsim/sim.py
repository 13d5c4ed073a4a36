"""Build a world (engine, device, page cache, journal, ext4, policy) from a scenario and run it."""

import gc
from bisect import bisect_left
from dataclasses import dataclass, field

from .block import BlockDevice
from .content import INITIAL, ZERO, fill, garbage, overlay, to_bytes
from .engine import Engine
from .errors import InputError
from .ext4 import WRITTEN, Ext4, OpError
from .fs.fs_writeback import flusher
from .fs.sync import ksys_sync, sync_file_range
from .ops import SIZE_CHANGING, Op
from .params import Tunables, check_span
from .policies import get_policy


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
    """fsync/fdatasync: the tid it committed and waited for."""

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
    (index 0 = the initial size)."""
    commits: list = field(default_factory=list)
    """[(tid, commit bio id, time committed)] in tid order."""
    deadlocks: list = field(default_factory=list)
    stall: object = None
    events: list = field(default_factory=list)
    """Timeline: [(time_ns, lane, text)]; lanes: op, cache, io, jbd2, size."""
    end_ns: int = 0


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
    tun = make_tunables(scenario, overrides)
    check_span(tun, scenario)
    pol = get_policy(policy)
    seed = tun.seed if perturb_seed is None else perturb_seed
    eng = Engine(seed=seed, perturb=perturb_seed is not None)
    dev = BlockDevice(eng, tun)
    if bio_delays:
        dev.extra_delay = dict(bio_delays)
    fs = Ext4(eng, dev, tun, pol, trace=trace)
    res = RunResult(scenario=scenario, policy=pol.name, tun=tun, dev=dev)
    bs = tun.block_size
    specs = {f.name: f for f in scenario.files}
    for name in scenario.file_names():
        inode = fs.new_inode(name)
        spec = specs.get(name)
        res.inos[name] = inode.ino
        if spec is not None:
            if spec.dax is not None:
                inode.dax = spec.dax
            if spec.encrypted_nokey is not None:
                inode.encrypted_nokey = spec.encrypted_nokey
            _populate(fs, dev, inode, spec, bs)
        res.initial_inodes[inode.ino] = inode.raw()
        inode.last_raw = inode.raw()
        inode.size_history[:] = [(0, 0, inode.i_size)]

    eng.spawn("flusher", flusher(eng, tun, lambda: [i.mapping for i in fs.inodes.values()]),
              kind="daemon")
    index = 0
    live = [0]
    latest = 0
    for th in scenario.threads:
        recs = []
        for op in th.ops:
            index += 1
            recs.append(OpRecord(index=index, thread=th.name, op=op))
            latest += (op.at_ns or 0) + op.dur_ns
        res.ops.extend(recs)
        live[0] += 1
        eng.spawn(th.name, _thread(eng, fs, recs, live), kind="app")
    cap = latest + 20 * tun.horizon_ns
    # Reference counting frees the engine's short-lived generators; the cyclic collector's
    # passes over them only cost time, so it waits until the run is over.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        eng.run(until=cap, stop=lambda: live[0] == 0)
        if live[0]:
            res.stall = eng.stalls()
        eng.run(until=eng.now + tun.horizon_ns)
        if res.stall is None:
            res.stall = eng.stalls()
    finally:
        if was_enabled:
            gc.enable()
    res.end_ns = eng.now
    res.deadlocks = list(eng.deadlocks)
    res.commits = list(fs.journal.commits)
    res.events = fs.events
    res.size_history = {name: list(fs.inodes[name].size_history) for name in fs.inodes}
    res.engine = eng
    res.fs = fs
    _size_durability(res, fs)
    return res


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


def _thread(eng, fs, recs, live):
    for rec in recs:
        op = rec.op
        if op.at_ns is not None and eng.now < op.at_ns:
            yield op.at_ns - eng.now
        rec.start_ns = eng.now
        inode = fs.inodes.get(op.file) if op.file is not None else None
        if inode is not None:
            rec.i_size_before = inode.i_size
        fs.event("op", f"#{rec.index} {op.text()} starts")
        if fs.tun.syscall_ns and op.kind != "sleep":
            yield fs.tun.syscall_ns
        try:
            yield from _do(fs, rec, op, inode)
        except OpError as e:
            rec.error = str(e)
        rec.end_ns = eng.now
        if inode is not None:
            rec.i_size_after = inode.i_size
            rec.i_disksize_after = inode.i_disksize
        fs.event("op", f"#{rec.index} {op.kind} ends" + (f" ({rec.error})" if rec.error else ""))
    live[0] -= 1


def _do(fs, rec, op, inode):
    k = op.kind
    n = rec.index
    if k == "write":
        yield from fs.write(inode, op.off, op.len, n)
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
        yield from fs.fallocate(inode, op.off, op.len, op.mode, n)
    elif k in ("fsync", "fdatasync"):
        rec.sync_tid = yield from fs.fsync(inode, k == "fdatasync")
    elif k == "sync_file_range":
        yield from sync_file_range(inode.mapping, op.off, op.len, op.flags)
    elif k == "sync":
        yield from ksys_sync(fs)
    elif k == "sleep":
        yield op.dur_ns
    else:
        raise InputError(f"unknown operation {k!r}", op.where)


def _size_durability(res, fs):
    """For each op that changed i_size: when a commit first put that size on disk (the commit
    block's completion: with PREFLUSH|FUA it is durable then), or None."""
    per_ino = {}
    for tid, bio_id, _ in fs.journal.commits:
        t = res.dev.bios[bio_id].complete_ns
        for ino, raw in fs.journal.tx_by_tid[tid].raw.items():
            per_ino.setdefault(ino, ([], []))
            per_ino[ino][0].append(t)
            per_ino[ino][1].append(raw.size)
    for rec in res.ops:
        if rec.op.kind not in SIZE_CHANGING or rec.i_size_before is None or rec.i_size_after is None \
                or rec.error:
            continue
        before, after = rec.i_size_before, rec.i_size_after
        if before == after:
            continue
        times, sizes = per_ino.get(res.inos[rec.op.file], ((), ()))
        for i in range(bisect_left(times, rec.start_ns), len(times)):
            size = sizes[i]
            if (after > before and size >= after) or (after < before and size <= after):
                rec.size_durable_ns = times[i]
                break
