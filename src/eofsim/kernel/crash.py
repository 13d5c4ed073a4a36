"""Crash images of a real ext4 or XFS from the FUSE write log, and the Outcomes a user would
see.

Disk-order rules (issue 3, on the logged device):
  * a write logged before a flush is durable once that flush is logged (the daemon answers
    one request at a time, so it completed before the flush reached the device);
  * any later write may or may not have reached the medium: each block independently holds
    its durable version or any later version logged before the crash point, writes to one
    block keep their order (a version is a prefix of that block's writes);
  * crash points: the BEGIN marker and after every write / discard / zero-out / flush up to
    the END marker (the only instants at which the set of possible states changes).
Caveat: a write answered just before a flush arrived but submitted after the flush was
issued is also treated as covered (the daemon cannot see submission times); jbd2 always waits
for the writes it needs before issuing its flush, so protocol-required ordering is exact.
Discards and write-zeroes are treated as writing zeros (loop punches / zero-ranges the file).
Torn (partial-block) writes are not modelled.

Recovery is the real kernel's: each image is mounted (jbd2 replays committed transactions,
ext4 processes orphans; XFS's xlog_recover finds the log head by its record CRCs, so a torn
iclog write -- some of its blocks on the medium, some not, which the per-block rule
produces -- is cut off as the kernel would, and replays the rest), the files are read, then
unmounted. XFS log blocks are not pruned (every version stays a choice). A name that does
not exist after recovery is its own outcome class (absent). Which operations a file's bytes
are held against follows the inode it holds after recovery ((st_ino, i_generation), as
recorded per op), so a name replaced by rename is judged as the old or the new file it
turned out to be. Images are rewritten into one
tmpfs file under one loop device, whose buffer cache is dropped (BLKFLSBUF) before each mount.
"""

import itertools
import os
import random
import time
from dataclasses import dataclass, field

from .. import content
from ..outcome import Outcome
from . import image, sysutil
from .image import FILL
from .run import inode_key


@dataclass
class CrashState:
    crash_rec: int
    """Crash after log records [0, crash_rec)."""
    versions: dict
    """block -> index of the last log record applied to it (None: initial contents)."""
    outcomes: tuple = ()
    error: str | None = None


@dataclass
class Resurrected:
    crash_rec: int
    file: str
    start: int
    end: int
    """[start, end): bytes that must read zero (cut by a truncate, then re-extended over)
    but hold data the file had before the crash window or an op wrote earlier."""


@dataclass
class CrashResult:
    outcomes: set
    crash_points: int
    states_possible: int
    states: list = field(default_factory=list)
    exhaustive: bool = True
    note: str = ""
    seconds_per_image: float = 0.0
    failures: list = field(default_factory=list)
    """Images that did not mount or lacked a file: (crash_rec, message)."""
    resurrected: list = field(default_factory=list)
    """[Resurrected] found in the images (not an Outcome class: the model reports these as
    its `resurrected` checker kind, not in the outcome classes compared)."""


def _pieces(run):
    """block -> [(record index, offset in block, bytes)] in log order."""
    bs, out = run.bs, {}
    for i, (kind, off, n, _, payload) in enumerate(run.log[:run.end_rec]):
        if kind not in "WDZ":
            continue
        data = payload if kind == "W" else bytes(n)
        x = off
        while x < off + n:
            blk = x // bs
            end = min(off + n, (blk + 1) * bs)
            out.setdefault(blk, []).append((i, x - blk * bs, data[x - off:end - off]))
            x = end
    return out


JBD2_MAGIC, JBD2_COMMIT_BLOCK = b"\xc0\x3b\x39\x98", 2
RECOVERY_OPTS = {"ext4": "noatime", "xfs": image.XFS_OPTIONS}
"""A read-write mount replays the journal (jbd2) or the log (xlog_recover; XFS needs write
access for it, `norecovery` would skip it)."""


def _commit_recs(run, pieces):
    """Log indexes of writes that put a jbd2 commit block into the journal (ext4 only; for
    XFS no pruning: every log block's versions stay choices)."""
    if run.opts.fs != "ext4":
        return []
    out = set()
    for blk in run.journal_blocks:
        for i, o, data in pieces.get(blk, ()):
            if o == 0 and data[:4] == JBD2_MAGIC and int.from_bytes(data[4:8], "big") == \
                    JBD2_COMMIT_BLOCK:
                out.add(i)
    return sorted(out)


