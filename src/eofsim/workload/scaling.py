"""Synthetic workloads for the designs' side-by-side measurements (issues 4 and 15): many
threads each growing their own files past an unaligned EOF, with an optional neighbour thread
doing small appends + fdatasync on its own file; an append stream for I/O cost per GiB; and
single size-changing operations started at random times for latency distributions."""

import math
import random
from dataclasses import dataclass, replace

from ..errors import InputError
from ..ops import Op
from ..scenario import FileSpec, Plant, Scenario, ThreadSpec

KINDS = ("append", "truncate-up")
"""The growing operations `compare` scales by default (append = extending write)."""
GROW_OPS = ("truncate-up", "extending-write", "fallocate")
ALIASES = {"append": "extending-write", "write": "extending-write", "truncate": "truncate-up"}
NEIGHBOUR = "neighbour"


def grow_op(name: str) -> str:
    """'append' / 'write' / 'truncate' / one of GROW_OPS -> the canonical name."""
    n = ALIASES.get(name.strip(), name.strip())
    if n not in GROW_OPS:
        raise InputError(f"growing operation {name!r}: use {', '.join(GROW_OPS)} (or append)")
    return n


@dataclass(frozen=True)
class ScaleSpec:
    """The scaling workload (issue 15). Every worker thread owns `files` files; each starts
    `size` bytes long, committed and clean, with its last block written on disk and a
    sentinel planted past EOF in it. Each round the thread grows every one of its files once,
    `think_ns` after the previous op started (at once if that op took longer): the growing
    op starts `gap` bytes past EOF and covers `length` bytes -
    truncate-up: ftruncate to EOF + gap + length; extending-write: write `length` bytes at
    EOF + gap; fallocate: fallocate(0) `length` bytes at EOF + gap (extends the size).
    EOF alignment follows from size / gap / length: with the defaults (1000, 100, 200) every
    one of the 8 rounds leaves EOF unaligned inside the first block, which is written, so
    every op zeroes a written EOF block (the thread's worst case); a size that is a multiple
    of the block size and gap = 0 never zero anything. Thread starts are spread uniformly
    (seeded) over `stagger_ns`.

    The neighbour (when `neighbour`) is one more thread on its own file, doing what a
    database's log does: append `nb_append` bytes at EOF and fdatasync, every `nb_period_ns`,
    for as long as the workers' schedule lasts (at least `nb_min_ops` times); then on, every
    `nb_tail_period_ns`, for `nb_tail_ns` more, so that it also meets the background
    writeback of what the workers left dirty (kupdate after dirty_expire, 30 s, and the 5 s
    flusher period): a design that defers the zeroed blocks' I/O pays it then."""
    op: str = "truncate-up"
    threads: int = 1
    files: int = 1
    rounds: int = 8
    size: int = 1000
    gap: int = 100
    length: int = 200
    think_ns: int = 1_000_000
    stagger_ns: int = 10_000_000
    neighbour: bool = True
    nb_append: int = 4096
    nb_period_ns: int = 1_000_000
    nb_min_ops: int = 20
    nb_tail_ns: int = 45_000_000_000
    nb_tail_period_ns: int = 100_000_000
    seed: int = 0

    def check(self) -> "ScaleSpec":
        grow_op(self.op)
        for name, lo in (("threads", 1), ("files", 1), ("rounds", 1), ("size", 0), ("gap", 0),
                         ("length", 1), ("think_ns", 0), ("stagger_ns", 0), ("nb_append", 1),
                         ("nb_period_ns", 1), ("nb_min_ops", 1), ("nb_tail_ns", 0),
                         ("nb_tail_period_ns", 1)):
            if getattr(self, name) < lo:
                raise InputError(f"scaling workload: {name} must be at least {lo}")
        if self.threads > 4096 or self.files > 4096 or self.threads * self.files * self.rounds > 2_000_000:
            raise InputError("scaling workload: threads x files x rounds is too large (limit 2,000,000 ops)")
        if self.size + self.rounds * (self.gap + self.length) > 1 << 40:
            raise InputError("scaling workload: the files would grow past 1 TiB")
        return self

    def text(self, threads=None, ops=None) -> str:
        """One line describing the workload; `threads` / `ops` label a grid of them."""
        thr = "/".join(str(n) for n in threads) if threads else str(self.threads)
        op = ", ".join(grow_op(o) for o in ops) if ops else grow_op(self.op)
        return (f"{thr} threads x {self.files} files, {op} "
                f"(size {self.size}, gap {self.gap}, len {self.length}), {self.rounds} rounds "
                f"every {self.think_ns / 1e6:g} ms"
                + (f"; neighbour {self.nb_append}-byte appends + fdatasync every "
                   f"{self.nb_period_ns / 1e6:g} ms meanwhile"
                   + (f", then every {self.nb_tail_period_ns / 1e6:g} ms for {self.nb_tail_ns / 1e9:g} s"
                      if self.nb_tail_ns else "") if self.neighbour else ""))


