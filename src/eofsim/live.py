"""A live model: the world `sim.simulate` builds, driven one external request at a time.

`eofsim mount` (fuse/) turns each FUSE request into `LiveModel.call(tid, op)`. The request
becomes an operation of the model thread that stands for the calling thread (the FUSE
context's tid; thread names t0, t1, ... in order of first appearance), at a virtual time
mapped from its wall-clock arrival:

    T = V_done + time_scale * (wall_arrival - wall_done)

where V_done is the virtual time at which the model finished the previous request and
wall_done the wall-clock instant it did so. The program's think time between requests is
scaled; the time a request takes inside the model is the model's own (an fsync that waits
for a commit takes the commit's virtual time, however long that is). Before the request
starts, the engine runs every event due before T (flusher wakeups, jbd2 commits, end-I/O),
exactly as a scenario's thread sleeping until `@T` would let them run.

Replay equivalence (the trace is a scenario): the trace records every op with its start
time `@T`, so `simulate(trace)` runs the same ops at the same virtual times. The engine is
not changed; the one thing that could order events differently is a queued event due at
exactly T (in `simulate` the sleeping thread's wakeup was queued when its previous op
ended, here it is queued on arrival). T is therefore moved to the first nanosecond at which
nothing is queued, which makes the order the same in both runs (tested in
tests/test_live.py by replaying traces and comparing every op's start, end and result).

Assumption (what FUSE serialises): the daemon is single-threaded, so requests reach the
model one at a time and each completes in the model before the next arrives. Requests of
different program threads therefore never overlap in the model unless the model itself
parks one (it does not: a request runs to completion). This is the order a single-threaded
FUSE daemon imposes on the real program as well.

Per request (`request`): the Op and its OpRecord are built once, at their start time, from
the dataclasses' defaults; the engine is entered before the request only when an event is
due before T; the model thread's task is woken directly at T (what a timer event at T
would do, nothing else being queued there). What the request costs beyond the model's own
work is a few microseconds (bench/bench_mount.py).

Real bytes: the model tracks provenance (content.py: which op wrote each byte). The live
model keeps what each write carried (`Payload`), so reads return the program's own bytes,
and a trace's payload file (TRACE.data beside TRACE.yaml) lets crash states be
materialised as real files for application checkers.
"""

import struct
import time
from dataclasses import MISSING, fields, replace
from pathlib import Path

from .block import BlockDevice
from .content import INITIAL, ZERO, byte_value
from .engine import Engine, WaitQueue
from .errors import InputError
from .ext4 import Ext4, OpError
from .fs.fs_writeback import flusher
from .ops import Op
from .policies import get_policy
from .scenario import FileSpec, Scenario, ThreadSpec
from .scenario_file import dump_text
from .sim import OpRecord, RunResult, _populate, make_tunables, run_op

_OP_DEFAULTS = {f.name: f.default for f in fields(Op)}
_REC_DEFAULTS = {f.name: None if f.default is MISSING else f.default for f in fields(OpRecord)}


class LiveError(Exception):
    """A request the model could not serve (the daemon answers EIO and logs it)."""


