"""Crash points and the disk states possible at each, read from the device I/O log only.

Durability (default, *guarantee* semantics). A write W is durable at crash time t if it
completed by t and either
  * it was FUA, or
  * some cache flush F completed by t with W in F.hb: the issuer of F knew W had completed
    when it issued F (a flush bio, or the flush half of a PREFLUSH write; blk-flush runs
    that half before the write's data).
`timed=True` takes the simulated latencies as given instead: W is covered by F if W's
completion comes before F's submission in the device log.

Possible contents. Each block independently holds its durable version (the newest durable
write of it, in submission order; the medium's initial contents if none) or any later
version submitted by t; never an older one (writes of one block keep their order). With
`torn=True` each 512-byte sector of a *data* block chooses independently.

A crash at time t means every event stamped <= t happened (events of one instant are not
split; see the module README in explore.py).
"""

from bisect import bisect_right

from ..hb import as_int, bits

NEVER = 1 << 62
SECTOR = 512


def log_positions(dev):
    """bio id -> (position of its submit, position of its completion or None) in dev.log."""
    n = len(dev.bios)
    sub = [None] * n
    com = [None] * n
    for i, (_, what, bid) in enumerate(dev.log):
        if what == "submit":
            sub[bid] = i
        elif what == "complete":
            com[bid] = i
    return sub, com


def durable_times(dev, timed: bool = False):
    """Per bio id: the earliest time the write is durable (NEVER if it never is), and a list
    of notes about inconsistencies found in the log (a write in a flush's hb that completed
    after the flush was issued)."""
    bios = dev.bios
    notes = []
    online = getattr(dev, "durable_ns", None)
    if not timed and online is not None and len(online) == len(bios):
        # block.BlockDevice._settle computed the same rule as the simulation ran (its
        # masks drop settled bits, hb.py; a simulated hb is never inconsistent: bits enter
        # it only at completions)
        return [NEVER if d is None else d for d in online], notes
    dur = [NEVER] * len(bios)
    for b in bios:
        if b.op == "write" and b.fua and b.complete_ns is not None:
            dur[b.id] = b.complete_ns
    flushers = [b for b in bios if (b.op == "flush" or b.preflush) and b.complete_ns is not None]
    if not timed:
        flushers.sort(key=lambda b: (b.complete_ns, b.id))
        assigned = 0
        for f in flushers:
            m = as_int(f.hb) & ~assigned
            assigned |= m
            for i in bits(m):
                if i >= len(bios):
                    continue
                w = bios[i]
                if w.op != "write":
                    continue
                if w.complete_ns is None or w.complete_ns > f.submit_ns:
                    notes.append(f"bio #{i} is in the hb of flush bio #{f.id} but had not "
                                 f"completed when it was issued")
                    continue
                if f.complete_ns < dur[i]:
                    dur[i] = f.complete_ns
    else:
        sub, com = log_positions(dev)
        # W is covered by F iff com[W] < sub[F]; durable at the least F.complete_ns among those.
        fl = sorted(flushers, key=lambda b: sub[b.id])
        keys = [sub[b.id] for b in fl]
        suffix = [NEVER] * (len(fl) + 1)
        for i in range(len(fl) - 1, -1, -1):
            suffix[i] = min(suffix[i + 1], fl[i].complete_ns)
        for w in bios:
            if w.op != "write" or com[w.id] is None:
                continue
            j = bisect_right(keys, com[w.id])
            if suffix[j] < dur[w.id]:
                dur[w.id] = suffix[j]
    return dur, notes


