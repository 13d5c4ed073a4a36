"""The streaming check (crash/stream.py) against check() of the same run kept whole: the
same report, counterexample text included, on random workloads under every design; and
the forgetting it rests on, structure by structure (each one grows with the run if its
pruning goes)."""

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eofsim.crash import check
from eofsim.crash.stream import StreamCheck, check_stream
from eofsim.errors import InputError
from eofsim.policies import POLICIES
from eofsim.seq import Seq
from eofsim.sim import Run, simulate
from eofsim.workload.generate import generate


class _Paced:
    """A workload's ops one per `interval` (pacing.pace_iter), as fsx logs are replayed: a
    pause then falls between a write's completion and the flush that makes it durable."""

    def __init__(self, ops, interval):
        self.ops, self.interval = ops, interval

    def __iter__(self):
        from eofsim.workload.pacing import pace_iter
        return pace_iter(self.ops, self.interval)

    def __len__(self):
        return len(self.ops)


def _paced(sc, interval):
    if not interval:
        return sc
    from dataclasses import replace
    return replace(sc, threads=tuple(replace(t, ops=_Paced(t.ops, interval)) for t in sc.threads))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 10 ** 6), st.integers(20, 400), st.integers(1, 3),
       st.sampled_from(sorted(POLICIES)), st.booleans(), st.integers(1, 80),
       st.sampled_from([None, 1, 5, 40]), st.sampled_from([None, "2s", "20s"]),
       st.sampled_from(["4096", "1024"]), st.sampled_from([0, 0, 3_000_000, 50_000_000]))
def test_stream_report_equals_whole_run_check(seed, n, threads, pol, torn, pause, maxv, until, bs,
                                              interval):
    kw = dict(seed=seed, n_ops=n, files=("a", "b", "c"), threads=threads)
    ov = {"block_size": bs}
    if until:
        ov["until"] = until
    mv = 10 ** 9 if maxv is None else maxv
    try:
        whole = check(simulate(_paced(generate(**kw), interval), pol, ov), torn=torn,
                      max_violations=mv)
    except InputError as e:      # an op paced past `until`: refused the same way
        with pytest.raises(InputError, match=re.escape(e.message)):
            check_stream(_paced(generate(lazy=True, **kw), interval), pol, ov)
        return
    rep, res = check_stream(_paced(generate(lazy=True, **kw), interval), pol, ov, torn=torn,
                            max_violations=mv, pause_every=pause)
    assert rep.as_dict() == whole.as_dict()
    assert rep.crash_points == whole.crash_points


def test_stream_takes_durability_that_comes_after_the_write():
    """Paced one op per 3 ms with a pause after every op: writes the flusher completed are
    taken before the commit that makes them durable, and the report is still check()'s."""
    kw = dict(seed=11, n_ops=400, files=("a", "b", "c"))
    sc = StreamCheck(_paced(generate(lazy=True, **kw), 3_000_000), "bh-ordered",
                     max_violations=10 ** 9, pause_every=1)
    late = []
    orig = sc._take_durable

    def take():
        late.extend(b for b in sc.pending if sc.run.dev.durable_ns[b] is not None)
        orig()
    sc._take_durable = take
    rep = sc.check()
    assert late
    whole = check(simulate(_paced(generate(**kw), 3_000_000), "bh-ordered"), max_violations=10 ** 9)
    assert rep.as_dict() == whole.as_dict()


def test_lazy_workload_is_the_same_workload():
    for kw in (dict(seed=4, n_ops=500, files=("a", "b")),
               dict(seed=5, n_ops=300, files=("a", "b", "c"), threads=3, namespace=True)):
        a, b = generate(**kw), generate(lazy=True, **kw)
        for ta, tb in zip(a.threads, b.threads):
            assert list(ta.ops) == list(tb.ops)
            assert len(ta.ops) == len(tb.ops)


