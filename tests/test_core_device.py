"""block.py's device model (issue 15): merging, blk-throttle, tags, the write cache and its
destage, positioning cost, blk-flush coalescing, ATA flush exclusion, FUA emulation, the
per-bio extra-latency hook, presets. Expected times are derived from the parameters by hand."""

import math

import pytest

from eofsim.block import FLUSH, PRESETS, WRITE, Bio, BlockDevice, device_params
from eofsim.content import fill
from eofsim.engine import Engine
from eofsim.errors import InputError
from eofsim.params import Tunables

US, MS = 1_000, 1_000_000
BS = 4096

# A device whose every cost is a round number: 10 us per write into the cache, 100 us per
# request at the medium, no transfer cost, 1 ms flush command, native FUA, big cache.
BASE = dict(device="nvme", dev_write_ns=10 * US, dev_service_ns=100 * US, dev_bandwidth=0,
            dev_flush_ns=1 * MS, dev_seek_ns=0, dev_seek_max_ns=0, dev_rotation_ns=0,
            dev_cache_bytes=1 << 30, dev_queue_depth=0, dev_scheduler="none", dev_fua=True,
            dev_flush_exclusive=False, dev_reorder="fifo", dev_merge=True, throttle_wiops=0,
            throttle_wbps=0)


def env(**kw):
    tun = Tunables(**{**BASE, **kw})
    eng = Engine()
    return eng, BlockDevice(eng, tun)


def wr(dev, *pblks, **kw):
    return dev.submit(Bio(0, WRITE, tuple((p, fill(BS)) for p in pblks), **kw))


def test_adjacent_bios_of_one_instant_merge_and_complete_together():
    eng, dev = env()
    a, b, c = wr(dev, 10), wr(dev, 11), wr(dev, 9)       # back merge, then front merge
    d = wr(dev, 50)
    eng.run()
    st = dev.stats
    assert (st.requests, st.merged_bios) == (2, 2)
    assert a.complete_ns == b.complete_ns == c.complete_ns == d.complete_ns == 10 * US
    assert (st.req_sequential, st.req_random) == (0, 2)
    # Medium: one request of 3 blocks and one of 1, 100 us each.
    assert st.busy_ns == 2 * 100 * US


def test_no_merge_without_dev_merge_or_with_fua_preflush_or_over_the_size_cap():
    eng, dev = env(dev_merge=False)
    wr(dev, 1), wr(dev, 2)
    eng.run()
    assert dev.stats.requests == 2 and dev.stats.merged_bios == 0
    eng, dev = env()
    wr(dev, 1), wr(dev, 2, fua=True), wr(dev, 3)
    eng.run()
    assert dev.stats.merged_bios == 0
    eng, dev = env(dev_max_request_bytes=2 * BS)
    wr(dev, 1), wr(dev, 2), wr(dev, 3)
    eng.run()
    assert dev.stats.requests == 2 and dev.stats.merged_bios == 1


def test_bios_of_different_instants_merge_only_while_queued():
    eng, dev = env(dev_queue_depth=1, dev_cache_bytes=0)       # write-through, one tag
    a = wr(dev, 1)
    eng.run(until=1)
    b = wr(dev, 2)                                             # a is at the device: b waits
    c = wr(dev, 3)                                             # joins b's queued request
    eng.run()
    assert dev.stats.requests == 2 and dev.stats.merged_bios == 1
    # write-through: a completes when on the medium (100 us) + 10 us; b and c's request gets
    # the tag when a completes, then takes 100 + 10 us.
    assert a.complete_ns == 110 * US
    assert b.complete_ns == c.complete_ns == 110 * US + 100 * US + 10 * US


def test_throttle_iops_and_bps_delay_data_bios_in_fifo_order_not_journal_blocks():
    eng, dev = env(throttle_wiops=1000, dev_merge=False)
    bios = [wr(dev, 10 * i) for i in range(3)]
    j = wr(dev, 1 << 30, kind="journal")
    eng.run()
    assert [b.complete_ns for b in bios] == [10 * US, 1 * MS + 10 * US, 2 * MS + 10 * US]
    assert j.complete_ns == 10 * US
    assert dev.stats.throttled_ns == 1 * MS + 2 * MS
    eng, dev = env(throttle_wbps=BS * 100, dev_merge=False)     # 100 blocks per second
    a, b = wr(dev, 1), wr(dev, 5)
    eng.run()
    assert (a.complete_ns, b.complete_ns) == (10 * US, 10 * MS + 10 * US)


