"""Byte-precise checkers over a recovered file, and what each crash time obliges.

Every check of a byte depends only on that byte's content, the crash time t and the
recovered size / transaction prefix, never on other bytes. That is what lets explore.py
check each block's possible versions once instead of the product of all blocks' choices.

Kinds (violations):
  garbage          a byte inside the recovered size holds pre-scenario device contents;
  resurrected      a byte holds data (or initial contents) written before that offset last
                   re-entered the file from beyond EOF, where that re-entry is reflected in
                   the recovered metadata (its size change belongs to a replayed transaction);
  fsync-data       a byte a completed fsync/fdatasync/sync covered lost its data;
  fsync-size       the recovered size is below what a completed fsync/fdatasync/sync covered;
  impossible-size  the recovered size is no size the file had by t;
  foreign-data     a byte holds data an operation wrote to another inode (an unlinked or
                   replaced file's blocks reappearing in this one);
  name-lost        a name that must exist after the crash is absent: a new file that was
                   fsync'd (fdatasync'd when it was created under that name), a file whose
                   directory was fsync'd, anything before a completed sync; also a name
                   replaced by rename, which must hold the old or the new inode, never neither;
  name-wrong       a name holds an inode it did not name in the window the crash allows.
Counted, not a violation: zeros instead of data (a zero byte where the newest operation
completed by t that wrote it wrote data).
"""

from bisect import bisect_right
from dataclasses import dataclass

from ..content import INITIAL, ZERO, describe, overlay
from ..seq import Seq

BIG = 1 << 62
GARBAGE, RESURRECTED, FSYNC_DATA, FSYNC_SIZE, IMPOSSIBLE_SIZE = (
    "garbage", "resurrected", "fsync-data", "fsync-size", "impossible-size")
FOREIGN_DATA, NAME_LOST, NAME_WRONG = "foreign-data", "name-lost", "name-wrong"
KINDS = (GARBAGE, RESURRECTED, FSYNC_DATA, FSYNC_SIZE, IMPOSSIBLE_SIZE, FOREIGN_DATA, NAME_LOST,
         NAME_WRONG)
FILE_LEVEL = (FSYNC_SIZE, IMPOSSIBLE_SIZE, NAME_LOST, NAME_WRONG)
COVERING = ("fsync", "fdatasync", "sync", "syncfs")
WHOLE_FS = ("sync", "syncfs")
"""Ops that cover every file (sync(2), syncfs(2) on the one filesystem the model has)."""
DATA_OPS = ("write", "mwrite")


@dataclass(frozen=True)
class Violation:
    kind: str
    crash_time_ns: int
    offset: int
    length: int
    file: str
    detail: str = ""

    def as_dict(self):
        return {"kind": self.kind, "crash_time_ns": self.crash_time_ns, "offset": self.offset,
                "length": self.length, "file": self.file, "detail": self.detail}


def _br(seq, x, lo=0, hi=None):
    """bisect_right over a list or a seq.Seq (absolute positions)."""
    if seq.__class__ is Seq:
        return seq.bisect_right(x, lo or None, hi)
    return bisect_right(seq, x, lo, hi)  # hi=None: the whole list


def _starts(runs):
    return [r[0] for r in runs]


class Map:
    """Runs covering [0, BIG) with a value each, plus their starts for bisection."""
    __slots__ = ("runs", "starts")

    def __init__(self, runs):
        self.runs = runs
        self.starts = _starts(runs)

    def over(self, s, e):
        runs = self.runs
        i = bisect_right(self.starts, s) - 1
        n = len(runs)
        while i < n:
            rs, re, v = runs[i]
            if rs >= e:
                break
            if re > s:
                yield (rs if rs > s else s), (re if re < e else e), v
            i += 1


def _subtract(s, e, ranges):
    """[s, e) minus the union of ranges -> list of (s, e)."""
    out = [(s, e)]
    for a, b in ranges:
        nxt = []
        for x, y in out:
            if b <= x or a >= y:
                nxt.append((x, y))
                continue
            if x < a:
                nxt.append((x, a))
            if b < y:
                nxt.append((b, y))
        out = nxt
        if not out:
            break
    return out