def crash_points(run):
    pts = [run.begin_rec + 1]
    pts += [i + 1 for i in range(run.begin_rec + 1, run.end_rec)
            if run.log[i][0] in "WDZF"]
    return sorted(set(pts))


def _choices(run, pieces, k, commits):
    """For crash point k: (fixed {blk: version}, [(blk, [version choices])]).

    Pruning (exact): a journal block written after the last commit block logged before k
    belongs to a transaction whose commit block is not on disk, so jbd2 recovery never
    replays it and whichever version it holds cannot change the recovered file: only its
    versions up to that commit are choices. (The journal superblock is never pruned.)"""
    flush = max([i for i in range(k) if run.log[i][0] == "F"], default=-1)
    last_commit = max([i for i in commits if i < k], default=-1)
    jsb = run.journal_blocks[0] if run.journal_blocks else None
    journal = set(run.journal_blocks) if run.opts.fs == "ext4" else set()
    fixed, free = {}, []
    for blk, ps in pieces.items():
        idx = [p[0] for p in ps if p[0] < k]
        if not idx:
            continue
        durable = max([i for i in idx if i < flush], default=None)
        pending = [i for i in idx if i > flush]
        if blk in journal and blk != jsb:
            pending = [i for i in pending if i <= last_commit]
        if pending:
            choices = _distinct(run, pieces, blk, [durable] + pending)
            if len(choices) > 1:
                free.append((blk, choices))
            elif choices[0] is not None:
                fixed[blk] = choices[0]
        elif durable is not None:
            fixed[blk] = durable
    return fixed, free


def block_bytes(run, pieces, blk, v) -> bytes:
    """Block `blk`'s contents with its log writes up to record v applied (None: initial)."""
    bs = run.bs
    out = bytearray(run.base[blk * bs:(blk + 1) * bs])
    if v is not None:
        for i, o, data in pieces[blk]:
            if i > v:
                break
            out[o:o + len(data)] = data
    return bytes(out)


def _distinct(run, pieces, blk, versions):
    """Versions of one block that differ in content, first of each kind, in order; the last
    version's content stays last (the 'everything logged' sample). Exact: two versions with
    the same bytes give the same crash image. (XFS rewrites log blocks with the bytes they
    already hold -- xlog_clear_stale_blocks at mount -- which would otherwise multiply the
    states by 2 per block.)"""
    reps, by = [], {}
    for v in versions:
        b = block_bytes(run, pieces, blk, v)
        if b not in by:
            by[b] = v
            reps.append(v)
    last = by[block_bytes(run, pieces, blk, versions[-1])]
    if last != reps[0] and reps[-1] != last:
        reps.remove(last)
        reps.append(last)
    return reps


def enumerate_states(run, max_states=200, seed=0):
    """[(crash_rec, versions)] distinct states, all of them if at most max_states exist,
    else a seeded sample (the last state of every crash point and the durable-only state
    first, then random). Returns (states, possible count, exhaustive, crash point count)."""
    pieces = _pieces(run)
    pts = crash_points(run)
    commits = _commit_recs(run, pieces)
    per_pt = [(k, *_choices(run, pieces, k, commits)) for k in pts]
    possible = sum(_prod(len(c) for _, c in free) for _, _, free in per_pt)
    seen, out = set(), []

    def add(k, fixed, free, pick):
        v = dict(fixed)
        v.update({blk: c for (blk, _), c in zip(free, pick)})
        key = frozenset((b, x) for b, x in v.items() if x is not None)
        if key not in seen:
            seen.add(key)
            out.append((k, v))

    if possible <= max_states:
        for k, fixed, free in per_pt:
            for pick in itertools.product(*(c for _, c in free)):
                add(k, fixed, free, pick)
        return out, possible, True, len(pts)
    for k, fixed, free in per_pt:                      # everything logged reached the disk
        add(k, fixed, free, [c[-1] for _, c in free])
    for k, fixed, free in per_pt:                      # only what flushes guarantee
        add(k, fixed, free, [c[0] for _, c in free])
    rng = random.Random(seed)
    tries = 0
    while len(out) < max_states and tries < 20 * max_states:
        tries += 1
        k, fixed, free = rng.choice(per_pt)
        add(k, fixed, free, [rng.choice(c) for _, c in free])
    return out[:max_states], possible, False, len(pts)


