"""Streaming crash check: simulate and check a long workload together, in bounded memory.

check() reads a finished run whole: every bio, op record and size change stays in memory
until the last crash point (about 3 KiB per operation; 2.9 GiB at 1,000,000 ops). Here the
simulation (sim.Run with retain=False) pauses every `pause_every` completed ops, between two
instants, and the checker takes what happened since, checks every crash time that nothing
still running can change, and both sides forget what no later crash point can ask for:

* a crash time t is final once t < every write bio still in flight's submission (its
  versions, racing stores included, are known only at completion) and t < the start of
  every op still running (whether it counts, failed ops do not, is known at its end); bios
  are taken in id order up to the first incomplete write, a durable time still unknown is
  NEVER before now (it can only come later), and comes in when the device settles it;
* the disk model drops a block's versions older than the one durable at the last crash
  time checked, and (when freed blocks are never allocated again: data=ordered) blocks no
  recoverable inode and no in-memory inode maps; the journal drops transactions below the
  certain prefix; the file histories drop last-writer and re-entry snapshots, completed
  ops and size entries no later context reads (FileHistory.prune); op records are kept
  while a kept block version, snapshot or size entry names them.

Names and inodes come and go too (create, rename, unlink, O_TRUNC): a path met for the
first time is checked from then on (before, it named nothing), a new inode's history starts
at its first size entry, and a freed inode no kept transaction's directories name is
forgotten, with its history, its file states and its entry in the replayed inode maps.

The report is the one check() gives for the same run (tests/test_stream.py compares them on
random workloads, namespace ones included), with one difference: no explorer is kept for
minimise or witness. --timed and the enumerating mode are not streamed.
"""

import heapq
import time as _time

from ..ops import NAMESPACE
from ..sim import Run
from .explore import Checking, Explorer, _cover_text, _later_lines, _merge, describe_state
from .states import NEVER

_MARK = "\x00"


class _Future:
    """What a counterexample's text needs from the rest of the run: the durable time of
    the writes it names, each block's next write after the crash (describe_state's
    markers, filled in by render at the end)."""

    def __init__(self):
        self.items = []
        self.bios = {}
        """bio id -> durable time once known"""
        self.blocks = {}
        """pblk -> [(t, first write bio submitted after t or None)]"""

    def cover(self, bid, head, d):
        """`d`: the durable time known so far (NEVER: none yet)."""
        if self.bios.get(bid, NEVER) == NEVER:
            self.bios[bid] = d
        self.items.append(("cover", bid, head))
        return f"{_MARK}{len(self.items) - 1}{_MARK}"

    def later(self, pb, t, vi, disk):
        first = next((disk.bio(bid) for bid in disk.vbio.get(pb, ()) if bid is not None
                      and disk.bio(bid).submit_ns > t), None)
        self.blocks.setdefault(pb, []).append([t, first])
        self.items.append(("later", pb, (t, vi, len(self.blocks[pb]) - 1)))
        return f"{_MARK}{len(self.items) - 1}{_MARK}"

    def saw_write(self, b):
        for pb, _ in b.blocks:
            for w in self.blocks.get(pb, ()):
                if w[1] is None and b.submit_ns > w[0]:
                    w[1] = b

    def render(self, text):
        out = []
        for line in text.split("\n"):
            while _MARK in line:
                a = line.index(_MARK)
                b = line.index(_MARK, a + 1)
                kind, key, arg = self.items[int(line[a + 1:b])]
                if kind == "cover":
                    rep = _cover_text(arg, self.bios[key])
                else:
                    t, vi, i = arg
                    rep = _later_lines(self.blocks[key][i][1], vi)
                if rep is None:
                    line = None
                    break
                line = line[:a] + rep + line[b + 1:]
            if line is not None:
                out.append(line)
        return "\n".join(out)