class FileHistory:
    """What the operations did to one file, as the checkers need it."""

    def __init__(self, result, name, block_size, ino=None, ops=None, stream=None):
        self.name = name
        self.ino = ino
        """With namespace ops: the inode this history is about (ops are matched by the inode
        they acted on, whatever name they used); None: by name (results without inodes)."""
        self.bs = block_size
        self.stream = stream is not None
        """stream (crash/stream.py): start from the initial size entry `stream` and take
        size changes (add_size) and finished ops (add_op) as the run goes, keeping only
        what later crash times can ask for (prune)."""
        self.ops = ops if ops is not None else {o.index: o for o in result.ops}
        """op index -> OpRecord (`ops`: one such dict shared by every file's history)."""
        if self.stream:
            hist = [stream]
        else:
            hist = list(result.ino_history.get(ino, ()) if ino is not None
                        else result.size_history.get(name, ()))
        if not hist:
            hist = [(0, 0, 0)]
        self.hist = Seq(hist) if self.stream else hist
        self.htimes = Seq([h[0] for h in hist]) if self.stream else [h[0] for h in hist]
        self._tids_recorded = any(len(h) > 3 and h[3] is not None for h in hist)
        # size entries by op index, each with the size before it
        self.entries_of = {}
        for j in range(1, len(hist)):
            self.entries_of.setdefault(hist[j][1], []).append((hist[j - 1][2], hist[j][2]))
        self._re = [Map(((0, BIG, None),))]
        self._Lmemo = {}
        self._z_dirty = False
        self._ctx = {}
        self._before = {}
        self._sz = None
        # initial contents: [0, initial size) hold INITIAL
        s0 = hist[0][2]
        self._lw = [Map(overlay(((0, BIG, None),), 0, s0, INITIAL) if s0 > 0 else ((0, BIG, None),))]
        if self.stream:
            self.done, self.done_ends = Seq(), Seq()
            self._lw, self._re = Seq(self._lw), Seq(self._re)
            self.covering, self.ranged, self.zeroing = [], [], []
            self._cov, self._cov_pos, self._cov_ends, self._cov_best = Seq(), Seq(), Seq(), Seq()
            self._cov_idx = {}
            self._np = 0
            self._cov_min = []
            """stream: [(position in _cov, start)] with starts increasing: the least start
            over _cov[i:] is that of the first entry at or after i."""
            self._cov_never_min = BIG
            self._index_zeroing()
            self.ctx_times = Seq(list(self.htimes.items))
            return
        # An mmap store that ran past the EOF page stored everything before it, then SIGBUS.
        mine = [o for o in result.ops if self.is_mine(o)]
        self.mine = mine
        # completed ops in completion order, for the last-writer map
        done = sorted((o for o in mine if o.end_ns is not None), key=lambda o: (o.end_ns, o.index))
        self.done = done
        self.done_ends = [o.end_ns for o in done]
        self.covering = [o for o in mine if o.op.kind in COVERING]
        self.ranged = [o for o in mine if o.op.kind == "write" and o.sync_tid is not None]
        """O_DSYNC/O_SYNC and RWF_DSYNC/RWF_SYNC writes: generic_write_sync ->
        vfs_fsync_range over the written bytes, so those bytes (and the size that holds
        them) are covered once the write returns."""
        self.zeroing = [o for o in mine if _zero_range(o) is not None]
        self._index_zeroing()
        self._index_covering()
        times = set(self.htimes)
        for o in mine:
            times.add(o.start_ns)
            if o.end_ns is not None:
                times.add(o.end_ns)
        self.event_times = sorted(times)
        # The instants at which a checking context's content can change (a subset of the
        # crash times): size changes, completions that move the last-writer map (data,
        # size-changing and zeroing ops), zeroing ops' starts and ends, covering ops' ends.
        # A read, a write's start or an fsync's start changes nothing the checks read, so
        # contexts (and the file states built on them) carry over such instants.
        ct = set(self.htimes)
        for o in mine:
            t = self._ctx_time(o)
            if t is not None:
                ct.add(t)
        for o in self.zeroing:
            ct.add(o.start_ns)
        self.ctx_times = sorted(ct)

    def is_mine(self, o):
        """An op this history is about: started, not failed (an mmap store that ran past
        the EOF page stored everything before it, then SIGBUS), on this file (or inode), or
        a whole-filesystem sync."""
        return o.start_ns is not None \
            and (o.error is None or (o.op.kind == "mwrite" and o.error == "SIGBUS")) \
            and ((o.op.file == self.name if self.ino is None else o.ino == self.ino)
                 or (o.op.kind in WHOLE_FS))

    def _ctx_time(self, o):
        if o.end_ns is not None and (o.op.kind in DATA_OPS or o.op.kind in COVERING
                                     or o.index in self.entries_of
                                     or _zero_range(o) is not None):
            return o.end_ns
        return None

    # --- streaming: the history as the run makes it ------------------------------------
    def add_size(self, entry):
        """stream: an i_size change (time, op index, size), in time order."""
        prev = self.hist[len(self.hist) - 1][2]
        self.hist.append(entry)
        self.htimes.append(entry[0])
        self.entries_of.setdefault(entry[1], []).append((prev, entry[2]))
        self.ctx_times.insort(entry[0])

    def add_op(self, o):
        """stream: one of this history's ops (is_mine), once it finished (or the run ended
        with it unfinished), ops in (end, index) order."""
        k = o.op.kind
        if o.end_ns is not None:
            ends = self.done_ends
            if ends.items and o.end_ns < ends.items[-1]:
                raise AssertionError("ops must come in completion order")
            self.done.append(o)
            ends.append(o.end_ns)
        t = self._ctx_time(o)
        if t is not None:
            self.ctx_times.insort(t)
        if k in COVERING:
            if o.end_ns is None:
                self._cov_never_min = min(self._cov_never_min, o.start_ns)
            else:
                i = len(self._cov)
                b = self._cov_best[i - 1] if i else None
                self._cov.append(o)
                self._cov_pos.append(o.index)
                self._cov_ends.append(o.end_ns)
                self._cov_idx[id(o)] = i
                if b is None or (o.start_ns, o.index) > (b.start_ns, b.index):
                    b = o
                self._cov_best.append(b)
                cm = self._cov_min
                while cm and cm[-1][1] >= o.start_ns:
                    cm.pop()
                cm.append((i, o.start_ns))
        if k == "write" and o.sync_tid is not None:
            self.ranged.append(o)
        if _zero_range(o) is not None:
            self.zeroing.append(o)
            self.ctx_times.insort(o.start_ns)
            self._z_dirty = True

    def _cov_start_from(self, i):
        """stream: the least start of the completed covering ops from position i on."""
        cm = self._cov_min
        j = bisect_right(cm, (i, -1))
        return cm[j][1] if j < len(cm) else BIG

    def _prune_stream(self, t, x, nd, low, c_low):
        """stream: forget the entries prune() found no later crash time asks for."""
        lw = self._lw
        lw.drop_before(min(low, len(lw) - 1))
        for o in self.done[:lw.base]:
            self.entries_of.pop(o.index, None)
        self.done.drop_before(lw.base)
        self.done_ends.drop_before(lw.base)
        re = self._re
        re.drop_before(min(max(c_low, 1) - 1, len(re) - 1))
        # covering ops that still oblige: those ending after the start of the latest-starting
        # one completed by t (Context keeps them); the rest, and zeroing ops over before all
        # of them (and t) began, are dropped
        lo = min(self._cov_ends.bisect_right(x), max(nd - 1, 0))
        for o in self._cov[:lo]:
            self._cov_idx.pop(id(o), None)
        for q in (self._cov, self._cov_pos, self._cov_ends, self._cov_best):
            q.drop_before(lo)
        cm = self._cov_min
        del cm[:bisect_right(cm, (lo, -1))]
        m0 = self._cov_start_from(self._cov.base)
        m = min(t, m0, self._cov_never_min)
        keep_z = [o for o in self.zeroing if o.end_ns is None or o.end_ns > m]
        if len(keep_z) != len(self.zeroing):
            self.zeroing = keep_z
            self._z_dirty = True
        # size entries: the re-entry base, the admitted-size cursor and every kept obligation's
        # start bound how far back the entries are read
        keep = min(re.base, c_low - 1, (self._sz[0] - 1) if self._sz else 0)
        if m0 < BIG:
            keep = min(keep, self.htimes.bisect_right(m0) - 1)
        if self.ranged:
            keep = 0
        for idx in list(self._Lmemo):
            keep = min(keep, self._Lmemo[idx][0] - 1)
        if keep > self.hist.base:
            self.hist.drop_before(keep)
            self.htimes.drop_before(keep)
        ct = self.ctx_times
        ct.drop_before(ct.bisect_right(t) - 1)
        if len(self._before) > 4096:
            self._before.clear()

    # --- sizes ----------------------------------------------------------------------
    def size_at(self, t):
        i = _br(self.htimes, t) - 1
        return self.hist[max(i, 0)][2]

    def allowed_sizes(self, t):
        """Sizes the file had by t, plus the block-aligned sizes an extending write or
        fallocate passes through (write_end per folio; writeback's i_disksize at a page
        boundary; fallocate per chunk)."""
        n = _br(self.htimes, t)
        out = {self.hist[0][2]}
        partial = []
        for j in range(1, max(n, 1)):
            _, idx, s = self.hist[j][:3]
            out.add(s)
            prev = self.hist[j - 1][2]
            o = self.ops.get(idx)
            if s > prev and o is not None and o.op.kind in ("write", "mwrite", "fallocate"):
                partial.append((prev, s))
        return out, partial

    def size_ok(self, R, t):
        """R is a size allowed_sizes(t) admits. Kept incrementally: the admitted sizes and
        the merged integer ranges strictly inside an extending op's (prev, new) grow with
        the number n of entries stamped by t, and crash times come in increasing order (a
        smaller n rebuilds)."""
        n = _br(self.htimes, t)
        st = self._sz
        if st is None or st[0] > max(n, 1):
            st = self._sz = [1, {self.hist[0][2]}, []]
        m = max(n, 1)
        if st[0] < m:
            sizes, ivs = st[1], st[2]
            for j in range(st[0], m):
                _, idx, s = self.hist[j][:3]
                sizes.add(s)
                prev = self.hist[j - 1][2]
                o = self.ops.get(idx)
                if s > prev + 1 and o is not None and o.op.kind in ("write", "mwrite", "fallocate"):
                    _add_interval(ivs, prev + 1, s - 1)
            st[0] = m
        if R in st[1]:
            return True
        if R % self.bs:
            return False
        ivs = st[2]
        i = bisect_right(ivs, (R, BIG)) - 1
        return i >= 0 and ivs[i][0] <= R <= ivs[i][1]

    # --- last writer ----------------------------------------------------------------
    def _lw_step(self, runs, j):
        """The last-writer runs after the (j+1)-th completed op, from those after the j-th."""
        o = self.done[j]
        for prev, new in self.entries_of.get(o.index, ()):
            if new > prev:
                runs = overlay(runs, prev, new, ZERO)
            elif new < prev:
                runs = overlay(runs, new, prev, None)
        kind = o.op.kind
        if kind in DATA_OPS:
            end = o.op.off + o.op.len
            if kind == "mwrite" and o.i_size_after is not None:
                end = min(end, max(o.i_size_after, o.op.off))
            runs = overlay(runs, o.op.off, end, o.index)
        else:
            z = _zero_range(o)
            if z is not None and o.op.kind == "fallocate":
                cap = o.i_size_after if o.i_size_after is not None else BIG
                if z[0] < min(z[1], cap):
                    runs = overlay(runs, z[0], min(z[1], cap), ZERO)
        return runs

    def lastw(self, k):
        """Map offset -> newest effect among the first k completed ops: op index (data),
        INITIAL, ZERO, or None (beyond EOF / never part of the file)."""
        return _snapshot(self._lw, k, self._lw_step)

    def done_by(self, t):
        return _br(self.done_ends, t)

    # --- re-entry -------------------------------------------------------------------
    def _re_step(self, runs, i):
        j = i + 1
        t, idx, s = self.hist[j][:3]
        prev = self.hist[j - 1][2]
        if s > prev:
            runs = overlay(runs, prev, s, (idx, t))
        return runs

    def reentry(self, c):
        """Map offset -> (op index, time) of the last re-entry among size entries 1..c-1."""
        return _snapshot(self._re, max(c, 1) - 1, self._re_step)

    # --- bounded retention over a long run ----------------------------------------------
    def prune(self, t, c_low):
        """Drop the last-writer and re-entry snapshots no crash time from t on asks for
        (a dropped one asked for anyway is rebuilt from the nearest kept one, so this
        changes cost, never results): last writers before done_by(t) and before the start
        of every covering op that may still oblige (in flight, or ending after the start
        of the latest-starting one completed by t); re-entries before c_low - 1."""
        if not self.prunable():
            return
        ce = self._cov_ends
        nd = ce.bisect_right(t) if self.stream else bisect_right(ce, t)
        x = self._cov_best[nd - 1].start_ns if nd else -1
        if self.stream:
            m = min(self._cov_start_from(ce.bisect_right(x)), self._cov_never_min)
        else:
            i = bisect_right(ce, x)
            m = min(self._cov_sufmin[i], self._cov_never_min)
        low = self.done_by(t)
        if m < BIG:
            low = min(low, self.done_by(m))
        _drop(self._lw, low)
        _drop(self._re, max(c_low, 1) - 1)
        self._Lmemo = {k: v for k, v in self._Lmemo.items() if self.ops[k].end_ns is None
                       or self.ops[k].end_ns > x}
        if self.stream:
            self._np += 1
            if not self._np & 15:
                self._prune_stream(t, x, nd, low, c_low)

    def prunable(self):
        """Whether prune() may drop anything (_drop keeps the first and the newest entry;
        a streaming history always has its own retention to apply)."""
        return self.stream or len(self._lw) > 2 or len(self._re) > 2 or bool(self._Lmemo)

    def reflected_count(self, t, boundary, last_tid):
        """How many leading size entries the recovered metadata reflects: those stamped by
        t and before the last replayed transaction's commit began (or, when the model
        records the tid of each size change, those in a replayed transaction)."""
        if not self._tids_recorded:
            # entries are time-sorted: the leading run stamped <= lim is a bisection
            return max(_br(self.htimes, min(t, boundary - 1)), 1)
        lim = min(t, boundary - 1)
        n = 0
        for h in self.hist:
            if len(h) > 3 and h[3] is not None and last_tid is not None:
                if h[3] <= last_tid and h[0] <= t:
                    n += 1
                    continue
                break
            if h[0] <= lim:
                n += 1
            else:
                break
        return max(n, 1)

    def before(self, n, entry):
        """Did the write of op n finish before the size change `entry` = (op index, time)?"""
        if n == INITIAL:
            return True
        key = (n, entry)
        r = self._before.get(key)
        if r is None:
            idx, t = entry
            a = self.ops.get(n)
            b = self.ops.get(idx)
            if a is None or n == idx:
                r = False
            elif b is not None and a.thread == b.thread:
                r = n < idx
            else:
                r = a.end_ns is not None and a.end_ns < t
            self._before[key] = r
        return r

    # --- indexes over the op history (so a crash time costs no scan of it) ------------
    def _index_zeroing(self):
        """Zeroing ops in flight at any t, as a step function (sweep over their starts and
        ends), and the zeroing ops sorted by start."""
        self._z_dirty = False
        if not self.zeroing:
            self._za_times, self._za, self._zs, self._zs_starts = [], [], [], []
            return
        if len(self.zeroing) == 1:  # one truncate or punch: the sweep's two steps directly
            s, e = self.zeroing[0].start_ns, self.zeroing[0].end_ns
            if e is None or e >= s:
                self._za_times, self._za = ([s], [(0,)]) if e is None else \
                    ([s, e], [(0,), ()]) if e > s else ([s], [()])
                self._zs, self._zs_starts = [0], [s]
                return
        ev = []
        for k, o in enumerate(self.zeroing):
            ev.append((o.start_ns, 1, k))
            if o.end_ns is not None:
                ev.append((o.end_ns, 0, k))
        ev.sort()
        times, act = [], []
        cur = {}
        i = 0
        while i < len(ev):
            T = ev[i][0]
            while i < len(ev) and ev[i][0] == T:
                _, add, k = ev[i]
                if add:
                    cur[k] = True
                i += 1
            for k in list(cur):
                o = self.zeroing[k]
                if o.end_ns is not None and o.end_ns <= T:
                    del cur[k]
            times.append(T)
            act.append(tuple(sorted(cur)))
        self._za_times = times
        self._za = act
        order = sorted(range(len(self.zeroing)), key=lambda k: (self.zeroing[k].start_ns, k))
        self._zs = order
        self._zs_starts = [self.zeroing[k].start_ns for k in order]

    def zeroing_active(self, t):
        """Indices (into self.zeroing) of zeroing ops with start <= t < end (or no end)."""
        if self._z_dirty:
            self._index_zeroing()
        i = bisect_right(self._za_times, t) - 1
        return self._za[i] if i >= 0 else ()

    def zeroing_overlapping(self, t0, t1):
        """Indices of zeroing ops with start <= t1 and (no end or end > t0), t0 <= t1."""
        ks = set(self.zeroing_active(t0))
        lo = bisect_right(self._zs_starts, t0)
        hi = bisect_right(self._zs_starts, t1)
        ks.update(self._zs[lo:hi])
        return ks

    def _index_covering(self):
        """Completed covering ops sorted by end; prefix argmax of (start, index)."""
        if not self.covering:  # no fsync or sync: empty indexes
            self._cov, self._cov_pos, self._cov_ends, self._cov_best = [], [], [], []
            self._cov_idx, self._cov_sufmin, self._cov_never_min = {}, [BIG], BIG
            return
        pos = {id(o): k for k, o in enumerate(self.covering)}
        done = sorted((o for o in self.covering if o.end_ns is not None),
                      key=lambda o: (o.end_ns, pos[id(o)]))
        self._cov = done
        self._cov_pos = [pos[id(o)] for o in done]
        self._cov_ends = [o.end_ns for o in done]
        self._cov_idx = {id(o): i for i, o in enumerate(done)}
        best = []
        b = None
        for o in done:
            if b is None or (o.start_ns, o.index) > (b.start_ns, b.index):
                b = o
            best.append(b)
        self._cov_best = best
        suf = [BIG] * (len(done) + 1)
        for i in range(len(done) - 1, -1, -1):
            suf[i] = min(suf[i + 1], done[i].start_ns)
        self._cov_sufmin = suf
        self._cov_never_min = min((o.start_ns for o in self.covering if o.end_ns is None), default=BIG)

    def min_size_between(self, f, t):
        """min(size_at(f.start_ns), sizes of the entries stamped in (f.start_ns, t]),
        extended incrementally per covering op as t grows."""
        j = _br(self.htimes, f.start_ns)
        k = _br(self.htimes, t)
        m = self._Lmemo.get(f.index)
        if m is None or m[0] > k:
            m = (j, self.size_at(f.start_ns))
        kk, L = m
        for h in self.hist[max(kk, j):k]:
            if h[2] < L:
                L = h[2]
        self._Lmemo[f.index] = (max(k, j), L)
        return L

    # --- per-crash-time obligations -------------------------------------------------
    def forget_before(self, ep):
        """Drop contexts of file events before position ep (crash times only increase)."""
        self._ctx = {k: v for k, v in self._ctx.items() if k[0] >= ep}

    def context(self, t, c):
        ep = _br(self.ctx_times, t)
        key = (ep, c)
        ctx = self._ctx.get(key)
        if ctx is None:
            ctx = self._ctx[key] = Context(self, t, c, key)
        return ctx


