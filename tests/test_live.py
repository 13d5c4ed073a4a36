"""The live model (live.LiveModel) without a mount: replaying its trace through `simulate`
reproduces every op, and reads return the program's bytes (checked against a plain
bytearray file, an oracle that knows nothing of the model)."""

import errno
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eofsim.crash.appcheck import app_check, states, tree_bytes
from eofsim.engine import WaitQueue
from eofsim.crash.explore import Explorer
from eofsim.errors import InputError
from eofsim.fuse.modelfs import ModelOps
from eofsim.live import LiveModel, Payload, final_contents, payload_path
from eofsim.ops import Op
from eofsim.scenario_file import load_scenario, load_text
from eofsim.sim import simulate


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def _bytes_for(seed, n):
    return bytes((seed * 31 + i * 7) % 251 + 1 for i in range(n))


def drive(model, clock, script):
    """script: [(gap_s, tid, kind, args)]; returns the oracle files {name: bytearray} and
    [(record, expected bytes)] for reads."""
    files, reads = {"f": bytearray(), "g": bytearray()}, []
    for name in files:
        model.call(99, Op("open", file=name, flags=("creat",)))
    for i, (gap, tid, kind, a, b) in enumerate(script):
        clock.t += gap
        f = files.setdefault("f" if tid % 2 == 0 else "g", bytearray())
        name = "f" if tid % 2 == 0 else "g"
        if kind == "write":
            data = _bytes_for(i + 1, b)
            model.call(tid, Op("write", file=name, off=a, len=b), data)
            if len(f) < a:
                f.extend(bytes(a - len(f)))
            f[a:a + b] = data
        elif kind == "truncate":
            model.call(tid, Op("truncate", file=name, size=a))
            if a < len(f):
                del f[a:]
            else:
                f.extend(bytes(a - len(f)))
        elif kind == "punch":
            model.call(tid, Op("fallocate", file=name, off=a, len=b, mode="punch_hole"))
            end = min(a + b, len(f))
            if a < end:
                f[a:end] = bytes(end - a)
        elif kind == "read":
            rec = model.call(tid, Op("read", file=name, off=a, len=b))
            reads.append((model.read_bytes(rec), bytes(f[a:a + b])))
        else:
            model.call(tid, Op(kind, file=name))
    return files, reads


op_st = st.tuples(
    st.sampled_from([0.0, 0.0001, 0.003, 0.9, 6.0, 31.0]),
    st.integers(0, 2),
    st.sampled_from(["write", "write", "truncate", "punch", "read", "fsync", "fdatasync"]),
    st.integers(0, 20000),
    st.integers(1, 9000),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op_st, min_size=1, max_size=25), st.sampled_from(["bh-ordered", "iomap-v4"]))
def test_reads_are_the_programs_bytes_and_the_trace_replays_op_for_op(script, policy):
    clock = Clock()
    model = LiveModel(policy, time_scale=1.0, clock=clock)
    files, reads = drive(model, clock, script)
    for got, want in reads:
        assert got == want
    sc, payload = model.scenario_of("t")
    from eofsim.scenario_file import dump_text
    res = simulate(load_text(dump_text(sc), "t.yaml"), policy)
    live = [r for th in model.threads.values() for r in th.recs]
    assert len(live) == len(res.ops)
    for a, b in zip(live, res.ops):
        assert (a.op, a.start_ns, a.end_ns, a.error, a.i_size_after, a.i_disksize_after) == \
               (b.op, b.start_ns, b.end_ns, b.error, b.i_size_after, b.i_disksize_after)
        if a.runs is not None:
            assert model.read_bytes(a) == payload.to_bytes(b.runs, b.op.off)
    want = {n: bytes(b) for n, b in files.items()}
    assert final_contents(model.fs, model.payload) == want
    assert final_contents(res.fs, payload) == want


def test_virtual_time_follows_the_scaled_wall_clock_between_requests():
    clock = Clock()
    model = LiveModel("bh-ordered", time_scale=10.0, clock=clock)
    clock.t = 0.45
    r1 = model.call(7, Op("write", file="f", off=0, len=10), b"x" * 10)
    assert r1.start_ns == 4_500_000_000               # 0.45 s wall x 10
    clock.t = 0.55
    r2 = model.call(7, Op("fsync", file="f"))
    assert r2.start_ns == r1.end_ns + 1_000_000_000     # 0.1 s wall x 10 after r1 ended
    assert r2.end_ns > r2.start_ns                     # the fsync waited for its commit
    clock.t = 0.6
    r3 = model.call(8, Op("read", file="f", off=0, len=10))
    assert r3.start_ns > r2.end_ns and r3.thread == "t1"
    assert model.read_bytes(r3) == b"x" * 10


