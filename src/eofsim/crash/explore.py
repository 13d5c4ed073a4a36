"""Crash exploration: every crash time, every disk state possible then, journal recovery, checks.

How the state space is covered (mode="exact", the default). All checks are per byte given
the crash time and the recovered transaction prefix, and blocks choose their versions
independently, so the states that fail are exactly the products in which some block takes
a failing version. Each (crash time, recovered prefix, file, block, version) is therefore
checked once, and the number of states (the product of distinct per-block views over all
files, summed over distinct recovered prefixes and crash times) is counted, not walked.
That is exhaustive whatever the product's size. mode="enumerate" materialises every state
as whole files and checks each one; above `samples` states at a crash time it checks a
seeded random sample of that many instead and reports exhaustive=False. The two modes are
cross-checked in the tests.

Incremental evaluation (exact mode). Crash times are visited in increasing order. A file's
evaluation at one crash time and recovered prefix is a function of its checking context
(the file's events so far and how many size changes the recovered metadata reflects), its
recovered raw inode, and the possible versions of the blocks that inode maps. A FileState
per (context, raw inode) is carried from one crash point to the next and re-checks only the
slots over blocks whose possible versions changed in between (a version submitted or
becoming durable, read from one sorted change log) or whose forced durability changed (the
writes covered by the flush of a different number of recovered PREFLUSH commits); its
aggregates (views, views without zeros-instead-of-data, garbage/zid pairs) are kept as
counts. A new context (an operation on the file started or ended, a size change became
reflected) re-evaluates that file's slots, each check still memoised per (context, block
version). Recovered files are slots in runs: one per mapped written block, one per run of
holes or unwritten blocks, so cost follows the blocks touched, not the size. Nothing here
scans the history per crash point: recoverable prefixes are found by bisection over the
monotone certainty of the commits, size admissibility, in-flight zeroing and fsync
obligations come from indexes built once, and snapshots no later crash point can ask for
are dropped (rebuilt on demand if one is). The whole-state enumerating mode below is the
oracle it is tested against.

Crash times: every instant at which the possible states or the obligations change: each
write submission and each instant a write becomes durable, each operation start and end and
each i_size change, 0 and the end of the run. A crash at t follows every event stamped t;
the intermediate states between two events of the same nanosecond are not separate crash
points.
"""

import itertools
import random
import time as _time
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

from ..content import ZERO
from ..outcome import Outcome
from .checkers import FILE_LEVEL, FileHistory, NameHistory, Violation
from .recover import Journal, cut_shift, slots
from ..seq import Seq
from .states import NEVER, SECTOR, DiskModel, bits


@dataclass(slots=True)
class Witness:
    """One failing crash state: time, recovered prefix, and the version a block held."""
    t: int
    p: int
    file: str
    pblk: int | None = None
    version: int | None = None
    sector: tuple | None = None
    choice: dict | None = None
    """pblk -> version for every block (enumerate mode)."""


@dataclass
class CheckReport:
    scenario: str = ""
    policy: str = ""
    timed: bool = False
    torn: bool = False
    mode: str = "exact"
    crash_points: int = 0
    crash_states: int = 0
    """Distinct recovered states (per crash time, distinct recovered prefixes x product over
    files and blocks of their distinct views), summed over crash times."""
    states_checked: int = 0
    """Block-version (exact) or whole-state (enumerate) evaluations actually performed."""
    raw_states: int = 0
    """(check(raw=True) only) The same count without pruning: every written block of the device, every version."""
    exhaustive: bool = True
    sampled_points: int = 0
    violations: list = field(default_factory=list)
    zeros_instead_of_data: int = 0
    """States (counted like crash_states) in which some file shows zeros instead of data."""
    outcomes: set = field(default_factory=set)
    name_outcomes: set = field(default_factory=set)
    """(name, ino, size, garbage, zeros instead of data) per name (exact mode): which inode
    a name held, for replace-via-rename outcomes."""
    counterexample: object = None
    witness: dict = field(default_factory=dict)
    """(kind, crash_time_ns, file, offset, length) -> Witness"""
    notes: list = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def ok(self):
        return not self.violations

    def kinds(self):
        return {v.kind for v in self.violations}

    def as_dict(self):
        ce = self.counterexample
        return {
            "scenario": self.scenario, "policy": self.policy, "timed": self.timed,
            "torn": self.torn, "mode": self.mode,
            "crash_points": self.crash_points, "crash_states": self.crash_states,
            "states_checked": self.states_checked, "raw_states": self.raw_states,
            "exhaustive": self.exhaustive,
            "violations": [v.as_dict() for v in self.violations],
            "zeros_instead_of_data": self.zeros_instead_of_data,
            "outcomes": [o.text() for o in sorted(self.outcomes)],
            "counterexample": ce if ce is None or isinstance(ce, (str, dict)) else ce.as_dict(),
            "notes": list(self.notes),
        }