class DiskModel:
    """Per block: its versions in submission order (index 0 = the medium before the
    scenario), with submit and durable times; answers "which versions may block b hold at t"."""

    def __init__(self, dev, timed: bool = False, torn: bool = False, stream: bool = False):
        self.dev = dev
        self.bs = dev.bs
        self.timed = timed
        self.torn = torn
        self.vbio = {}
        """pblk -> [bio id or None (initial)]"""
        self.vruns = {}
        """pblk -> [runs]"""
        self.vsub = {}
        """pblk -> [submit_ns] (index 0: -1)"""
        self.vdur = {}
        """pblk -> [durable_ns] (index 0: -1)"""
        self.vindex = {}
        """(bio id, pblk) -> version index"""
        self.vbase = {}
        """pblk -> version index of the first entry kept (stream: older versions dropped); absent: 0"""
        self.bios = {}
        """stream: bio id -> Bio for the versions kept (describe_state names them)"""
        self._covers = {}
        self._pos = None
        if stream:
            self.dur, self.notes = {}, []
            return
        self.dur, self.notes = durable_times(dev, timed)
        for b in dev.bios:
            if b.op == "write":
                self.add(b, self.dur[b.id])

    def add(self, b, d):
        """Write bio b's versions, durable at d (NEVER: not, or not yet)."""
        init = self.dev.initial
        fillr = self.dev.fill
        vbio, vruns, vsub, vdur = self.vbio, self.vruns, self.vsub, self.vdur
        bid, sub = b.id, b.submit_ns
        for pblk, runs in b.blocks:
            vb = vbio.get(pblk)
            if vb is None:  # the block's first write: version 0 is the medium before
                vb = vbio[pblk] = [None, bid]
                vruns[pblk] = [init.get(pblk, fillr), runs]
                vsub[pblk] = [-1, sub]
                vdur[pblk] = [-1, d]
                self.vindex[(bid, pblk)] = 1 + self.vbase.get(pblk, 0)
                continue
            self.vindex[(bid, pblk)] = len(vb) + self.vbase.get(pblk, 0)
            vb.append(bid)
            vruns[pblk].append(runs)
            vsub[pblk].append(sub)
            vdur[pblk].append(d)
        # Stores into the folio while this write was in flight (no stable pages): the
        # device may have taken any of them instead. Each is another version of the same
        # write, possible from the store on; never durable by itself, so the write's own
        # durability keeps the range open over all of them.
        for pblk, runs, t_store in b.racing:
            vb = self.vbio[pblk]
            vb.append(b.id)
            self.vruns[pblk].append(runs)
            self.vsub[pblk].append(max(t_store, b.submit_ns))
            self.vdur[pblk].append(NEVER)

    def set_durable(self, b, d):
        """stream: write bio b (added while not yet durable) became durable at d."""
        self.dur[b.id] = d
        vd, vi, vb = self.vdur, self.vindex, self.vbase
        for pblk, _ in b.blocks:
            i = vi.get((b.id, pblk))
            if i is not None:
                vd[pblk][i - vb.get(pblk, 0)] = d

    def drop_before(self, pblk, t):
        """stream: drop block pblk's versions older than the one durable at crash time t:
        crash times only increase and durability only grows, so no later state holds them."""
        vs = self.vsub.get(pblk)
        if vs is None:
            return
        base = self.vbase.get(pblk, 0)
        lo, _ = self.options(pblk, t)
        k = lo - base
        if k <= 0:
            return
        vb = self.vbio[pblk]
        for bid in vb[:k]:
            if bid is not None:
                self.vindex.pop((bid, pblk), None)
        del vb[:k], self.vruns[pblk][:k], vs[:k], self.vdur[pblk][:k]
        self.vbase[pblk] = lo

    def drop_block(self, pblk):
        """stream: forget a block no later crash state can map (freed, never reused)."""
        vb = self.vbio.pop(pblk, None)
        if vb is None:
            return
        for bid in vb:
            if bid is not None:
                self.vindex.pop((bid, pblk), None)
        del self.vruns[pblk], self.vsub[pblk], self.vdur[pblk]
        self.vbase.pop(pblk, None)

    def cover_mask(self, f) -> int:
        """Writes the flush half of bio f covers: f.hb (guarantee) or, under timed, every
        write that completed before f was submitted."""
        if not self.timed:
            return as_int(f.hb)
        m = self._covers.get(f.id)
        if m is None:
            if self._pos is None:
                self._pos = log_positions(self.dev)
            sub, com = self._pos
            m = 0
            lim = sub[f.id]
            for b in self.dev.bios:
                if b.op == "write" and com[b.id] is not None and com[b.id] < lim:
                    m |= 1 << b.id
            self._covers[f.id] = m
        return m

    def initial(self, pblk):
        return self.dev.initial.get(pblk, self.dev.fill)

    def options(self, pblk, t, forced: int = 0):
        """(lo, hi): the block may hold any version lo..hi (inclusive) at crash time t.
        `forced`: bitmask of writes known durable in this state (those covered by the
        flush half of a PREFLUSH commit block that the state has on disk)."""
        vs = self.vsub.get(pblk)
        if vs is None:
            return 0, 0
        hi = bisect_right(vs, t) - 1
        vd = self.vdur[pblk]
        lo = hi
        if forced:
            vb = self.vbio[pblk]
            while lo > 0 and vd[lo] > t and not (forced >> vb[lo]) & 1:
                lo -= 1
        else:
            while lo > 0 and vd[lo] > t:
                lo -= 1
        # lo is the newest version <= hi that is durable at t (0 = initial contents; with
        # older versions dropped, the oldest kept is durable by every t still asked about)
        if self.vbase:
            b = self.vbase.get(pblk, 0)
            return lo + b, hi + b
        return lo, hi

    def runs(self, pblk, i):
        r = self.vruns.get(pblk)
        if r is None:
            return self.initial(pblk)
        return r[i - self.vbase.get(pblk, 0)] if self.vbase else r[i]

    def bio_of(self, pblk, i):
        vb = self.vbio.get(pblk)
        if vb is None:
            return None
        return vb[i - self.vbase.get(pblk, 0)] if self.vbase else vb[i]

    def bio(self, bid):
        """The Bio of id bid (stream: one whose versions are kept)."""
        got = self.bios.get(bid)
        return got if got is not None else self.dev.bios[bid]

    def event_times(self):
        """Instants at which some block's possible versions change: submits and durable times."""
        ts = set()
        for b in self.dev.bios:
            if b.op == "write":
                ts.add(b.submit_ns)
                if self.dur[b.id] != NEVER:
                    ts.add(self.dur[b.id])
        return ts

    def raw_state_count(self, t, sectors: bool | None = None) -> int:
        """Unpruned count: every written block of the device (data, journal, commit, other
        files) independently, no deduplication."""
        n = 1
        per = self.bs // SECTOR
        torn = self.torn if sectors is None else sectors
        for pblk in self.vbio:
            lo, hi = self.options(pblk, t)
            k = hi - lo + 1
            if k > 1:
                if torn and self.dev.bios[self.vbio[pblk][hi]].kind == "data":
                    n *= k ** per
                else:
                    n *= k
        return n
