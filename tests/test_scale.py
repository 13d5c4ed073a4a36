"""Issue 15: the scaling workload, its metrics, `eofsim scale`, and the device model against
an independent queue oracle."""

import json
import math

from click.testing import CliRunner
from hypothesis import given, settings, strategies as st

from eofsim.block import WRITE, Bio, BlockDevice
from eofsim.cli import main
from eofsim.content import fill
from eofsim.engine import Engine
from eofsim.params import Tunables
from eofsim.report.scale import pct, run_scale, scale_row
from eofsim.sim import simulate
from eofsim.workload.scaling import NEIGHBOUR, ScaleSpec, grow_op, scale_scenario

US, MS = 1_000, 1_000_000
IDEAL = {"device": "ideal"}


def test_workload_shape_follows_the_spec():
    spec = ScaleSpec(op="extending-write", threads=3, files=2, rounds=4, size=1000, gap=10, length=50,
                     think_ns=2 * MS, nb_period_ns=1 * MS)
    sc = scale_scenario(spec)
    workers = [t for t in sc.threads if t.name != NEIGHBOUR]
    assert len(workers) == 3 and {f.name for f in sc.files} >= {"f0.0", "f0.1", "f2.1", NEIGHBOUR}
    for th in workers:
        assert len(th.ops) == 4 * 2
        assert all(o.kind == "write" and o.len == 50 for o in th.ops)
        assert [o.at_ns - th.ops[0].at_ns for o in th.ops] == [i * 2 * MS for i in range(8)]
        f0 = [o for o in th.ops if o.file.endswith(".0")]
        assert [o.off for o in f0] == [1000 + 10 + 60 * r for r in range(4)]
    nb = next(t for t in sc.threads if t.name == NEIGHBOUR).ops
    assert [o.kind for o in nb[:4]] == ["write", "fdatasync", "write", "fdatasync"]
    last = max(o.at_ns for th in workers for o in th.ops)
    assert len(nb) // 2 >= math.ceil(last / MS)
    assert not any(t.name == NEIGHBOUR for t in scale_scenario(ScaleSpec(neighbour=False)).threads)
    assert grow_op("append") == "extending-write" and grow_op("truncate") == "truncate-up"


def test_defaults_zero_a_written_eof_block_every_round_aligned_never():
    res = simulate(scale_scenario(ScaleSpec(threads=1, rounds=5, neighbour=False)), "iomap-v4", IDEAL)
    assert res.dev.stats.zero_block_writes == 5
    aligned = ScaleSpec(threads=1, rounds=5, size=4096, gap=0, length=4096, neighbour=False)
    res = simulate(scale_scenario(aligned), "iomap-v4", IDEAL)
    assert res.dev.stats.zero_block_writes == 0


def test_percentile_is_nearest_rank():
    assert pct(list(range(1, 101)), 99) == 99 and pct(list(range(1, 101)), 50) == 50
    assert pct([5], 50) == 5 and pct([1, 2], 50) == 1 and pct([1, 2], 99) == 2 and pct([], 50) is None


def test_blocked_time_follows_the_designs_waits_on_the_ideal_device():
    """iomap-v4 waits for the zeroed block's write (>= dev_write_ns, 200 us on 'ideal');
    iomap-deferred does not wait (syscall_ns only, 1 us)."""
    spec = ScaleSpec(threads=4, rounds=6)
    tun = Tunables(device="ideal")
    v4 = scale_row(spec, "iomap-v4", IDEAL)
    de = scale_row(spec, "iomap-deferred", IDEAL)
    assert v4["call_ns_p50"] >= 200 * US
    assert de["call_ns_p50"] == tun.syscall_ns
    assert v4["ops"] == de["ops"] == 24 and v4["nb_fdatasyncs"] == de["nb_fdatasyncs"] > 0
    assert v4["zero_block_writes"] >= 24 and v4["zero_busy_share"] >= 0
    assert de["durable_ns_p50"] > v4["durable_ns_p50"]


def test_zero_busy_share_is_the_zero_writes_part_of_the_medium_time():
    spec = ScaleSpec(threads=8, rounds=4, neighbour=False)
    r = scale_row(spec, "iomap-v4", {"device": "hdd"})
    assert 0 < r["zero_busy_ns"] <= r["busy_ns"]
    assert r["zero_busy_share"] == round(r["zero_busy_ns"] / r["busy_ns"], 4)


