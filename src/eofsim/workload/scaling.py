"""Synthetic workloads for the designs' side-by-side measurements (issue 4): many threads
each growing its own file past an unaligned EOF, an append stream for I/O cost per GiB, and
single size-changing operations started at random times for latency distributions."""

import random
from dataclasses import replace

from ..ops import Op
from ..scenario import FileSpec, Plant, Scenario, ThreadSpec

KINDS = ("append", "truncate-up")


def scaling_scenario(kind: str, threads: int, ops_per_thread: int = 8, seed: int = 0,
                     block_size: int = 4096) -> Scenario:
    """`threads` threads, each with its own file of unaligned size (a sentinel planted past
    EOF), each growing it `ops_per_thread` times with a small gap past EOF, so every growth
    zeroes an EOF block: `append` writes 3000 bytes starting 500 bytes past EOF; `truncate-up`
    truncates up by 3000 bytes. Starts are staggered over 10 ms, 1 ms apart per thread."""
    rng = random.Random(seed)
    files, ths = [], []
    for t in range(threads):
        name = f"f{t}"
        size = 1000
        files.append(FileSpec(name, size, (Plant(size, block_size - size, 0x5A),)))
        ops = []
        at = rng.randrange(10_000_000)
        for i in range(ops_per_thread):
            if kind == "append":
                op = Op("write", name, off=size + 500, len=3000)
                size += 3500
            else:
                op = Op("truncate", name, size=size + 3000)
                size += 3000
            ops.append(replace(op, at_ns=at + i * 1_000_000))
        ths.append(ThreadSpec(f"t{t}", tuple(ops)))
    return Scenario(f"scale-{kind}-{threads}", f"{threads} threads, {kind} past EOF",
                    files=tuple(files), threads=tuple(ths))


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
