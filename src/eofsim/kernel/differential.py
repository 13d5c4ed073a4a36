"""Differential runs (no crash): one op list on a real file -- tmpfs, or ext4 or XFS on a
loop device -- recording after every op what a user sees, to hold the model against.

Per op: the error (errno name), bytes returned by read/mread, then the file's size (fstat),
its whole content (pread) and its EOF page as seen through a shared mmap, including the bytes
past EOF (Linux maps the whole EOF page; stores past EOF must not survive a size change).

Model side: `check_against_model(ops, model)` takes a callable ops -> [OpRecord-like] with
`error`, `data`, `i_size_after` (eofsim.sim records). It compares, and on a divergence shrinks
the op list (delta debugging) to the shortest list that still diverges.
"""

import os
import random
from dataclasses import dataclass

from ..ops import FALLOC_MODES, Op
from . import image, sysutil
from .image import MountOpts
from .run import apply_op
from .sysutil import PAGE


@dataclass
class Snapshot:
    index: int
    op: Op
    error: str | None
    data: bytes | None
    size: int | None = None
    content: bytes | None = None
    eof_page: bytes | None = None
    """The page holding byte size-1 read through mmap (None when size is page aligned)."""


@dataclass
class Divergence:
    index: int
    """1-based op number."""
    op: Op
    what: str
    """error | data | size | content | eof_page"""
    expected: object
    actual: object
    ops: list | None = None
    """The (shrunk) op list that shows it."""

    def text(self) -> str:
        def short(v):
            return f"{len(v)} bytes" if isinstance(v, bytes) else repr(v)
        head = f"op #{self.index} {self.op.text()}: {self.what} differs " \
               f"({short(self.expected)} vs {short(self.actual)})"
        if self.ops:
            head += "\n" + "\n".join(f"  {i + 1}. {o.text()}" for i, o in enumerate(self.ops))
        return head


def eof_page(fd, size):
    if size % PAGE == 0:
        return None
    start = size // PAGE * PAGE
    addr = sysutil.mmap_pages(fd, start, PAGE, False)
    try:
        import ctypes
        return ctypes.string_at(addr, PAGE)
    finally:
        sysutil.munmap(addr, PAGE)


def run_ops(ops, where="tmpfs", files=None, opts=MountOpts(), bs=4096, namespace=False):
    """Run `ops` on real files under `where` ('tmpfs', 'ext4' or 'xfs'); [Snapshot] per op.
    `files`: {name: initial size} (initial bytes are content INITIAL); every op file exists,
    unless `namespace`: then only `files` exist at the start and the ops' namespace calls
    (create, rename, unlink, ...) run through kernel.run.Namespace, as kernel-check does."""
    files = dict(files or {})
    if not namespace:
        for op in ops:
            if op.file is not None:
                files.setdefault(op.file, 0)
    with sysutil.Cleanup() as cu:
        work = cu.tempdir("eofsim-diff-")
        root = work
        if where in ("ext4", "xfs"):
            if opts.fs != where:
                opts = MountOpts(fs=where)
            img = os.path.join(work, "disk.img")
            image.make_image(img, image.image_size_for((), ops), bs, where)
            dev = image.losetup(img, cu, direct_io=False)
            root = os.path.join(work, "mnt")
            image.mount(dev, root, opts.text(), cu, where)
        elif where != "tmpfs":
            raise ValueError(f"where={where!r}: tmpfs, ext4 or xfs")
        fds = {}
        for name, size in files.items():
            fds[name] = os.open(os.path.join(root, name), os.O_CREAT | os.O_RDWR, 0o644)
            cu.push(f"close {name}", os.close, fds[name])
            if size:
                os.pwrite(fds[name], image.initial_bytes(size), 0)
        if namespace:
            return _run_namespace(ops, root, fds, cu, where)
        out = []
        any_fd = next(iter(fds.values()), -1)
        for i, op in enumerate(ops, 1):
            if _host_syncfs(where, op):
                out.append(Snapshot(i, op, None, None))
                continue
            # a file-less op (syncfs) takes any descriptor on the filesystem
            fd = fds.get(op.file, -1) if op.file is not None else any_fd
            err, data = apply_op(fd, i, op, time_scale=0.0)
            s = Snapshot(i, op, err, data)
            if op.file is not None:
                s.size = os.fstat(fd).st_size
                s.content = os.pread(fd, s.size, 0)
                s.eof_page = eof_page(fd, s.size)
            out.append(s)
    return out


