"""fs/ext4/extents.c and mballoc.c: the block map (extent tree + extent status tree, one
entry a block), the allocator, and fallocate's modes (allocate, punch hole, zero range)."""

from ..mm.filemap import filemap_write_and_wait_range
from ..mm.page_writeback import WbReason
from ..mm.truncate import pagecache_isize_extended, truncate_pagecache_range
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
                yield from self.alloc_file_blocks(inode, off, length, mode == "keep_size", op)
        finally:
            inode.i_rwsem.unlock()

    def alloc_file_blocks(self, inode, off, length, keep_size, op):
        """ext4_do_fallocate -> ext4_alloc_file_blocks: unwritten extents over holes; without
        KEEP_SIZE both sizes grow in the allocating handle and the old EOF block is zeroed
        (ext4_update_inode_size + ext4_zero_partial_blocks(old_size, epos - old_size))."""
        bs = self.bs
        lb0, lb1 = off >> self.bshift, (off + length + bs - 1) >> self.bshift
        new_size = off + length if not keep_size and off + length > inode.i_size else 0
        old_size = inode.i_size
        iomap = inode.buffered_iomap
        if new_size and iomap:
            zeroed = yield from self.block_zero_eof(None, inode, old_size, new_size)
            yield from self.policy.before_grow(self.ctx, inode, new_size, GrowReason.FALLOCATE, zeroed)
        handle = yield from self.journal.start(credits=8)
        for lblk in range(lb0, lb1):
            if lblk not in inode.map:
                self.set_state(inode, lblk, UNWRITTEN, self.alloc())
        if new_size:
            self.set_i_size(inode, new_size, op)
            self.grow_disksize(handle, inode, new_size, GrowReason.FALLOCATE)
            if not iomap and new_size > old_size:
                yield from self.zero_gap(handle, inode, old_size, new_size - old_size)
        self.mark_inode_dirty(handle, inode)
        inode.i_datasync_tid = handle.tx.tid
        self.journal.stop(handle)
        if new_size > old_size:
            yield from pagecache_isize_extended(inode.mapping, old_size, new_size)

    def update_disksize_before_punch(self, inode, off, length):
        """ext4_update_disksize_before_punch: a size waiting for delalloc writeback is made
        on-disk before the page cache of the range is dropped. Skipped for a design with
        punch_logs_disksize False (XFS: xfs_free_file_space logs no size)."""
        if not self.policy.punch_logs_disksize:
            return
        size = min(inode.i_size, off + length)
        if size <= inode.i_disksize:
            return
        handle = yield from self.journal.start(credits=1)
        self.set_disksize(inode, size)
        self.mark_inode_dirty(handle, inode)
        self.journal.stop(handle)

    def punch_hole(self, inode, off, length):
        """ext4_punch_hole (6.12): write back the range, raise i_disksize, drop the cache,
        zero partial blocks (ordered), remove whole blocks. i_size never changes."""
        if off >= inode.i_size:
            return
        if off + length > inode.i_size:
            length = ((inode.i_size + self.fsize - 1) & ~(self.fsize - 1)) - off
        end = off + length
        m = inode.mapping
        yield from filemap_write_and_wait_range(m, off, end - 1, WbReason.PUNCH)
        yield from self.update_disksize_before_punch(inode, off, length)
        yield from truncate_pagecache_range(m, off, end)
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
        """ext4_zero_range (6.12): write back the range, convert the aligned middle to
        unwritten, zero the partial edge blocks, and grow the size unless KEEP_SIZE."""
        end = off + length
        m = inode.mapping
        yield from filemap_write_and_wait_range(m, off, end - 1, WbReason.ZERO_RANGE)
        yield from self.update_disksize_before_punch(inode, off, length)
        bs = self.bs
        a0, a1 = (off + bs - 1) & ~(bs - 1), end & ~(bs - 1)
        new_size = end if not keep_size and end > inode.i_size else 0
        old_size = inode.i_size
        iomap = inode.buffered_iomap
        if new_size and iomap:
            zeroed = yield from self.block_zero_eof(None, inode, old_size, new_size)
            yield from self.policy.before_grow(self.ctx, inode, new_size, GrowReason.FALLOCATE, zeroed)
        if a1 > a0:
            yield from truncate_pagecache_range(m, a0, a1)
        handle = yield from self.journal.start(credits=8)
        for lblk in range(a0 >> self.bshift, a1 >> self.bshift):
            e = inode.map.get(lblk)
            if e is None:
                self.set_state(inode, lblk, UNWRITTEN, self.alloc())
            elif e[0] != UNWRITTEN:
                self.set_state(inode, lblk, UNWRITTEN, e[1] if e[0] != DELAYED else self.alloc())
        if new_size:
            self.set_i_size(inode, new_size, op)
            self.grow_disksize(handle, inode, new_size, GrowReason.FALLOCATE)
            if not iomap and old_size < off:
                yield from self.zero_gap(handle, inode, old_size, min(off, new_size) - old_size)
        yield from self.zero_partial_blocks(handle, inode, off, length)
        self.mark_inode_dirty(handle, inode)
        inode.i_datasync_tid = handle.tx.tid
        self.journal.stop(handle)
