"""The page cache (mm/filemap.c): folios, lookup and locking, dirtying, waits on writeback,
the range flush helpers and the buffered read loop.

Folio content is kept per block as provenance runs (content.py). The filesystem plugs in
through `mapping.a_ops` (struct address_space_operations: `writepages`, `read_folio`),
chosen per inode as ext4_set_aops does.
"""

from ..content import ZERO, cut, fill, overlay, paste
from ..engine import WaitQueue
from ..hb import join
from .page_writeback import WB_SYNC_ALL, WB_SYNC_NONE, WbReason, WritebackControl, do_writepages


class Folio:
    __slots__ = ("mapping", "index", "blocks", "dirty", "dirty_mask", "writeback",
                 "uptodate", "locker", "lock_wq", "wb_wq", "wb_owner", "mkwrite", "wb_pending", "wb_hb",
                 "bh_mapped")

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
        self.bh_mapped = 0
        """Per-block BH_Mapped of the folio's buffer_heads: set when a buffered write,
        ext4_page_mkwrite or a zeroing mapped the buffer (get_block); a new folio has none,
        and discard_buffer clears it for blocks a truncate invalidates."""

    def __repr__(self):
        flags = "".join(c for c, v in (("L", self.locker), ("D", self.dirty), ("W", self.writeback)) if v)
        return f"<folio {self.mapping.host.name}:{self.index} {flags}>"


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
        self.walk_order = tun.writeback_order
        self.a_ops = None
        self.wb = None
        """The bdi_writeback whose dirty list the inode joins (fs_writeback.BdiWriteback)."""
        """struct address_space_operations, set by the filesystem (ext4_set_aops)."""

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

    def trylock(self, folio) -> bool:
        """folio_trylock: take the lock if nobody holds it (folio_lock's fast path)."""
        if folio.locker is None:
            folio.locker = self.engine.current
            return True
        return False

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
                self.mark_inode_dirty()

    def mark_inode_dirty(self):
        """__mark_inode_dirty: a clean inode becomes dirty, with dirtied_when = now, and
        joins the bdi's dirty list (which may arm the flusher: BdiWriteback.inode_dirtied)."""
        if not self.inode_dirty:
            self.inode_dirty = True
            self.dirtied_when = self.engine.now
            if self.wb is not None:
                self.wb.inode_dirtied(self)

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
            folio.wb_hb = join(folio.wb_hb, cur.hb)
        self.nr_writeback -= 1
        if folio.wb_wq is not None:
            folio.wb_wq.wake_all()

    # --- ranges ----------------------------------------------------------------------------
    def indices(self, start, end):
        """Cached folio indices covering bytes [start, end] (inclusive), ascending."""
        lo, hi = start >> self.shift, end >> self.shift
        folios = self.folios
        if hi - lo < len(folios):
            return [i for i in range(lo, hi + 1) if i in folios]
        return _within(folios, lo, hi)

    def dirty_indices(self, start, end, order="index", rng=None):
        """The writeback walk (writeback_iter): dirty folios in ascending index order.
        `order` is a what-if knob: reverse or seeded random."""
        lo, hi = start >> self.shift, end >> self.shift
        idx = _within(self.dirty, lo, hi)
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
            fend = (idx + 1) << shift
            if end < fend:
                fend = end
            if f is not None:
                while pos < fend:
                    b = (pos - (idx << shift)) // bs
                    bstart = (idx << shift) + b * bs
                    e = bstart + bs
                    if fend < e:
                        e = fend
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


def _within(indices, lo, hi):
    """The folio indices in [lo, hi], ascending (a whole-file range sorts them all at once)."""
    idx = sorted(indices)
    if idx and (idx[0] < lo or idx[-1] > hi):
        return [i for i in idx if lo <= i <= hi]
    return idx


