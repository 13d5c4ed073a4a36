"""block.py: latencies, PREFLUSH/FUA, the append-only I/O log, statistics."""

from eofsim.block import FLUSH, WRITE, Bio, BlockDevice
from eofsim.content import fill, garbage
from eofsim.engine import Engine
from eofsim.params import Tunables

W, F, R = 200_000, 1_000_000, 100_000


def dev_env(**kw):
    """The fixed-latency device ("ideal": no queue, no bandwidth, instant medium)."""
    kw.setdefault("device", "ideal")
    tun = Tunables(dev_write_ns=W, dev_flush_ns=F, dev_read_ns=R, **kw)
    eng = Engine()
    return eng, BlockDevice(eng, tun), tun


def test_write_latency_and_completion_updates_cache():
    eng, dev, tun = dev_env()
    done = []
    runs = fill(tun.block_size, 7)
    b = dev.submit(Bio(0, WRITE, ((100, runs),), end_io=lambda bio: done.append(eng.now)))
    assert b.id == 0 and b.submit_ns == 0 and b.complete_ns is None
    assert dev.block(100) == dev.fill, "not visible before completion"
    eng.run()
    assert b.complete_ns == W and done == [W]
    assert dev.block(100) == runs


def test_preflush_adds_flush_latency_fua_does_not():
    eng, dev, tun = dev_env()
    blk = ((1, fill(tun.block_size)),)
    a = dev.submit(Bio(0, WRITE, blk, preflush=True, fua=True))
    b = dev.submit(Bio(0, WRITE, blk, fua=True))
    eng.run()
    # A flush submitted while a's PREFLUSH runs would wait for the next one (blk_kick_flush);
    # submitted alone, it costs F.
    c = dev.submit(Bio(0, FLUSH, kind="flush"))
    t0 = eng.now
    eng.run()
    c.complete_ns -= t0
    assert a.complete_ns == F + W
    assert b.complete_ns == W
    assert c.complete_ns == F
    assert a.preflush and a.fua and b.fua and not b.preflush
    st = dev.stats
    assert (st.writes, st.flushes, st.preflush, st.fua) == (2, 1, 1, 2)


def test_log_is_append_only_in_time_order():
    eng, dev, tun = dev_env()
    blk = lambda p: ((p, fill(tun.block_size)),)
    dev.submit(Bio(0, WRITE, blk(1)))
    eng.call_at(50_000, lambda _: dev.submit(Bio(0, WRITE, blk(2))))
    eng.call_at(60_000, lambda _: dev.submit(Bio(0, FLUSH, kind="flush")))
    eng.run()
    times = [t for t, _, _ in dev.log]
    assert times == sorted(times)
    assert [(k, i) for _, k, i in dev.log] == [
        ("submit", 0), ("submit", 1), ("submit", 2), ("complete", 0), ("complete", 1), ("complete", 2)]
    assert [b.id for b in dev.bios] == [0, 1, 2]


def test_hb_records_issuer_knowledge_and_end_io_runs_with_bio_bit():
    eng, dev, tun = dev_env()
    seen = {}

    def end_io(bio):
        seen["irq_hb"] = eng.current.hb

    def task():
        eng.current.hb = 0b1010
        dev.submit(Bio(0, WRITE, ((5, fill(tun.block_size)),), end_io=end_io))
        yield 0

    eng.spawn("t", task())
    eng.run()
    assert dev.bios[0].hb == 0b1010
    assert seen["irq_hb"] == dev.bios[0].bit == 1


def test_stats_sequential_random_and_sizes():
    eng, dev, tun = dev_env()
    bs = tun.block_size
    f = fill(bs)
    dev.submit(Bio(0, WRITE, ((10, f), (11, f))))       # first data write: random
    dev.submit(Bio(0, WRITE, ((12, f),)))                # follows 11: sequential
    dev.submit(Bio(0, WRITE, ((50, f),)))                # random
    dev.submit(Bio(0, WRITE, ((1 << 40, f),), kind="journal"))
    eng.run()
    st = dev.stats
    assert st.writes == 4 and st.data_writes == 3 and st.journal_writes == 1
    assert (st.sequential, st.random) == (1, 2)
    assert st.write_bytes == 5 * bs and st.data_bytes == 4 * bs
    assert st.sizes == {2 * bs: 1, bs: 3}


def test_initial_and_fill_are_what_reads_return():
    eng, dev, tun = dev_env()
    assert dev.fill == fill(tun.block_size, garbage(0xE5))
    dev.initial[3] = fill(tun.block_size, 9)
    assert dev.block(3) == fill(tun.block_size, 9)
    assert dev.block(4) == dev.fill
    assert dev.read_latency() == R and dev.stats.reads == 1


def test_perturbed_latencies_are_seeded():
    def run(seed):
        eng = Engine(seed=seed, perturb=True)
        tun = Tunables(device="ideal")
        dev = BlockDevice(eng, tun)
        for p in range(5):
            dev.submit(Bio(0, WRITE, ((p, fill(tun.block_size)),)))
        eng.run()
        return [b.complete_ns for b in dev.bios]
    assert run(3) == run(3)
    assert run(3) != run(4)