def test_throttle_charges_an_application_tasks_flush_but_not_an_interrupts():
    eng, dev = env(throttle_wiops=100)
    out = {}

    def app():
        wr(dev, 1)
        out["f"] = dev.submit(Bio(0, FLUSH, kind="flush"))
        yield 0

    eng.spawn("t", app(), kind="app")
    eng.run()
    assert out["f"].submit_ns == 0 and out["f"].complete_ns >= 10 * MS
    eng, dev = env(throttle_wiops=100)
    wr(dev, 1)
    f = dev.submit(Bio(0, FLUSH, kind="flush"))
    eng.run()
    assert f.complete_ns < 10 * MS


def test_flush_waits_for_the_destage_of_what_the_cache_took_before_it():
    eng, dev = env()
    a, b = wr(dev, 1), wr(dev, 100)                            # two requests, 100 us each
    eng.run(until=20 * US)                                     # both completed into the cache
    f = dev.submit(Bio(0, FLUSH, kind="flush"))
    eng.run()
    assert a.complete_ns == b.complete_ns == 10 * US
    assert f.complete_ns == 200 * US + 1 * MS


def test_flushes_arriving_during_a_flush_share_the_next_one():
    eng, dev = env()
    f1 = dev.submit(Bio(0, FLUSH, kind="flush"))
    eng.run(until=1)
    f2 = dev.submit(Bio(0, FLUSH, kind="flush"))
    f3 = dev.submit(Bio(0, FLUSH, kind="flush"))
    eng.run()
    assert f1.complete_ns == 1 * MS
    assert f2.complete_ns == f3.complete_ns == 2 * MS
    assert dev.stats.device_flushes == 2 and dev.stats.flushes == 3


def test_exclusive_flush_waits_for_requests_at_the_device_and_blocks_dispatch():
    eng, dev = env(dev_flush_exclusive=True, dev_cache_bytes=0)    # write-through: 110 us
    a = wr(dev, 1)
    eng.run(until=1)
    # write-through strips flushes: use a cached device for the exclusion itself
    eng, dev = env(dev_flush_exclusive=True, dev_write_ns=500 * US)
    a = wr(dev, 1)
    eng.run(until=1)
    f = dev.submit(Bio(0, FLUSH, kind="flush"))
    b = wr(dev, 50)
    eng.run()
    assert a.complete_ns == 500 * US
    # The flush starts when a's tag is free (500 us; a was destaged at 100 us), runs 1 ms;
    # b is dispatched only after it and completes 500 us later.
    assert f.complete_ns == 500 * US + 1 * MS
    assert b.complete_ns == f.complete_ns + 500 * US
    eng, dev = env(dev_flush_exclusive=False, dev_write_ns=500 * US)
    wr(dev, 1)
    eng.run(until=1)
    f = dev.submit(Bio(0, FLUSH, kind="flush"))
    b = wr(dev, 50)
    eng.run()
    assert b.complete_ns == 1 + 500 * US


def test_fua_native_completes_when_on_the_medium_emulated_adds_a_postflush():
    eng, dev = env(dev_fua=True)
    a = wr(dev, 1, fua=True)
    eng.run()
    assert a.complete_ns == 100 * US + 10 * US
    eng, dev = env(dev_fua=False)
    a = wr(dev, 1, fua=True)
    eng.run()
    # DATA into the cache (10 us), then POSTFLUSH: destage (done at 100 us) + 1 ms.
    assert a.complete_ns == 100 * US + 1 * MS
    assert dev.stats.device_flushes == 1


def test_preflush_write_runs_after_a_flush():
    eng, dev = env()
    a = wr(dev, 1, preflush=True)
    eng.run()
    assert a.complete_ns == 1 * MS + 10 * US


