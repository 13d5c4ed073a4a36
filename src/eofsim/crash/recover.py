"""Journal recovery (jbd2_journal_recover) and the file a user sees after remount.

Transactions replay in tid order while their commit block is on disk; the first missing
commit ends the log (do_one_pass stops at the first block without the expected sequence).
Each replayed LogRecord overwrites the raw inodes it carries. Journal log blocks count as
present whenever their commit block is, *if* the commit was issued with PREFLUSH after the
log writes completed (the commit thread waited for them; checked from hb, or from the log
order under --timed). Where that does not hold it is noted, and the log blocks' presence is
modelled exactly (a transaction then needs its commit and every log block on disk).
"""

from bisect import bisect_right

from ..content import ZERO
from ..hb import as_int
from ..jbd2 import ORPHAN_KEY, RawDir, RawInode
from ..seq import Seq
from .states import log_positions

ROOT_INO = 2

NEVER_T = 1 << 62

ZERO_BLOCK = None  # marker: a slot that reads zero whatever the disk holds


class Journal:
    def __init__(self, dev, disk, initial_inodes: dict, inos: dict, stream: bool = False):
        self.disk = disk
        self.stream = stream
        self.tids = Seq() if stream else []
        self.commit = {}
        self.logs = {}
        self.first_submit = {}
        """tid -> when its first log/commit block was submitted (the commit had begun)."""
        self.record = {}
        """tid -> merged record: later records of one tid override earlier ones per ino"""
        self._jblocks = {}
        self._twice_notes = []
        self._exact_notes = []
        self._preflush_note = []
        self.exact_logs = {}
        # initial inodes: accept ino -> RawInode or name -> RawInode
        init = {}
        for k, ri in (initial_inodes or {}).items():
            init[ri.ino] = ri
        self.initial = init
        self.inos = dict(inos)
        self.namespace = isinstance(init.get(ROOT_INO), RawDir)
        """Names resolve through the replayed directories (else through `inos`)."""
        self._recovered = {}
        self._lookup = {}
        self._static = {}
        self._prefix_list = Seq([init]) if stream else [init]
        self._forced_list = Seq([0]) if stream else [0]
        self._trimmed = 1
        self._ft = Seq() if stream else []
        """Per tid (t_maybe, t_sure), or None (see _fast_times)."""
        self._pm = Seq() if stream else []
        self._ft_pending = {}
        """stream: tid -> its bios whose durability is not known yet"""
        self.dropped_src = {}
        """stream: ino -> (tid, commit bio, record) of the newest dropped transaction that
        carried it (describe_state names the commit a size came from)."""
        if stream:
            self.names_change = False
            return
        self._timed_pos = log_positions(dev) if disk.timed else None
        for b in dev.bios:
            if b.op == "write":
                self.add(b)
        self.names_change = self.namespace and any(
            isinstance(r, RawDir) for rec in self.record.values() for r in rec.values())
        """Some transaction changed a directory. If none did, every name holds its initial
        inode whatever is replayed, and orphan cleanup can only trim blocks past a linked
        file's size (invisible): names resolve as they did before the scenario."""
        for tid in self.tids:
            self._ft.append(self._fast(tid))
        self._extend_pm(final=True)

    @property
    def notes(self):
        return self._twice_notes + self._exact_notes + self._preflush_note

    def add(self, b):
        """One write bio of the log, in id order: journal log blocks (their LogRecord),
        commit blocks (a transaction is replayed while its commit is on disk)."""
        if b.kind == "journal" and b.payload is not None:
            tid = b.payload.tid
            self._tid(tid, b)
            self.logs.setdefault(tid, []).append(b)
            m = self.record[tid]
            for ri in b.payload.inodes:
                m[ri.ino] = ri
        elif b.kind == "commit":
            tid = b.payload
            if tid not in self.commit:
                self._tid(tid, b)
                self.commit[tid] = b
                self._exact(tid, b)
        if b.kind in ("journal", "commit"):
            # journal blocks must not be rewritten (no log wrap in the model)
            jb = self._jblocks
            for pblk, _ in b.blocks:
                if pblk in jb:
                    self._twice_notes.append(f"journal block {pblk} written twice (bio #{jb[pblk]} "
                                             f"and #{b.id}): log wrap is not modelled")
                jb[pblk] = b.id
        if b.preflush and b.kind != "commit" and not self._preflush_note:
            self._preflush_note.append(
                f"bio #{b.id} ({b.why or b.kind}) is a PREFLUSH write that is not a "
                f"commit block: its data reaching disk is not tied to what its flush "
                f"covers (states may be a superset)")

    def _tid(self, tid, b):
        if tid not in self.record:
            if self.tids and tid < self.tids[-1]:
                self.tids.append(tid)
                self.tids.sort()   # batch only: a log's tids are in order in practice
            else:
                self.tids.append(tid)
            self.record[tid] = {}
            self.first_submit[tid] = b.submit_ns
            if self.stream:
                self._ft.append((NEVER_T, NEVER_T))

    def _exact(self, tid, c):
        """Collapse the log blocks into their commit where the protocol guarantees it;
        where not, the transaction needs every log block on disk (exact_logs)."""
        disk = self.disk
        bad = []
        for j in self.logs.get(tid, ()):
            if c.preflush:
                # in the commit thread's knowledge, or durable already when the commit
                # was issued (hb.py drops the bits of such settled writes)
                if not disk.timed and ((as_int(c.hb) >> j.id) & 1
                                       or disk.dur[j.id] <= c.submit_ns):
                    continue
                if disk.timed:
                    sub, com = self._timed_pos
                    if com[j.id] is not None and com[j.id] < sub[c.id]:
                        continue
            bad.append(j)
        if bad:
            self.exact_logs[tid] = bad
            self._exact_notes.append(
                f"tid {tid}: log block bio(s) {', '.join('#' + str(j.id) for j in bad)} not "
                f"guaranteed on disk before commit block bio #{c.id}"
                + ("" if c.preflush else " (commit without PREFLUSH)")
                + "; modelled exactly (real jbd2 without checksums could replay stale log blocks)")

    # --- which prefixes of the transaction sequence can be recovered at t -------------
    def _state(self, pblk, vidx, t):
        """0: certainly not on disk, 1: maybe, 2: certainly."""
        lo, hi = self.disk.options(pblk, t)
        if vidx < lo or vidx > hi:
            return 0
        return 2 if lo == hi else 1

    def _bio_state(self, b, t):
        if b.submit_ns > t:
            return 0
        st = 2
        for pblk, _ in b.blocks:
            s = self._state(pblk, self.disk.vindex[(b.id, pblk)], t)
            if s < st:
                st = s
                if st == 0:
                    break
        return st

    def tid_state(self, tid, t):
        c = self.commit.get(tid)
        if c is None:
            return 0
        st = self._bio_state(c, t)
        if st:
            for j in self.exact_logs.get(tid, ()):
                st = min(st, self._bio_state(j, t))
                if not st:
                    break
        return st

    def _fast(self, tid):
        """(t_maybe, t_sure) for tid when its state is a step function of t: 0 before the
        last of its bios (commit, exactly-modelled log blocks) was submitted, 2 from the
        time the last of them is durable, 1 in between. That holds when each of those bios'
        blocks has exactly one version on the device (journal blocks are never rewritten;
        the log-wrap note covers the exception), so options() of such a block is
        (0, 0) before the submit, (0, 1) until durable and (1, 1) after. None for a tid
        whose bios do not qualify: it is evaluated by tid_state."""
        c = self.commit.get(tid)
        if c is None:
            return (NEVER_T, NEVER_T)
        disk = self.disk
        tm = ts = -1
        ok = True
        for b in (c, *self.exact_logs.get(tid, ())):
            for pblk, _ in b.blocks:
                if len(disk.vbio.get(pblk, ())) != 2:
                    ok = False
            tm = max(tm, b.submit_ns)
            ts = max(ts, max(disk.dur[b.id], b.submit_ns))
        return (tm, ts) if ok else None

    def _extend_pm(self, final=False):
        """The leading certain run: prefix maximum of t_sure over the leading fast tids
        (stream: over those whose durability is known, or `final`)."""
        pm, ft = self._pm, self._ft
        m = pm[len(pm) - 1] if len(pm) else -1
        while len(pm) < len(ft):
            x = ft[len(pm)]
            if x is None:
                break
            if self.stream and not final and (self.tids[len(pm)] in self._ft_pending
                                              or self.tids[len(pm)] not in self.commit):
                break
            m = max(m, x[1])
            pm.append(m)

    def commit_added(self, tid, pending):
        """stream: tid's commit bio was added; `pending`: those of its bios (commit, exact
        log blocks) not durable yet."""
        i = self.tids.bisect_right(tid) - 1
        self._ft[i] = self._fast(tid)
        if pending:
            self._ft_pending[tid] = set(pending)

    def durable_known(self, tid, bid):
        """stream: bio bid of tid's commit became durable: its step function is final once
        all are."""
        p = self._ft_pending.get(tid)
        if p is None:
            return
        p.discard(bid)
        i = self.tids.bisect_right(tid) - 1
        self._ft[i] = self._fast(tid)
        if not p:
            del self._ft_pending[tid]

    def _fast_times(self):
        return self._ft

    def _state_at(self, i, t):
        x = self._ft[i]
        if x is None:
            return self.tid_state(self.tids[i], t)
        if t < x[0]:
            return 0
        return 2 if t >= x[1] else 1

    def prefixes(self, t):
        """The numbers p of leading transactions (of self.tids) that a crash at t may leave
        recovered: p is possible iff tids[:p] may all be recovered and tids[p] may be absent.
        The leading run of tids certainly on disk at t is found by bisection (their
        certainty is monotone in t), then the scan walks only the in-flight tail."""
        if self.stream:
            self._extend_pm()
        n = len(self.tids)
        k = self._pm.bisect_right(t) if self.stream else bisect_right(self._pm, t)
        out = []
        for p in range(k, n + 1):
            if p == n:
                out.append(p)
                break
            st = self._state_at(p, t)
            if st != 2:
                out.append(p)
            if st == 0:
                break
        return out

    def forced(self, p):
        """Writes durable in every state that has the first p commit blocks on disk: a
        PREFLUSH commit block reaches the medium only after its flush completed. Built
        cumulatively (the mask only grows with p), so each transaction is folded in once;
        masks below the certain prefix are dropped by trim() and rebuilt if asked for."""
        fl = self._forced_list
        if p < len(fl) and fl[p] is not None:
            return fl[p]
        q = min(p, len(fl) - 1)
        while fl[q] is None:
            q -= 1
        m = fl[q]
        for i in range(q, p):
            cb = self.commit.get(self.tids[i])
            if cb is not None and cb.preflush:
                x = self.disk.cover_mask(cb)
                if x & ~m:
                    m = m | x
            if i + 1 == len(fl):
                fl.append(m)  # the frontier grows; trimmed entries stay dropped
        return m

    def trim(self, k):
        """Crash times only increase and every later recoverable prefix is >= k (the
        certain prefix only grows): drop the forced masks of prefixes below k (each is as
        large as the device log; kept, they grow quadratically over a long run)."""
        if k <= self._trimmed and not self.stream:
            return  # nothing new below k (a stream's _forget below still runs: its lists grow)
        fl = self._forced_list
        for i in range(max(1, self._trimmed, fl.base if self.stream else 1), min(k, len(fl) - 1)):
            fl[i] = None
        self._trimmed = max(self._trimmed, min(k, len(fl) - 1))
        if self.stream and k > 1:
            self._forget(k)

    def _forget(self, k):
        """stream: no recovered prefix is below k from now on: drop what only those asked
        for (transactions before tid k - 1, their replayed inode maps and fast times)."""
        fl = self._forced_list
        fl.drop_before(min(k, len(fl) - 1))
        lo = k - 1
        if lo <= self.tids.base:
            return
        for i in range(self.tids.base, min(lo, len(self.tids))):
            tid = self.tids[i]
            c = self.commit.get(tid)
            for ino, r in self.record.get(tid, {}).items():
                self.dropped_src[ino] = (tid, c, r)
            # journal blocks only move forward (no log wrap): a dropped one is not met again
            for b in (c, *self.logs.get(tid, ())):
                if b is not None:
                    for pblk, _ in b.blocks:
                        self._jblocks.pop(pblk, None)
            for d in (self.commit, self.logs, self.first_submit, self.record, self.exact_logs):
                d.pop(tid, None)
        pl = self._prefix_list
        if len(pl) > k:
            pl.drop_before(k)
        self.tids.drop_before(lo)
        self._ft.drop_before(lo)
        self._pm.drop_before(min(lo, len(self._pm) - 1))

    def inodes(self, p):
        """ino -> RawInode after replaying the first p transactions (built cumulatively; a
        prefix that changes nothing shares its predecessor's dict, so raw-inode identity
        says "unchanged")."""
        c = self._prefix_list
        while len(c) <= p:
            cur = c[-1]
            rec = self.record[self.tids[len(c) - 1]]
            if rec:
                cur = {**cur, **rec}
            c.append(cur)
        return c[p]

    def boundary(self, p):
        """Size changes stamped before this time are taken to be in the first p transactions:
        the time the p-th transaction's first log block was submitted (-1 for p = 0)."""
        if p == 0:
            return -1
        return self.first_submit.get(self.tids[p - 1], -1)

    def recovered(self, p):
        """ino -> raw record after replaying p transactions and ext4_orphan_cleanup at mount:
        an orphan without links is freed (ext4_free_inode after truncating it to 0), one
        still linked (a truncate that crashed) loses the blocks past its size."""
        base = self.inodes(p)
        hit = self._recovered.get(id(base))
        if hit is not None and hit[0] is base:
            return hit[1]
        if True:
            m = base
            orph = m.get(ORPHAN_KEY)
            if orph is not None and orph.inos:
                m = dict(m)
                for ino in orph.inos:
                    ri = m.get(ino)
                    if not isinstance(ri, RawInode):
                        continue
                    if ri.nlink == 0:
                        m[ino] = RawInode(ino, 0, (), 0)
                    else:
                        keep = (ri.size + self.disk.bs - 1) // self.disk.bs
                        m[ino] = RawInode(ino, ri.size, _extents_below(ri.extents, keep),
                                          ri.nlink)
                m[ORPHAN_KEY] = None
            # keyed by the replayed dict: a prefix that changes nothing keeps its identity
            self._recovered[id(base)] = (base, m)
        return m

    def lookup(self, p, name):
        """The ino `name` resolves to after recovery of p transactions, or None (absent)."""
        if not self.namespace:
            return self.inos.get(name)
        m = self.recovered(p)
        key = (id(m), name)
        if key in self._lookup:
            return self._lookup[key][1]
        ino = ROOT_INO
        for c in name.split("/"):
            d = m.get(ino)
            if not isinstance(d, RawDir):
                ino = None
                break
            ino = next((i for n, i in d.entries if n == c), None)
            if ino is None:
                break
        if ino is not None and not isinstance(m.get(ino), RawInode):
            ino = None
        self._lookup[key] = (m, ino)
        return ino

    def raw_inode(self, p, name):
        if not self.names_change:
            ino = self._static.get(name, -1)
            if ino == -1:
                ino = self._static[name] = self.lookup(0, name) if self.namespace \
                    else self.inos.get(name)
            return None if ino is None else self.inodes(p).get(ino)
        ino = self.lookup(p, name)
        return None if ino is None else self.recovered(p).get(ino)