def _host_syncfs(where, op):
    """A 'tmpfs' run is a plain directory on the host's own filesystem, where syncfs(2)
    would write back the whole shared host filesystem; it changes nothing a differential run
    observes (no crash), so it is not called there (it is on ext4 and XFS)."""
    return op.kind == "syncfs" and where == "tmpfs"


def _run_namespace(ops, root, fds, cu, where):
    from .run import Namespace
    ns = Namespace(root, cu)
    ns.implicit.update(fds)
    fds.clear()
    held = {}
    ns.helds.append(held)
    out = []
    for i, op in enumerate(ops, 1):
        if _host_syncfs(where, op):
            out.append(Snapshot(i, op, None, None))
            continue
        err, data, _ = ns.apply(held, i, op, 0.0)
        s = Snapshot(i, op, err, data)
        if op.kind == "rename":
            # the renamed file, at its new path (a descriptor held on NEW is the old file's)
            full = os.path.join(root, op.new if err is None else op.file)
            if os.path.isfile(full):
                with open(full, "rb") as f:
                    s.content = f.read()
                s.size = len(s.content)
        elif op.file is not None and op.kind not in ("unlink", "close"):
            stack = held.get(op.file)
            fd = stack[-1] if stack else ns.implicit.get(op.file)
            if fd is not None and err is None and not os.path.isdir(os.path.join(root, op.file)):
                s.size = os.fstat(fd).st_size
                s.content = os.pread(fd, s.size, 0)
                s.eof_page = eof_page(fd, s.size)
        out.append(s)
    return out


def compare_real(a, b, ignore_errors=("EOPNOTSUPP",)):
    """First difference between two real runs of the same ops (e.g. tmpfs vs ext4), or None.
    Ops where either side failed with an errno in `ignore_errors` end the comparison (the
    file systems legitimately differ in what they support, e.g. tmpfs has no zero_range)."""
    for x, y in zip(a, b):
        if x.error in ignore_errors or y.error in ignore_errors:
            return None
        for what in ("error", "data", "size", "content", "eof_page"):
            if getattr(x, what) != getattr(y, what):
                return Divergence(x.index, x.op, what, getattr(x, what), getattr(y, what))
    return None


def compare_with_model(ops, model_records, snaps):
    """First divergence of the model's records from the real run's snapshots, or None.
    Compared: errno name, bytes read (read/mread), and i_size_after (when the model set it)."""
    for op, m, s in zip(ops, model_records, snaps):
        if (m.error or None) != s.error:
            return Divergence(s.index, op, "error", m.error, s.error)
        if op.kind in ("read", "mread") and (m.data or b"") != (s.data or b""):  # None == no bytes
            return Divergence(s.index, op, "data", m.data, s.data)
        if getattr(m, "i_size_after", None) is not None and s.size is not None \
                and m.i_size_after != s.size:
            return Divergence(s.index, op, "size", m.i_size_after, s.size)
    return None


def with_probes(ops, length=None, mmap=False):
    """Insert `read FILE 0 L` after every op with a file, so the model's reads expose the whole
    content for comparison (L = largest offset the ops touch). With `mmap`, also
    `mread FILE 0 L`: a load through a shared mapping up to the end of the EOF page, so the
    bytes past EOF in the EOF page (what EOF zeroing is about) are compared too, and the
    SIGBUS beyond it."""
    length = length or max([o.off + o.len for o in ops] + [o.size for o in ops] + [1])
    out = []
    for op in ops:
        out.append(op)
        if op.file is not None and op.kind not in ("read", "mread"):
            out.append(Op("read", op.file, 0, length))
            if mmap:
                out.append(Op("mread", op.file, 0, length))
        if op.kind == "rename":
            out.append(Op("read", op.new, 0, length))
    return out