class Payload:
    """What every write carried: op index -> (file offset, bytes), and the contents of files
    that existed before the first request (`--from DIR`): ino -> bytes. Runs whose src is an
    op index are real bytes from here, INITIAL runs of a file with initial contents too;
    other sources use content.byte_value."""

    MAGIC = b"EOFSIM-DATA 2\n"
    _REC = struct.Struct("<BIQI")   # kind (0: op write, 1: initial contents of an ino), key, off, len

    def __init__(self, data=None, initial=None):
        self.data = dict(data or {})
        self.initial = dict(initial or {})

    def add(self, index, off, buf):
        self.data[index] = (off, bytes(buf))

    def to_bytes(self, runs, file_off, ino=None):
        """Real bytes of provenance runs whose offset 0 lies at file offset `file_off`
        (`ino`: the file's inode, for its initial contents)."""
        out = bytearray()
        init = self.initial.get(ino) if ino is not None else None
        for s, e, v in runs:
            if v == ZERO:
                out += bytes(e - s)
            elif v < 0:
                out += bytes([-v - 1]) * (e - s)
            elif v in self.data:
                woff, buf = self.data[v]
                a = file_off + s - woff
                piece = buf[a:a + (e - s)]
                if len(piece) != e - s:
                    raise LiveError(f"payload of op #{v} does not cover [{file_off + s}, {file_off + e})")
                out += piece
            elif v == INITIAL and init is not None:
                piece = init[file_off + s:file_off + e]
                out += piece + bytes(e - s - len(piece))
            else:  # INITIAL data or an op recorded without payload: the model's pattern
                out += bytes(byte_value(v, file_off + i) for i in range(s, e))
        return bytes(out)

    def save(self, path):
        with open(path, "wb") as f:
            f.write(self.MAGIC)
            for ino in sorted(self.initial):
                buf = self.initial[ino]
                f.write(self._REC.pack(1, ino, 0, len(buf)))
                f.write(buf)
            for idx in sorted(self.data):
                off, buf = self.data[idx]
                f.write(self._REC.pack(0, idx, off, len(buf)))
                f.write(buf)

    @classmethod
    def load(cls, path):
        try:
            raw = Path(path).read_bytes()
        except OSError as e:
            raise InputError(f"cannot read payload file: {e.strerror}", str(path)) from None
        if not raw.startswith(cls.MAGIC):
            raise InputError("not an eofsim payload file (or one of another version)", str(path))
        i, data, initial = len(cls.MAGIC), {}, {}
        while i < len(raw):
            if i + cls._REC.size > len(raw):
                raise InputError(f"payload file truncated at byte {i}", str(path))
            kind, key, off, n = cls._REC.unpack_from(raw, i)
            i += cls._REC.size
            if i + n > len(raw) or kind > 1:
                raise InputError(f"payload file corrupt or truncated at byte {i}", str(path))
            if kind == 0:
                data[key] = (off, raw[i:i + n])
            else:
                initial[key] = raw[i:i + n]
            i += n
        return cls(data, initial)


def payload_path(trace_path) -> Path:
    """TRACE.yaml -> TRACE.data (the real bytes of the trace's writes)."""
    p = Path(trace_path)
    return p.with_suffix(".data")


class _Thread:
    __slots__ = ("name", "task", "pending", "wq", "recs", "fds")

    def __init__(self, name):
        self.name = name
        self.fds = {}
        """path -> [(Inode or Dir, flags)]: the thread's open files, as simulate keeps them."""
        self.task = None
        self.pending = []
        self.wq = None
        self.recs = []


