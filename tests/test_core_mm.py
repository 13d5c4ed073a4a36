"""mm.py: lookup without creation, dirty/writeback transitions, walk order, waits."""

from types import SimpleNamespace

import pytest

from eofsim.content import ZERO, fill
from eofsim.engine import Engine
from eofsim.mm import AddressSpace, WB_SYNC_ALL, WritebackControl, filemap_fdatawait_range
from eofsim.params import Tunables


def make(bs=4096, fs=4096):
    eng = Engine()
    tun = Tunables(block_size=bs, folio_size=fs)
    host = SimpleNamespace(name="f", ino=12)
    return eng, AddressSpace(eng, host, tun)


def test_lookup_returns_none_and_does_not_create():
    eng, m = make()
    assert m.lookup(3) is None
    assert m.folios == {}
    f = m.create(3)
    assert m.lookup(3) is f and list(m.folios) == [3]
    assert m.lookup(4) is None and list(m.folios) == [3]


def test_dirty_transitions_and_dirtied_when():
    eng, m = make()
    a, b = m.create(0), m.create(1)
    eng.now = 100
    m.mark_dirty(a, 1)
    assert a.dirty and m.nr_dirty == 1 and m.dirtied_when == 100
    eng.now = 200
    m.mark_dirty(b, 1)
    m.mark_dirty(a, 1)  # already dirty: no double count, dirtied_when not refreshed
    assert m.nr_dirty == 2 and m.dirtied_when == 100
    assert m.clear_dirty_for_io(a) is True
    assert not a.dirty and m.nr_dirty == 1 and m.dirtied_when == 100
    assert m.clear_dirty_for_io(a) is False
    m.clear_dirty_for_io(b)
    # I_DIRTY_PAGES survives writeback that is not the flusher's (fsync, jbd2): the age stays.
    assert m.nr_dirty == 0 and m.inode_dirty and m.dirtied_when == 100
    eng.now = 250
    m.redirty(b, 1)
    assert m.dirtied_when == 100
    m.clear_dirty_for_io(b)
    m.writeback_done()   # the flusher / sync found nothing left: the inode is clean
    assert not m.inode_dirty and m.dirtied_when is None
    eng.now = 300
    m.redirty(b, 1)
    assert b.dirty and m.nr_dirty == 1 and m.dirtied_when == 300


def test_clear_dirty_for_io_write_protects():
    eng, m = make()
    f = m.create(0)
    f.mkwrite = True
    m.mark_dirty(f, 1)
    m.clear_dirty_for_io(f)
    assert f.mkwrite is False


def test_writeback_flag_and_wait_writeback_wakes_waiters():
    eng, m = make()
    f = m.create(0)
    m.start_writeback(f)
    assert f.writeback and m.nr_writeback == 1
    woke = []

    def waiter():
        yield from m.wait_writeback(f)
        woke.append(eng.now)

    eng.spawn("w", waiter())
    eng.call_at(500, lambda _: m.end_writeback(f))
    eng.run()
    assert woke == [500] and not f.writeback and m.nr_writeback == 0


def test_wait_writeback_returns_at_once_when_clean():
    eng, m = make()
    f = m.create(0)
    out = []

    def t():
        yield from m.wait_writeback(f)
        out.append(eng.now)

    eng.spawn("t", t())
    eng.run()
    assert out == [0]


def test_fdatawait_range_waits_only_in_range():
    eng, m = make()
    f0, f5 = m.create(0), m.create(5)
    m.start_writeback(f0)
    m.start_writeback(f5)
    out = []

    def t():
        yield from filemap_fdatawait_range(m, 4096 * 4, 4096 * 6 - 1)
        out.append(eng.now)

    eng.spawn("t", t())
    eng.call_at(10, lambda _: m.end_writeback(f5))
    eng.call_at(99, lambda _: m.end_writeback(f0))
    eng.run()
    assert out == [10]


def test_folio_lock_excludes_and_records_owner():
    eng, m = make()
    f = m.create(0)
    order = []

    def t(name, hold):
        yield from m.lock(f)
        assert f.locker is eng.current
        order.append((eng.now, name))
        yield hold
        m.unlock(f)

    eng.spawn("a", t("a", 30))
    eng.spawn("b", t("b", 1))
    eng.run()
    assert order == [(0, "a"), (30, "b")]
    assert f.locker is None


def test_walk_order_ascending_within_range():
    eng, m = make()
    for i in (7, 2, 9, 0, 4):
        m.mark_dirty(m.create(i), 1)
    m.create(3)  # clean: not walked
    assert m.dirty_indices(0, (1 << 63) - 1) == [0, 2, 4, 7, 9]
    assert m.dirty_indices(4096 * 2, 4096 * 7 + 1) == [2, 4, 7]
    assert m.dirty_indices(0, (1 << 63) - 1, order="reverse") == [9, 7, 4, 2, 0]
    assert m.indices(0, 4096 * 4 - 1) == [0, 2, 3]


@pytest.mark.parametrize("bs", [1024, 4096])
def test_zero_range_cached_zeroes_without_dirtying(bs):
    eng, m = make(bs=bs)
    f = m.create(0, [fill(bs, 5)] * (4096 // bs))
    m.zero_range_cached(1000, 4096)
    got = []
    for b, runs in enumerate(f.blocks):
        for s, e, v in runs:
            got += [v] * (e - s)
    assert got == [5] * 1000 + [ZERO] * 3096
    assert not f.dirty and m.nr_dirty == 0


def test_remove_from_drops_whole_folios_and_dirty_accounting():
    eng, m = make()
    for i in range(4):
        m.mark_dirty(m.create(i), 1)
    gone = m.remove_from(4096 + 1)  # folio 1 straddles: kept; 2, 3 go
    assert sorted(f.index for f in gone) == [2, 3]
    assert sorted(m.folios) == [0, 1] and m.nr_dirty == 2
    m.remove_from(0)
    # truncate leaves I_DIRTY_PAGES for the flusher to find clean (inode_dirty stays)
    assert m.folios == {} and m.nr_dirty == 0 and m.inode_dirty
    m.writeback_done()
    assert m.dirtied_when is None


def test_folio_blocks_per_folio_and_masks():
    eng, m = make(bs=1024)
    f = m.create(0)
    assert len(f.blocks) == 4 and f.uptodate == 0b1111
    m.mark_dirty(f, 0b0100)
    m.mark_dirty(f, 0b0001)
    assert f.dirty_mask == 0b0101


def test_wbc_defaults_are_kernel_like():
    w = WritebackControl()
    assert w.range_start == 0 and w.range_end == (1 << 63) - 1 and w.can_map
    assert WritebackControl(WB_SYNC_ALL).sync_mode == WB_SYNC_ALL
