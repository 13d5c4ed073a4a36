"""Page cache and writeback (mm/filemap.c, mm/page-writeback.c, fs/fs-writeback.c).

Folio content is kept per block as provenance runs (content.py). The filesystem supplies
`writepages(mapping, wbc)` (ext4.py: the buffer_head path or the iomap path); this module
supplies the generic parts: lookup and locking, dirtying, the writeback walk order, waits
on writeback, range flush helpers and the background flusher.
"""

from dataclasses import dataclass

from .content import ZERO, fill, overlay
from .engine import WaitQueue

WB_SYNC_NONE, WB_SYNC_ALL = 0, 1


class Folio:
    __slots__ = ("mapping", "index", "blocks", "dirty", "dirty_mask", "writeback",
                 "uptodate", "locker", "lock_wq", "wb_wq", "wb_owner", "mkwrite", "wb_pending", "wb_hb")

    def __init__(self, mapping, index, blocks):
        self.mapping = mapping
        self.index = index
        self.blocks = blocks
        """Per block: content runs of the cached bytes."""
        self.dirty = False
        self.dirty_mask = 0
        """Per-block dirty bits (buffer_head BH_Dirty / iomap ifs dirty bitmap)."""
        self.writeback = False
        self.uptodate = (1 << len(blocks)) - 1
        """Per-block uptodate bits (BH_Uptodate / the ifs uptodate bitmap)."""
        self.locker = None
        self.lock_wq = None
        self.wb_wq = None
        self.wb_owner = None
        """Who will end writeback: the end-I/O worker task, or None while the device has it."""
        self.mkwrite = False
        """A shared mapping may store into the folio without faulting (PTE writable)."""
        self.wb_pending = 0
        """Bios still in flight for this folio (iomap_folio_state write_bytes_pending)."""
        self.wb_hb = 0
        """What the task that ended writeback knew: whoever later sees the flag clear learns it."""

    def __repr__(self):
        flags = "".join(c for c, v in (("L", self.locker), ("D", self.dirty), ("W", self.writeback)) if v)
        return f"<folio {self.mapping.host.name}:{self.index} {flags}>"


@dataclass(slots=True)
class WritebackControl:
    sync_mode: int = WB_SYNC_NONE
    range_start: int = 0
    range_end: int = (1 << 63) - 1
    """Inclusive byte range, as struct writeback_control."""
    range_cyclic: bool = False
    nr_to_write: int = 1 << 62
    can_map: bool = True
    """ext4 mpage_da_data.can_map: 0 when jbd2 submits ordered data (no block allocation)."""
    reason: str = "writeback"


