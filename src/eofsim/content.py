"""Byte provenance: the content of a block or buffer as runs of (start, end, src).

`src` says where every byte came from, exactly:
  ZERO (0)            a zero byte (zeroing, hole, unwritten extent, fresh folio);
  N >= 1              data written by operation #N of the scenario;
  INITIAL             file contents that existed before the scenario began;
  garbage(b) < 0      bytes that were on the device before the scenario (byte value b):
                      never-written blocks, planted sentinels, freed blocks' old contents.
Real bytes are derived (`to_bytes`), so reads return bytes and provenance from one source.
Runs are tuples, immutable, and shared freely between page cache, bios and the disk image.
"""

from bisect import bisect_right
from operator import itemgetter

ZERO = 0
INITIAL = 1_000_000_000


_END = itemgetter(1)


def garbage(byte: int) -> int:
    return -(byte & 0xFF) - 1


def is_garbage(src: int) -> bool:
    return src < 0


def describe(src: int) -> str:
    if src == ZERO:
        return "zero"
    if src == INITIAL:
        return "initial data"
    if src < 0:
        return f"garbage 0x{-src - 1:02x}"
    return f"op #{src}"


def byte_value(src: int, file_off: int) -> int:
    """The real byte value of provenance `src` at file offset `file_off` (data is never 0)."""
    if src == ZERO:
        return 0
    if src < 0:
        return -src - 1
    return (src * 131 + file_off * 7) % 251 + 1


def fill(n: int, src: int = ZERO) -> tuple:
    return ((0, n, src),)


def overlay(runs: tuple, start: int, end: int, src: int) -> tuple:
    """Set [start, end) to `src`; neighbouring runs with the same src are merged.

    Runs are sorted and disjoint, so the runs left of `start` and right of `end` are found
    by bisection on their ends and kept as slices: a write into a folio of many runs (one
    per earlier small write) costs O(log n) plus a copy, not a Python loop over every run."""
    if start >= end:
        return runs
    if runs.__class__ is not tuple:
        runs = tuple(runs)
    if runs and start <= runs[0][0] and end >= runs[-1][1]:
        return ((start, end, src),)              # covers every run (a whole-block store)
    n = len(runs)
    i = bisect_right(runs, start, key=_END)      # runs[:i] end at or before start
    j = bisect_right(runs, end, i, key=_END)     # runs[j:] end after end
    head = runs[:i]
    if i < n and runs[i][0] < start:             # a run straddling start: its left part
        s0, _, v = runs[i]
        if v == src:
            start = s0
        else:
            head += ((s0, start, v),)
    elif head and head[-1][2] == src:
        start = head[-1][0]
        head = head[:-1]
    if j < n and runs[j][0] < end:               # a run straddling end: its right part
        _, e0, v = runs[j]
        if v == src:
            return head + ((start, e0, src),) + runs[j + 1:]
        return head + ((start, end, src), (end, e0, v)) + runs[j + 1:]
    if j < n and runs[j][2] == src:
        return head + ((start, runs[j][1], src),) + runs[j + 1:]
    return head + ((start, end, src),) + runs[j:]


def paste(runs: tuple, start: int, piece: tuple) -> tuple:
    """Overlay the runs of `piece` (relative to 0) at `start`."""
    for s, e, v in piece:
        runs = overlay(runs, start + s, start + e, v)
    return runs


def cut(runs: tuple, start: int, end: int) -> tuple:
    """The runs of [start, end), rebased to 0."""
    out = []
    for s, e, v in runs:
        if e <= start or s >= end:
            continue
        out.append(((s if s > start else start) - start, (e if e < end else end) - start, v))
    return tuple(out)


def srcs(runs: tuple, start: int = 0, end: int | None = None) -> set:
    """The set of sources present in [start, end)."""
    return {v for s, e, v in runs if e > start and (end is None or s < end)}


def to_bytes(runs: tuple, file_off: int) -> bytes:
    """Real bytes of `runs`, whose offset 0 lies at file offset `file_off`."""
    out = bytearray()
    for s, e, v in runs:
        if v == ZERO:
            out += bytes(e - s)
        elif v < 0:
            out += bytes([-v - 1]) * (e - s)
        else:
            out += bytes(byte_value(v, file_off + i) for i in range(s, e))
    return bytes(out)