def test_write_through_device_strips_flushes():
    eng, dev = env(dev_cache_bytes=0)
    f = dev.submit(Bio(0, FLUSH, kind="flush"))
    a = wr(dev, 1, preflush=True, fua=True)
    eng.run()
    assert f.complete_ns == 0
    assert a.complete_ns == 100 * US + 10 * US
    assert dev.stats.device_flushes == 0


def test_full_cache_makes_writes_wait_for_the_destage():
    eng, dev = env(dev_cache_bytes=BS, dev_merge=False)
    a, b = wr(dev, 1), wr(dev, 50)
    eng.run()
    assert a.complete_ns == 10 * US
    assert b.complete_ns == 100 * US + 10 * US
    assert dev.stats.cache_full_waits == 1


def test_queue_depth_limits_requests_at_the_device():
    eng, dev = env(dev_queue_depth=1, dev_write_ns=300 * US, dev_merge=False)
    a, b = wr(dev, 1), wr(dev, 50)
    eng.run()
    assert (a.complete_ns, b.complete_ns) == (300 * US, 600 * US)
    eng, dev = env(dev_queue_depth=2, dev_write_ns=300 * US, dev_merge=False)
    a, b = wr(dev, 1), wr(dev, 50)
    eng.run()
    assert a.complete_ns == b.complete_ns == 300 * US


def test_positioning_cost_follows_distance():
    span = 1000 * BS
    eng, dev = env(dev_seek_ns=1 * MS, dev_seek_max_ns=9 * MS, dev_rotation_ns=4 * MS,
                   dev_span_bytes=span, dev_service_ns=0)
    dev._head = 0
    assert dev.position_ns(0) == 0
    assert dev.position_ns(250) == int(1 * MS + 8 * MS * math.sqrt(0.25) + 4 * MS)
    assert dev.position_ns(5000) == 9 * MS + 4 * MS
    wr(dev, 0)
    eng.run()
    t0 = dev.stats.busy_ns                        # first request: no previous position
    wr(dev, 1)                                    # continues it
    eng.run()
    assert dev.stats.busy_ns == t0
    wr(dev, 102)                                  # 100 blocks past the head (2)
    eng.run()
    assert dev.stats.busy_ns - t0 == int(1 * MS + 8 * MS * math.sqrt(0.1) + 4 * MS)


def test_elevator_destages_in_ascending_order_from_the_head():
    eng, dev = env(dev_reorder="elevator", dev_merge=False)
    order = []
    for p in (30, 10, 20, 5):
        wr(dev, p)
    real = dev._media_done

    def spy(req):
        order.append(req.first)
        real(req)
    dev._media_done = spy
    eng.run()
    # 30 goes first (the medium is idle), then the C-LOOK sweep from 31 wraps to 5, 10, 20.
    assert order == [30, 5, 10, 20]


def test_mq_deadline_dispatches_in_sector_order_fifo_does_not():
    def run(sched):
        eng, dev = env(dev_scheduler=sched, dev_queue_depth=1, dev_cache_bytes=0, dev_merge=False)
        wr(dev, 100)
        eng.run(until=1)
        bios = [wr(dev, p) for p in (300, 200, 400)]
        eng.run()
        return sorted(bios, key=lambda b: b.complete_ns)

    assert [b.blocks[0][0] for b in run("mq-deadline")] == [200, 300, 400]
    assert [b.blocks[0][0] for b in run("none")] == [300, 200, 400]


def test_extra_latency_hook_delays_one_bio_and_keeps_it_unmerged():
    eng, dev = env(delay_bio="1=5ms")
    a, b, c = wr(dev, 1), wr(dev, 2), wr(dev, 3)
    eng.run()
    assert b.id == 1
    assert a.complete_ns == c.complete_ns == 10 * US
    assert b.complete_ns == 10 * US + 5 * MS
    assert dev.stats.requests == 3
    eng, dev = env()
    dev.extra_latency[0] = 2 * MS                  # set in code before the bio is submitted
    a = wr(dev, 1)
    eng.run()
    assert a.complete_ns == 10 * US + 2 * MS


