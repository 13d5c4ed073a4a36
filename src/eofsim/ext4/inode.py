"""fs/ext4/inode.c: the in-core inode and its two sizes, mark_inode_dirty, ordered data,
EOF-block zeroing, ext4_setattr's size change and ext4_truncate, reading blocks.

i_size is what reads and stat see; i_disksize is what ext4_fill_raw_inode copies into the
journalled raw inode. Designs differ in when i_disksize may grow and how the zeroed EOF
block reaches disk: those decisions go through the policy's hooks (policies/base.py).
"""

from bisect import bisect_left
from operator import itemgetter

from ..content import ZERO, fill, overlay
from ..engine import Completion, Mutex
from ..jbd2 import JI_WAIT_DATA, JI_WRITE_DATA, RawInode
from ..block import Bio, WRITE
from ..mm.filemap import (AddressSpace, filemap_get_folio, filemap_get_folio_nowait,
                          filemap_write_and_wait_range)
from ..mm.page_writeback import WbReason
from ..mm.truncate import pagecache_isize_extended, truncate_pagecache
from ..policies.base import GrowReason
from .extents import DELAYED, HOLE, STATE_NAMES, UNWRITTEN, WRITTEN

LLONG_MAX = (1 << 63) - 1

_LBLK = itemgetter(0)
_PATCH_MAX = 8
"""Inode.extents patches at most this many changed blocks into its last tuple (else sorts)."""


class OpError(Exception):
    """A system call failed the way the kernel fails it (errno / signal name)."""


class Inode:
    __slots__ = ("ino", "name", "i_size", "i_disksize", "map", "disk", "mapping", "i_rwsem",
                 "i_sync_tid", "i_datasync_tid", "dax", "encrypted_nokey", "last_raw",
                 "map_version", "extents_cache", "extents_version", "design", "size_history",
                 "mtime_tick", "buffered_iomap", "nlink", "opens", "da_alloc_close", "evicted",
                 "disk_changed")

    def __init__(self, ino, name):
        self.ino = ino
        self.name = name
        self.i_size = 0
        self.i_disksize = 0
        self.map = {}
        """lblk -> [state, pblk]: the extent tree and extent status tree, one entry a block."""
        self.disk = {}
        """lblk -> (lblk, pblk, unwritten) for blocks the on-disk extent tree maps."""
        self.mapping = None
        self.i_rwsem = None
        self.i_sync_tid = 0
        self.i_datasync_tid = 0
        self.dax = False
        self.encrypted_nokey = False
        self.last_raw = None
        self.map_version = 0
        self.extents_cache = ()
        self.extents_version = -1
        self.disk_changed = set()
        """lblks whose `disk` entry set_state changed since extents_cache was built."""
        self.mtime_tick = -1
        self.design = None
        """The design's per-inode state (an instance of the policy's `InodeState`)."""
        self.size_history = []
        self.buffered_iomap = False
        """ext4_inode_buffered_iomap: the inode uses the iomap buffered I/O path."""
        self.nlink = 1
        """i_nlink: names linking the inode (0: unlinked, an orphan while still open)."""
        self.opens = 0
        """Open file descriptions (struct file) on the inode; the last iput evicts it."""
        self.da_alloc_close = False
        """EXT4_STATE_DA_ALLOC_CLOSE: set by ext4_truncate to size 0 under auto_da_alloc."""
        self.evicted = False

    def extents(self):
        """Mapped blocks as the on-disk extent tree holds them (delayed blocks are not on disk).
        Sorted by lblk (unique: a run's blocks are in neither the map nor `disk`). With a
        plain map every change to `disk` goes through set_state, which notes the block in
        `disk_changed`: a few changed blocks are patched into the previous tuple by
        bisection instead of sorting the whole map again (the same tuple either way)."""
        if self.extents_version != self.map_version:
            changed = self.disk_changed
            disk = self.disk
            if self.map.__class__ is dict and len(changed) <= _PATCH_MAX:
                ext = list(self.extents_cache)
                for lblk in changed:
                    i = len(ext) if not ext or ext[-1][0] < lblk else bisect_left(ext, lblk, key=_LBLK)
                    here = i < len(ext) and ext[i][0] == lblk
                    v = disk.get(lblk)
                    if v is None:
                        if here:
                            del ext[i]
                    elif here:
                        ext[i] = v
                    else:
                        ext.insert(i, v)
                self.extents_cache = tuple(ext)
            elif getattr(self.map, "runs", None):     # extents.ExtentMap's unwritten runs
                ext = list(disk.values())
                ext.extend(self.map.extent_runs())
                self.extents_cache = tuple(sorted(ext, key=_LBLK))
            else:
                self.extents_cache = tuple(sorted(disk.values(), key=_LBLK))
            changed.clear()
            self.extents_version = self.map_version
        return self.extents_cache

    def raw(self, ext=None):
        """ext4_fill_raw_inode: the current i_disksize and extent tree (`ext`: the
        caller's extents() of this moment, not asked for again)."""
        return RawInode(self.ino, self.i_disksize, self.extents() if ext is None else ext,
                        self.nlink)