class Explorer:
    def __init__(self, result, timed=False, torn=False, files=None, stream=None):
        """`stream` (crash/stream.py): a run in progress, result.dev without its bios yet;
        the device log and the op history come in through the disk model's, the journal's
        and the file histories' add methods instead of being read whole here."""
        self.result = result
        self.bs = result.dev.bs
        self.stream = stream is not None
        self.disk = DiskModel(result.dev, timed=timed, torn=torn, stream=self.stream)
        self.journal = Journal(result.dev, self.disk, result.initial_inodes, result.inos,
                               stream=self.stream)
        names = getattr(result, "name_history", None) or {}
        self.namespace = self.journal.namespace and bool(names)
        """Names resolve through the recovered directories; histories are per inode."""
        self.files = list(files) if files is not None else list(names or result.inos)
        self._ops = {o.index: o for o in result.ops}
        """op index -> OpRecord, one dict for every file's history."""
        self._fh_ino = {}
        if self.stream:
            # names that never change (no namespace ops): the name checks pass as long as
            # each holds its inode, and each inode's history starts from its first entry
            self.nh = {n: NameHistory(result, n) for n in self.files} if self.namespace else {}
            self.fh = {}
            for n in self.files:
                ino = result.inos[n]
                fh = FileHistory(None, n, self.bs, ino=ino if self.namespace else None,
                                 ops=self._ops, stream=stream[n])
                self.fh[n] = fh
                if self.namespace:
                    self._fh_ino[ino] = fh
        elif self.namespace:
            self.nh = {n: NameHistory(result, n) for n in self.files}
            self.fh = {}
            first = {}
            for n in self.files:
                for _, _, ino in self.nh[n].links:
                    if ino is not None:
                        first.setdefault(ino, n)
                        self.fh.setdefault(n, self.history(ino, n))
            for ino in getattr(result, "ino_history", {}):
                self.history(ino, first.get(ino, f"ino {ino}"))
        else:
            self.nh = {}
            self.fh = {n: FileHistory(result, n, self.bs, ops=self._ops) for n in self.files}
        self.torn = torn
        self._cut = {}
        self._res = {}
        self._ndist = {}
        self._states = {}
        """name -> {(ctx.key, id(raw inode)): FileState}, for the file's current events."""
        self._ep = {}
        self._slots = {}
        self._chg = None
        self.cut_cap = 20_000 if self.stream else 200_000
        """Entries of the _cut cache before it is emptied (a stream keeps memory small)."""
        self._chg_stream = Seq()
        """stream: (time, pblk) every instant a block's possible versions change, sorted."""
        self._bio_pblks = None if not self.stream else {}

    # --- what changed on the device between two crash times ---------------------------
    def _changes(self):
        """(times, pblks): every instant a block's possible versions change (a version's
        submit, a version becoming durable), sorted; options(pblk, t, forced) with a fixed
        `forced` is constant between two consecutive instants of its block."""
        if self._chg is None:
            ev = []
            d = self.disk
            for pb, vs in d.vsub.items():
                vd = d.vdur[pb]
                for i in range(1, len(vs)):
                    ev.append((vs[i], pb))
                    if 0 <= vd[i] < NEVER:
                        ev.append((vd[i], pb))
            ev.sort()
            self._chg = tuple(map(list, zip(*ev))) if ev else ([], [])
        return self._chg

    def changed_blocks(self, t0, t1):
        """Blocks whose possible versions may differ between crash times t0 <= t1."""
        if self.stream:
            c = self._chg_stream
            return [pb for _, pb in c[c.bisect_right((t0, NEVER)):c.bisect_right((t1, NEVER))]]
        times, pbs = self._changes()
        return pbs[bisect_right(times, t0):bisect_right(times, t1)]

    def forced_blocks(self, diff):
        """Blocks written by the bios of bitmask `diff` (a change of the forced set)."""
        if self._bio_pblks is None:
            m = {}
            for pb, vb in self.disk.vbio.items():
                for bid in vb:
                    if bid is not None:
                        m.setdefault(bid, []).append(pb)
            self._bio_pblks = m
        m = self._bio_pblks
        out = []
        for bid in bits(diff):
            out.extend(m.get(bid, ()))
        return out

    def slots_of(self, ri):
        """slots(ri), the most recent raw inodes' cached."""
        c = self._slots
        got = c.get(id(ri))
        if got is None or got[0] is not ri:
            if len(c) >= 512:
                # a long run passes through many raw inodes; only recent ones recur
                for k in list(c)[:256]:
                    del c[k]
            got = c[id(ri)] = (ri, slots(ri, self.bs))
        return got[1]

    def file_state(self, name, ctx, ri, t, forced, fh=None):
        """The file's exact-mode evaluation at (t, forced), brought up to date from the
        last evaluation with the same context and raw inode: only slots over blocks whose
        possible versions changed since then are checked again."""
        ep = ctx.key[0]
        if self._ep.get(name) != ep:
            # crash times only increase: contexts of earlier file events never recur
            self._ep[name] = ep
            old = self._states.get(name, {})
            self._states[name] = {k: v for k, v in old.items() if k[0][0] >= ep}
            (fh or self.fh[name]).forget_before(ep)
            self._res.pop(name, None)
        st = self._states.setdefault(name, {})
        k = (ctx.key, id(ri))
        S = st.get(k)
        if S is None:
            S = st[k] = FileState(self, name, ctx, ri, t, forced)
        else:
            S.update(t, forced)
        return S

    def history(self, ino, name):
        """The FileHistory of inode `ino` (namespace runs), made once."""
        fh = self._fh_ino.get(ino)
        if fh is None:
            fh = self._fh_ino[ino] = FileHistory(self.result, name, self.bs, ino=ino, ops=self._ops)
        return fh

    def file_history(self, name, ri):
        """(state key, FileHistory) of what `name` holds: by name, or by (name, inode)."""
        if not self.namespace:
            return name, self.fh[name]
        return (name, ri.ino), self.history(ri.ino, name)

    def histories(self):
        return list(self._fh_ino.values()) if self.namespace else list(self.fh.values())

    def crash_times(self):
        ts = {0, self.result.end_ns or 0}
        ts |= self.disk.event_times()
        for fh in self.histories():
            ts.update(fh.event_times)
        for nh in self.nh.values():
            ts.update(nh.times)
        until = getattr(self.result, "until_ns", None)
        ts = sorted(ts)  # then the run [0, until] of it, by bisection
        return ts[bisect_left(ts, 0):len(ts) if until is None else bisect_right(ts, until)]

    # --- one slot's possible views ----------------------------------------------------
    def slot_options(self, a, b, pb, unw, t, forced=0):
        """[(key, runs)] distinct views of [a, b) at t; key = (pblk, version, sector start)."""
        if pb is None or unw:
            return [((None, 0, a), ((a, b, ZERO),))]
        lo, hi = self.disk.options(pb, t, forced)
        ck = (pb, lo, hi, a, b)
        got = self._cut.get(ck)
        if got is not None:
            return got
        out = []
        seen = set()
        for v in range(hi, lo - 1, -1):
            r = cut_shift(self.disk.runs(pb, v), 0, b - a, a)
            if r in seen:
                continue
            seen.add(r)
            out.append(((pb, v, a), r))
        self._cut[ck] = out
        return out

    def unit_slots(self, a, b, pb, unw, t, forced=0):
        """[(a, b, options)] for one slot of the recovered inode (its sectors with torn writes)."""
        if self.torn and pb is not None and not unw:
            lo, hi = self.disk.options(pb, t, forced)
            if hi > lo:
                out = []
                for s in range(a, b, SECTOR):
                    e = min(s + SECTOR, b)
                    seen = set()
                    opts = []
                    for v in range(hi, lo - 1, -1):
                        r = cut_shift(self.disk.runs(pb, v), s - a, e - a, a)
                        if r not in seen:
                            seen.add(r)
                            opts.append(((pb, v, s), r))
                    out.append((s, e, opts))
                return out
        return [(a, b, self.slot_options(a, b, pb, unw, t, forced))]

    def file_slots(self, ri, t, forced=0):
        """[(a, b, options)] for the recovered inode at t (sectors with torn writes)."""
        out = []
        for a, b, pb, unw in self.slots_of(ri):
            out.extend(self.unit_slots(a, b, pb, unw, t, forced))
        return out