def _prod(it):
    p = 1
    for x in it:
        p *= x
    return p


def build_image(run, pieces, versions) -> bytearray:
    img = bytearray(run.base)
    bs = run.bs
    for blk, v in versions.items():
        if v is None:
            continue
        for i, o, data in pieces[blk]:
            if i > v:
                break
            img[blk * bs + o: blk * bs + o + len(data)] = data
    return img


def explore(run, max_states=200, seed=0) -> CrashResult:
    """Mount every crash state of `run` (kernel.run.KernelRun) and collect its Outcomes."""
    states, possible, exhaustive, npts = enumerate_states(run, max_states, seed)
    pieces = _pieces(run)
    res = CrashResult(set(), npts, possible, exhaustive=exhaustive)
    if not exhaustive:
        res.note = (f"{possible} crash states possible; checked a seeded sample of "
                    f"{len(states)} (seed {seed}), not all")
    names = run.names or run.scenario.file_names()
    with sysutil.Cleanup() as cu:
        work = cu.tempdir("eofsim-crash-")
        path, mnt = os.path.join(work, "crash.img"), os.path.join(work, "mnt")
        with open(path, "wb") as f:
            f.write(run.base)
        dev = image.losetup(path, cu, direct_io=False)
        os.makedirs(mnt)
        fd = os.open(path, os.O_RDWR)
        cu.push("close image", os.close, fd)
        t0 = time.monotonic()
        for k, versions in states:
            st = CrashState(k, versions)
            os.pwrite(fd, build_image(run, pieces, versions), 0)
            sysutil.flush_bdev(dev)
            try:
                sysutil.mount(dev, mnt, run.opts.fs, RECOVERY_OPTS[run.opts.fs])
            except OSError as e:
                st.error = f"mount failed: {e.strerror}"
                res.failures.append((k, st.error))
                res.states.append(st)
                continue
            try:
                outs = []
                for name in names:
                    try:
                        with open(os.path.join(mnt, name), "rb") as f:
                            key = inode_key(f.fileno())
                            data = f.read()
                    except (FileNotFoundError, NotADirectoryError):
                        outs.append(Outcome(name, 0, False, False, absent=True))
                        continue
                    except IsADirectoryError:
                        continue
                    outs.append(classify(run, name, data, k, key))
                    span = resurrected(run, name, data, k, key)
                    if span:
                        res.resurrected.append(Resurrected(k, name, *span))
                st.outcomes = tuple(outs)
                res.outcomes.update(outs)
            finally:
                sysutil.umount(mnt)
            res.states.append(st)
        if states:
            res.seconds_per_image = (time.monotonic() - t0) / len(states)
    return res


def _mine(run, r, name, key):
    """Did op record r act on the file read at `name` (inode `key`, if known)?"""
    if key is not None and r.key is not None:
        return r.key == key
    return r.op.file == name


def _initial_spec(run, name, key):
    specs = {f.name: f for f in run.scenario.files}
    if key is not None and run.initial_keys:
        return specs.get(run.initial_keys.get(key))
    return specs.get(name)