def shrink(ops, fails):
    """Delta debugging (ddmin): a 1-minimal sublist of `ops` for which fails(list) holds."""
    ops = list(ops)
    n = 2
    while len(ops) >= 2:
        chunk = -(-len(ops) // n)
        parts = [ops[i:i + chunk] for i in range(0, len(ops), chunk)]
        for i in range(len(parts)):
            rest = [o for j, p in enumerate(parts) if j != i for o in p]
            if fails(rest):
                ops, n = rest, max(n - 1, 2)
                break
        else:
            if n >= len(ops):
                break
            n = min(len(ops), 2 * n)
    return ops


# --- integration with the model (the lead wires `model`) ------------------------------------

def check_against_model(ops, model, where=("tmpfs", "ext4"), opts=MountOpts(), files=None,
                        do_shrink=True):
    """MODEL INTEGRATION POINT. `model(ops) -> [record with .error, .data, .i_size_after]`,
    e.g. lambda ops: eofsim.sim.simulate(scenario_of(ops), policy, overrides).ops.
    Returns {backend: Divergence or None}; a divergence carries the shrunk op list."""
    report = {}
    for w in where:
        def diverges(o, w=w):
            return compare_with_model(o, model(o), run_ops(o, w, files, opts))
        d = diverges(ops)
        if d is not None and do_shrink:
            small = shrink(ops, lambda o: diverges(o) is not None)
            d = diverges(small)
            d.ops = small
        report[w] = d
    return report


NAMESPACE_KINDS = ("create", "open", "close", "unlink", "rename", "mkdir")


def random_ops(seed, n, file="f", max_off=64 * 1024, kinds=None, names=None):
    """A seeded random op list over one file (fsx-like), offsets deliberately unaligned.
    `names`: paths to draw from instead of `file` (with namespace kinds in `kinds`: create,
    open [trunc], close, unlink, rename between them, mkdir)."""
    rng = random.Random(seed)
    kinds = kinds or ("write", "write", "read", "mwrite", "mread", "truncate", "fallocate",
                      "fsync", "syncfs")
    names = list(names or [file])
    ops = []
    for _ in range(n):
        k = rng.choice(kinds)
        file = rng.choice(names)
        if k in ("sync", "syncfs"):
            ops.append(Op(k))
            continue
        if k in NAMESPACE_KINDS:
            if k == "rename":
                ops.append(Op("rename", file, new=rng.choice(names)))
            elif k == "open":
                ops.append(Op("open", file, flags=rng.choice(((), ("trunc",), ("creat",)))))
            else:
                ops.append(Op(k, file))
            continue
        off = rng.randrange(max_off)
        ln = rng.randrange(1, 3 * PAGE)
        if k == "truncate":
            ops.append(Op("truncate", file, size=rng.randrange(max_off)))
        elif k == "fallocate":
            ops.append(Op("fallocate", file, off, ln, mode=rng.choice(FALLOC_MODES)))
        elif k in ("fsync", "fdatasync"):
            ops.append(Op(k, file))
        else:
            ops.append(Op(k, file, off, ln))
    return ops


NS_KINDS = ("write", "write", "read", "truncate", "fsync", "fallocate", "create", "open", "close",
            "unlink", "rename", "mkdir", "syncfs")
NS_NAMES = ("f", "g", "d/h")


def random_namespace_ops(seed, n=30):
    """A seeded op list for the namespace differential: data and namespace ops over three
    paths (only f exists at the start), probed with whole-file reads; no zero range (tmpfs
    lacks it)."""
    ops = [o for o in random_ops(seed, n, kinds=NS_KINDS, names=list(NS_NAMES), max_off=20000)
           if "zero_range" not in o.mode]
    return with_probes(ops, 24000)


def namespace_divergence(ops, where):
    """The namespace differential of one op list (files: f, empty): Divergence or None."""
    return compare_with_model(ops, simulate_ops(ops, files=["f"]),
                              run_ops(ops, where, files={"f": 0}, namespace=True))


def simulate_ops(ops, policy="bh-ordered", overrides=None, files=None):
    """The model's side of a differential run: the op list on empty files, one thread
    (`files`: only these exist at the start, for runs with namespace ops)."""
    from ..scenario import FileSpec, Scenario, ThreadSpec
    from ..sim import simulate
    names = sorted(files) if files is not None else sorted({o.file for o in ops if o.file is not None})
    sc = Scenario("differential", files=tuple(FileSpec(n, 0) for n in names),
                  threads=(ThreadSpec("t0", tuple(ops)),))
    return simulate(sc, policy, overrides).ops