class FileState:
    """One file's exact-mode evaluation for one (checking context, raw inode): per slot
    its number of distinct views, of views without zeros-instead-of-data, the (garbage,
    zid) pairs its views show and its violations; plus the aggregates over slots, kept as
    counts so that re-checking one slot updates them in O(1)."""

    __slots__ = ("ex", "name", "ctx", "ri", "R", "t", "forced", "units", "by_pblk", "contrib",
                 "cnt_n", "cnt_nz", "cnt_gz", "viol_units", "file_viol", "checked", "_agg")

    def __init__(self, ex, name, ctx, ri, t, forced):
        self.ex = ex
        self.name = name
        self.ctx = ctx
        self.ri = ri
        self.R = ri.size if ri is not None else 0
        self.t = t
        self.forced = forced
        self.units = ex.slots_of(ri)
        self.by_pblk = {}
        for i, (a, b, pb, unw) in enumerate(self.units):
            if pb is not None and not unw:
                self.by_pblk.setdefault(pb, []).append(i)
        self.file_viol = ctx.check_file(self.R, t)
        self.contrib = [None] * len(self.units)
        self.cnt_n = {}
        self.cnt_nz = {}
        self.cnt_gz = {}
        self.viol_units = set()
        self.checked = 0
        self._agg = None
        for i in range(len(self.units)):
            self._set(i, self._eval(i))

    def _eval(self, i):
        a, b, pb, unw = self.units[i]
        ex = self.ex
        res = ex._res.setdefault(self.name, {})
        ctx = self.ctx
        ck = ctx.key
        n_u = 1
        nz_u = 1
        gz = _PLAIN_F
        vl_u = []
        for sa, sb, opts in ex.unit_slots(a, b, pb, unw, self.t, self.forced):
            n_opt = 0
            n_nz = 0
            sgz = set()
            for okey, runs in opts:
                rk = (ck, okey, sb)
                r = res.get(rk)
                if r is None:
                    r = res[rk] = ctx.check_runs(runs)
                    self.checked += 1
                vl, g, z = r
                n_opt += 1
                if not z:
                    n_nz += 1
                sgz.add((g, z > 0))
                for kind, off, ln, detail in vl:
                    vl_u.append((kind, off, ln, detail, okey, (sa, sb)))
            n_u *= n_opt
            nz_u *= n_nz
            if sgz != _PLAIN:
                gz = frozenset((g1 or g2, z1 or z2) for g1, z1 in gz for g2, z2 in sgz)
        return n_u, nz_u, gz, tuple(vl_u)

    def _set(self, i, c):
        old = self.contrib[i]
        if old == c:
            return
        if old is not None:
            self._count(old, -1, i)
        self.contrib[i] = c
        self._count(c, 1, i)
        self._agg = None

    def _count(self, c, d, i):
        n, nz, gz, vl = c
        if n != 1:
            self.cnt_n[n] = self.cnt_n.get(n, 0) + d
        if nz != 1:
            self.cnt_nz[nz] = self.cnt_nz.get(nz, 0) + d
        if gz != _PLAIN_F:
            self.cnt_gz[gz] = self.cnt_gz.get(gz, 0) + d
        if vl:
            if d > 0:
                self.viol_units.add(i)
            else:
                self.viol_units.discard(i)

    def update(self, t, forced):
        ex = self.ex
        todo = set()
        bp = self.by_pblk
        if t != self.t:
            for pb in ex.changed_blocks(self.t, t):
                if pb in bp:
                    todo.update(bp[pb])
        if forced != self.forced:
            for pb in ex.forced_blocks(forced ^ self.forced):
                if pb in bp:
                    todo.update(bp[pb])
        self.t = t
        self.forced = forced
        for i in sorted(todo):
            self._set(i, self._eval(i))

    def aggregate(self):
        """(views, views without zeros-instead-of-data, {(garbage, zid)})."""
        if self._agg is None:
            n = 1
            for v, c in self.cnt_n.items():
                if c:
                    n *= v ** c
            nz = 1
            for v, c in self.cnt_nz.items():
                if c:
                    nz *= v ** c
            gz = {(False, False)}
            for sgz, c in self.cnt_gz.items():
                # OR over two-bit values: more than two copies of a slot add nothing
                for _ in range(min(c, 2)):
                    gz = {(g1 or g2, z1 or z2) for g1, z1 in gz for g2, z2 in sgz}
            self._agg = (n, nz, gz)
        return self._agg

    def violations(self):
        """Slot violations in slot order: (kind, off, len, detail, okey, sector)."""
        if not self.viol_units:
            return ()
        return (v for i in sorted(self.viol_units) for v in self.contrib[i][3])