def test_a_request_never_starts_when_an_event_is_queued_at_the_same_nanosecond():
    clock = Clock()
    model = LiveModel("bh-ordered", clock=clock)
    model.call(1, Op("write", file="f", off=0, len=1), b"a")
    # the flusher's next wakeup is queued; arrive exactly then
    due = min(e[0] for e in model.eng._q)
    clock.t = (due - model.v_done) / 1e9
    rec = model.call(1, Op("write", file="f", off=1, len=1), b"b")
    assert rec.start_ns != due
    model.call(1, Op("fsync", file="f"))
    sc, _ = model.scenario_of("t")
    from eofsim.scenario_file import dump_text
    res = simulate(load_text(dump_text(sc), "t.yaml"), "bh-ordered")
    assert [(r.start_ns, r.end_ns) for r in res.ops] == [(r.start_ns, r.end_ns) for r in model.records]


def test_bad_time_scale_is_refused():
    for bad in (0, -1, float("nan"), float("inf"), 1e7):
        with pytest.raises(InputError):
            LiveModel("bh-ordered", time_scale=bad)


def test_payload_file_round_trips(tmp_path):
    p = Payload({3: (10, b"abc"), 1: (0, b"")})
    p.save(tmp_path / "x.data")
    assert Payload.load(tmp_path / "x.data").data == p.data
    (tmp_path / "bad.data").write_bytes(b"nope")
    with pytest.raises(InputError):
        Payload.load(tmp_path / "bad.data")
    raw = (tmp_path / "x.data").read_bytes()
    (tmp_path / "cut.data").write_bytes(raw[:-1])
    with pytest.raises(InputError):
        Payload.load(tmp_path / "cut.data")


def test_write_trace_gives_a_scenario_and_payload_that_load(tmp_path):
    clock = Clock()
    model = LiveModel("bh-ordered", {"commit_interval_ns": "1s"}, clock=clock)
    clock.t = 0.01
    model.call(1, Op("write", file="f", off=0, len=3), b"abc")
    y, d = model.write_trace(tmp_path / "tr.yaml")
    assert d == payload_path(y)
    sc = load_scenario(str(y))
    assert sc.tunables == {"commit_interval_ns": "1s"}
    assert [op.text() for op in sc.threads[0].ops] == ["@10ms write f 0 3"]
    assert Payload.load(d).data == {1: (0, b"abc")}


def test_model_errors_become_eio_and_the_daemon_serves_on(monkeypatch):
    clock = Clock()
    model = LiveModel("bh-ordered", clock=clock)
    logs = []

    class Log:
        def write(self, s):
            logs.append(s)

        def flush(self):
            pass

    ops = ModelOps(model, log=Log())
    fh = ops.create("/f", 0o644)
    real = model.fs.write

    def broken(*a, **k):
        raise ZeroDivisionError("model bug")
        yield

    monkeypatch.setattr(model.fs, "write", broken)
    with pytest.raises(OSError) as e:
        ops.write("/f", b"abc", 0, fh)
    assert e.value.errno == errno.EIO
    assert any("ZeroDivisionError" in s for s in logs)
    monkeypatch.setattr(model.fs, "write", real)
    assert ops.write("/f", b"abc", 0, fh) == 3
    assert ops.read("/f", 3, 0, fh) == b"abc"
    assert model.failed == ["write f 0 3"]


def test_crash_makes_the_mount_read_only_and_the_trace_ends_there(tmp_path):
    clock = Clock()
    model = LiveModel("bh-ordered", clock=clock)
    ops = ModelOps(model, log=open("/dev/null", "w"), trace_path=tmp_path / "c.yaml")
    fh = ops.create("/f", 0o644)
    clock.t = 1.0
    ops.write("/f", b"abc", 0, fh)
    clock.t = 2.0
    ops.write("/.eofsim-crash", b"1", 0, 0)
    with pytest.raises(OSError) as e:
        ops.write("/f", b"abc", 3, fh)
    assert e.value.errno == errno.EROFS
    assert model.until_ns >= 2_000_000_000
    sc = load_scenario(str(tmp_path / "c.yaml"))
    res = simulate(sc, "bh-ordered")
    assert res.until_ns == model.until_ns
    assert res.end_ns == model.until_ns and all(r.end_ns <= model.until_ns for r in res.ops)