class Ext4Inode:
    """The inode.c part of the ext4 filesystem object (see ext4/__init__.py)."""

    def new_inode(self, name):
        """ext4_new_inode + ext4_set_aops: the address-space operations are chosen per inode
        (the iomap series' `buffered_iomap` mount option; the buffer_head aops otherwise)."""
        ino = self.next_ino
        self.next_ino += 1
        inode = Inode(ino, name)
        inode.mapping = AddressSpace(self.engine, inode, self.tun)
        inode.mapping.wb = self.wb
        if self.trace:
            inode.mapping.trace = lambda text: self.event("cache", text)
        inode.i_rwsem = Mutex(self.engine, f"i_rwsem {name}", "i_rwsem")
        inode.dax = self.tun.dax
        inode.encrypted_nokey = self.tun.encrypted_nokey
        self.set_aops(inode)
        inode.design = self.policy.InodeState()
        self.inodes[name] = inode
        self.by_ino[ino] = inode
        self.all_inodes.append(inode)
        inode.last_raw = inode.raw()
        inode.size_history.append((self.engine.now, 0, 0))
        return inode

    def set_aops(self, inode):
        """ext4_set_aops: ext4_iomap_aops under buffered_iomap (the series), else
        ext4_da_aops (delalloc) or ext4_aops."""
        inode.buffered_iomap = self.buffered_iomap
        inode.mapping.a_ops = self.iomap_aops if inode.buffered_iomap else self.bh_aops

    def set_i_size(self, inode, size, op):
        if size != inode.i_size:
            inode.i_size = size
            inode.size_history.append((self.engine.now, op, size))
            if self.trace:
                self.event("size", f"{inode.name}: i_size={size}")

    def set_disksize(self, inode, size):
        if size != inode.i_disksize:
            inode.i_disksize = size
            if self.trace:
                self.event("size", f"{inode.name}: i_disksize={size}")

    def grow_disksize(self, handle, inode, new, reason: GrowReason):
        """ext4_update_i_disksize: raise i_disksize toward `new` as far as the design allows."""
        target = self.policy.disksize_target(self.ctx, inode, new, reason)
        if target > inode.i_disksize:
            self.set_disksize(inode, target)

    def mark_inode_dirty(self, handle, inode):
        """ext4_mark_inode_dirty -> ext4_do_update_inode: copy the current raw inode into the
        handle's transaction; a changed size or block map moves i_datasync_tid too.
        Re-logging an unchanged raw inode into the transaction that already holds it copies
        nothing new (the same buffer is dirtied again), so the record is kept as it is."""
        tx = handle.tx
        tid = tx.tid
        inode.i_sync_tid = tid
        last = inode.last_raw
        ext = inode.extents_cache if inode.extents_version == inode.map_version else inode.extents()
        if last is None:
            inode.i_datasync_tid = tid
        elif last.size != inode.i_disksize or (last.extents is not ext and last.extents != ext):
            inode.i_datasync_tid = tid
        elif last.nlink == inode.nlink and tx.raw.get(inode.ino) is last:
            return
        raw = RawInode(inode.ino, inode.i_disksize, ext, inode.nlink)     # inode.raw(ext)
        tx.raw[inode.ino] = raw                                           # journal.log_raw
        inode.last_raw = raw

    def add_ordered(self, handle, inode, start, length, wait_only=False):
        """ext4_jbd2_inode_add_write / ext4_jbd2_inode_add_wait (data=ordered only)."""
        if self.ordered and handle is not None and length > 0:
            flags = JI_WAIT_DATA if wait_only else JI_WRITE_DATA | JI_WAIT_DATA
            self.journal.file_inode(handle, inode, start, start + length - 1, flags)

    def inode_needs_update_time(self, inode):
        """inode_needs_update_time: the coarse clock moved since the inode's last update.
        Callers ask first and run file_update_time only then (most calls need nothing, and
        then no generator is made)."""
        g = self.tun.timestamp_ns
        return bool(g) and self.engine.now // g != inode.mtime_tick

    def file_update_time(self, inode):
        """file_update_time -> generic_update_time -> ext4_dirty_inode: when the coarse clock
        moved since the last update, log the inode in a small handle of its own."""
        if not self.inode_needs_update_time(inode):
            return
        inode.mtime_tick = self.engine.now // self.tun.timestamp_ns
        if self.wb.kernel:
            inode.mapping.mark_inode_dirty()     # __mark_inode_dirty(I_DIRTY_SYNC)
        handle = self.journal.start_nowait(credits=2) or (yield from self.journal.start(credits=2))
        self.mark_inode_dirty(handle, inode)
        self.journal.stop(handle)

    # --- reading blocks ---------------------------------------------------------------------
    def read_folio(self, folio, mask):
        """->read_folio (ext4_mpage_readpages / block_read_full_folio, iomap_read_folio):
        fill not-uptodate blocks of `folio` selected by `mask` from the block map: written
        blocks from the device, everything else zero. Blocks wholly past EOF read as zero."""
        inode = folio.mapping.host
        need = mask & ~folio.uptodate
        first = folio.index * self.bpf
        eof_blk = (inode.i_size + self.bs - 1) >> self.bshift
        did_io = False
        for b in range(self.bpf):
            if not (need >> b) & 1:
                continue
            lblk = first + b
            e = inode.map.get(lblk)
            if e is not None and e[0] == WRITTEN and lblk < eof_blk:
                folio.blocks[b] = self.dev.block(e[1])
                did_io = True
            elif e is None or e[0] != DELAYED:
                folio.blocks[b] = fill(self.bs)
        folio.uptodate |= need
        if did_io:
            yield self.dev.read_latency()

    # --- EOF zeroing ------------------------------------------------------------------------
    def block_zero_range(self, inode, start, length, eof=False):
        """__ext4_block_zero_page_range (inode.c, 6.12.117): zero [start, start+length)
        inside one block in the page cache, dirty it and (data=ordered) order it. A block is
        left alone when its buffer is not mapped after ext4_get_block(..., 0): a hole, and an
        unwritten extent too (ext4_map_blocks returns only EXT4_MAP_UNWRITTEN and
        ext4_update_bh_state replaces the map flags), unless a buffered write or
        ext4_page_mkwrite mapped the buffer (ext4_da_get_block_prep). On the iomap path
        (iomap_zero_iter) an unwritten block is skipped while its folio is clean; a dirty one
        is flushed first (iomap_zero_iter_flush_and_stale) and zeroed once written.
        Returns (did_zero, zero_written): whether anything was zeroed, and whether the block
        was allocated and written when it was zeroed."""
        if length <= 0:
            return False, False
        if inode.dax:
            yield from self.dax_zero_range(inode, start, length)
            return False, False
        lblk = start >> self.bshift
        e = inode.map.get(lblk)
        if e is None:
            return False, False
        m = inode.mapping
        if e[0] == UNWRITTEN:
            cached = m.lookup(start >> self.fshift)
            b = lblk - (start >> self.fshift) * self.bpf
            if inode.buffered_iomap:
                if cached is None or not (cached.dirty or cached.writeback):
                    return False, False
                b0 = lblk << self.bshift
                yield from filemap_write_and_wait_range(m, b0, b0 + self.bs - 1, WbReason.ZERO_EOF)
                e = inode.map.get(lblk)
                if e is None or e[0] == UNWRITTEN:
                    return False, False
            elif cached is None or not (cached.bh_mapped >> b) & 1:
                if self.trace:
                    self.event("cache", f"{inode.name}: block {lblk} unwritten, buffer unmapped: not zeroed")
                return False, False
        i = start >> self.fshift
        folio = filemap_get_folio_nowait(m, i) or (yield from filemap_get_folio(m, i))
        b = lblk - folio.index * self.bpf
        if not (folio.uptodate >> b) & 1:
            yield from self.read_folio(folio, 1 << b)
        self.store(folio, start, start + length, ZERO)
        m.mark_dirty(folio, 1 << b)
        folio.bh_mapped |= 1 << b
        m.unlock(folio)
        if eof:
            self.zeroed.add((inode.ino, lblk))
        if self.trace:
            self.event("cache", f"{inode.name}: zeroed [{start}, {start + length}) in block {lblk} "
                                f"({STATE_NAMES[e[0]]})")
        return True, e[0] == WRITTEN

    def dax_zero_range(self, inode, start, length):
        """dax_zero_range: no page cache; the zeroes go straight to the medium with FUA."""
        e = inode.map.get(start >> self.bshift)
        if e is not None and e[0] == WRITTEN:
            off = start & (self.bs - 1)
            runs = overlay(self.dev.block(e[1]), off, off + length, ZERO)
            done = Completion(self.engine, "dax zero", "dax_io")
            self.dev.submit(Bio(0, WRITE, ((e[1], runs),), why="dax-zero", ino=inode.ino,
                                lblk=start >> self.bshift, fua=True, end_io=lambda b: done.complete()))
            yield from done.wait()

    def block_zero_eof(self, handle, inode, start, end):
        """ext4_block_zero_eof / ext4_block_truncate_page: zero from `start` (the old EOF) to
        the end of its block, capped at `end`; then the design makes that zeroing safe
        (data=ordered: ext4_jbd2_inode_add_write; iomap designs: see policies/). Returns
        whether anything was zeroed."""
        if start & (self.bs - 1) == 0 or end <= start:
            return False
        if inode.encrypted_nokey:
            return False
        length = self.bs - (start & (self.bs - 1))
        if end - start < length:
            length = end - start
        did_zero, written = yield from self.block_zero_range(inode, start, length, eof=True)
        if did_zero:
            self.eof_zeroings[written] += 1
            yield from self.policy.zeroed_eof(self.ctx, handle, inode, start, length, written)
        return did_zero

    def zero_partial_blocks(self, handle, inode, start, length):
        """ext4_zero_partial_blocks: zero the partial head and tail blocks of a range."""
        bs = self.bs
        end = start + length
        if length <= 0:
            return
        head_end = (start | (bs - 1)) + 1
        if end < head_end:
            head_end = end
        if start & (bs - 1) or head_end - start < bs:
            did, _ = yield from self.block_zero_range(inode, start, head_end - start)
            if did:
                self.add_ordered(handle, inode, start, head_end - start)
        if end > head_end and end & (bs - 1):
            tstart = end & ~(bs - 1)
            did, _ = yield from self.block_zero_range(inode, tstart, end - tstart)
            if did:
                self.add_ordered(handle, inode, tstart, end - tstart)

    def zero_gap(self, handle, inode, start, length):
        """ext4_zero_partial_blocks(old_size, gap) from write_end and fallocate: the EOF
        block's part is the EOF zeroing (ext4_block_zero_eof); the tail block is ordinary
        partial zeroing. Returns whether the EOF block was zeroed."""
        bs = self.bs
        head_end = (start | (bs - 1)) + 1
        if start + length < head_end:
            head_end = start + length
        did = False
        if start & (bs - 1):
            did = yield from self.block_zero_eof(handle, inode, start, head_end)
        else:
            head_end = start
        if start + length > head_end:
            yield from self.zero_partial_blocks(handle, inode, head_end, start + length - head_end)
        return did

    # --- ext4_setattr(ATTR_SIZE) and ext4_truncate --------------------------------------------
    def truncate(self, inode, size, op):
        """do_truncate -> ext4_setattr(ATTR_SIZE) and, when shrinking, ext4_truncate.
        ext4_setattr -> fscrypt_prepare_setattr -> fscrypt_require_key refuses a size change
        of an encrypted inode whose key is not loaded (ENOKEY, before anything changes); the
        early return in ext4_block_truncate_page is for orphan cleanup at mount, which runs
        ext4_truncate without a key (not modelled)."""
        if inode.encrypted_nokey:
            raise OpError("ENOKEY")
        if not inode.i_rwsem.trylock():       # inode_lock: down_write's fast path
            yield from inode.i_rwsem.lock()
        try:
            yield from self.setattr_size(inode, size, op)
        finally:
            inode.i_rwsem.unlock()

    def setattr_size(self, inode, size, op):
        old = inode.i_size
        if size == old:
            # ext4_setattr calls ext4_truncate even when the size does not change; of what
            # that does, the model keeps only EXT4_STATE_DA_ALLOC_CLOSE at size 0 (an
            # O_TRUNC open of an empty file arms auto_da_alloc on close too). Assumption:
            # the rest (a handle that re-zeroes the EOF block's tail) is left out.
            if size == 0 and self.tun.auto_da_alloc:
                inode.da_alloc_close = True
            return
        shrink = size < old
        pol, ctx = self.policy, self.ctx
        if shrink:
            yield from pol.begin_truncate(ctx, inode, size)
        iomap = inode.buffered_iomap

        if not shrink and iomap:
            # 2026 refactor: zeroing moves outside the transaction on the iomap path.
            zeroed = yield from self.block_zero_eof(None, inode, old, size)
            yield from pol.before_grow(ctx, inode, size, GrowReason.SETATTR, zeroed)
        handle = self.journal.start_nowait(credits=3) or (yield from self.journal.start(credits=3))
        if not shrink and not iomap:
            # ext4_setattr -> ext4_block_truncate_page(handle, mapping, oldsize) (6.12.117):
            # to the end of the old EOF block, not capped at the new size (that cap is the
            # 2026 ext4_block_zero_eof, the iomap designs' path above).
            yield from self.block_zero_eof(handle, inode, old, LLONG_MAX)
        if shrink:
            self.set_disksize(inode, pol.shrink_disksize(ctx, inode, size))
            # ext4_setattr: a shrinking truncate puts the inode on the orphan list in the
            # size-changing handle, so a crash before ext4_truncate frees the blocks past
            # the new size leaves ext4_orphan_cleanup to finish it.
            if inode.nlink:
                self.orphan_add(handle, inode)
        else:
            self.grow_disksize(handle, inode, size, GrowReason.SETATTR)
        self.mark_inode_dirty(handle, inode)
        self.set_i_size(inode, size, op)
        self.journal.stop(handle)
        if not shrink:
            yield from pagecache_isize_extended(inode.mapping, old, size)
        yield from truncate_pagecache(inode.mapping, size)
        if shrink:
            yield from self.ext4_truncate(inode, size)
            pol.truncated(ctx, inode, size)
        if self.wb.kernel:
            inode.mapping.mark_inode_dirty()     # ext4_setattr's closing mark_inode_dirty

    def ext4_truncate(self, inode, size):
        """ext4_truncate: zero the new EOF block's tail (ext4_block_truncate_page, ordered) and
        free the blocks past it (ext4_ext_truncate), in one handle, which also takes the
        inode off the orphan list (ext4_orphan_del when i_nlink). On the iomap path the
        zeroing runs before the handle (2026 refactor: no zeroing inside transactions).
        A truncate to size 0 under auto_da_alloc sets EXT4_STATE_DA_ALLOC_CLOSE, so that
        ext4_release_file allocates the delayed blocks of a rewrite on close."""
        if size == 0 and self.tun.auto_da_alloc:
            inode.da_alloc_close = True
        iomap = inode.buffered_iomap
        if iomap and size & (self.bs - 1):
            yield from self.block_zero_eof(None, inode, size, LLONG_MAX)
        handle = self.journal.start_nowait(credits=8) or (yield from self.journal.start(credits=8))
        if not iomap and size & (self.bs - 1):
            yield from self.block_zero_eof(handle, inode, size, LLONG_MAX)
        keep = (size + self.bs - 1) >> self.bshift
        for lblk in [l for l in inode.map if l >= keep]:
            self.set_state(inode, lblk, HOLE)
        self.remove_runs(inode, keep, LLONG_MAX)
        if inode.nlink:
            # ext4_truncate's own ext4_orphan_add/ext4_orphan_del pair in this handle:
            # a file that stays linked leaves the orphan list here.
            self.orphan_del(handle, inode)
        self.mark_inode_dirty(handle, inode)
        self.journal.stop(handle)


__all__ = ["Ext4Inode", "Inode", "OpError", "LLONG_MAX", "HOLE", "DELAYED", "UNWRITTEN", "WRITTEN"]