_PLAIN = {(False, False)}
_PLAIN_F = frozenset(_PLAIN)


def _fmt_t(ns):
    return f"{ns / 1e9:.6f} s"


def check(result, timed=False, samples=20000, seed=0, torn=False, mode="exact", files=None,
          max_violations=10000, raw=False, progress=None) -> CheckReport:
    """Explore every crash of `result` (a sim.RunResult) and check every recovered state.
    `progress(done, total)`, if given, is called every 256 crash points and at the end."""
    t0 = _time.perf_counter()
    ex = Explorer(result, timed=timed, torn=torn, files=files)
    ck = Checking(ex, timed=timed, torn=torn, mode=mode, samples=samples, seed=seed, raw=raw,
                  max_violations=max_violations)
    rep = ck.rep
    rep.notes.extend(ex.disk.notes)
    rep.notes.extend(ex.journal.notes)
    times = ex.crash_times()
    rep.crash_points = len(times)
    for ti, t in enumerate(times):
        if progress is not None and not ti & 255:
            progress(ti, len(times))
        if not ck.at(t):
            break
    if progress is not None:
        progress(len(times), len(times))
    ck.finish()
    if rep.violations:
        v = rep.violations[0]
        rep.counterexample = describe_state(ex, rep.witness[(v.kind, v.crash_time_ns, v.file)], v)
    rep.elapsed_s = _time.perf_counter() - t0
    rep._explorer = ex
    return rep