def expected(run, name, k, key=None):
    """(runs, size) the file holds by the ops completed before crash point k, applied in
    completion order: the data a zero must not stand in for. With `key`, the ops are those
    on that inode (whatever path they used)."""
    spec = _initial_spec(run, name, key)
    size = spec.size if spec else 0
    runs = content.fill(size, content.INITIAL) if size else ()
    done = sorted((r for r in run.ops if r.end_rec is not None and r.end_rec < k
                   and _mine(run, r, name, key) and not r.error), key=lambda r: r.end_rec)
    for r in done:
        op = r.op
        if op.kind == "write":
            runs = content.overlay(runs, op.off, op.off + op.len, r.index)
            size = max(size, op.off + op.len)
        elif op.kind == "mwrite":        # stores past i_size are not file data
            runs = content.overlay(runs, op.off, min(op.off + op.len, size), r.index)
        elif op.kind == "truncate":
            runs = content.cut(runs, 0, op.size)
            size = op.size
        elif op.kind == "fallocate":
            end = op.off + op.len
            keep = "keep_size" in op.mode or op.mode == "punch_hole"
            if op.mode:                       # punch_hole / zero_range: the range reads zero
                runs = content.overlay(runs, op.off, min(end, size) if keep else end, content.ZERO)
            if not keep and end > size:       # plain fallocate: unwritten extent, reads zero
                runs = content.overlay(runs, size, end, content.ZERO)
                size = end
    return content.cut(runs, 0, size), size


def resurrected(run, name, data, k, key=None):
    """The first [start, end) of `data` that should read zero -- a gap no completed op wrote
    after a truncate cut the file below it -- but holds the file's own earlier bytes
    (initial contents or an earlier op's data at that offset), or None. Bytes of the fill
    or a sentinel there count as garbage (classify), not as resurrected data."""
    runs, size = expected(run, name, k, key)
    spec = _initial_spec(run, name, key)
    init = spec.size if spec else 0
    cuts = [r for r in run.ops if r.end_rec is not None and r.end_rec < k
            and _mine(run, r, name, key) and r.op.kind == "truncate" and not r.error]
    if not cuts:
        return None
    # Only an image that shows a write begun after the (last) truncate returned can be a
    # state after it: otherwise the old bytes belong to a state where the cut never reached
    # the disk (ext4 data=ordered, crash before the truncate's commit), which is allowed.
    cut = max(r.end_rec for r in cuts)
    later = [r.index for r in run.ops if r.start_rec is not None and cut < r.start_rec < k
             and _mine(run, r, name, key) and r.op.kind in ("write", "mwrite") and not r.error]
    if not any(data[y] and data[y] == content.byte_value(n, y)
               for n in later for y in range(run.ops[n - 1].op.off,
                                             min(run.ops[n - 1].op.off + run.ops[n - 1].op.len,
                                                 len(data)))):
        return None
    writers = [r.index for r in run.ops if r.start_rec is not None and r.start_rec < k
               and _mine(run, r, name, key) and r.op.kind in ("write", "mwrite")]
    spans = {r.index: (r.op.off, r.op.off + r.op.len) for r in run.ops}
    covered = sorted((s, e) for s, e, src in runs if src != content.ZERO)
    x, gaps = 0, []
    for s, e in covered:
        if s > x:
            gaps.append((x, s))
        x = max(x, e)
    if x < size:
        gaps.append((x, size))
    for s, e in gaps:
        bad = [y for y in range(s, min(e, len(data))) if data[y] and (
            (y < init and data[y] == content.byte_value(content.INITIAL, y)) or any(
                spans[n][0] <= y < spans[n][1] and data[y] == content.byte_value(n, y)
                for n in writers))]
        if bad:
            return bad[0], bad[-1] + 1
    return None


def classify(run, name, data, k, key=None) -> Outcome:
    size = len(data)
    runs, _ = expected(run, name, k, key)
    zeros = any(src not in (content.ZERO, content.INITIAL) and 0 in data[s:min(e, size)]
                for s, e, src in runs if s < size)
    garbage = False
    spec = _initial_spec(run, name, key)
    init = spec.size if spec else 0
    writers = [r.index for r in run.ops if r.start_rec is not None and r.start_rec < k
               and _mine(run, r, name, key) and r.op.kind in ("write", "mwrite")]
    spans = {r.index: (r.op.off, r.op.off + r.op.len) for r in run.ops}
    for b in {FILL} | set(run.plant_bytes):
        x = data.find(bytes([b]))
        while x != -1 and not garbage:
            ok = (x < init and content.byte_value(content.INITIAL, x) == b) or any(
                spans[n][0] <= x < spans[n][1] and content.byte_value(n, x) == b for n in writers)
            garbage = not ok
            x = data.find(bytes([b]), x + 1)
        if garbage:
            break
    return Outcome(name, size, garbage, zeros)
