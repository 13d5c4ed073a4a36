"""fs/ext4/extents.c and mballoc.c: the block map (extent tree + extent status tree, one
entry a block), the allocator, and fallocate's modes (allocate, punch hole, zero range)."""

from ..mm.truncate import folio_mkclean, pagecache_isize_extended, truncate_pagecache_range
from ..policies.base import GrowReason

from heapq import heappop, heappush

from ..iomap import DELAYED, HOLE, STATE_NAMES, UNWRITTEN, WRITTEN
DATA_BASE = 1 << 20
"""First data block number (block bitmap start); everything below is metadata."""


class Ext4Extents:
    """The extents.c part of the ext4 filesystem object (see ext4/__init__.py)."""

    def alloc(self, n=1):
        """The block allocator (ext4_mb_new_blocks). Under data=writeback a freed data block
        is free at once (ext4_mb_clear_bb: no ext4_free_data waiting for the commit unless
        the block is metadata or !ext4_should_writeback_data), and a real truncate-and-
        rewrite gets the same blocks back (seen on 6.18: the rewritten file shows the old
        file's bytes where the new ones were not yet written). Assumption: a single-block
        allocation takes the lowest such block first. Under data=ordered (and on the iomap
        path, whose mount stays data=ordered) freed blocks wait for the commit; the model
        never reuses those, so their stale contents there can only be pre-scenario garbage
        (the device fill / plants)."""
        if n == 1 and self.freed:
            return heappop(self.freed)
        p = self.next_pblk
        self.next_pblk += n
        return p

    def set_state(self, inode, lblk, state, pblk=None):
        """Change one block's mapping state; written/unwritten blocks are in the on-disk
        extent tree (what the raw inode carries), delayed ones only in the status tree."""
        e = inode.map.get(lblk)
        old = HOLE if e is None else e[0]
        if state == HOLE:
            inode.map.pop(lblk, None)
            if old >= UNWRITTEN and self.reuse_freed:
                heappush(self.freed, e[1])
        elif e is None:
            inode.map[lblk] = [state, pblk]
        else:
            e[0] = state
            if pblk is not None:
                e[1] = pblk
        if old >= UNWRITTEN or state >= UNWRITTEN:
            inode.map_version += 1
            if state >= UNWRITTEN:
                inode.disk[lblk] = (lblk, inode.map[lblk][1], state == UNWRITTEN)
            else:
                inode.disk.pop(lblk, None)

    def state(self, inode, lblk):
        e = inode.map.get(lblk)
        return HOLE if e is None else e[0]

    def fallocate(self, inode, off, length, mode, op):
        """ext4_fallocate: file_modified, then the mode's own path."""
        yield from inode.i_rwsem.lock()
        try:
            yield from self.file_update_time(inode)
            if mode == "punch_hole":
                yield from self.punch_hole(inode, off, length)
            elif mode.startswith("zero_range"):
                yield from self.zero_range(inode, off, length, "keep_size" in mode, op)
            else:
                yield from self.do_fallocate(inode, off, length, mode == "keep_size", op)
        finally:
            inode.i_rwsem.unlock()

    def fallocate_new_size(self, inode, end, keep_size):
        """The size rule of ext4_do_fallocate and ext4_zero_range (extents.c, 6.12.117):
        without KEEP_SIZE the size moves to `end` when `end > i_size || end > i_disksize` —
        also inside i_size when i_disksize lags behind it (delalloc pending). 0: no change."""
        if not keep_size and (end > inode.i_size or end > inode.i_disksize):
            return end
        return 0

    def do_fallocate(self, inode, off, length, keep_size, op):
        """ext4_do_fallocate: the size rule, then ext4_alloc_file_blocks over the range."""
        end = off + length
        new_size = self.fallocate_new_size(inode, end, keep_size)
        yield from self.alloc_file_blocks(inode, off >> self.bshift, (end + self.bs - 1) >> self.bshift,
                                          new_size, op)

    def map_chunks(self, inode, lb0, lb1):
        """The unit of one ext4_map_blocks call in ext4_alloc_file_blocks' loop: a run of
        blocks the on-disk tree maps alike (a hole, delayed or not, is allocated as one
        extent; an existing extent is returned as it is)."""
        out = []
        lblk = lb0
        while lblk < lb1:
            e = inode.map.get(lblk)
            kind = HOLE if e is None or e[0] == DELAYED else e[0]
            r = lblk + 1
            while r < lb1:
                e2 = inode.map.get(r)
                if (HOLE if e2 is None or e2[0] == DELAYED else e2[0]) != kind:
                    break
                r += 1
            out.append((lblk, r))
            lblk = r
        return out

    def alloc_file_blocks(self, inode, lb0, lb1, new_size, op, convert=False):
        """ext4_alloc_file_blocks (extents.c, 6.12.117): one handle per ext4_map_blocks
        chunk. Holes — delayed blocks too: ext4_map_blocks finds a delayed extent unmapped and
        ext4_ext_map_blocks allocates it (the es entry becomes unwritten; the dirty folio's
        writeback then finds it unwritten) — become unwritten extents; with
        EXT4_GET_BLOCKS_CONVERT_UNWRITTEN (zero range's middle) written ones turn unwritten.
        With `new_size`, each chunk's handle runs ext4_update_inode_size(epos) (epos = chunk
        end capped at new_size), which raises i_disksize whenever epos > i_disksize — even
        inside i_size — and, past the old i_size, pagecache_isize_extended +
        ext4_zero_partial_blocks(old_size, epos - old_size)."""
        old_size = inode.i_size
        iomap = inode.buffered_iomap
        if new_size > old_size and iomap:
            # The iomap designs zero outside any handle (2026 refactor) and may wait first.
            zeroed = yield from self.block_zero_eof(None, inode, old_size, new_size)
            yield from self.policy.before_grow(self.ctx, inode, new_size, GrowReason.FALLOCATE, zeroed)
        for c0, c1 in self.map_chunks(inode, lb0, lb1):
            handle = yield from self.journal.start(credits=8)
            for lblk in range(c0, c1):
                e = inode.map.get(lblk)
                if e is None or e[0] == DELAYED:
                    self.set_state(inode, lblk, UNWRITTEN, self.alloc())
                elif convert and e[0] == WRITTEN:
                    self.set_state(inode, lblk, UNWRITTEN)
            if new_size:
                epos = min(c1 << self.bshift, new_size)
                self.update_inode_size(handle, inode, epos, op)
                if epos > old_size and not iomap:
                    yield from pagecache_isize_extended(inode.mapping, old_size, epos)
                    yield from self.zero_gap(handle, inode, old_size, epos - old_size)
            self.mark_inode_dirty(handle, inode)
            inode.i_datasync_tid = handle.tx.tid
            self.journal.stop(handle)
        if iomap and new_size > old_size:
            yield from pagecache_isize_extended(inode.mapping, old_size, new_size)

    def update_inode_size(self, handle, inode, size, op):
        """ext4_update_inode_size (ext4.h): i_size up to `size` if larger; i_disksize up to
        it (ext4_update_i_disksize, as the design allows) if larger — independently."""
        if size > inode.i_size:
            self.set_i_size(inode, size, op)
        if size > inode.i_disksize:
            self.grow_disksize(handle, inode, size, GrowReason.FALLOCATE)

    def update_disksize_before_punch(self, inode, off, length):
        """ext4_update_disksize_before_punch (inode.c, 6.12.117): a size waiting for delalloc
        writeback is made on-disk before the page cache of the range is dropped. Returns at
        once when the range starts past i_size (`offset > size`). Skipped for a design with
        punch_logs_disksize False (XFS: xfs_free_file_space logs no size)."""
        if not self.policy.punch_logs_disksize:
            return
        if off > inode.i_size:
            return
        size = min(inode.i_size, off + length)
        if size <= inode.i_disksize:
            return
        handle = yield from self.journal.start(credits=1)
        self.set_disksize(inode, size)
        self.mark_inode_dirty(handle, inode)
        self.journal.stop(handle)

    def truncate_folio(self, inode, start, end):
        """ext4_truncate_folio (inode.c, 6.12.117): when a whole block of the folio holding
        `start` lies in [start, end), write-protect it (folio_mkclean, redirtying a dirty
        PTE) so a later mmap store faults into ext4_page_mkwrite and maps its blocks again."""
        bs = self.bs
        if ((start + bs - 1) & ~(bs - 1)) >= (end & ~(bs - 1)):
            return
        yield from folio_mkclean(inode.mapping, start >> self.fshift)

    def truncate_page_cache_block_range(self, inode, start, end):
        """ext4_truncate_page_cache_block_range (inode.c, 6.12.117): drop the page cache of
        [start, end) without writing it back first (only data=journal writes back, which the
        model has no mode for); with blocks smaller than a page, the partial edge folios are
        write-protected first (ext4_truncate_folio)."""
        fs = self.fsize
        if (start | end) & (fs - 1) and self.bs < fs and start < inode.i_size:
            boundary = (start + fs - 1) & ~(fs - 1)
            yield from self.truncate_folio(inode, start, min(boundary, end))
            if end > boundary:
                yield from self.truncate_folio(inode, end & ~(fs - 1), end)
        yield from truncate_pagecache_range(inode.mapping, start, end)

    def punch_hole(self, inode, off, length):
        """ext4_punch_hole (inode.c, 6.12.117): raise i_disksize
        (ext4_update_disksize_before_punch), drop the cache without writing it back
        (ext4_truncate_page_cache_block_range), then in one handle zero the partial blocks
        (ordered) and remove the whole ones. i_size never changes."""
        if off >= inode.i_size:
            return
        if off + length > inode.i_size:
            length = ((inode.i_size + self.fsize - 1) & ~(self.fsize - 1)) - off
        end = off + length
        yield from self.update_disksize_before_punch(inode, off, length)
        yield from self.truncate_page_cache_block_range(inode, off, end)
        handle = yield from self.journal.start(credits=8)
        yield from self.zero_partial_blocks(handle, inode, off, length)
        lo, hi = (off + self.bs - 1) >> self.bshift, end >> self.bshift
        # the mapped blocks in range, ascending: O(mapped), not O(range) (a 1 TiB punch)
        mapped = [b for b in range(lo, hi) if b in inode.map] if hi - lo < len(inode.map) \
            else sorted(b for b in inode.map if lo <= b < hi)
        for lblk in mapped:
            self.set_state(inode, lblk, HOLE)
        self.mark_inode_dirty(handle, inode)
        inode.i_datasync_tid = handle.tx.tid
        self.journal.stop(handle)

    def zero_range(self, inode, off, length, keep_size, op):
        """ext4_zero_range (extents.c, 6.12.117), in its order: the size rule; with unaligned
        edges, ext4_alloc_file_blocks over the whole range (unwritten, raising the sizes and
        zeroing [old_size, epos) in each chunk's handle); ext4_update_disksize_before_punch;
        the cache dropped without write-back (ext4_truncate_page_cache_block_range); the
        aligned middle converted to unwritten (ext4_alloc_file_blocks with
        CONVERT_UNWRITTEN, new_size again); and, with unaligned edges, a last handle that
        zeroes them (ext4_zero_partial_blocks) and runs ext4_update_inode_size(new_size)."""
        end = off + length
        bs, bshift = self.bs, self.bshift
        new_size = self.fallocate_new_size(inode, end, keep_size)
        aligned = not (off | end) & (bs - 1)
        if not aligned:
            yield from self.alloc_file_blocks(inode, off >> bshift, (end + bs - 1) >> bshift, new_size, op)
        yield from self.update_disksize_before_punch(inode, off, length)
        yield from self.truncate_page_cache_block_range(inode, off, end)
        a0, a1 = (off + bs - 1) >> bshift, end >> bshift
        if a1 > a0:
            yield from self.alloc_file_blocks(inode, a0, a1, new_size, op, convert=True)
        if aligned:
            return
        handle = yield from self.journal.start(credits=8)
        yield from self.zero_partial_blocks(handle, inode, off, length)
        if new_size:
            self.update_inode_size(handle, inode, new_size, op)
        self.mark_inode_dirty(handle, inode)
        inode.i_datasync_tid = handle.tx.tid
        self.journal.stop(handle)