class Checking:
    """The checks of one run, crash time by crash time (increasing): the report and the
    violations found so far (check() feeds it every crash time at once, crash/stream.py as
    the run goes)."""

    def __init__(self, ex, timed=False, torn=False, mode="exact", samples=20000, seed=0,
                 raw=False, max_violations=10000):
        self.ex = ex
        result = ex.result
        sc = result.scenario
        self.rep = CheckReport(scenario=sc.name if hasattr(sc, "name") else str(sc),  # no repr unless needed
                               policy=str(result.policy), timed=timed, torn=torn, mode=mode)
        self.mode = mode
        self.samples = samples
        self.raw = raw
        self.max_violations = max_violations
        self.rng = random.Random(seed) if mode != "exact" else None  # seeding costs ~5 us; only sampling uses it
        self.viol = {}

    def at(self, t):
        """Check every state of a crash at t; False once max_violations is passed."""
        ex, rep, viol, mode = self.ex, self.rep, self.viol, self.mode
        jr = ex.journal
        files = ex.files
        if self.raw:
            rep.raw_states += ex.disk.raw_state_count(t)
        groups = {}
        pre = jr.prefixes(t)
        jr.trim(pre[0])
        if mode == "exact":
            p0 = pre[0]
            for fh in ex.histories():
                if fh.prunable():
                    fh.prune(t, fh.reflected_count(t, jr.boundary(p0), jr.tids[p0 - 1] if p0 else None))
            if len(ex._cut) > ex.cut_cap:
                ex._cut.clear()  # a pure cache of sliced block versions
        for p in pre:
            if len(pre) == 1:
                groups[None] = p  # one prefix: nothing to group
                break
            key = tuple(id(jr.raw_inode(p, n)) for n in files)
            groups.setdefault(key, p)
        for p in groups.values():
            B = jr.boundary(p)
            last_tid = jr.tids[p - 1] if p else None
            forced = jr.forced(p)
            if mode == "exact":
                total = 1
                nozid_total = 1
                for name in files:
                    ri = jr.raw_inode(p, name)
                    if ex.namespace and _absent(ex, rep, viol, t, p, name, ri):
                        continue
                    fkey, fh = ex.file_history(name, ri)
                    ctx = fh.context(t, fh.reflected_count(t, B, last_tid))
                    S = ex.file_state(fkey, ctx, ri, t, forced, fh)
                    R = S.R
                    for kind, detail in S.file_viol:
                        k = (kind, t, name, R, 0, detail)
                        if k not in viol:
                            viol[k] = Witness(t, p, name)
                    for kind, off, ln, detail, okey, sec in S.violations():
                        k = (kind, t, name, off, ln, detail)
                        if k not in viol:
                            viol[k] = Witness(t, p, name, okey[0], okey[1], sec)
                    rep.states_checked += S.checked
                    S.checked = 0
                    n_f, nz_f, gz = S.aggregate()
                    total *= n_f
                    nozid_total *= nz_f
                    for g, z in gz:
                        rep.name_outcomes.add((name, ri.ino if ri is not None else None, R, g, z))
                rep.crash_states += total
                rep.zeros_instead_of_data += total - nozid_total
            else:
                per_file = []
                for name in files:
                    ri = jr.raw_inode(p, name)
                    if ex.namespace and _absent(ex, rep, viol, t, p, name, ri):
                        continue
                    _, fh = ex.file_history(name, ri)
                    R = ri.size if ri is not None else 0
                    ctx = fh.context(t, fh.reflected_count(t, B, last_tid))
                    for kind, detail in ctx.check_file(R, t):
                        k = (kind, t, name, R, 0, detail)
                        if k not in viol:
                            viol[k] = Witness(t, p, name)
                    per_file.append((name, fh, ri, R, ctx, ex.file_slots(ri, t, forced)))
                _enumerate(ex, rep, viol, self.rng, self.samples, t, p, per_file)
        if len(viol) > self.max_violations:
            rep.notes.append(f"stopped after {len(viol)} violations (max_violations)")
            return False
        return True

    def finish(self):
        """Merge adjacent byte ranges of one kind/time/file/detail into the report."""
        rep = self.rep
        # exact mode: every present file's outcome is its name outcome without the inode
        rep.outcomes.update({Outcome(n, R, g, z) for n, _, R, g, z in rep.name_outcomes})
        rep.violations = _merge(self.viol)
        rep.witness = {}
        for (kind, t, name, off, ln, detail), w in self.viol.items():
            rep.witness.setdefault((kind, t, name), w)