def _snapshot(lst, k, step):
    """lst[k] of a list of Maps where lst[i + 1] = step(lst[i].runs, i), extended as needed;
    an entry dropped to None is rebuilt from the nearest kept one below it."""
    n = len(lst)
    if k < n:
        m = lst[k]
        if m is not None:
            return m
        q = k - 1
        while lst[q] is None:
            q -= 1
        runs = lst[q].runs
        for i in range(q, k):
            runs = step(runs, i)
        lst[k] = m = Map(runs)
        return m
    runs = lst[-1].runs
    for i in range(n - 1, k):
        runs = step(runs, i)
        lst.append(Map(runs))
    return lst[k]


def _drop(lst, low):
    """Drop entries 1..low-1 of a snapshot list (entry 0 and the newest are kept)."""
    for i in range(min(low, len(lst) - 1) - 1, max(getattr(lst, "base", 0), 0), -1):
        if lst[i] is None:
            break
        lst[i] = None


def _add_interval(ivs, a, b):
    """Insert the closed integer interval [a, b] into the sorted disjoint list ivs, merging
    overlapping and adjacent ones."""
    i = bisect_right(ivs, (a, BIG))
    if i > 0 and ivs[i - 1][1] >= a - 1:
        i -= 1
        a = min(a, ivs[i][0])
    j = i
    while j < len(ivs) and ivs[j][0] <= b + 1:
        b = max(b, ivs[j][1])
        j += 1
    ivs[i:j] = [(a, b)]


