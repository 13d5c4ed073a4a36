"""Hypothesis oracles for crash exploration on small random I/O logs:
  * the pruned enumeration yields exactly the recovered views a brute-force walk over every
    subset of (write, block) pairs on disk yields, under the same durability rules;
  * the exact (per-block) checker and the whole-state enumerating checker agree."""


from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eofsim.content import fill
from eofsim.crash.explore import Explorer, check, views_at
from eofsim.crash.fakelog import LogBuilder, RawInode, op, result

BS = 1024
PBLKS = (100, 101, 102)
INO = 12


@st.composite
def logs(draw, max_ops=4, max_events=7):
    B = LogBuilder(bs=BS)
    B.dev.initial[100] = fill(BS, 1_000_000_000)  # INITIAL data in block 0
    clock = 0
    writes = []
    n_ops = draw(st.integers(1, max_ops))
    # ops: one thread, one op per 10 ns; size history derived
    ops = []
    size = 1024
    hist = [(0, 0, size)]
    for i in range(1, n_ops + 1):
        kind = draw(st.sampled_from(["write", "write", "truncate", "fsync"]))
        t = 10 * i
        if kind == "write":
            lb = draw(st.integers(0, 2))
            ln = draw(st.sampled_from([BS, 2 * BS, 500]))
            ln = min(ln, 3 * BS - lb * BS)
            new = max(size, lb * BS + ln)
            ops.append(op(i, f"write f {lb * BS} {ln}", t, t + 1, i_size_after=new))
            if new != size:
                hist.append((t, i, new))
            size = new
        elif kind == "truncate":
            new = draw(st.sampled_from([0, 700, 1024, 2048, 3000]))
            ops.append(op(i, f"truncate f {new}", t, t + 1, i_size_after=new))
            if new != size:
                hist.append((t, i, new))
            size = new
        else:
            ops.append(op(i, "fsync f", t, t + draw(st.integers(1, 40))))
    write_ops = [o.index for o in ops if o.op.kind == "write"] or [0]
    n_events = draw(st.integers(1, max_events))
    tid = 0
    for _ in range(n_events):
        clock += draw(st.integers(0, 6))
        what = draw(st.sampled_from(["data", "data", "flush", "txn"]))
        done = [w for w in writes if w.complete_ns is not None and w.complete_ns <= clock]
        if what == "data":
            blocks = draw(st.lists(st.sampled_from(PBLKS), min_size=1, max_size=2, unique=True))
            src = draw(st.sampled_from(write_ops))
            comp = draw(st.one_of(st.none(), st.integers(1, 8)))
            w = B.write(blocks, clock, None if comp is None else clock + comp, src=src,
                        fua=draw(st.booleans()), ino=INO, lblk=blocks[0] - 100)
            writes.append(w)
        elif what == "flush":
            hb = draw(st.lists(st.sampled_from(done), unique=True)) if done else []
            comp = draw(st.one_of(st.none(), st.integers(1, 8)))
            B.flush(clock, None if comp is None else clock + comp, hb=hb)
        else:
            tid += 1
            sz = draw(st.sampled_from([0, 700, 1024, 2048, 3000]))
            ext = tuple((lb, 100 + lb, draw(st.booleans())) for lb in range(3) if draw(st.booleans()))
            j = B.journal(200 + 2 * tid, tid, [RawInode(INO, sz, ext)], clock, clock + 1)
            writes.append(j)
            clock += 1
            hb = [j] + (draw(st.lists(st.sampled_from(done), unique=True)) if done else [])
            comp = draw(st.one_of(st.none(), st.integers(1, 8)))
            c = B.commit(201 + 2 * tid, tid, clock, None if comp is None else clock + comp, hb=hb,
                         fua=draw(st.booleans()))
            writes.append(c)
    res = result(B.dev, ops, {"f": hist}, {"f": INO}, {INO: RawInode(INO, 1024, ((0, 100, False),))})
    return res