def _absent(ex, rep, viol, t, p, name, ri):
    """The name checks (checkers.NameHistory) for `name` at (t, p); True when the name is
    absent after recovery (its own outcome class, nothing more to check)."""
    for kind, detail in ex.nh[name].check(t, None if ri is None else ri.ino):
        k = (kind, t, name, 0, 0, detail)
        if k not in viol:
            viol[k] = Witness(t, p, name)
    if ri is None:
        rep.outcomes.add(Outcome(name, 0, False, False, absent=True))
        return True
    return False


def _enumerate(ex, rep, viol, rng, samples, t, p, per_file):
    """Materialise the states of one (crash time, prefix) as whole files and check each."""
    flat = []
    for fi, (name, fh, ri, R, ctx, fsl) in enumerate(per_file):
        for a, b, opts in fsl:
            flat.append((fi, opts))
    sizes = [len(o) for _, o in flat]
    total = 1
    for n in sizes:
        total *= n
    rep.crash_states += total
    if total <= samples:
        combos = itertools.product(*[range(n) for n in sizes])
    else:
        rep.exhaustive = False
        rep.sampled_points += 1
        combos = ([rng.randrange(n) for n in sizes] for _ in range(samples))
    for combo in combos:
        rep.states_checked += 1
        views = [[] for _ in per_file]
        choice = {}
        for (fi, opts), c in zip(flat, combo):
            okey, runs = opts[c]
            views[fi].extend(runs)
            if okey[0] is not None:
                choice[(okey[0], okey[2])] = okey[1]
        anyz = False
        for fi, (name, fh, ri, R, ctx, fsl) in enumerate(per_file):
            vl, g, z = ctx.check_runs(views[fi])
            rep.outcomes.add(Outcome(name, R, g, z > 0))
            anyz = anyz or z > 0
            for kind, off, ln, detail in vl:
                k = (kind, t, name, off, ln, detail)
                if k not in viol:
                    viol[k] = Witness(t, p, name, choice=dict(choice))
        if anyz:
            rep.zeros_instead_of_data += 1