def _union(ranges):
    """Sorted, merged union of half-open ranges (empty ones dropped)."""
    rs = sorted(r for r in ranges if r[0] < r[1])
    out = []
    for a, b in rs:
        if out and a <= out[-1][1]:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _zero_range(o):
    """The range an op zeroes inside the file (punch/zero range), or where it cuts it."""
    op = o.op
    if op.kind == "fallocate" and op.mode in ("punch_hole", "zero_range", "zero_range,keep_size"):
        return (op.off, op.off + op.len)
    if op.kind == "truncate":
        return (op.size, BIG)
    return None


class Context:
    """Everything the byte checks need for one file at one crash time and one recovered
    transaction prefix (through the number c of reflected size entries)."""

    def __init__(self, fh: FileHistory, t, c, key):
        self.fh = fh
        self.key = key
        self.t = t
        self.lw = fh.lastw(fh.done_by(t))
        self.re = fh.reentry(c)
        zer = fh.zeroing
        act = fh.zeroing_active(t)
        self.inflight_zero = _union([_zero_range(zer[k]) for k in act]) if act else []
        # fsync obligations: the latest-starting covering op completed by t dominates every
        # one that ended before it started; keep it and those overlapping it.
        nd = _br(fh._cov_ends, t)
        self.fsyncs = []
        if nd:
            last = fh._cov_best[nd - 1]
            lo = _br(fh._cov_ends, last.start_ns, 0, nd)
            keep = {id(o): (fh._cov_pos[i], o) for i, o in enumerate(fh._cov[lo:nd], lo)}
            keep.setdefault(id(last), (fh._cov_pos[fh._cov_idx[id(last)]], last))
            for _, f in sorted(keep.values(), key=lambda x: x[0]):
                L = fh.min_size_between(f, t)
                P = fh.lastw(fh.done_by(f.start_ns))
                zok = _union([_zero_range(zer[k]) for k in fh.zeroing_overlapping(f.start_ns, t)])
                self.fsyncs.append((f, L, P, zok, 0, BIG))
        for w in fh.ranged:
            if w.end_ns is None or w.end_ns > t:
                continue
            lo, hi = w.op.off, w.op.off + w.op.len
            L = hi
            j = _br(fh.htimes, w.end_ns)
            k = _br(fh.htimes, t)
            for h in fh.hist[j:k]:
                L = min(L, h[2])
            P = fh.lastw(fh.done_by(w.end_ns))
            zok = _union([_zero_range(zer[k]) for k in fh.zeroing_overlapping(w.end_ns, t)])
            self.fsyncs.append((w, L, P, zok, lo, hi))

    def check_file(self, R, t):
        """File-level checks: [(kind, detail)]."""
        out = []
        fh = self.fh
        if not fh.size_ok(R, t):
            out.append((IMPOSSIBLE_SIZE, f"recovered size {R} is no size the file had by then"))
        for f, L, P, zok, lo, hi in self.fsyncs:
            if R < L:
                out.append((FSYNC_SIZE, f"recovered size {R} < {L} covered by op #{f.index} "
                                        f"({f.op.kind}) completed at {f.end_ns} ns"))
        return out

    def check_runs(self, view):
        """Byte checks over view runs (absolute offsets, all inside the recovered size).
        Returns (violations [(kind, off, len, detail)], garbage, zid_bytes)."""
        viol = []
        garbage = False
        zid = 0
        fh = self.fh
        for s, e, src in view:
            if src < 0:
                garbage = True
                viol.append((GARBAGE, s, e - s, describe(src)))
                continue
            if src > 0 and src != INITIAL and fh.ino is not None:
                o = fh.ops.get(src)
                if o is not None and o.ino is not None and o.ino != fh.ino:
                    viol.append((FOREIGN_DATA, s, e - s, f"{describe(src)} was written to inode "
                                                         f"{o.ino}, not this file's ({fh.ino})"))
            if src == ZERO:
                for a, b, w in self.lw.over(s, e):
                    if w is not None and w != ZERO:
                        for x, y in (_subtract(a, b, self.inflight_zero) if self.inflight_zero else ((a, b),)):
                            zid += y - x
            else:
                for a, b, ent in self.re.over(s, e):
                    if ent is not None and fh.before(src, ent):
                        viol.append((RESURRECTED, a, b - a,
                                     f"{describe(src)} written before op #{ent[0]} re-extended "
                                     f"the file over it"))
            for f, L, P, zok, lo, hi in self.fsyncs:
                if s >= L or e <= lo or s >= hi:
                    continue
                ss = s if s > lo else lo
                ee = min(e, L, hi)
                fend = f.end_ns if f.op.kind == "write" else f.start_ns
                if src > 0 and src != INITIAL:
                    o = fh.ops.get(src)
                    if o is None or o.end_ns is None or o.end_ns > fend:
                        continue  # newer data than the fsync covered
                for a, b, p in P.over(ss, ee):
                    if p is None or p == src:
                        continue
                    rest = _subtract(a, b, zok) if (src == ZERO and zok) else ((a, b),)
                    for x, y in rest:
                        viol.append((FSYNC_DATA, x, y - x,
                                     f"{describe(src)} where {describe(p)} was covered by op "
                                     f"#{f.index} ({f.op.kind}) completed at {f.end_ns} ns"))
        return viol, garbage, zid