def scale_scenario(spec: ScaleSpec, block_size: int = 4096) -> Scenario:
    spec = spec.check()
    op = grow_op(spec.op)
    rng = random.Random(spec.seed)
    files, ths = [], []
    span = 0
    for t in range(spec.threads):
        names = [f"f{t}" if spec.files == 1 else f"f{t}.{k}" for k in range(spec.files)]
        sizes = {}
        for name in names:
            plants = ()
            tail = spec.size % block_size
            if tail:
                plants = (Plant(spec.size, block_size - tail, 0x5A),)
            files.append(FileSpec(name, spec.size, plants))
            sizes[name] = spec.size
        at = rng.randrange(spec.stagger_ns) if spec.stagger_ns else 0
        ops = []
        i = 0
        for _ in range(spec.rounds):
            for name in names:
                eof = sizes[name]
                if op == "truncate-up":
                    o = Op("truncate", name, size=eof + spec.gap + spec.length)
                elif op == "extending-write":
                    o = Op("write", name, off=eof + spec.gap, len=spec.length)
                else:
                    o = Op("fallocate", name, off=eof + spec.gap, len=spec.length)
                sizes[name] = eof + spec.gap + spec.length
                ops.append(replace(o, at_ns=at + i * spec.think_ns))
                i += 1
        span = max(span, at + i * spec.think_ns)
        ths.append(ThreadSpec(f"t{t}", tuple(ops)))
    if spec.neighbour:
        files.append(FileSpec(NEIGHBOUR, 0))
        n = max(spec.nb_min_ops, math.ceil(span / spec.nb_period_ns) + 1)
        times = [i * spec.nb_period_ns for i in range(n)]
        t = times[-1]
        end = t + spec.nb_tail_ns
        while spec.nb_tail_ns and t + spec.nb_tail_period_ns <= end:
            t += spec.nb_tail_period_ns
            times.append(t)
        ops = []
        for i, at in enumerate(times):
            ops.append(Op("write", NEIGHBOUR, off=i * spec.nb_append, len=spec.nb_append, at_ns=at))
            ops.append(Op("fdatasync", NEIGHBOUR))
        ths.append(ThreadSpec(NEIGHBOUR, tuple(ops)))
    return Scenario(f"scale-{op}-{spec.threads}", spec.text(), files=tuple(files), threads=tuple(ths))


def scaling_scenario(kind: str, threads: int, ops_per_thread: int = 8, seed: int = 0,
                     block_size: int = 4096, **kw) -> Scenario:
    """`compare`'s scaling run: the default ScaleSpec for `kind` (append = extending write)
    with `threads` threads and `ops_per_thread` rounds."""
    return scale_scenario(ScaleSpec(op=grow_op(kind), threads=threads, rounds=ops_per_thread,
                                    seed=seed, **kw), block_size)


def append_stream(total_bytes: int = 16 << 20, chunk: int = 10_000) -> Scenario:
    """One file grown by unaligned appends of `chunk` bytes up to `total_bytes`, 1 ms apart,
    then idle: the I/O each design spends per byte appended."""
    ops = tuple(Op("write", "f", off=i * chunk, len=chunk, at_ns=i * 1_000_000)
                for i in range(total_bytes // chunk))
    return Scenario("append-stream", f"{total_bytes} bytes appended in {chunk}-byte writes",
                    files=(FileSpec("f", 0),), threads=(ThreadSpec("t0", ops),))


def shifted(scenario: Scenario, offset_ns: int) -> Scenario:
    """The same scenario with every timed op started `offset_ns` later (a random phase
    against the commit timer and the flusher)."""
    ths = []
    for th in scenario.threads:
        ops = [op if op.at_ns is None else replace(op, at_ns=op.at_ns + offset_ns) for op in th.ops]
        if ops and ops[0].at_ns is None:
            ops[0] = replace(ops[0], at_ns=offset_ns)
        ths.append(ThreadSpec(th.name, tuple(ops)))
    return replace(scenario, threads=tuple(ths))