def _merge(viol):
    keys = sorted(viol, key=lambda k: (k[1], k[2], k[0], k[5], k[3]))
    out = []
    for kind, t, name, off, ln, detail in keys:
        if kind in FILE_LEVEL:
            out.append(Violation(kind, t, off, ln, name, detail))
            continue
        if out:
            v = out[-1]
            if (v.kind, v.crash_time_ns, v.file, v.detail) == (kind, t, name, detail) \
                    and v.offset + v.length >= off:
                end = max(v.offset + v.length, off + ln)
                out[-1] = Violation(kind, t, v.offset, end - v.offset, name, detail)
                continue
        out.append(Violation(kind, t, off, ln, name, detail))
    # a range found in several byte runs of different versions may repeat: drop exact dups
    seen = set()
    uniq = []
    for v in out:
        if v not in seen:
            seen.add(v)
            uniq.append(v)
    uniq.sort(key=lambda v: (v.crash_time_ns, v.file, v.kind, v.offset))
    return uniq


# --- describing a failing state --------------------------------------------------------
def _bio_name(b):
    what = b.why or b.kind
    where = ""
    if b.ino is not None and b.lblk is not None:
        where = f" (ino {b.ino} lblk {b.lblk})"
    return f"bio #{b.id} {what}{where}"


def _durable_text(ex, b, t, fut=None):
    d = ex.disk.dur[b.id]
    if d <= t:
        return f"durable at {_fmt_t(d)}"
    if b.complete_ns is not None and b.complete_ns <= t:
        head = f"completed at {_fmt_t(b.complete_ns)}, not durable"
        if fut is not None:
            return fut.cover(b.id, head, d)
        return head + (f" (a flush would cover it at {_fmt_t(d)})" if d != NEVER else "")
    return "in flight, not durable"


def _commit_line(ex, tid, c, rec, t, fut):
    sz = f" with i_disksize={rec.size}" if rec is not None else ""
    st = _durable_text(ex, c, t, fut) if ex.disk.dur[c.id] <= t else \
        f"submitted at {_fmt_t(c.submit_ns)}, on disk but not yet durable"
    return f"commit of tid {tid}{sz} {st}"


def _cover_text(head, d):
    return head + (f" (a flush would cover it at {_fmt_t(d)})" if d != NEVER else "")


def _later_lines(b, vi):
    """The line naming block pb's next write after the crash (b: that bio or None)."""
    if vi == 0 and b is None:
        return "  no write of it was ever submitted"
    if b is not None:
        return (f"  next write of it, {_bio_name(b)}, submitted only at "
                f"{_fmt_t(b.submit_ns)}")
    return None