class AddressSpace:
    """struct address_space: the page cache of one inode."""

    def __init__(self, engine, host, tun):
        self.engine = engine
        self.host = host
        self.bs = tun.block_size
        self.fsize = tun.folio_size
        self.bpf = tun.folio_size // tun.block_size
        self.shift = tun.folio_size.bit_length() - 1
        self.folios = {}
        self.dirty = set()
        """Indices of dirty folios (the PAGECACHE_TAG_DIRTY marks of the xarray)."""
        self.writeback_index = 0
        self.inode_dirty = False
        """I_DIRTY_PAGES: set by the first dirtying; cleared only by the flusher or sync once
        they find nothing left to write (__writeback_single_inode), not by fsync or jbd2."""
        self.dirtied_when = None
        """inode->dirtied_when: set when I_DIRTY_PAGES goes from clean to dirty."""
        self.nr_writeback = 0
        self.trace = None
        """Optional callback(text) for the timeline's page-cache lane."""

    @property
    def nr_dirty(self):
        return len(self.dirty)

    # --- lookup and locking ------------------------------------------------------------
    def lookup(self, index):
        """filemap_get_folio without FGP_CREAT: None ('-ENOENT') when nothing is cached."""
        return self.folios.get(index)

    def create(self, index, blocks=None):
        bs = self.bs
        f = Folio(self, index, blocks or [fill(bs)] * self.bpf)
        self.folios[index] = f
        return f

    def lock(self, folio):
        """folio_lock."""
        task = self.engine.current
        while folio.locker is not None:
            if folio.lock_wq is None:
                folio.lock_wq = WaitQueue(self.engine, f"folio lock {self.host.name}:{folio.index}",
                                          "folio_lock", owner=lambda f=folio: (f.locker,))
            yield folio.lock_wq
        folio.locker = task

    def unlock(self, folio):
        folio.locker = None
        if folio.lock_wq is not None:
            folio.lock_wq.wake_one()

    def wait_writeback(self, folio):
        """folio_wait_writeback. Seeing the flag clear, with or without sleeping, is learning
        that the I/O completed (happens-before)."""
        while folio.writeback:
            if folio.wb_wq is None:
                folio.wb_wq = WaitQueue(self.engine, f"writeback {self.host.name}:{folio.index}",
                                        "folio_writeback", owner=lambda f=folio: (f.wb_owner,))
            yield folio.wb_wq
        cur = self.engine.current
        if cur is not None:
            cur.hb |= folio.wb_hb

    # --- flag transitions ------------------------------------------------------------------
    def mark_dirty(self, folio, mask):
        """folio_mark_dirty + __mark_inode_dirty(I_DIRTY_PAGES)."""
        folio.dirty_mask |= mask
        if not folio.dirty:
            folio.dirty = True
            self.dirty.add(folio.index)
            if self.trace:
                self.trace(f"{self.host.name}: folio {folio.index} dirty")
            if not self.inode_dirty:
                self.inode_dirty = True
                self.dirtied_when = self.engine.now

    def clear_dirty_for_io(self, folio):
        """folio_clear_dirty_for_io: also write-protects the PTEs, so the next mmap store
        faults into page_mkwrite and redirties the folio."""
        folio.mkwrite = False
        if folio.dirty:
            folio.dirty = False
            self.dirty.discard(folio.index)
            return True
        return False

    def redirty(self, folio, mask):
        """folio_redirty_for_writepage: blocks that could not be written stay dirty."""
        self.mark_dirty(folio, mask)

    def writeback_done(self, requeue_ns=None):
        """After the flusher's or sync's pass over the inode (__writeback_single_inode,
        requeue_inode): clean when no dirty folio is left, else redirty_tail at `requeue_ns`."""
        if not self.dirty:
            self.inode_dirty = False
            self.dirtied_when = None
        elif requeue_ns is not None:
            self.dirtied_when = requeue_ns

    def start_writeback(self, folio):
        if self.trace:
            self.trace(f"{self.host.name}: folio {folio.index} clean, under writeback")
        folio.writeback = True
        # Until its bio is submitted, the writeback pass that set the flag is who ends it.
        folio.wb_owner = self.engine.current
        self.nr_writeback += 1

    def end_writeback(self, folio):
        """folio_end_writeback: wakes folio_wait_writeback waiters."""
        folio.writeback = False
        folio.wb_owner = None
        cur = self.engine.current
        if cur is not None:
            folio.wb_hb |= cur.hb
        self.nr_writeback -= 1
        if folio.wb_wq is not None:
            folio.wb_wq.wake_all()

    # --- ranges ----------------------------------------------------------------------------
    def indices(self, start, end):
        """Cached folio indices covering bytes [start, end] (inclusive), ascending."""
        lo, hi = start >> self.shift, end >> self.shift
        if hi - lo < len(self.folios):
            return [i for i in range(lo, hi + 1) if i in self.folios]
        return sorted(i for i in self.folios if lo <= i <= hi)

    def dirty_indices(self, start, end, order="index", rng=None):
        """The writeback walk (writeback_iter): dirty folios in ascending index order.
        `order` is a what-if knob: reverse or seeded random."""
        lo, hi = start >> self.shift, end >> self.shift
        idx = sorted(i for i in self.dirty if lo <= i <= hi)
        if order == "reverse":
            idx.reverse()
        elif order == "random" and rng is not None:
            rng.shuffle(idx)
        return idx

    def zero_range_cached(self, start, end):
        """Zero bytes [start, end) in the cached folios (folio_zero_range), without dirtying."""
        bs, shift = self.bs, self.shift
        pos = start
        while pos < end:
            idx = pos >> shift
            f = self.folios.get(idx)
            fend = min(end, (idx + 1) << shift)
            if f is not None:
                while pos < fend:
                    b = (pos - (idx << shift)) // bs
                    bstart = (idx << shift) + b * bs
                    e = min(fend, bstart + bs)
                    f.blocks[b] = overlay(f.blocks[b], pos - bstart, e - bstart, ZERO)
                    pos = e
            pos = fend

    def remove_from(self, start):
        """truncate_inode_pages_range(start, -1) for whole folios at or after `start`
        (callers wait for their writeback first). Returns the removed folios."""
        first = (start + self.fsize - 1) >> self.shift
        gone = [f for i, f in self.folios.items() if i >= first]
        for f in gone:
            self.delete(f)
        return gone

    def delete(self, folio):
        """Drop a folio from the cache (filemap_remove_folio)."""
        del self.folios[folio.index]
        self.dirty.discard(folio.index)