def test_neighbour_feels_the_hdds_flush_and_commit_work():
    """On the HDD a neighbour fdatasync costs seeks to its data and to the journal plus a
    flush: at least two positioning costs, far more than on the NVMe preset."""
    spec = ScaleSpec(threads=2, rounds=2)
    hdd = scale_row(spec, "bh-ordered", {"device": "hdd"})
    nvme = scale_row(spec, "bh-ordered", {"device": "nvme"})
    assert hdd["nb_ns_p50"] > 2 * 4_160 * US
    assert nvme["nb_ns_p50"] < hdd["nb_ns_p50"] / 10


def test_run_scale_grid_and_determinism():
    spec = ScaleSpec(rounds=2)
    a = run_scale(spec, ("bh-ordered", "iomap-v4"), (1, 2), ("truncate-up", "append"), ("ideal", "hdd"))
    assert len(a["rows"]) == 2 * 2 * 2 * 2
    assert {r["device"] for r in a["rows"]} == {"ideal", "hdd"}
    b = run_scale(spec, ("bh-ordered", "iomap-v4"), (1, 2), ("truncate-up", "append"), ("ideal", "hdd"))
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    c = run_scale(spec, ("bh-ordered", "iomap-v4"), (1, 2), ("truncate-up", "append"), ("ideal", "hdd"),
                  jobs=2)
    assert json.dumps(a, sort_keys=True) == json.dumps(c, sort_keys=True), "a process pool changes nothing"


def test_cli_scale_json_html_and_bad_input(tmp_path):
    r = CliRunner().invoke(main, ["scale", "--threads", "1,2", "--rounds", "2", "--device", "ideal,sata-ssd",
                                  "--op", "truncate-up,fallocate", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert len(data["rows"]) == 4 * 2 * 2 * 2
    assert {row["op"] for row in data["rows"]} == {"truncate-up", "fallocate"}
    out = tmp_path / "rep"
    r = CliRunner().invoke(main, ["scale", "--threads", "1", "--rounds", "1", "--device", "hdd",
                                  "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "device hdd, truncate-up" in r.output
    assert (out / "index.html").exists() and (out / "scale_hdd_truncate-up.png").exists()
    for args in (["--device", "floppy"], ["--op", "grow"], ["--threads", "0"], ["--rounds", "0"],
                 ["--size", "x"], ["--set", "dev_scheduler=cfq"]):
        r = CliRunner().invoke(main, ["scale", *args])
        assert r.exit_code == 2, (args, r.output)
        assert "Traceback" not in r.output


def test_compare_scaling_rows_carry_device_and_new_metrics():
    from eofsim.report.compare import run_grid
    data = run_grid([], ["iomap-v4"], threads=(2,), overrides={"device": "sata-ssd"}, check=False,
                    dist_n=1, scale_spec=ScaleSpec(rounds=2), scale_kinds=("truncate-up",))
    assert data["device"] == "sata-ssd"
    row = data["scaling"][0]
    assert row["device"] == "sata-ssd" and "nb_ns_p99" in row and "call_ns_p99" in row


# ---------------------------------------------------------------- device vs a queue oracle

@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3000), st.integers(0, 5000)), min_size=1, max_size=25),
       st.integers(0, 50), st.integers(0, 300), st.integers(0, 200))