def test_run_in_pauses_is_the_same_run():
    """Pausing between instants changes no event: same ops' times, I/O, commits."""
    sc = generate(seed=9, n_ops=600, files=("a", "b", "c"), threads=2)
    whole = simulate(sc, "iomap-v4")
    run = Run(sc, "iomap-v4")
    pauses = sum(1 for _ in run.flow(pause_every=7))
    res = run.result()
    assert pauses > 50
    assert [(r.index, r.start_ns, r.end_ns, r.error) for r in res.ops] == \
        [(r.index, r.start_ns, r.end_ns, r.error) for r in whole.ops]
    assert res.commits == whole.commits
    assert res.dev.stats.as_dict() == whole.dev.stats.as_dict()
    assert [(b.id, b.submit_ns, b.complete_ns) for b in res.dev.bios] == \
        [(b.id, b.submit_ns, b.complete_ns) for b in whole.dev.bios]


def _sizes(sc):
    ex, run = sc.ex, sc.run
    jr = ex.journal
    out = {
        "device bios": len(run.dev.bios.items),
        "transactions": len(run.fs.journal.tx_by_tid),
        "op records": len(ex._ops),
        "disk blocks": len(ex.disk.vbio),
        "block versions": sum(len(v) for v in ex.disk.vbio.values()),
        "disk bios": len(ex.disk.bios) + len(ex.disk.dur),
        "change log": len(ex._chg_stream.items),
        "journal tids": len(jr.tids.items) + len(jr.record) + len(jr._prefix_list.items),
        "journal blocks": len(jr._jblocks),
        "forced masks": len(jr._forced_list.items),
        "device cache": len(run.dev.cache),
    }
    for name, fh in ex.fh.items():
        out[f"{name} size entries"] = len(fh.hist.items)
        out[f"{name} done ops"] = len(fh.done.items)
        out[f"{name} last-writer snapshots"] = len(fh._lw.items)
        out[f"{name} re-entry snapshots"] = len(fh._re.items)
        out[f"{name} covering ops"] = len(fh._cov.items)
        out[f"{name} zeroing ops"] = len(fh.zeroing)
        out[f"{name} context times"] = len(fh.ctx_times.items)
    return out


@pytest.mark.parametrize("pol", ["bh-ordered", "bh-writeback"])
def test_stream_keeps_a_bounded_amount_whatever_the_length(pol):
    """Every structure's size over the second half of a 12,000-op run stays within what it
    reached in the first half (a structure that keeps everything doubles). bh-ordered never
    reallocates a freed block (the stream drops them); bh-writeback does, so blocks live on
    and are rewritten (the stream drops their old versions)."""
    n = 12_000
    sc = StreamCheck(generate(seed=1, n_ops=n, files=("a", "b", "c"), lazy=True), pol,
                     max_violations=10 ** 9, pause_every=250)
    first, second = {}, {}

    def tick(done, total):
        if done >= total:
            return
        half = first if done < n // 2 else second
        for k, v in _sizes(sc).items():
            half[k] = max(half.get(k, 0), v)

    sc.check(tick)
    grown = {k: (first[k], second[k]) for k in first if second[k] > 1.5 * first[k] + 64}
    assert not grown, grown
    assert max(second.values()) < 4500     # op records: collected past max(4096, 2 x named)


def test_stream_refuses_namespace_ops():
    sc = generate(seed=2, n_ops=50, files=("a",), namespace=True)
    with pytest.raises(InputError, match="namespace"):
        check_stream(sc)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.tuples(st.just("append"), st.integers(0, 100)),
                          st.tuples(st.just("drop"), st.integers(0, 40))), max_size=60),
       st.integers(-5, 120))
def test_seq_reads_as_the_whole_list_above_what_was_dropped(steps, x):
    whole, seq, base = [], Seq(), 0
    for kind, v in steps:
        if kind == "append":
            v = max([v] + whole[-1:])      # kept sorted, as every Seq the checker bisects
            whole.append(v)
            seq.append(v)
        else:
            base = max(base, min(v, len(whole)))
            seq.drop_before(base)
    assert len(seq) == len(whole)
    for i in range(base, len(whole)):
        assert seq[i] == whole[i]
    assert seq[base:] == whole[base:]
    from bisect import bisect_right
    if base == 0 or (whole and x >= whole[base - 1]):
        assert seq.bisect_right(x) == bisect_right(whole, x)
    if base:
        with pytest.raises(IndexError):
            seq[base - 1]


