"""fsx-style random workloads, aimed at EOF: hand-written scenarios find the bugs their authors
imagined, random ones find the rest.

Like fsx, the generator keeps its own idea of each file's size so every op it emits is legal
in the model. Unlike fsx it is biased: about half the offsets land within a few blocks of
the current EOF (where zeroing and i_disksize bugs live), lengths and offsets are sometimes
block-aligned and sometimes not, and it adds what fsx lacks: fdatasync, sync_file_range,
sync and sleeps long enough for the flusher (5 s), jbd2 commits (5 s) and dirty expiry
(30 s) to run between operations.

Threads: file i is owned by thread i % threads, and only its owner changes its size or
maps it (write, mwrite, truncate, fallocate, mread); so the size the generator tracks is
the real one whatever the interleaving, and mwrite stays inside the EOF page. The other
threads race with the owner through read, fsync, fdatasync, sync_file_range, sync, sleep.
"""

import random

from ..errors import InputError
from ..ops import SFR_FLAGS, Op
from ..scenario import FileSpec, Scenario, ThreadSpec

DEFAULT_MIX = {
    "write": 20, "read": 8, "mwrite": 8, "mread": 5, "truncate": 10,
    "fallocate": 4, "fallocate:keep_size": 3, "fallocate:punch_hole": 4,
    "fallocate:zero_range": 3, "fallocate:zero_range,keep_size": 2,
    "fsync": 5, "fdatasync": 4, "sync_file_range": 4, "sync": 1, "sleep": 3,
}
"""Relative weights; keys are op kinds, or 'fallocate:MODE'."""
NAMESPACE_MIX = {"replace": 3, "replace:fsync": 1, "unlink": 2, "open_trunc": 2}
"""Added with namespace=True. replace: create F.tmp, write it, close, rename it over F
(replace:fsync fsyncs F.tmp before the rename); unlink: unlink F and create it again
(empty); open_trunc: open F with O_TRUNC and close it."""
OWNER_ONLY = {"write", "mwrite", "mread", "truncate", "fallocate", "fallocate:keep_size",
              "fallocate:punch_hole", "fallocate:zero_range", "fallocate:zero_range,keep_size",
              "replace", "replace:fsync", "unlink", "open_trunc"}
PAGE = 4096
MAX_OP = 64 * 1024  # fsx's default maximum op length (-o)