def test_write_through_single_tag_device_is_a_fifo_queue(reqs, svc_us, seek_us, wr_us):
    """Write-through, one tag, FIFO, no merging: each write starts when it arrives or when the
    previous one completed, whichever is later, and occupies the medium for service +
    positioning (sqrt of the distance from the previous write's end), then dev_write_ns."""
    span = 4096 * 5000
    tun = Tunables(device="hdd", dev_cache_bytes=0, dev_queue_depth=1, dev_scheduler="none",
                   dev_merge=False, dev_service_ns=svc_us * US, dev_bandwidth=0, dev_seek_ns=seek_us * US,
                   dev_seek_max_ns=4 * seek_us * US, dev_rotation_ns=seek_us * US // 2,
                   dev_span_bytes=span, dev_write_ns=wr_us * US)
    eng = Engine()
    dev = BlockDevice(eng, tun)
    reqs = sorted(reqs)
    bios = []
    for t, p in reqs:
        eng.call_at(t * US, lambda p: bios.append(dev.submit(Bio(0, WRITE, ((p, fill(4096)),)))), p)
    eng.run()
    prev_done, head = 0, None
    for (t, p), b in zip(reqs, bios):
        start = max(t * US, prev_done)
        if head is None or head == p:
            pos = 0
        else:
            d = min(abs(p - head) * 4096, span)
            pos = int(seek_us * US + (3 * seek_us * US) * math.sqrt(d / span) + seek_us * US // 2)
        done = start + svc_us * US + pos + wr_us * US
        assert b.complete_ns == done
        prev_done, head = done, p + 1


def test_neighbour_tail_overlaps_the_deferred_designs_writeback():
    """iomap-deferred submits its pending zeroed blocks only with kupdate writeback, after
    the 30 s dirty expiry; the neighbour's tail must still be running then, or the design's
    cost to it would go unmeasured."""
    from eofsim.block import is_zero_bio
    spec = ScaleSpec(threads=4, rounds=2)
    res = simulate(scale_scenario(spec), "iomap-deferred", {"device": "nvme"})
    zero = [b.submit_ns for b in res.dev.bios if is_zero_bio(b)]
    assert zero and min(zero) >= 30 * 10**9
    nb_starts = [r.start_ns for r in res.ops if r.thread == NEIGHBOUR and r.op.kind == "fdatasync"]
    assert max(nb_starts) > max(zero)
    row = scale_row(spec, "iomap-deferred", {"device": "nvme"})
    assert row["nb_after_fdatasyncs"] >= 450          # 45 s / 100 ms, plus the last 1 ms ones


def test_device_recognises_exactly_the_zeroed_block_writes_the_filesystem_counts():
    """block.is_zero_bio reads the filesystem's marking of a bio (its `why`); if that
    convention changes, the device's zero-block share silently goes to 0."""
    from eofsim.block import is_zero_bio
    for pol in ("iomap-v4", "iomap-deferred", "bh-ordered"):
        res = simulate(scale_scenario(ScaleSpec(threads=3, rounds=3)), pol, {"device": "nvme"})
        assert sum(1 for b in res.dev.bios if is_zero_bio(b)) == res.dev.stats.zero_block_writes > 0


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 200), st.booleans(), st.integers(0, 5000)), min_size=1, max_size=25),
       st.integers(1, 20), st.integers(1, 30), st.integers(0, 10))
def test_cached_fifo_device_flushes_cover_what_the_cache_took(events, svc_us, flush_us, wr_us):
    """Write-back cache, FIFO destage, flushes through blk-flush. Oracle: writes complete
    dev_write_ns after submission and destage one after another; a flush that finds none
    running starts at once, one that arrives while one runs waits for it and then shares
    the next with every other waiter; a flush's command starts when every write taken
    before it started is on the medium, and lasts dev_flush_ns. A write submitted in the
    same instant is still in the plug, not taken: the flush need not cover it (it had not
    completed)."""
    tun = Tunables(device="nvme", dev_cache_bytes=1 << 40, dev_queue_depth=0, dev_merge=False,
                   dev_service_ns=svc_us * US, dev_bandwidth=0, dev_flush_ns=flush_us * US,
                   dev_write_ns=wr_us * US, dev_flush_exclusive=False)
    eng = Engine()
    dev = BlockDevice(eng, tun)
    events = sorted(events, key=lambda e: e[0])
    out = []

    def sub(arg):
        is_flush, p = arg
        out.append(dev.submit(Bio(0, "flush", kind="flush") if is_flush
                              else Bio(0, WRITE, ((p, fill(4096)),))))

    for t, is_flush, p in events:
        eng.call_at(t * US, sub, (is_flush, p))
    eng.run()
    # oracle. Destage does not wait for flushes, so the writes come first.
    free = 0
    taken = []           # (submit time, destage end)
    done = {}
    for i, (t, is_flush, p) in enumerate(events):
        if not is_flush:
            now = t * US
            free = max(now, free) + svc_us * US
            taken.append((now, free))
            done[i] = now + wr_us * US

    def flush_end(start):
        target = max([e for s, e in taken if s < start], default=0)
        return max(start, target) + flush_us * US

    running_end = None   # completion of the flush in flight
    batch = []           # flushes waiting for the next one
    for i, (t, is_flush, p) in enumerate(events):
        if not is_flush:
            continue
        now = t * US
        # A flush submitted at the very instant one completes still finds it running (the
        # submission was queued first), so "finished" is strictly before now.
        while running_end is not None and now > running_end:
            if batch:
                end = flush_end(running_end)
                for j in batch:
                    done[j] = end
                batch, running_end = [], end
            else:
                running_end = None
        if running_end is None:
            running_end = done[i] = flush_end(now)
        else:
            batch.append(i)
    if batch:
        end = flush_end(running_end)
        for j in batch:
            done[j] = end
    expect = [done[i] for i in range(len(events))]
    assert [b.complete_ns for b in out] == expect