class LiveModel:
    """One model instance served request by request (see the module docstring)."""

    def __init__(self, policy="bh-ordered", overrides=None, time_scale=1.0, clock=time.monotonic,
                 initial=None):
        if not 0 < time_scale <= 1e6:
            raise InputError(f"--time-scale must be in (0, 10^6] virtual seconds per wall second, "
                             f"got {time_scale}")
        self.overrides = dict(overrides or {})
        self.scenario = Scenario(name="live")
        tun = make_tunables(self.scenario, self.overrides)
        pol = get_policy(policy)
        self.policy = pol.name
        self.tun = tun
        self.eng = eng = Engine(seed=tun.seed)
        self.dev = BlockDevice(eng, tun)
        self.fs = fs = Ext4(eng, self.dev, tun, pol, trace=False)
        self.res = RunResult(scenario=self.scenario, policy=pol.name, tun=tun, dev=self.dev)
        self.payload = Payload()
        # As simulate() does for a scenario's files: the initial files (`initial`: path ->
        # bytes, from --from DIR) and the directories on their way exist, committed and clean,
        # before the first request; everything else is created by requests.
        self.files = []
        for name in sorted(initial or {}):
            data = bytes(initial[name])
            spec = FileSpec(name, len(data))
            d, leaf = fs.setup_path(name)
            inode = fs.new_inode(name)
            d.entries[leaf] = inode.ino
            self.res.inos[name] = inode.ino
            _populate(fs, self.dev, inode, spec, tun.block_size)
            self.res.initial_inodes[inode.ino] = inode.raw()
            inode.last_raw = inode.raw()
            inode.size_history[:] = [(0, 0, inode.i_size)]
            fs.name_event(name, inode.ino, 0)
            self.files.append(spec)
            self.payload.initial[inode.ino] = data
        for d in fs.dirs.values():
            self.res.initial_inodes[d.ino] = d.raw()
        eng.spawn("flusher", flusher(eng, tun, lambda: [i.mapping for i in fs.by_ino.values()], fs.wb),
                  kind="daemon")
        self.time_scale = float(time_scale)
        self._ns_per_wall_s = self.time_scale * 1e9
        self.clock = clock
        self.v_done = 0
        self.w_done = clock()
        self.threads = {}
        """FUSE tid -> _Thread."""
        self.records = []
        """[OpRecord] in arrival order (record.index: arrival number, the data's src)."""
        self._last_index = 0
        self.failed = []
        """Ops that raised inside the model (answered EIO, left out of the trace)."""
        self.stuck = []
        """Ops that never finished in the model (answered EIO, kept in the trace)."""
        self.until_ns = None
        """Set by crash(): the model stopped there; nothing more is served."""
        self.cap_ns = 20 * tun.horizon_ns
        """A request not finished this long (virtual) after it started is a stall."""

    # --- the namespace (read-only views for stat and readdir) -----------------------------
    def lookup(self, path):
        """The model's Inode or Dir that `path` names now ('.': the root); OpError otherwise."""
        return self.fs.lookup(path)

    def entries(self, path):
        """Names in directory `path` ('.': the root)."""
        d = self.fs.lookup(path)
        if hasattr(d, "mapping"):
            raise OpError("ENOTDIR")
        return sorted(d.entries)

    # --- time ---------------------------------------------------------------------------
    def _virtual_now(self):
        wall = self.clock()
        t = self.v_done + int((wall - self.w_done) * self._ns_per_wall_s + 0.5)
        now1 = self.eng.now + 1
        return t if t > now1 else (now1 if now1 > 1 else 1)

    def _advance_to(self, t):
        """Run every event due before t; return the first t' >= t at which nothing is
        queued (see the module docstring: the order then matches a replay). The engine's
        clock is left at t' - 1."""
        eng = self.eng
        q = eng._q
        while True:
            if q and q[0][0] < t:
                # something is due before t (a flusher wakeup, a commit, an end-I/O)
                eng.run(until=t - 1)
            if eng.now < t - 1:
                eng.now = t - 1   # the queue is empty or its head lies past t - 1
            if q and q[0][0] == t:
                t += 1
                continue
            return t

    def _check_live(self):
        if self.until_ns is not None:
            raise LiveError("the model crashed (eofsim crash): read-only")

    # --- requests -----------------------------------------------------------------------
    def call(self, tid, op: Op, data: bytes | None = None) -> OpRecord:
        """Run `op` for calling thread `tid` now; return its record when the model is done.
        `data`: the bytes of a write. Raises LiveError if the model cannot finish it."""
        return self.request(tid, op.kind, data, **{k: v for k, v in op.__dict__.items()
                                                   if k != "kind" and v != _OP_DEFAULTS[k]})

    def request(self, tid, kind, data=None, **fields) -> OpRecord:
        """`call` for an op given as its kind and fields (Op's names; at_ns is set here):
        what the mount calls per FUSE request, building the Op once, at its start time."""
        if self.until_ns is not None:
            raise LiveError("the model crashed (eofsim crash): read-only")
        eng = self.eng
        t = self._advance_to(self._virtual_now())
        th = self.threads.get(tid)
        if th is None:
            th = self.threads[tid] = _Thread(f"t{len(self.threads)}")
            th.wq = WaitQueue(eng, f"{th.name} waits for the program's next request",
                              "live_idle", idle=True)
        self._last_index = index = self._last_index + 1
        # Op is frozen and OpRecord a dataclass: build both from their defaults directly
        # (their __init__s cost more than some ops)
        op = object.__new__(Op)
        d = _OP_DEFAULTS.copy()
        d.update(fields)
        d["kind"] = kind
        d["at_ns"] = t
        object.__setattr__(op, "__dict__", d)
        rec = object.__new__(OpRecord)
        d = _REC_DEFAULTS.copy()
        d["index"] = index
        d["thread"] = th.name
        d["op"] = op
        rec.__dict__ = d
        self.records.append(rec)
        th.recs.append(rec)
        if kind == "write" and data is not None:
            self.payload.data[index] = (op.off, bytes(data))
        th.pending.append(rec)
        if th.task is None:
            th.task = eng.spawn(th.name, self._serve(th), kind="app", at=t)
        else:
            # nothing is queued at t or between the engine's clock (t - 1) and t: waking the
            # idle thread now, at t, is what a timer event at t would do (current: none)
            eng.now = t
            th.wq.wake_all()
        try:
            eng.run(until=t + self.cap_ns, stop=lambda: rec.end_ns is not None)
        except Exception:
            # A model error inside the op: its thread's generator is gone. The op is left out
            # of the trace (the program saw EIO, which a replay cannot reproduce) and the
            # caller's next request starts a fresh model thread.
            eng.current = None
            th.task.done = True
            del self.threads[tid]
            self.threads[("dead", tid, rec.index)] = th
            th.recs.remove(rec)
            self.records.remove(rec)
            self.payload.data.pop(rec.index, None)
            self.failed.append(replace(op, at_ns=None).text())
            raise
        if rec.end_ns is None:
            # The op hangs in the model (a deadlock or stall, e.g. iomap-v4's end-I/O worker
            # waiting on itself): it stays in the trace, whose replay shows the hang; the
            # caller's next request starts a fresh model thread, so requests that do not
            # need what the hung op holds can still be served.
            del self.threads[tid]
            self.threads[("stuck", tid, rec.index)] = th
            self.stuck.append(replace(op, at_ns=None).text())
            stall = eng.stalls()
            raise LiveError(f"{replace(op, at_ns=None).text()} did not finish within {self.cap_ns / 1e9:g} s of virtual "
                            f"time (deadlock or stall: {stall.text() if stall else 'unknown'}); "
                            f"model thread {th.name} is stuck")
        self.v_done = eng.now
        self.w_done = self.clock()
        return rec

    def _serve(self, th):
        eng = self.eng
        while True:
            while not th.pending:
                yield th.wq
            rec = th.pending.pop(0)
            yield from run_op(eng, self.fs, rec, th.fds)

    def read_bytes(self, rec: OpRecord) -> bytes:
        return self.payload.to_bytes(rec.runs or (), rec.op.off, rec.ino)

    def crash(self):
        """Stop the model now: the trace ends (`until:`) at this instant."""
        self._check_live()
        t = self._advance_to(self._virtual_now())
        self.until_ns = t
        return t

    # --- the trace ----------------------------------------------------------------------
    def scenario_of(self, name="trace", description=""):
        """The requests so far as a scenario (threads in order of first appearance, ops with
        their virtual start times) plus the payload renumbered to the scenario's op
        indices (thread-major, as simulate numbers them)."""
        threads, payload, index = [], Payload(initial=self.payload.initial), 0
        for th in self.threads.values():
            ops = []
            for rec in th.recs:
                index += 1
                ops.append(rec.op)
                if rec.index in self.payload.data:
                    payload.data[index] = self.payload.data[rec.index]
            if ops:
                threads.append(ThreadSpec(th.name, tuple(ops)))
        if not threads:
            # No request reached the model: a scenario still needs an op; this one does
            # nothing (the trace loads, and run/check report an empty run).
            threads.append(ThreadSpec("t0", (Op("sleep", dur_ns=0),)))
        tun = dict(self.overrides)
        sc = Scenario(name=name, description=description, tunables=tun, files=tuple(self.files),
                      threads=tuple(threads))
        return sc, payload

    def write_trace(self, path, name=None, description=""):
        """Write the scenario YAML and its payload file. Returns (yaml path, payload path)."""
        path = Path(path)
        sc, payload = self.scenario_of(name or _stem_name(path), description)
        if self.until_ns is not None:
            # the `until` tunable (issue 11): the run and crash exploration end there
            sc = replace(sc, tunables={**sc.tunables, "until": f"{self.until_ns}ns"})
        text = dump_text(sc)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        pp = payload_path(path)
        payload.save(pp)
        return path, pp


