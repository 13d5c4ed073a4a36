"""DesignContext: everything a design may see and do, as kernel primitives.

A policy gets this instead of the filesystem object, so the core can change behind it.
Every generator method blocks like the kernel function it names.
"""

from ..iomap import WRITTEN
from ..mm.filemap import filemap_fdatawait_range, filemap_fdatawrite_range, filemap_write_and_wait_range
from ..mm.page_writeback import LLONG_MAX, WbReason
from ..mm.truncate import truncate_pagecache_range
from .base import IoEndView


class DesignContext:
    def __init__(self, sb):
        self._sb = sb
        self.block_size = sb.bs
        self.folio_size = sb.fsize
        self._bshift = sb.bshift
        self._fshift = sb.fshift

    # --- geometry ---------------------------------------------------------------------------
    def block_of(self, pos: int) -> int:
        """The logical block holding byte `pos`."""
        return pos >> self._bshift

    def block_start(self, lblk: int) -> int:
        return lblk << self._bshift

    def folio_start(self, pos: int) -> int:
        """The first byte of the folio holding byte `pos`."""
        return pos & ~(self.folio_size - 1)

    # --- inode state ------------------------------------------------------------------------
    @staticmethod
    def state(inode):
        """The design's per-inode state (an instance of the policy's InodeState)."""
        return inode.design

    @staticmethod
    def block_written(inode, lblk: int) -> bool:
        """The block is allocated and written (not a hole, delayed or unwritten)."""
        e = inode.map.get(lblk)
        return e is not None and e[0] == WRITTEN

    def folio_busy(self, inode, pos: int) -> bool:
        """The folio holding `pos` is cached and dirty or under writeback: its contents still
        have to reach disk."""
        f = inode.mapping.lookup(pos >> self._fshift)
        return f is not None and (f.dirty or f.writeback)

    def first_dirty(self, inode, pos: int, end: int = LLONG_MAX):
        """Byte offset of the first dirty folio in [pos, end], or None."""
        idx = inode.mapping.dirty_indices(pos, end)
        return idx[0] << self._fshift if idx else None

    def in_committing_transaction(self, inode) -> bool:
        c = self._sb.journal.committing
        return c is not None and inode.ino in c.inodes

    # --- I/O --------------------------------------------------------------------------------
    def lock_folio_wait_writeback(self, inode, pos: int):
        """filemap_lock_folio + folio_wait_writeback + folio_test_dirty + folio_unlock, as
        ext4_iomap_submit_zero_block does: None if no folio is cached (-ENOENT), else whether
        it is dirty once its writeback ended."""
        m = inode.mapping
        folio = m.lookup(pos >> self._fshift)
        if folio is None:
            return None
        yield from m.lock(folio)
        yield from m.wait_writeback(folio)
        dirty = folio.dirty
        m.unlock(folio)
        return dirty

    @staticmethod
    def submit_range(inode, start: int, end: int, reason: WbReason = WbReason.ZERO_EOF):
        """filemap_fdatawrite_range(start, end inclusive): WB_SYNC_ALL submission, no wait."""
        yield from filemap_fdatawrite_range(inode.mapping, start, end, reason)

    @staticmethod
    def wait_range(inode, start: int, end: int):
        """filemap_fdatawait_range(start, end inclusive)."""
        yield from filemap_fdatawait_range(inode.mapping, start, end)

    @staticmethod
    def write_and_wait_range(inode, start: int, end: int, reason: WbReason):
        """filemap_write_and_wait_range(start, end inclusive)."""
        yield from filemap_write_and_wait_range(inode.mapping, start, end, reason)

    @staticmethod
    def drop_cache_range(inode, start: int, end: int):
        """truncate_pagecache_range over bytes [start, end): whole folios go (after their
        writeback), partial ones are zeroed in memory; nothing is written back."""
        yield from truncate_pagecache_range(inode.mapping, start, end)

    # --- journal ----------------------------------------------------------------------------
    def add_ordered(self, handle, inode, start: int, length: int):
        """ext4_jbd2_inode_add_write (a no-op unless data=ordered on the buffer_head path)."""
        self._sb.add_ordered(handle, inode, start, length)

    def journal_disksize(self, inode, size: int):
        """A small handle that sets i_disksize and marks the inode dirty
        (ext4_update_i_disksize + ext4_mark_inode_dirty)."""
        sb = self._sb
        handle = sb.journal.start_nowait(credits=1) or (yield from sb.journal.start(credits=1))
        sb.set_disksize(inode, size)
        sb.mark_inode_dirty(handle, inode)
        sb.journal.stop(handle)

    @staticmethod
    def ioend_view(ioend) -> IoEndView:
        v = ioend.view
        if v is None:
            v = ioend.view = IoEndView(ioend.start, ioend.end, frozenset(ioend.lblks))
        return v