def _extents_below(extents, keep):
    """The raw extents of the blocks below `keep` (a run entry cut at it)."""
    out = []
    for e in extents:
        if e[0] >= keep:
            continue
        if len(e) > 3 and e[0] + e[3] > keep:
            e = (e[0], e[1], e[2], keep - e[0])
        out.append(e)
    return tuple(out)


def slots(ri, bs: int, torn: bool = False):
    """The recovered file as slots: [(a, b, pblk or None, unwritten)], a..b file offsets
    inside [0, size): one per mapped written block, and one per maximal run of blocks that
    read as zeros whatever the disk holds (holes and unwritten extents, as
    (a, b, None, False)), so the count follows the blocks mapped, not the size."""
    if ri is None or ri.size <= 0:
        return []
    size = ri.size
    nblk = (size + bs - 1) // bs
    out = []
    pos = 0  # first file offset not yet covered
    for e in sorted(ri.extents):
        lblk, pblk, unw = e[0], e[1], e[2]
        if lblk >= nblk:
            break
        a = lblk * bs
        if unw:
            continue        # reads as zero (a run of unwritten blocks too: (lblk, pblk, True, n))
        if a > pos:
            out.append((pos, a, None, False))
        out.append((a, min(a + bs, size), pblk, False))
        pos = min(a + bs, size)
    if pos < size:
        out.append((pos, size, None, False))
    return out


def cut_shift(runs, lo, hi, base):
    """runs (block-relative) restricted to [lo, hi) and moved to file offset base + lo."""
    out = []
    for s, e, v in runs:
        if e <= lo or s >= hi:
            continue
        out.append((base + max(s, lo), base + min(e, hi), v))
    return tuple(out)


def file_view(ri, bs, block_runs):
    """The file as a user sees it: runs over [0, size). block_runs(pblk) -> runs chosen for it."""
    out = []
    for a, b, pb, unw in slots(ri, bs):
        if pb is None or unw:
            seg = ((a, b, ZERO),)
        else:
            seg = cut_shift(block_runs(pb), 0, b - a, a)
        for r in seg:
            if out and out[-1][2] == r[2] and out[-1][1] == r[0]:
                out[-1] = (out[-1][0], r[1], r[2])
            else:
                out.append(r)
    return tuple(out)