def _stem_name(path):
    stem = "".join(c if c.isalnum() or c in "-_." else "-" for c in Path(path).stem)
    return stem or "trace"


def walk(fs):
    """{path: Inode} of every regular file the namespace links now."""
    from .ext4.namei import ROOT_INO
    out = {}

    def visit(d, prefix):
        for leaf, ino in sorted(d.entries.items()):
            path = prefix + leaf
            sub = fs.dirs.get(ino)
            if sub is not None:
                visit(sub, path + "/")
            else:
                out[path] = fs.by_ino[ino]
    visit(fs.dirs[ROOT_INO], "")
    return out


def final_contents(fs, payload: Payload) -> dict:
    """path -> the bytes a read of the whole file returns at the end of a run (live or
    replayed): a model read in a task of its own, after everything else."""
    eng = fs.engine
    out = {}

    def reader():
        for path, inode in walk(fs).items():
            runs = yield from fs.read(inode, 0, inode.i_size)
            out[path] = payload.to_bytes(runs or (), 0, inode.ino)

    task = eng.spawn("final-read", reader(), kind="app")
    eng.run(until=eng.now + 20 * fs.tun.horizon_ns, stop=lambda: task.done)
    if not task.done:
        raise LiveError("final read did not finish (the model is stuck)")
    return out


__all__ = ["final_contents", "walk", "LiveModel", "LiveError", "Payload", "payload_path"]