class NameHistory:
    """What one path named during the run, and when its name became durable.

    A durable point is the start of an op, completed by the crash time, after which the
    kernel guarantees the path's entry as it was then: fsync of the file the path names
    (fdatasync too, or a dsync write, if the path is the one the inode was created under:
    the create's transaction is the inode's i_datasync_tid), fsync of its directory, sync.
    After the latest durable point d, the recovered name may hold what it named at d or
    anything it named later up to the crash (None only if it stopped existing then)."""

    def __init__(self, result, name):
        self.name = name
        self.links = list(result.name_history.get(name, ()))
        """[(time_ns, op index, ino or None)] in time order."""
        self.times = [l[0] for l in self.links]
        self.static = len(self.links) == 1 and self.links[0][1] == 0
        """Named the same committed inode from before the scenario to the end: nothing to
        check (the recovered directories can only hold that entry)."""
        self._result = result
        self._ends = None
        """The durable points, indexed on first use (_index_durable): a static name whose
        recovered inode is its own never needs them."""

    def _index_durable(self):
        """The durable points, and by completion time the latest-starting one so far."""
        result, name = self._result, self.name
        born = {}
        for links in result.name_history.values():
            for t, op, ino in links:
                if ino is not None and (ino not in born or (t, op) < born[ino]):
                    born[ino] = (t, op)
        born = {ino: op for ino, (t, op) in born.items()}
        parent = name.rsplit("/", 1)[0] if "/" in name else ""
        pino = (getattr(result, "dir_inos", None) or {}).get(parent)
        self.durable = []
        """[(start_ns, end_ns, op record)] ops that make the name durable as it is at start."""
        for o in result.ops:
            if o.error is not None or o.end_ns is None or o.start_ns is None:
                continue
            k = o.op.kind
            if k in WHOLE_FS:
                self.durable.append((o.start_ns, o.end_ns, o))
                continue
            synced = k in ("fsync", "fdatasync") or (k == "write" and o.sync_tid is not None)
            if not synced or o.ino is None:
                continue
            if o.ino == pino and o.op.file == parent:
                self.durable.append((o.start_ns, o.end_ns, o))
                continue
            cur = self.at(o.start_ns)
            if cur is not None and cur[2] == o.ino and (k == "fsync" and o.op.file == name
                                                         or cur[1] == born.get(o.ino)):
                self.durable.append((o.start_ns, o.end_ns, o))
        self.durable.sort(key=lambda d: (d[0], d[1]))
        # durable points by completion time, with the latest-starting one completed so far
        by_end = sorted(self.durable, key=lambda d: (d[1], d[0], d[2].index))
        self._ends = [d[1] for d in by_end]
        self._best = []
        best = None
        for d in by_end:
            if best is None or (d[0], d[2].index) > (best[0], best[2].index):
                best = d
            self._best.append(best)

    def at(self, t):
        """The link entry in force at t (None before the name first existed)."""
        i = bisect_right(self.times, t) - 1
        return self.links[i] if i >= 0 else None

    def allowed(self, t):
        """(inos the name may hold after a crash at t, whether absent is allowed, the
        durable-point op or None)."""
        if self._ends is None:
            self._index_durable()
        i = bisect_right(self._ends, t)
        if i:
            start, _, o = self._best[i - 1]
            cur = self.at(start)
            inos = {cur[2]} if cur is not None else {None}
            lo = bisect_right(self.times, start)
        elif self.links and self.links[0][1] == 0:
            o = None            # a name that existed, committed, before the scenario
            inos = {self.links[0][2]}
            lo = 1
        else:
            o = None
            inos = {None}
            lo = 0
        for t2, op, ino in self.links[lo:]:
            if t2 > t:
                break
            inos.add(ino)
        return inos, o

    def check(self, t, ino):
        """[(kind, detail)] for the recovered ino (None: absent) at crash time t."""
        if self.static and ino == self.links[0][2]:
            return []
        inos, o = self.allowed(t)
        if ino in inos:
            return []
        why = f"op #{o.index} ({o.op.kind} {o.op.file}) completed at {o.end_ns} ns" if o else \
            "existing, committed, before the scenario"
        since = o.start_ns if o is not None else -1
        renames = [l for l in self.links if since < l[0] <= t and l[2] is not None]
        if ino is None:
            extra = " (a rename over it must leave the old or the new file)" if renames else ""
            return [(NAME_LOST, f"{self.name} absent after {why}{extra}")]
        return [(NAME_WRONG, f"{self.name} holds inode {ino}, not one it named after {why}")]