def test_app_check_sees_every_distinct_tree_and_rejects_what_the_checker_rejects(tmp_path):
    """Oracle: the distinct trees app_check counts are exactly those states() yields, by
    content; a checker that rejects a size the file had only before the fsync is reported
    at a crash time before the fsync's commit."""
    clock = Clock()
    model = LiveModel("bh-ordered", clock=clock)
    clock.t = 0.01
    model.call(1, Op("write", file="f", off=0, len=5), b"hello")
    clock.t = 0.02
    model.call(1, Op("fsync", file="f"))
    clock.t = 0.03
    model.call(1, Op("write", file="f", off=5, len=6), b" world")
    sc, payload = model.scenario_of("t")
    from eofsim.scenario_file import dump_text
    res = simulate(load_text(dump_text(sc), "t.yaml"), "bh-ordered")
    contents = {tuple(sorted(tree_bytes(s, payload).items())) for s, _ in states(Explorer(res))}
    # the create and the first write commit together (the fsync): f is absent, or holds
    # what the fsync made durable; the append into the same (allocated) block updates
    # i_disksize at write_end, so the 5 s commit may log size 11 before the block is
    # written back: zeros instead of data, allowed without fsync; then the final state
    assert {dict(c).get("f") for c in contents} == \
        {None, b"hello", b"hello" + bytes(6), b"hello world"}
    rep = app_check(res, "test -s f", payload)
    assert rep.trees == len(contents)
    assert len(rep.rejected) == 1 and rep.rejected[0].state.files == ()
    fsync_end = res.ops[1].end_ns
    assert rep.rejected[0].state.t < fsync_end
    ok = app_check(res, "true", payload)
    assert ok.ok and ok.trees == rep.trees


def test_app_states_cap_spreads_over_crash_time(tmp_path):
    clock = Clock()
    model = LiveModel("bh-ordered", clock=clock)
    for i in range(6):
        clock.t += 6.0                  # each write lands after a commit of the one before
        model.call(1, Op("write", file="f", off=i, len=1), b"abcdef"[i:i + 1])
        model.call(1, Op("fsync", file="f"))
    sc, payload = model.scenario_of("t")
    from eofsim.scenario_file import dump_text
    res = simulate(load_text(dump_text(sc), "t.yaml"), "bh-ordered")
    full = app_check(res, "true", payload)
    capped = app_check(res, "true", payload, max_trees=3)
    assert full.trees > 3 and capped.trees == 3 and capped.capped and not capped.exhaustive
    seen = app_check(res, 'test "$(cat f 2>/dev/null)" != abcdef', payload, max_trees=3,
                     keep=tmp_path / "min")
    assert len(seen.rejected) == 1       # the last tree (the whole file) is among the three
    assert (tmp_path / "min" / "f").read_bytes() == b"abcdef"   # --app-keep


class _PosixOracle:
    """Names -> inode (bytearray); handles -> inode: POSIX without the storage."""

    def __init__(self):
        self.names, self.fhs = {}, {}

    def create(self, name, fh):
        self.names.setdefault(name, bytearray())
        self.fhs[fh] = self.names[name]

    def write(self, fh, off, data):
        b = self.fhs[fh]
        if len(b) < off:
            b.extend(bytes(off - len(b)))
        b[off:off + len(data)] = data

    def read(self, fh, off, n):
        return bytes(self.fhs[fh][off:off + n])


name_st = st.sampled_from(["a", "b", "c"])
ns_op = st.one_of(
    st.tuples(st.just("create"), st.integers(0, 1), name_st),
    st.tuples(st.just("write"), st.integers(0, 1), st.integers(0, 9000), st.integers(1, 5000)),
    st.tuples(st.just("read"), st.integers(0, 1), st.integers(0, 9000), st.integers(1, 5000)),
    st.tuples(st.just("rename"), st.integers(0, 1), name_st, name_st),
    st.tuples(st.just("unlink"), st.integers(0, 1), name_st),
    st.tuples(st.just("close"), st.integers(0, 1)),
    st.tuples(st.just("fsync"), st.integers(0, 1)),
    st.tuples(st.just("sleep"), st.sampled_from([0.001, 2.0, 7.0, 31.0])),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ns_op, min_size=1, max_size=30))