def filemap_fdatawait_range(mapping, start, end):
    """filemap_fdatawait_range: wait for writeback of every folio in [start, end]."""
    cur = mapping.engine.current
    for i in mapping.indices(start, end):
        f = mapping.folios.get(i)
        if f is None:
            continue
        if f.writeback:
            yield from mapping.wait_writeback(f)
        elif cur is not None:
            cur.hb |= f.wb_hb


def filemap_fdatawrite_range(fs, mapping, start, end, reason="fdatawrite"):
    """filemap_fdatawrite_range: WB_SYNC_ALL submission of [start, end]; no wait for the new I/O."""
    wbc = WritebackControl(WB_SYNC_ALL, start, end, reason=reason)
    yield from fs.writepages(mapping, wbc)


def filemap_write_and_wait_range(fs, mapping, start, end, reason="write_and_wait"):
    """filemap_write_and_wait_range: submit WB_SYNC_ALL, then wait for writeback to clear."""
    yield from filemap_fdatawrite_range(fs, mapping, start, end, reason)
    yield from filemap_fdatawait_range(mapping, start, end)


def filemap_flush(fs, mapping, start=0, end=(1 << 63) - 1, reason="flush"):
    """filemap_flush / WB_SYNC_NONE range writeback: skips folios already under writeback."""
    wbc = WritebackControl(WB_SYNC_NONE, start, end, reason=reason)
    yield from fs.writepages(mapping, wbc)


def flusher(engine, tun, fs, mappings):
    """The per-bdi flusher's periodic ("kupdate") work: every dirty_writeback interval,
    write inodes whose dirtied_when is older than dirty_expire (wb_check_old_data_flush ->
    writeback_sb_inodes with older_than_this), range-cyclic, a chunk per inode per pass.

    Assumption: wakeups land on a fixed grid (5 s, 10 s, ...) from mount; the kernel arms
    the first one from the first dirtying, so real phases differ by up to one period."""
    period = tun.dirty_writeback_ns
    while True:
        yield period - engine.now % period
        cutoff = engine.now - tun.dirty_expire_ns
        expired = sorted((m.dirtied_when, m.host.ino, m) for m in mappings()
                         if m.inode_dirty and m.dirtied_when <= cutoff)
        for _, _, m in expired:
            wbc = WritebackControl(WB_SYNC_NONE, range_cyclic=True,
                                   nr_to_write=tun.writeback_chunk_folios, reason="kupdate")
            yield from fs.writepages(m, wbc)
            m.writeback_done(requeue_ns=engine.now)
