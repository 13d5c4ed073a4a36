"""The generic writeback iterator and its control block (mm/page-writeback.c,
include/linux/writeback.h): `struct writeback_control`, `do_writepages`, the walk order of
`writeback_iter` and the per-folio steps every ->writepages takes
(`folio_prepare_writeback`, `folio_clear_dirty_for_io`, zeroing past EOF).

A filesystem's ->writepages (ext4_do_writepages, iomap_writepages) drives `writeback_iter`
and decides what to do with each folio it returns locked.
"""

from dataclasses import dataclass
from enum import Enum

WB_SYNC_NONE, WB_SYNC_ALL = 0, 1
LLONG_MAX = (1 << 63) - 1


class WbReason(str, Enum):
    """Who asked for writeback (enum wb_reason and the callers of filemap_fdatawrite_range).
    The value is what reports print."""
    WRITEBACK = "writeback"
    KUPDATE = "kupdate"
    SYNC = "sync"
    FSYNC = "fsync"
    SYNC_FILE_RANGE = "sync_file_range"
    JBD2_ORDERED = "jbd2 ordered"
    ORDERED_TRUNCATE = "ordered truncate"
    ZERO_EOF = "zero-eof"
    PUNCH = "punch"
    ZERO_RANGE = "zero_range"
    XFS_SETATTR = "xfs setattr"
    XFS_FLUSH_UNMAP = "xfs flush_unmap"
    FDATAWRITE = "fdatawrite"
    WRITE_AND_WAIT = "write_and_wait"
    FLUSH = "flush"

    __str__ = str.__str__      # the value (what reports print), without a Python-level call


@dataclass(slots=True)
class WritebackControl:
    sync_mode: int = WB_SYNC_NONE
    range_start: int = 0
    range_end: int = LLONG_MAX
    """Inclusive byte range, as struct writeback_control."""
    range_cyclic: bool = False
    nr_to_write: int = 1 << 62
    can_map: bool = True
    """ext4 mpage_da_data.can_map: 0 when jbd2 submits ordered data (no block allocation)."""
    reason: WbReason = WbReason.WRITEBACK


def do_writepages(mapping, wbc):
    """do_writepages: the mapping's ->writepages."""
    yield from mapping.a_ops.writepages(mapping, wbc)


def writeback_iter(mapping, wbc):
    """writeback_iter's order: the dirty folios' indices, ascending from range_start, or
    range-cyclic from mapping->writeback_index wrapping around. The `writeback_order`
    tunable (reverse, random) is a what-if knob, not kernel behaviour."""
    order, rng = mapping.walk_order, mapping.engine.rng
    if wbc.range_cyclic:
        idx = mapping.dirty_indices(0, LLONG_MAX, order, rng)
        if order == "index":
            w = mapping.writeback_index
            idx = [i for i in idx if i >= w] + [i for i in idx if i < w]
        return idx
    return mapping.dirty_indices(wbc.range_start, wbc.range_end, order, rng)


def writeback_done_index(mapping, wbc, last_idx):
    """writeback_iter's end: a range-cyclic pass resumes after the last folio it wrote
    (mapping->writeback_index)."""
    if wbc.range_cyclic and last_idx is not None:
        mapping.writeback_index = last_idx + 1


def write_cache_pages(mapping, wbc, write_folio, before_lock=None):
    """The loop every ->writepages runs (writeback_iter / write_cache_pages): take each
    dirty folio in walk order until nr_to_write folios were written; `before_lock(folio)`
    runs before the folio is locked (ext4 starts its handle there: it returns a generator to
    run when it must block, else None), `write_folio(folio,
    inside)` gets it locked, must unlock it, and returns (or, as a generator, returns)
    whether it started writeback."""
    written = 0
    last_idx = None
    lookup = mapping.folios.get       # mapping.lookup
    for idx in writeback_iter(mapping, wbc):
        if wbc.nr_to_write <= 0:
            break
        folio = lookup(idx)
        if folio is None or not folio.dirty:
            continue
        if before_lock is not None:
            blocking = before_lock(folio)
            if blocking is not None:
                yield from blocking
        inside = writeback_take_folio_nowait(mapping, folio)
        if inside is None:
            inside = yield from writeback_take_folio(mapping, folio, wbc)
        if not inside:
            continue
        started = write_folio(folio, inside)
        if not isinstance(started, bool):
            started = yield from started
        if started:
            written += 1
            wbc.nr_to_write -= 1       # writeback_iter: wbc->nr_to_write -= folio_nr_pages
            last_idx = idx
    writeback_done_index(mapping, wbc, last_idx)


def folio_prepare_writeback(mapping, folio, wbc):
    """folio_prepare_writeback after folio_lock: skip clean folios; under writeback, skip
    (WB_SYNC_NONE) or wait (WB_SYNC_ALL). Returns True with the folio locked."""
    if not mapping.trylock(folio):
        yield from mapping.lock(folio)
    if folio.index not in mapping.folios or not folio.dirty:
        mapping.unlock(folio)
        return False
    if folio.writeback:
        if wbc.sync_mode == WB_SYNC_NONE:
            mapping.unlock(folio)
            return False
        yield from mapping.wait_writeback(folio)
        if not folio.dirty:
            mapping.unlock(folio)
            return False
    return True


def writeback_take_folio_nowait(mapping, folio):
    """writeback_take_folio's uncontended path, without a generator: the bytes inside EOF
    (or 0) when the folio is unlocked, dirty and not under writeback; None when the caller
    must run writeback_take_folio, which may wait."""
    if folio.locker is None and folio.dirty and not folio.writeback and folio.index in mapping.folios:
        folio.locker = mapping.engine.current   # folio_prepare_writeback's uncontended path
        return _take_locked(mapping, folio)
    return None


def writeback_take_folio(mapping, folio, wbc):
    """The steps every ->writepages takes on a folio: folio_prepare_writeback,
    folio_clear_dirty_for_io, and zeroing the EOF folio past i_size in memory before it goes
    to disk (ext4_bio_write_folio, iomap_writepage_handle_eof). Returns the bytes of the
    folio inside EOF with the folio locked, or 0 (nothing to write; the folio is unlocked)."""
    ok = yield from folio_prepare_writeback(mapping, folio, wbc)
    return _take_locked(mapping, folio) if ok else 0


def _take_locked(mapping, folio):
    """writeback_take_folio's steps once the folio is locked and to be written."""
    mapping.clear_dirty_for_io(folio)
    i_size = mapping.host.i_size
    base = folio.index << mapping.shift
    inside = i_size - base
    if inside < mapping.fsize:
        mapping.zero_range_cached(max(i_size, base), base + mapping.fsize)
    if inside <= 0:
        folio.dirty_mask = 0
        mapping.unlock(folio)
        return 0
    return inside
