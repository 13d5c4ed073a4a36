"""fs/ext4/file.c and the write/fault entry points: ext4_buffered_write_iter (buffer_head:
ext4_da_write_begin/ext4_da_do_write_end, or ext4_write_begin/ext4_write_end with
nodelalloc; iomap: ext4_write_checks' EOF zeroing, then iomap_file_buffered_write),
ext4_page_mkwrite for shared-mapping stores, and reads."""

from ..content import fill, overlay
from ..mm.filemap import filemap_get_folio, filemap_get_folio_nowait, filemap_read
from ..mm.truncate import pagecache_isize_extended
from ..policies.base import GrowReason
from .extents import DELAYED, UNWRITTEN, WRITTEN
from .inode import OpError


class Ext4File:
    """The file.c part of the ext4 filesystem object (see ext4/__init__.py)."""

    def write(self, inode, off, length, op):
        """ext4_buffered_write_iter -> generic_perform_write / iomap_file_buffered_write."""
        if not inode.i_rwsem.trylock():       # inode_lock: down_write's fast path
            yield from inode.i_rwsem.lock()
        try:
            if self.inode_needs_update_time(inode):
                yield from self.file_update_time(inode)
            old_size = inode.i_size
            iomap = inode.buffered_iomap
            if iomap and off > old_size:
                # ext4_write_checks (2026 refactor): zero the old EOF block before the copy.
                yield from self.block_zero_eof(None, inode, old_size, off)
            pos, end = off, off + length
            first = True
            while pos < end:
                idx = pos >> self.fshift
                fend = (idx + 1) << self.fshift
                if end < fend:
                    fend = end
                if iomap:
                    yield from self.iomap_write_folio(inode, idx, pos, fend, op)
                else:
                    yield from self.bh_write_folio(inode, idx, pos, fend, op, old_size if first else None)
                first = False
                pos = fend
            if off > old_size:
                yield from pagecache_isize_extended(inode.mapping, old_size, off)
        finally:
            inode.i_rwsem.unlock()

    def write_begin_blocks(self, inode, folio, pos, fend, handle):
        """The block-mapping half of write_begin for the blocks of `folio` that [pos, fend)
        touches: ext4_da_map_blocks -> ext4_insert_delayed_block for holes under delalloc
        (and on the iomap path, ext4_iomap_buffered_write_begin), ext4_map_blocks(CREATE)
        under nodelalloc; partial blocks not uptodate are read first."""
        bs = self.bs
        idx = folio.index
        nodelalloc = handle is not None
        mask = self.block_mask(folio, pos, fend)
        base = idx << self.fshift
        for b in range(self.bpf):
            if not (mask >> b) & 1:
                continue
            lblk = idx * self.bpf + b
            bstart = base + b * bs
            partial = pos > bstart or fend < bstart + bs
            e = inode.map.get(lblk)
            if e is None:
                if nodelalloc:
                    # ext4_map_blocks(CREATE): a written block, on the ordered list when new.
                    self.set_state(inode, lblk, WRITTEN, self.alloc())
                    self.add_ordered(handle, inode, bstart, bs)
                else:
                    self.set_state(inode, lblk, DELAYED)
                folio.blocks[b] = fill(bs)
                folio.uptodate |= 1 << b
            elif nodelalloc and e[0] == UNWRITTEN:
                # ext4_get_block(create) over an unwritten extent converts it (EXT4_MAP_NEW:
                # ordered, and the buffer is new, so the block starts as zeroes in the cache).
                self.set_state(inode, lblk, WRITTEN)
                self.add_ordered(handle, inode, bstart, bs)
                if not (folio.uptodate >> b) & 1:
                    folio.blocks[b] = fill(bs)
                    folio.uptodate |= 1 << b
            elif not (folio.uptodate >> b) & 1:
                if partial:
                    yield from self.read_folio(folio, 1 << b)
                else:
                    folio.uptodate |= 1 << b
        # ext4_da_get_block_prep / ext4_get_block(create) map every buffer written to.
        folio.bh_mapped |= mask
        return mask

    def bh_write_folio(self, inode, idx, pos, fend, op, old_size):
        """One folio of generic_perform_write on the buffer_head aops: write_begin, copy,
        write_end (ext4_da_do_write_end / ext4_write_end: i_size, conditional i_disksize,
        and ext4_zero_partial_blocks(old_size, pos - old_size) after the copy)."""
        m = inode.mapping
        nodelalloc = not self.delalloc
        handle = None
        if nodelalloc:
            # ext4_write_begin starts the handle before locking the folio.
            handle = (self.journal.start_nowait(credits=4)
                      or (yield from self.journal.start(credits=4)))
        folio = filemap_get_folio_nowait(m, idx) or (yield from filemap_get_folio(m, idx))
        mask = yield from self.write_begin_blocks(inode, folio, pos, fend, handle)
        self.store(folio, pos, fend, op)
        m.mark_dirty(folio, mask)
        disksize_changed = False
        if fend > inode.i_size:
            self.set_i_size(inode, fend, op)
            if nodelalloc:
                # ext4_write_end -> ext4_update_inode_size raises both sizes.
                self.grow_disksize(handle, inode, fend, GrowReason.WRITE_END)
                disksize_changed = True
            else:
                last = inode.map.get((fend - 1) >> self.bshift)
                if last is not None and last[0] == WRITTEN:   # ext4_da_should_update_i_disksize
                    self.grow_disksize(None, inode, fend, GrowReason.WRITE_END)
                    disksize_changed = True
        m.unlock(folio)
        zero_len = pos - old_size if old_size is not None and pos > old_size else 0
        if handle is None and (disksize_changed or zero_len):
            handle = (self.journal.start_nowait(credits=2)
                      or (yield from self.journal.start(credits=2)))
        if zero_len:
            yield from self.zero_gap(handle, inode, old_size, zero_len)
        if handle is not None:
            self.mark_inode_dirty(handle, inode)
            self.journal.stop(handle)

    def iomap_write_folio(self, inode, idx, pos, fend, op):
        """One folio of iomap_write_iter: ->iomap_begin reserves delayed blocks
        (ext4_iomap_buffered_write_begin), copy, iomap_write_end raises i_size only:
        i_disksize moves at I/O completion (v4 09/23)."""
        m = inode.mapping
        folio = filemap_get_folio_nowait(m, idx) or (yield from filemap_get_folio(m, idx))
        mask = yield from self.write_begin_blocks(inode, folio, pos, fend, None)
        self.store(folio, pos, fend, op)
        m.mark_dirty(folio, mask)
        if fend > inode.i_size:
            self.set_i_size(inode, fend, op)
        m.unlock(folio)

    # --- folio content ----------------------------------------------------------------------
    def store(self, folio, start, end, src):
        """Copy data into the folio (copy_folio_from_iter / an mmap store), block by block.
        If the folio is under writeback the in-flight bio may carry either version
        (no stable pages: folio_wait_stable does not wait), which the bio records.
        (Here and on the other per-folio and per-block paths, bounds are clipped with a
        comparison, not min()/max(): a builtin call costs about ten times as much.)"""
        bs = self.bs
        base = folio.index << self.fshift
        pos = start
        while pos < end:
            b = (pos - base) // bs
            bstart = base + b * bs
            e = bstart + bs
            if end < e:
                e = end
            folio.blocks[b] = overlay(folio.blocks[b], pos - bstart, e - bstart, src)
            pos = e
        if folio.writeback:
            self.racing_store(folio)

    def block_mask(self, folio, start, end):
        """Bitmask of folio blocks overlapping file bytes [start, end)."""
        base = folio.index << self.fshift
        s = (start if start > base else base) - base
        e = base + self.fsize
        e = (end if end < e else e) - base
        if e <= s:
            return 0
        b0, b1 = s >> self.bshift, (e - 1) >> self.bshift
        return ((1 << (b1 + 1)) - 1) & ~((1 << b0) - 1)

    # --- mmap -------------------------------------------------------------------------------
    def mmap_limit(self, inode):
        """End of the EOF page: filemap_fault raises SIGBUS for a page wholly past i_size."""
        return (inode.i_size + self.fsize - 1) & ~(self.fsize - 1)

    def mwrite(self, inode, off, length, op):
        """A store through a shared mapping: filemap_fault, then ext4_page_mkwrite on the first
        store after the folio was cleaned (it maps the blocks inside i_size and dirties the
        folio); stores may land past i_size inside the EOF page. The bytes past the EOF page
        are not stored: the access there raises SIGBUS (as a memcpy would, after the rest)."""
        limit = self.mmap_limit(inode)
        if off + length > limit:
            if off < limit:
                yield from self.mwrite(inode, off, limit - off, op)
            raise OpError("SIGBUS")
        m = inode.mapping
        pos, end = off, off + length
        while pos < end:
            idx = pos >> self.fshift
            fend = (idx + 1) << self.fshift
            if end < fend:
                fend = end
            folio = filemap_get_folio_nowait(m, idx) or (yield from filemap_get_folio(m, idx))
            if folio.uptodate != (1 << self.bpf) - 1:
                yield from self.read_folio(folio, ((1 << self.bpf) - 1) & ~folio.uptodate)
            if not folio.mkwrite:
                yield from self.page_mkwrite(inode, folio)
            self.store(folio, pos, fend, op)
            m.unlock(folio)
            pos = fend

    def page_mkwrite(self, inode, folio):
        """ext4_page_mkwrite (iomap: the series' iomap_page_mkwrite with delalloc): with the
        folio locked on entry and exit, file_update_time first (folio unlocked there), then
        map the blocks inside i_size (delalloc reservation, or an allocation with nodelalloc
        on the buffer_head path) and dirty the folio."""
        m = inode.mapping
        idx = folio.index
        m.unlock(folio)
        if self.inode_needs_update_time(inode):
            yield from self.file_update_time(inode)
        yield from m.lock(folio)
        base = idx << self.fshift
        eof = base + self.fsize
        if inode.i_size < eof:
            eof = inode.i_size
        inside = self.block_mask(folio, base, eof)
        for b in range(self.bpf):
            lblk = idx * self.bpf + b
            if (inside >> b) & 1 and lblk not in inode.map:
                if self.delalloc or inode.buffered_iomap:
                    self.set_state(inode, lblk, DELAYED)
                else:
                    handle = (self.journal.start_nowait(credits=4)
                              or (yield from self.journal.start(credits=4)))
                    self.set_state(inode, lblk, WRITTEN, self.alloc())
                    self.add_ordered(handle, inode, (lblk << self.bshift), self.bs)
                    self.mark_inode_dirty(handle, inode)
                    self.journal.stop(handle)
        m.mark_dirty(folio, inside)
        folio.bh_mapped |= inside      # block_page_mkwrite maps the buffers inside i_size
        folio.mkwrite = True

    def mread(self, inode, off, length):
        """A load through a shared mapping: the whole EOF page is visible, past i_size too.
        Callers clip at mmap_limit() (past it: SIGBUS)."""
        return (yield from filemap_read(inode.mapping, off, off + length))

    def read(self, inode, off, length):
        """ext4_file_read_iter -> filemap_read: bytes up to i_size."""
        end = off + length
        if inode.i_size < end:
            end = inode.i_size
        if end <= off:
            return ()
        return (yield from filemap_read(inode.mapping, off, end))