def test_namespace_requests_replay_op_for_op_and_read_like_posix(script):
    """Through the request layer (ModelOps, as FUSE calls it): creates, writes and reads on
    handles, renames, unlinks (also of open files), closes and fsyncs from two threads. Reads
    give what a POSIX oracle gives, and the trace replays to the same ops and final files."""
    clock = Clock()
    model = LiveModel("bh-ordered", clock=clock)
    ops = ModelOps(model, log=open("/dev/null", "w"))
    tid = [0]
    ops.context_tid = lambda: tid[0]
    oracle = _PosixOracle()
    held = {0: [], 1: []}          # per caller: its open handles, newest last
    for i, step in enumerate(script):
        clock.t += 0.0005
        kind = step[0]
        if kind == "sleep":
            clock.t += step[1]
            continue
        tid[0] = step[1]
        mine = held[tid[0]]
        if kind == "create":
            fh = ops.create("/" + step[2], 0o644, os.O_CREAT | os.O_RDWR)
            oracle.create(step[2], fh)
            mine.append(fh)
        elif kind in ("write", "read", "close", "fsync"):
            if not mine:
                continue
            fh = mine[-1]
            if kind == "write":
                data = _bytes_for(i + 1, step[3])
                ops.write(None, data, step[2], fh)
                oracle.write(fh, step[2], data)
            elif kind == "read":
                assert ops.read(None, step[3], step[2], fh) == oracle.read(fh, step[2], step[3])
            elif kind == "fsync":
                ops.fsync(None, 0, fh)
            else:
                ops.release(None, mine.pop())
        elif kind == "rename":
            if step[2] not in oracle.names or step[2] == step[3]:
                continue
            ops.rename("/" + step[2], "/" + step[3])
            oracle.names[step[3]] = oracle.names.pop(step[2])
        elif kind == "unlink":
            if step[2] not in oracle.names:
                continue
            ops.unlink("/" + step[2])
            del oracle.names[step[2]]
    assert sorted(ops.readdir("/", None)[2:]) == sorted(oracle.names)
    for name, b in oracle.names.items():
        assert ops.getattr("/" + name)["st_size"] == len(b)
    sc, payload = model.scenario_of("t")
    from eofsim.scenario_file import dump_text
    res = simulate(load_text(dump_text(sc), "t.yaml"), "bh-ordered")
    live = [r for th in model.threads.values() for r in th.recs]
    replayed = [r for r in res.ops if live or r.op.kind != "sleep"]
    assert [(r.op, r.start_ns, r.end_ns, r.error, r.i_size_after) for r in live] == \
        [(r.op, r.start_ns, r.end_ns, r.error, r.i_size_after) for r in replayed]
    assert not any(r.error for r in res.ops)
    want = {n: bytes(b) for n, b in oracle.names.items()}
    assert final_contents(res.fs, payload) == want == final_contents(model.fs, model.payload)


def test_a_request_that_hangs_in_the_model_is_eio_kept_in_the_trace_and_the_caller_goes_on(monkeypatch):
    clock = Clock()
    model = LiveModel("bh-ordered", clock=clock)
    ops = ModelOps(model, log=open("/dev/null", "w"))
    fh = ops.create("/f", 0o644)
    ops.write("/f", b"abc", 0, fh)
    gate = WaitQueue(model.eng, "never", "test_never")

    def hang(*a, **k):
        yield gate                     # nobody ever wakes it: a stall

    monkeypatch.setattr(model.fs, "fsync", hang)
    with pytest.raises(OSError) as e:
        ops.fsync(None, 0, fh)
    assert e.value.errno == errno.EIO and model.stuck == ["fsync f"]
    fh2 = ops.create("/g", 0o644)      # same caller, a fresh model thread
    assert ops.write("/g", b"xy", 0, fh2) == 2 and ops.read("/g", 2, 0, fh2) == b"xy"
    sc, _ = model.scenario_of("t")
    assert "fsync f" in [op.text().split(" ", 1)[1] for th in sc.threads for op in th.ops]


@pytest.mark.parametrize("policy", ["bh-ordered", "iomap-v4"])
def test_requests_leave_no_cyclic_garbage(policy):
    """The mount serves with the cyclic collector off (fuse/common.tune_gc_for_serving):
    that is only sound while reference counting frees everything a request drops. Every
    op class, failing requests and the flusher and commits running in between: a
    collection afterwards finds nothing (it found the wait-for walk's self-referencing
    closure of Engine._check_cycle, once per fsync)."""
    import gc
    clock = Clock()
    model = LiveModel(policy, clock=clock)
    ops = ModelOps(model, log=open(os.devnull, "w"))
    fh = ops.create("/f", 0o644, os.O_RDWR)
    gc.collect()
    gc.disable()
    try:
        for i in range(40):
            clock.t += 0.9                       # the flusher and jbd2 commits run too
            ops.write(None, b"x" * 5000, i * 3000, fh)
            ops.read(None, 4096, i * 1000, fh)
            ops.truncate(None, i * 2500, fh)
            ops.fallocate(None, (0, 1, 3, 0x10)[i % 4], i * 1000, 3000, fh)
            ops.fsync(None, i % 2, fh)
            h = ops.create(f"/n{i}", 0o644, os.O_RDWR)
            ops.write(None, b"q", 0, h)
            ops.release(None, h)
            ops.rename(f"/n{i}", f"/m{i}")
            ops.mkdir(f"/d{i}", 0o755)
            ops.unlink(f"/m{i}")
            ops.fsyncdir("/", 0, None)
            for bad in (lambda: ops.open("/nope", os.O_RDONLY), lambda: ops.unlink("/nope"),
                        lambda: ops.create("/f", 0o644, os.O_EXCL | os.O_RDWR)):
                with pytest.raises(OSError):
                    bad()
        assert gc.collect() == 0
    finally:
        gc.enable()