def brute_views(res, t):
    """Every subset of (write, block) pairs submitted by t on disk; keep the consistent ones."""
    dev = res.dev
    bios = dev.bios
    durable = set()
    for w in bios:
        if w.op != "write" or w.complete_ns is None or w.complete_ns > t:
            continue
        if w.fua:
            durable.add(w.id)
        for f in bios:
            if (f.op == "flush" or f.preflush) and f.complete_ns is not None and f.complete_ns <= t \
                    and (f.hb >> w.id) & 1:
                durable.add(w.id)
    units = [(w.id, pb) for w in bios if w.op == "write" and w.submit_ns <= t for pb, _ in w.blocks]
    blocks_of = {w.id: [pb for pb, _ in w.blocks] for w in bios if w.op == "write"}
    content = {(w.id, pb): r for w in bios if w.op == "write" for pb, r in w.blocks}
    commits = {w.payload: w for w in bios if w.kind == "commit"}
    records = {}
    for w in bios:
        if w.kind == "journal":
            for ri in w.payload.inodes:
                records.setdefault(w.payload.tid, {})[ri.ino] = ri
    out = set()
    for mask in range(1 << len(units)):
        chosen = {}
        for k, (bid, pb) in enumerate(units):
            if (mask >> k) & 1:
                chosen[pb] = max(chosen.get(pb, -1), bid)

        def at_least(bid):
            return all(chosen.get(pb, -1) >= bid for pb in blocks_of[bid])

        if not all(at_least(d) for d in durable):
            continue
        ok = True
        for c in commits.values():
            if chosen.get(c.blocks[0][0]) == c.id and c.preflush:
                if not all(at_least(i) for i in range(c.id) if (c.hb >> i) & 1 and bios[i].op == "write"):
                    ok = False
        if not ok:
            continue
        inode = res.initial_inodes[INO]
        for tid in sorted(commits):
            c = commits[tid]
            if chosen.get(c.blocks[0][0]) != c.id:
                break
            inode = records.get(tid, {}).get(INO, inode)
        view = []
        emap = {lb: (pb, u) for lb, pb, u in inode.extents}
        for lb in range((inode.size + BS - 1) // BS):
            a, b = lb * BS, min(lb * BS + BS, inode.size)
            pb, u = emap.get(lb, (None, False))
            if pb is None or u:
                runs = ((0, BS, 0),)
            elif pb in chosen:
                runs = content[(chosen[pb], pb)]
            else:
                runs = dev.initial.get(pb, dev.fill)
            for s, e, v in runs:
                s, e = max(s + lb * BS, a), min(e + lb * BS, b)
                if s >= e:
                    continue
                if view and view[-1][2] == v and view[-1][1] == s:
                    view[-1] = (view[-1][0], e, v)
                else:
                    view.append((s, e, v))
        out.add((("f", inode.size, tuple(view)),))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs())
def test_pruned_views_equal_brute_force(res):
    ex = Explorer(res)
    n_units = sum(len(b.blocks) for b in res.dev.bios if b.op == "write")
    if n_units > 12:
        return
    for t in ex.crash_times():
        assert views_at(ex, t) == brute_views(res, t), t


def _summary(rep):
    return ({(v.kind, v.crash_time_ns, v.file, v.offset, v.length) for v in rep.violations},
            rep.outcomes, rep.crash_states, rep.zeros_instead_of_data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs(), st.booleans(), st.booleans())
def test_exact_equals_enumerated(res, timed, torn):
    a = check(res, timed=timed, torn=torn)
    b = check(res, timed=timed, torn=torn, mode="enumerate", samples=10 ** 6)
    assert a.exhaustive and b.exhaustive
    assert _summary(a) == _summary(b)


def test_sampling_is_reported():
    B = LogBuilder(bs=BS)
    ext = tuple((lb, 100 + lb, False) for lb in range(12))
    for lb in range(12):
        B.write([100 + lb], 0, None, src=1)
    res = result(B.dev, [op(1, "write f 0 12288", 0, 1)], {"f": [(0, 0, 12288)]}, {"f": INO},
                 {INO: RawInode(INO, 12288, ext)})
    e = check(res, mode="enumerate", samples=100)
    assert not e.exhaustive and e.sampled_points > 0 and e.crash_states >= 4096
    x = check(res)
    assert x.exhaustive and x.crash_states == e.crash_states
    assert x.kinds() == e.kinds() == {"garbage"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs(max_ops=12, max_events=20), st.booleans(), st.booleans())
def test_exact_equals_enumerated_long_logs(res, timed, torn):
    """Longer logs: many crash points, so the incremental exact mode carries its per-file
    state across many steps (block versions submitted and becoming durable, commits)."""
    a = check(res, timed=timed, torn=torn)
    if a.crash_states > 20_000:
        return  # the enumerating oracle would take too long
    b = check(res, timed=timed, torn=torn, mode="enumerate", samples=10 ** 6)
    assert b.exhaustive
    assert _summary(a) == _summary(b)