def test_zero_block_share_of_busy_time():
    eng, dev = env(dev_merge=False)
    wr(dev, 1, why="zero-eof")
    wr(dev, 50, why="writeback, zeroed EOF block")
    wr(dev, 90, why="writeback")
    eng.run()
    assert dev.stats.busy_ns == 300 * US and dev.stats.zero_busy_ns == 200 * US


def test_presets_and_overrides():
    assert set(PRESETS) >= {"nvme", "sata-ssd", "hdd", "throttled", "ideal"}
    assert Tunables().device == "nvme"
    p = device_params(Tunables(device="hdd", dev_cache_bytes=0))
    assert p["dev_cache_bytes"] == 0 and p["dev_rotation_ns"] == PRESETS["hdd"]["dev_rotation_ns"]
    assert device_params(Tunables(device="throttled"))["throttle_wiops"] == 3000
    with pytest.raises(InputError):
        Tunables().with_values({"device": "floppy"})
    with pytest.raises(InputError):
        Tunables().with_values({"delay_bio": "x=1ms"})
    with pytest.raises(InputError):
        Tunables().with_values({"dev_scheduler": "cfq"})
    for name in PRESETS:
        assert set(PRESETS[name]) == set(PRESETS["nvme"])


def test_journal_blocks_sit_mid_device():
    from eofsim.jbd2 import JOURNAL_BASE
    span = 1000 * BS
    eng, dev = env(dev_seek_ns=1 * MS, dev_seek_max_ns=9 * MS, dev_rotation_ns=4 * MS,
                   dev_span_bytes=span)
    assert dev.where(JOURNAL_BASE) == 500 and dev.where(JOURNAL_BASE + 3) == 503 and dev.where(7) == 7
    dev._head = 0
    assert dev.position_ns(JOURNAL_BASE) == int(1 * MS + 8 * MS * math.sqrt(0.5) + 4 * MS)


from hypothesis import given, settings, strategies as hst  # noqa: E402


@settings(max_examples=80, deadline=None)
@given(hst.sampled_from(sorted(PRESETS)), hst.integers(0, 3),
       hst.lists(hst.tuples(hst.integers(0, 3000), hst.sampled_from(["w", "f", "pf", "fua", "pffua", "j"]),
                            hst.integers(0, 200), hst.integers(1, 4)), min_size=1, max_size=30))
def test_every_bio_completes_once_on_every_preset(preset, variant, ops):
    """Random writes (plain, FUA, PREFLUSH, journal), flushes and app-task flushes on every
    preset and on small-cache / write-through / one-tag variants: every bio completes
    exactly once (nothing is left stuck in a queue, the cache or blk-flush), not before it
    was submitted, and the log pairs each submit with one completion, in time order."""
    kw = [{}, {"dev_cache_bytes": 2 * BS}, {"dev_cache_bytes": 0}, {"dev_queue_depth": 1}][variant]
    eng = Engine()
    dev = BlockDevice(eng, Tunables(device=preset, **kw))
    bios = []

    def sub(arg):
        kind, p, n = arg
        if kind == "f":
            bios.append(dev.submit(Bio(0, FLUSH, kind="flush")))
            return
        blocks = tuple((p + i, fill(BS)) for i in range(n))
        b = Bio(0, WRITE, blocks, kind="journal" if kind == "j" else "data",
                preflush=kind in ("pf", "pffua"), fua=kind in ("fua", "pffua"))
        bios.append(dev.submit(b))

    for t, kind, p, n in ops:
        eng.call_at(t * US, sub, (kind, p, n))
    eng.run()
    assert len(bios) == len(ops)
    for b in bios:
        assert b.complete_ns is not None and b.complete_ns >= b.submit_ns
    events = [(k, i) for _, k, i in dev.log]
    assert sorted(i for k, i in events if k == "submit") == list(range(len(bios)))
    assert sorted(i for k, i in events if k == "complete") == list(range(len(bios)))
    assert [t for t, _, _ in dev.log] == sorted(t for t, _, _ in dev.log)