def _fsx(*args):
    from click.testing import CliRunner

    from eofsim.cli import main
    return CliRunner().invoke(main, ["fsx", *map(str, args)])


def _same_check(a, b):
    """Equal but for the notes, the command line and the timing witnesses."""
    skip = {"notes", "stamp", "witness"}

    def strip(d):
        d = {k: v for k, v in d.items() if k not in skip}
        d["violations"] = [{k: v for k, v in x.items() if k != "witness"} for x in d["violations"]]
        return d
    return strip(a) == strip(b)


def test_fsx_stream_gives_the_whole_log_check(tmp_path):
    """`fsx --stream` reads the log as the run goes and reports what `fsx` reports (a
    violation, its lines and counterexample timeline), without the minimised counterexample."""
    import json
    p = tmp_path / "resurrect.fsxops"
    p.write_text("write 0x5be6 0x1001 0x0\n#eofsim sync\ntruncate 0x0 0x5b14 0x6be7\n"
                 "zero_range 0x3f000 0x1000 0x5b14\n" + "read 0x0 0x100 0x0\n" * 40)
    a = _fsx(p, "--policy", "zero-in-memory", "--json", "--no-minimise")
    b = _fsx(p, "--policy", "zero-in-memory", "--json", "--stream")
    assert a.exit_code == b.exit_code == 1, b.output
    da, db = json.loads(a.output), json.loads(b.output)
    assert {v["kind"] for v in db["violations"]} == {"resurrected"}
    assert "line 1" in db["violations"][0]["detail"]
    assert _same_check(da, db)
    assert any("streamed" in n for n in db["notes"])
    t = _fsx(p, "--policy", "zero-in-memory", "--stream")
    assert t.exit_code == 1 and "counterexample:" in t.output and "line 1" in t.output


def test_fsx_stream_bad_line_is_one_line_before_anything_runs(tmp_path):
    p = tmp_path / "bad.fsxops"
    p.write_text("write 0x0 0x10 0x0\n" * 500 + "frobnicate 0x0 0x10 0x10\n")
    r = _fsx(p, "--stream")
    assert r.exit_code == 2
    assert r.output.strip() == f"eofsim: {p}:501: unknown fsx operation 'frobnicate'"
    p.write_bytes(b"write 0x0 0x10 0x0\n" * 3 + b"wr\xffte 0x0 0x10 0x0\n")
    r = _fsx(p, "--stream")
    assert r.exit_code == 2 and r.output.startswith(f"eofsim: {p}:4: ") and "UTF-8" in r.output
    r = _fsx(p, "--stream", "--timed")
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1


def test_check_stream_on_the_builtins_gives_check():
    """Every built-in scenario under every design, a pause after every op: the streamed
    report is check()'s."""
    from eofsim.scenario_file import builtin_names, load_scenario
    for name in builtin_names():
        sc = load_scenario(name)
        for pol in sorted(POLICIES):
            rep, _ = check_stream(sc, pol, pause_every=1)
            assert rep.as_dict() == check(simulate(sc, pol)).as_dict(), (name, pol)


def test_check_stream_cli_refuses_what_it_cannot_do():
    from click.testing import CliRunner

    from eofsim.cli import main
    r = CliRunner().invoke(main, ["check", "truncate-up", "--stream", "--timed", "--schedules", "2"])
    assert r.exit_code == 2
    assert r.output.strip() == "eofsim: --stream cannot be combined with --timed, --schedules"
    r = CliRunner().invoke(main, ["check", "truncate-up", "--stream", "--json"])
    assert r.exit_code == 0, r.output