class StreamCheck:
    """One run simulated and checked together (see the module docstring)."""

    def __init__(self, scenario, policy="bh-ordered", overrides=None, torn=False,
                 max_violations=10000, pause_every=2000):
        initial = {f.name for f in scenario.files}
        names_change = any(op.kind in NAMESPACE or (op.file is not None and op.file not in initial)
                           for th in scenario.threads for op in th.ops)
        self.run = run = Run(scenario, policy, overrides, retain=False)
        self.pause_every = pause_every
        res = run.res
        self.fs = fs = run.fs
        for t, op, path, ino in fs.name_events:
            res.name_history.setdefault(path, []).append((t, op, ino))
        self.ex = ex = Explorer(res, torn=torn, stream=True)
        ex.journal.names_change = names_change and ex.journal.namespace
        """The whole-run check asks whether some transaction changed a directory; a stream
        cannot know in advance, so any op that may does (Journal.names_change: the dynamic
        lookup then answers as the static one would)."""
        self.born = {}
        """ino -> op index of the first link that named it (NameHistory's born)"""
        self._born_at = {}
        for t, op, path, ino in fs.name_events:
            if path not in ex.nh and path not in ex.files:
                ex.add_name(path)
            self._born(t, op, ino)
        del fs.name_events[:]
        self.inodes = {}
        """ino -> (Inode, FileHistory) of the file inodes taken"""
        self.n_inodes = 0
        self._take_inodes()
        self._dirs = (None, {})
        self.ck = Checking(ex, torn=torn, max_violations=max_violations)
        self.rep = self.ck.rep
        self.next_bio = 0
        self.pending = {}
        """bio id -> Bio taken while not yet durable"""
        self.tid_of = {}
        """bio id -> tid, for commit and exact log bios not yet durable"""
        self.times = [0]
        self.seen = {0}
        self.t_done = -1
        self.going = True
        self.fut = None
        self.ce_text = None
        self.reuse = getattr(fs, "reuse_freed", True)
        self.until = run.tun.until
        self.gc_ops_at = 4096

    # --- taking what the run did --------------------------------------------------------
    def _time(self, t):
        if t <= self.t_done and t >= 0:
            raise AssertionError(f"crash time {t} came after {self.t_done} was checked")
        if t not in self.seen and t >= 0:
            self.seen.add(t)
            heapq.heappush(self.times, t)

    def _take_bios(self, final=False):
        """Write bios in id order up to the first incomplete one (all of them at the end);
        returns the submission time of that one (crash times before it are final)."""
        dev = self.run.dev
        ex = self.ex
        disk, jr, chg = ex.disk, ex.journal, ex._chg_stream
        n = len(dev.bios)
        i = self.next_bio
        horizon = NEVER
        while i < n:
            b = dev.bios[i]
            if b.op != "write":
                i += 1
                continue
            if b.complete_ns is None and not final:
                horizon = b.submit_ns
                break
            d = dev.durable_ns[i]
            for pb, _ in b.blocks:
                disk.drop_before(pb, self.t_done)
            disk.add(b, NEVER if d is None else d)
            disk.bios[b.id] = b
            ex._bio_pblks[b.id] = [pb for pb, _ in b.blocks]
            self._time(b.submit_ns)
            for pb, _ in b.blocks:
                chg.insort((b.submit_ns, pb))
            for pb, _, t_store in b.racing:
                chg.insort((max(t_store, b.submit_ns), pb))
            if d is None:
                disk.dur[b.id] = NEVER
                self.pending[b.id] = b
            else:
                disk.dur[b.id] = d
                self._durable(b, d)
            jr.add(b)
            if b.kind == "commit" and jr.commit.get(b.payload) is b:
                tid = b.payload
                bios = (b, *jr.exact_logs.get(tid, ()))
                wait = [x.id for x in bios if disk.dur[x.id] == NEVER]
                for bid in wait:
                    self.tid_of.setdefault(bid, []).append(tid)
                jr.commit_added(tid, wait)
            if self.fut is not None:
                self.fut.saw_write(b)
            i += 1
        self.next_bio = i
        return horizon

    def _durable(self, b, d):
        chg = self.ex._chg_stream
        self._time(d)
        for pb, _ in b.blocks:
            chg.insort((d, pb))

    def _take_durable(self):
        dev = self.run.dev
        disk, jr = self.ex.disk, self.ex.journal
        for bid in [bid for bid in self.pending if dev.durable_ns[bid] is not None]:
            b = self.pending.pop(bid)
            d = dev.durable_ns[bid]
            disk.set_durable(b, d)
            self._durable(b, d)
            if self.fut is not None and bid in self.fut.bios:
                self.fut.bios[bid] = d
            for tid in self.tid_of.pop(bid, ()):
                jr.durable_known(tid, bid)

    def _take_names(self):
        """New links (fs.name_events): a path met for the first time is checked from now on
        (before, it named nothing: the whole-run check found it absent at 0)."""
        ex, ev = self.ex, self.fs.name_events
        if not ev:
            return
        from ..outcome import Outcome
        for t, op, path, ino in ev:
            if path not in ex.nh:
                ex.add_name(path)
                self.rep.outcomes.add(Outcome(path, 0, False, False, absent=True))
            ex.nh[path].add_link(t, op, ino)
            self._time(t)
            self._born(t, op, ino)
        del ev[:]

    def _born(self, t, op, ino):
        if ino is not None and (ino not in self._born_at or (t, op) < self._born_at[ino]):
            self._born_at[ino] = (t, op)
            self.born[ino] = op

    def _take_inodes(self):
        """File inodes made since (fs.all_inodes): each one's history starts at its first size
        entry (ext4 namei.create sets it as it makes the inode)."""
        ex = self.ex
        allino = self.fs.all_inodes
        for inode in allino[self.n_inodes:]:
            name = next((n for n in ex.files if n in ex.nh
                         and any(l[2] == inode.ino for l in ex.nh[n].links)), f"ino {inode.ino}")
            fh = ex.add_inode(inode.ino, name, inode.size_history[0])
            del inode.size_history[:1]
            self.inodes[inode.ino] = (inode, fh)
        self.n_inodes = len(allino)

    def _take_sizes(self):
        for inode, fh in self.inodes.values():
            h = inode.size_history
            if h:
                for e in h:
                    fh.add_size(e)
                    self._time(e[0])
                del h[:]

    def _pino(self, name):
        """The ino of `name`'s parent directory (NameHistory's durable points)."""
        dirs = self.fs.dirs
        if self._dirs[0] != len(dirs):
            self._dirs = (len(dirs), {d.path: d.ino for d in dirs.values()})
        parent = name.rsplit("/", 1)[0] if "/" in name else ""
        return self._dirs[1].get(parent)

    def _take_ops(self, final=False):
        """Finished op records (all started ones at the end), in (end, index) order; returns
        the earliest start of those still running."""
        ex = self.ex
        started = self.run.started
        done, keep = [], []
        for r in started:
            if r.end_ns is not None or (final and r.start_ns is not None):
                done.append(r)
            else:
                keep.append(r)
        started[:] = keep
        done.sort(key=lambda r: (r.end_ns is None, r.end_ns or 0, r.index))
        hists = [fh for _, fh in self.inodes.values()]
        for r in done:
            ex._ops[r.index] = r
            mine = False
            for fh in hists:
                if fh.is_mine(r):
                    fh.add_op(r)
                    mine = True
            for n, nh in ex.nh.items():
                nh.add_op(r, self.born, self._pino(n))
            if mine:
                self._time(r.start_ns)
                if r.end_ns is not None:
                    self._time(r.end_ns)
        return min((r.start_ns for r in keep if r.start_ns is not None), default=NEVER)

    # --- checking the crash times that are final -----------------------------------------
    def _check_before(self, horizon):
        ck, times = self.ck, self.times
        until = self.until
        while times and times[0] < horizon:
            t = heapq.heappop(times)
            self.seen.discard(t)
            self.t_done = t
            if until is not None and t > until:
                continue
            self.rep.crash_points += 1
            if not self.going:
                continue
            self.going = ck.at(t)
            if self.fut is None and ck.viol:
                self._first_violation(t)

    def _first_violation(self, t):
        """Describe the first violation now, while its crash state is held (check() names
        the earliest: the smallest (time, file, kind, offset) after merging)."""
        v = _merge(self.ck.viol)[0]
        w = next(w for k, w in self.ck.viol.items() if (k[0], k[1], k[2]) == (v.kind, v.crash_time_ns, v.file))
        self.fut = _Future()
        self.ce_text = describe_state(self.ex, w, v, self.fut)

    def _collect(self):
        """Forget what no crash point from t_done on asks for."""
        ex = self.ex
        disk, jr = ex.disk, ex.journal
        self.run.dev.release(self.next_bio)
        self.run.forget()
        # the change log: from the oldest crash time a kept file state was brought up to
        low = self.t_done
        for st in ex._states.values():
            for S in st.values():
                low = min(low, S.t)
        c = ex._chg_stream
        c.drop_before(c.bisect_right((low, NEVER)))
        # blocks: journal blocks of the kept transactions, and (no reuse) data blocks some
        # kept raw inode or in-memory inode maps, or still being written
        keep = set()
        for tid in jr.tids:
            for b in (jr.commit.get(tid), *jr.logs.get(tid, ())):
                if b is not None:
                    keep.update(pb for pb, _ in b.blocks)
        for b in self.pending.values():
            keep.update(pb for pb, _ in b.blocks)
        if self.fut is not None:
            keep.update(self.fut.blocks)
        if not self.reuse:
            pl = jr._prefix_list
            for p in range(pl.base, len(pl)):
                for ri in pl[p].values():
                    for e in getattr(ri, "extents", None) or ():
                        keep.add(e[1])
                        if len(e) > 3:
                            keep.update(range(e[1], e[1] + e[3]))
            for rec in jr.record.values():
                for ri in rec.values():
                    for e in getattr(ri, "extents", None) or ():
                        keep.add(e[1])
                        if len(e) > 3:
                            keep.update(range(e[1], e[1] + e[3]))
            for ino in self.run.fs.all_inodes:
                for e in ino.map.values():
                    if e[1] is not None:
                        keep.add(e[1])
            dead = [pb for pb in disk.vbio if pb not in keep and pb < _journal_base()]
            for pb in dead:
                disk.drop_block(pb)
                self.run.dev.forget(pb)
        dead_j = [pb for pb in disk.vbio if pb >= _journal_base() and pb not in keep]
        for pb in dead_j:
            disk.drop_block(pb)
        # names: durable points and links before the latest one; inodes freed that no
        # kept transaction's directories name (their histories and file states), and those
        # the simulation keeps in its list of every inode made
        for nh in ex.nh.values():
            nh.prune(self.t_done)
        if ex.namespace and any(i.evicted for i, _ in self.inodes.values()):
            from ..jbd2 import RawDir
            named = set()
            for d in (*jr._prefix_list.items, *jr.record.values()):
                for r in d.values():
                    if isinstance(r, RawDir):
                        named.update(i for _, i in r.entries)
            for ino, (inode, _) in list(self.inodes.items()):
                if inode.evicted and ino not in named:
                    del self.inodes[ino]
                    ex.drop_inode(ino)
                    jr.dropped_src.pop(ino, None)
            allino = self.fs.all_inodes
            allino[:] = [i for i in allino if not i.evicted or i.ino in self.inodes]
            self.n_inodes = len(allino)
        # bios: those a kept version, a kept transaction or the counterexample names
        live = set(self.pending)
        for vb in disk.vbio.values():
            live.update(x for x in vb if x is not None)
        for tid in jr.tids:
            c = jr.commit.get(tid)
            if c is not None:
                live.add(c.id)
            live.update(b.id for b in jr.logs.get(tid, ()))
        for _, c, _ in jr.dropped_src.values():
            if c is not None:
                live.add(c.id)
        if self.fut is not None:
            live.update(self.fut.bios)
        for d in (disk.bios, disk.dur, ex._bio_pblks):
            for bid in [bid for bid in d if bid not in live]:
                del d[bid]
        # op records: those a kept block version, snapshot or size entry names
        if len(ex._ops) > self.gc_ops_at:
            refs = set()
            for rl in disk.vruns.values():
                for runs in rl:
                    for r in runs:
                        refs.add(r[2])
            for fh in ex.histories():
                for m in fh._lw:
                    if m is not None:
                        refs.update(r[2] for r in m.runs)
                for m in fh._re:
                    if m is not None:
                        refs.update(r[2][0] for r in m.runs if r[2] is not None)
                refs.update(h[1] for h in fh.hist)
                refs.update(o.index for o in fh.done)
                refs.update(o.index for o in fh._cov)
                refs.update(o.index for o in fh.zeroing)
                refs.update(o.index for o in fh.ranged)
                refs.update(fh._Lmemo)
            ops = ex._ops
            for k in [k for k in ops if k not in refs]:
                del ops[k]
            self.gc_ops_at = max(4096, 2 * len(ops))

    def _step(self, final=False):
        hb = self._take_bios(final)
        self._take_durable()
        self._take_names()
        self._take_inodes()
        self._take_sizes()
        ho = self._take_ops(final)
        if final:
            self._time(self.run.eng.now)
            jr = self.ex.journal
            jr._ft_pending.clear()
            jr._extend_pm(final=True)
            self._check_before(NEVER + 1)
        else:
            self._check_before(min(hb, ho, self.run.eng.now + 1))
            self._collect()

    def check(self, progress=None):
        """Run and check to the end; `progress(ops done, ops total)` after each pause."""
        t0 = _time.perf_counter()
        run = self.run
        for _ in run.flow(pause_every=self.pause_every):
            self._step()
            if progress is not None:
                progress(run.ended[0], run.n_ops)
        res = run.result()
        self._step(final=True)
        if progress is not None:
            progress(run.n_ops, run.n_ops)
        self.ck.finish()
        rep = self.rep
        rep.notes[:0] = self.ex.disk.notes + self.ex.journal.notes
        if rep.violations:
            rep.counterexample = self.fut.render(self.ce_text)
        rep.elapsed_s = _time.perf_counter() - t0
        self.result = res
        return rep


def _journal_base():
    from ..jbd2 import JOURNAL_BASE
    return JOURNAL_BASE


def check_stream(scenario, policy="bh-ordered", overrides=None, torn=False,
                 max_violations=10000, pause_every=2000, progress=None):
    """Simulate `scenario` under `policy` and check every crash of it as it runs (see the
    module docstring); returns (CheckReport, the finished run's RunResult without its log)."""
    sc = StreamCheck(scenario, policy, overrides, torn=torn, max_violations=max_violations,
                     pause_every=pause_every)
    rep = sc.check(progress)
    return rep, sc.result