def eof_page_end(size: int, page: int = PAGE) -> int:
    """End of the last page an mmap of a `size`-byte file can touch (0: nothing mapped)."""
    return -(-size // page) * page


class _Gen:
    def __init__(self, rng, max_size, block):
        self.r = rng
        self.max_size = max_size
        self.block = block

    def offset(self, size, limit):
        """An offset in [0, limit): near EOF half the time, block-aligned a third."""
        r, bs = self.r, self.block
        roll = r.random()
        if roll < 0.5:
            off = size + r.randint(-2 * bs, 2 * bs)
        elif roll < 0.6:
            off = 0
        else:
            off = r.randrange(max(limit, 1))
        if r.random() < 0.35:
            off -= off % bs
        return min(max(off, 0), max(limit - 1, 0))

    def length(self, room):
        """A length in [1, room]: mostly small, sometimes up to fsx's 64 KiB."""
        r, bs = self.r, self.block
        roll = r.random()
        if roll < 0.5:
            n = r.randint(1, 2 * bs)
        elif roll < 0.8:
            n = r.randint(1, 4) * bs
        else:
            n = r.randint(1, MAX_OP)
        if r.random() < 0.1:
            n = bs - 1 if r.random() < 0.5 else bs + 1  # one off a block
        return max(1, min(n, room))

    def new_size(self, size):
        r, bs = self.r, self.block
        roll = r.random()
        if roll < 0.1:
            n = 0
        elif roll < 0.6:
            n = size + r.randint(-3 * bs, 3 * bs)
        else:
            n = r.randrange(self.max_size + 1)
        if r.random() < 0.3:
            n -= n % bs
        return min(max(n, 0), self.max_size)

    def sleep_ns(self):
        r = self.r
        roll = r.random()
        if roll < 0.6:
            return r.randint(1_000, 10_000_000)           # 1 us .. 10 ms
        if roll < 0.95:
            return r.randint(1_000_000_000, 6_000_000_000)  # past a commit / flusher wake
        return r.randint(30_000_000_000, 35_000_000_000)    # past dirty expiry


def _check_mix(mix, namespace=False):
    known = {**DEFAULT_MIX, **(NAMESPACE_MIX if namespace else {})}
    bad = [k for k in mix if k not in known]
    if bad:
        raise InputError(f"unknown op mix key(s) {', '.join(map(repr, bad))} "
                         f"(known: {', '.join(known)})")
    for k, w in mix.items():
        if isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0:
            raise InputError(f"op mix weight for {k!r} must be a number >= 0, got {w!r}")
    if not any(mix.values()):
        raise InputError("op mix has no positive weight")


def generate(seed: int, n_ops: int, files=("f",), threads: int = 1,
             max_size: int = 256 * 1024, mix: dict | None = None,
             block_size: int = 4096, namespace: bool = False, lazy: bool = False) -> Scenario:
    """A random workload of `n_ops` ops over `threads` threads; same arguments, same workload.

    Files start existing and empty (as fsx's, opened O_TRUNC). `mix` overrides weights of
    DEFAULT_MIX; `block_size` is what "aligned" means; `max_size` bounds every size and
    range end (fsx's -l). Threads get ops round-robin, so each has about n_ops/threads.
    `namespace` adds NAMESPACE_MIX (files replaced by rename, unlinked and re-created,
    truncated by O_TRUNC; only the file's owner does these, so another thread's read or
    fsync may meet ENOENT between the unlink and the create, as on a real system); without
    it the workload is the single-name one of before, op for op. A replace counts as one op of n_ops though it emits four or five.

    `lazy`: each thread's ops are an OpStream that generates them again on each pass
    instead of a tuple (constant memory for a 1,000,000-op workload; the same ops).
    """
    files = tuple(files)
    if not files or len(set(files)) != len(files):
        raise InputError("generate needs distinct file names")
    if threads < 1 or n_ops < 0:
        raise InputError("generate needs threads >= 1 and n_ops >= 0")
    if max_size < 2 * block_size or block_size < 1:
        raise InputError(f"max_size {max_size} must be at least two blocks of {block_size}")
    weights = dict(DEFAULT_MIX)
    if namespace:
        weights.update(NAMESPACE_MIX)
    if mix is not None:
        _check_mix(mix, namespace)
        weights.update(mix)

    args = (seed, n_ops, files, threads, max_size, weights, block_size)
    if lazy:
        ths = tuple(ThreadSpec(f"t{t}", OpStream(args, t)) for t in range(threads))
    else:
        out = [[] for _ in range(threads)]
        for t, op in _emit(*args):
            out[t].append(op)
        ths = tuple(ThreadSpec(f"t{t}", tuple(ops)) for t, ops in enumerate(out))

    return Scenario(
        name=f"random-{seed}",
        description=f"fsx-style random workload: seed {seed}, {n_ops} ops, "
                    f"{threads} thread(s), files {', '.join(files)}",
        files=tuple(FileSpec(f) for f in files),
        threads=ths,
    )


def _emit(seed, n_ops, files, threads, max_size, weights, block_size):
    """(thread, op) in generation order: the one random stream every form of the workload
    is cut from."""
    r = random.Random(seed)
    g = _Gen(r, max_size, block_size)
    size = {f: 0 for f in files}
    owned = [[f for i, f in enumerate(files) if i % threads == t] for t in range(threads)]
    choices = []
    for t in range(threads):
        keys = [k for k, w in weights.items() if w > 0 and (owned[t] or k not in OWNER_ONLY)]
        if not keys:  # a thread owning nothing whose mix only mutates: let it read
            keys = ["read"]
        choices.append((keys, [weights.get(k, 1) or 1 for k in keys]))

    for i in range(n_ops):
        t = i % threads
        keys, w = choices[t]
        key = r.choices(keys, w)[0]
        kind, _, mode = key.partition(":")
        if key in OWNER_ONLY:
            f = r.choice(owned[t])
        else:
            f = r.choice(files)
        sz = size[f]
        if kind in ("mwrite", "mread"):
            end = eof_page_end(sz)
            if end == 0:  # nothing mapped yet: write instead, as legal and still at EOF
                kind = "write"
            else:
                off = g.offset(sz, end)
                yield t, Op(kind, f, off, g.length(end - off))
                continue
        if kind == "write":
            off = g.offset(sz, max_size)
            n = g.length(max_size - off)
            size[f] = max(sz, off + n)
            yield t, Op("write", f, off, n)
        elif kind == "read":
            off = g.offset(sz, max_size)
            yield t, Op("read", f, off, g.length(max_size - off))
        elif kind == "truncate":
            size[f] = g.new_size(sz)
            yield t, Op("truncate", f, size=size[f])
        elif kind == "fallocate":
            off = g.offset(sz, max_size)
            n = g.length(max_size - off)
            if mode in ("", "zero_range"):
                size[f] = max(sz, off + n)
            yield t, Op("fallocate", f, off, n, mode=mode)
        elif kind in ("fsync", "fdatasync"):
            yield t, Op(kind, f)
        elif kind == "sync_file_range":
            flags = tuple(x for x in SFR_FLAGS if r.random() < 0.6) or ("write",)
            off = g.offset(sz, max_size)
            n = 0 if r.random() < 0.2 else g.length(max_size - off)  # 0: to end of file
            yield t, Op("sync_file_range", f, off, n, flags=flags)
        elif kind == "sync":
            yield t, Op("sync")
        elif kind == "replace":
            tmp = f"{f}.tmp"
            n = g.length(max_size)
            yield t, Op("create", tmp)
            yield t, Op("write", tmp, 0, n)
            if mode == "fsync":
                yield t, Op("fsync", tmp)
            yield t, Op("close", tmp)
            yield t, Op("rename", tmp, new=f)
            size[f] = n
        elif kind == "unlink":
            yield t, Op("unlink", f)
            yield t, Op("create", f)
            yield t, Op("close", f)
            size[f] = 0
        elif kind == "open_trunc":
            yield t, Op("open", f, flags=("trunc",))
            yield t, Op("close", f)
            size[f] = 0
        else:
            yield t, Op("sleep", dur_ns=g.sleep_ns())


class OpStream:
    """One thread's ops of a generated workload, generated again on each pass (iteration
    and len() only): memory stays constant whatever n_ops."""

    def __init__(self, args, thread):
        self.args = args
        self.thread = thread
        self._n = None

    def __iter__(self):
        t0 = self.thread
        for t, op in _emit(*self.args):
            if t == t0:
                yield op

    def __len__(self):
        if self._n is None:
            threads, weights = self.args[3], self.args[5]
            if threads == 1 and not any(weights.get(k) for k in NAMESPACE_MIX):
                self._n = self.args[1]
            else:
                self._n = sum(1 for _ in self)
        return self._n