def describe_state(ex, w, v=None, fut=None):
    """A short timeline of the failing state: the recovered commits and the block versions
    that make the violation, naming the I/O that was (or was not) on disk. `fut`
    (crash/stream.py) stands in for what only the rest of the run tells (when a write
    becomes durable, a block's next write): the text then has its markers."""
    t, p = w.t, w.p
    jr = ex.journal
    lines = []
    head = f"crash at {_fmt_t(t)}"
    if v is not None:
        head += f": {v.kind} in {v.file} [{v.offset}, {v.offset + v.length}) - {v.detail}"
    lines.append(head)
    ri = jr.raw_inode(p, w.file)
    ino_now = ri.ino if ri is not None else jr.inos.get(w.file)
    # which commit gave the size
    src_tid = None
    src = None
    for k in range(p, getattr(jr.tids, "base", 0), -1):
        ino = ino_now
        if ino in jr.record[jr.tids[k - 1]]:
            src_tid = jr.tids[k - 1]
            src = (jr.commit.get(src_tid), jr.record[src_tid].get(ino_now))
            break
    else:
        got = getattr(jr, "dropped_src", {}).get(ino_now)
        if got is not None:
            src_tid, src = got[0], got[1:]
    for k in range(max(p - 1, getattr(jr.tids, "base", 0)) if fut is not None else 0, p):
        tid = jr.tids[k]
        if tid == src_tid or k == p - 1:
            lines.append(_commit_line(ex, tid, jr.commit[tid], jr.record[tid].get(ino_now), t, fut))
    if fut is not None and src_tid is not None and src_tid != (jr.tids[p - 1] if p else None):
        # the size's commit is older than the kept log: named first, as the full walk does
        lines.insert(1, _commit_line(ex, src_tid, src[0], src[1], t, fut))
    if p < len(jr.tids):
        tid = jr.tids[p]
        c = jr.commit.get(tid)
        if c is not None and c.submit_ns <= t:
            lines.append(f"commit of tid {tid} (bio #{c.id}) submitted at {_fmt_t(c.submit_ns)}, "
                         f"not on disk: recovery stops before it")
    if ri is None and jr.namespace:
        lines.append(f"{w.file}: absent after recovery (no directory entry replayed)")
    elif ri is None:
        lines.append(f"{w.file}: no inode recovered (size 0)")
    else:
        lines.append(f"{w.file}: recovered size {ri.size}" + (f" from tid {src_tid}" if src_tid else " (initial inode)"))
    picks = []
    if w.pblk is not None:
        picks.append((w.pblk, w.version))
    elif w.choice:
        for (pb, _), vi in sorted(w.choice.items()):
            picks.append((pb, vi))
    emap = {e[1]: e[0] for e in (ri.extents if ri is not None else ()) if len(e) == 3}
    shown = set()
    for pb, vi in picks:
        if (pb, vi) in shown:
            continue
        shown.add((pb, vi))
        lb = emap.get(pb)
        if v is not None and lb is not None and w.pblk is None:
            bs = ex.bs
            if not (lb * bs < v.offset + max(v.length, 1) and v.offset < (lb + 1) * bs):
                continue
        lo, hi = ex.disk.options(pb, t, jr.forced(p))
        name = f"block {lb}" if lb is not None else f"pblk {pb}"
        if vi == 0:
            lines.append(f"{name} (pblk {pb}) holds its pre-scenario contents")
        else:
            b = ex.disk.bio(ex.disk.bio_of(pb, vi))
            lines.append(f"{name} (pblk {pb}) holds {_bio_name(b)} submitted at "
                         f"{_fmt_t(b.submit_ns)}, {_durable_text(ex, b, t, fut)}")
        if vi == hi:
            if fut is not None:
                lines.append(fut.later(pb, t, vi, ex.disk))
            else:
                later = next((b for b in ex.result.dev.bios if b.op == "write" and b.submit_ns > t
                              and any(q == pb for q, _ in b.blocks)), None)
                line = _later_lines(later, vi)
                if line is not None:
                    lines.append(line)
        for vj in range(vi + 1, hi + 1):
            b = ex.disk.bio(ex.disk.bio_of(pb, vj))
            lines.append(f"  newer {_bio_name(b)} submitted at {_fmt_t(b.submit_ns)} not on disk: "
                         f"{_durable_text(ex, b, t, fut)}")
    return "\n".join(lines)


def check_schedules(scenario, policy, overrides=None, n=10, timed=False, samples=20000, seed=0,
                    torn=False, simulate=None):
    """Rerun the scenario under n seeded schedule perturbations (I/O latencies, order of
    simultaneous events) and check each. Returns (reports, first failing (seed, report) or None)."""
    if simulate is None:
        from ..sim import simulate
    reps = []
    failing = None
    for k in range(n):
        ps = seed + k + 1
        res = simulate(scenario, policy, overrides or {}, perturb_seed=ps)
        r = check(res, timed=timed, samples=samples, seed=seed, torn=torn)
        r.notes.append(f"schedule perturb_seed={ps}")
        reps.append((ps, r))
        if failing is None and r.violations:
            failing = (ps, r)
    return reps, failing


def views_at(ex, t):
    """Every distinct recovered view at crash time t, enumerated (for tests and debugging):
    a set of tuples ((file, size, runs), ...)."""
    out = set()
    jr = ex.journal
    for p in jr.prefixes(t):
        forced = jr.forced(p)
        per = []
        for name in ex.files:
            ri = jr.raw_inode(p, name)
            R = ri.size if ri is not None else 0
            per.append((name, R, ex.file_slots(ri, t, forced)))
        flat = [(i, opts) for i, (_, _, fsl) in enumerate(per) for a, b, opts in fsl]
        for combo in itertools.product(*[opts for _, opts in flat]):
            views = [[] for _ in per]
            for (i, _), (_, runs) in zip(flat, combo):
                for r in runs:
                    v = views[i]
                    if v and v[-1][2] == r[2] and v[-1][1] == r[0]:
                        v[-1] = (v[-1][0], r[1], r[2])
                    else:
                        v.append(r)
            out.add(tuple((name, R, tuple(views[i])) for i, (name, R, _) in enumerate(per)))
    return out