def filemap_get_folio_nowait(mapping, index):
    """__filemap_get_folio(FGP_LOCK|FGP_CREAT|FGP_NOWAIT): the folio locked, created if
    absent (with no block uptodate), or None (-EAGAIN) when someone holds its lock. The
    uncontended path of filemap_get_folio, taken without a generator (callers write
    `nowait(m, i) or (yield from filemap_get_folio(m, i))`)."""
    f = mapping.folios.get(index)           # mapping.lookup
    if f is None:
        f = mapping.create(index)
        f.uptodate = 0
    elif f.locker is not None:
        return None
    f.locker = mapping.engine.current       # mapping.trylock
    return f


def filemap_get_folio(mapping, index, lock=True):
    """__filemap_get_folio(FGP_LOCK|FGP_CREAT): a new folio starts with no block uptodate."""
    f = mapping.folios.get(index)           # mapping.lookup
    if f is None:
        f = mapping.create(index)
        f.uptodate = 0
    if lock:
        if f.locker is None:                # mapping.trylock
            f.locker = mapping.engine.current
        else:
            yield from mapping.lock(f)
    return f


def filemap_read(mapping, start, end):
    """filemap_read's copy loop: content runs of bytes [start, end) from the cache, reading
    blocks that are not uptodate through ->read_folio first. Callers clip at i_size."""
    runs = fill(end - start, ZERO) if end > start else ()
    shift, bs = mapping.shift, mapping.bs
    bshift = bs.bit_length() - 1
    full = (1 << mapping.bpf) - 1
    pos = start
    while pos < end:
        idx = pos >> shift
        fend = (idx + 1) << shift
        if end < fend:
            fend = end
        folio = mapping.lookup(idx)
        if folio is None:
            folio = mapping.create(idx)
            folio.uptodate = 0
        if folio.uptodate != full:
            yield from mapping.a_ops.read_folio(folio, full & ~folio.uptodate)
        base = idx << shift
        p = pos
        while p < fend:
            b = (p - base) >> bshift
            bstart = base + (b << bshift)
            e = bstart + bs
            if fend < e:
                e = fend
            runs = paste(runs, p - start, cut(folio.blocks[b], p - bstart, e - bstart))
            p = e
        pos = fend
    return runs


def filemap_fdatawait_range(mapping, start, end):
    """filemap_fdatawait_range: wait for writeback of every folio in [start, end]."""
    cur = mapping.engine.current
    folios = mapping.folios
    if not mapping.nr_writeback:
        # No folio is under writeback (__filemap_fdatawait_range's PAGECACHE_TAG_WRITEBACK
        # lookup finds none): nothing to wait for, only what the folios' ended writeback
        # made known, taken in the same order (hb.Knowledge re-bases as it combines).
        if cur is not None:
            for i in mapping.indices(start, end):
                cur.hb |= folios[i].wb_hb
        return
    for i in mapping.indices(start, end):
        f = folios.get(i)
        if f is None:
            continue
        if f.writeback:
            yield from mapping.wait_writeback(f)
        elif cur is not None:
            cur.hb |= f.wb_hb


def filemap_fdatawrite_range(mapping, start, end, reason=WbReason.FDATAWRITE):
    """filemap_fdatawrite_range: WB_SYNC_ALL submission of [start, end]; no wait for the new I/O."""
    yield from do_writepages(mapping, WritebackControl(WB_SYNC_ALL, start, end, reason=reason))


def filemap_write_and_wait_range(mapping, start, end, reason=WbReason.WRITE_AND_WAIT):
    """filemap_write_and_wait_range: submit WB_SYNC_ALL, then wait for writeback to clear."""
    yield from filemap_fdatawrite_range(mapping, start, end, reason)
    yield from filemap_fdatawait_range(mapping, start, end)


def filemap_flush(mapping, start=0, end=(1 << 63) - 1, reason=WbReason.FLUSH):
    """filemap_flush / WB_SYNC_NONE range writeback: skips folios already under writeback."""
    yield from do_writepages(mapping, WritebackControl(WB_SYNC_NONE, start, end, reason=reason))
