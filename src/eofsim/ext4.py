"""ext4: inode sizes, the block map, the operations users call, and both writeback paths
(fs/ext4/inode.c, extents.c, fsync.c, page-io.c, file.c; the 2026 iomap series).

Where designs differ, the code calls the policy (policies/base.py names each hook). The
buffer_head path (`path == "bh"`) follows Linux 6.12; the iomap path follows the ext4
buffered-iomap series (v4 and later) and fs/iomap/buffered-io.c.
"""

from .block import Bio, WRITE, FLUSH
from .content import ZERO, fill, overlay, cut, paste
from .engine import Completion, Mutex, WaitQueue
from .jbd2 import JI_WAIT_DATA, JI_WRITE_DATA, Journal, RawInode
from .mm import (WB_SYNC_ALL, WB_SYNC_NONE, AddressSpace, WritebackControl,
                 filemap_fdatawait_range, filemap_write_and_wait_range)

HOLE, DELAYED, UNWRITTEN, WRITTEN = 0, 1, 2, 3
STATE_NAMES = ("hole", "delayed", "unwritten", "written")
LLONG_MAX = (1 << 63) - 1
DATA_BASE = 1 << 20
"""First data block number (block bitmap start); everything below is metadata."""


class OpError(Exception):
    """A system call failed the way the kernel fails it (errno / signal name)."""


class Inode:
    __slots__ = ("ino", "name", "i_size", "i_disksize", "map", "disk", "mapping", "i_rwsem",
                 "i_sync_tid", "i_datasync_tid", "dax", "encrypted_nokey", "last_raw",
                 "map_version", "_extents", "_extents_version", "pstate", "size_history",
                 "mtime_tick")

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
        self._extents = ()
        self._extents_version = -1
        self.mtime_tick = -1
        self.pstate = {}
        """Per-inode state a policy keeps (e.g. the v5+ DISKSIZE_GROW_PENDING bit)."""
        self.size_history = []

    def extents(self):
        """Mapped blocks as the on-disk extent tree holds them (delayed blocks are not on disk)."""
        if self._extents_version != self.map_version:
            self._extents = tuple(sorted(self.disk.values()))
            self._extents_version = self.map_version
        return self._extents

    def raw(self):
        """ext4_fill_raw_inode: the current i_disksize and extent tree."""
        return RawInode(self.ino, self.i_disksize, self.extents())


class Ext4:
    def __init__(self, engine, dev, tun, policy, trace=False):
        self.engine = engine
        self.dev = dev
        self.tun = tun
        self.policy = policy
        self.bs = tun.block_size
        self.fsize = tun.folio_size
        self.bpf = tun.folio_size // tun.block_size
        self.fshift = tun.folio_size.bit_length() - 1
        self.bshift = tun.block_size.bit_length() - 1
        self.trace = trace
        self.events = []
        self.inodes = {}
        self.by_ino = {}
        self.next_pblk = DATA_BASE
        self.ordered = policy.path == "bh" and policy.data_mode == "ordered"
        self.delalloc = tun.delalloc
        # ext4_should_dioread_nolock: off without delalloc; the iomap path forces it on.
        self.dioread_nolock = policy.path == "iomap" or (tun.dioread_nolock and tun.delalloc)
        self.journal = Journal(engine, dev, tun, self._submit_inode_data, self.event)
        self.endio_queue = []
        self.endio_kick = WaitQueue(engine, "end-I/O worker idle", "endio_idle", idle=True)
        self.endio_workers = [engine.spawn("ext4-endio" if tun.endio_workers == 1 else f"ext4-endio/{i}",
                                           self._endio_worker(), kind="daemon")
                              for i in range(tun.endio_workers)]
        # Whoever will end a queued folio's writeback, for the wait-for graph: with several
        # workers any of them may, so no single owner is named (stalls still show at the end).
        self.endio_worker = self.endio_workers[0] if tun.endio_workers == 1 else None
        self.rng = engine.rng
        self.inflight = {}
        """(ino, lblk) -> the data bio in flight for it (for stores racing with writeback)."""
        self.max_bio_blocks = max(1, tun.max_bio_bytes // tun.block_size)
        self.writeback_calls = {}
        """->writepages invocations by reason (kupdate, fsync, zero-eof, jbd2 ordered, ...)."""
        self.zeroed = set()
        """(ino, lblk) of EOF blocks zeroed and not yet written: their next write is a
        zero-block I/O in the I/O-cost figures."""

    # --- bookkeeping -------------------------------------------------------------------------
    def event(self, lane, text):
        if self.trace:
            self.events.append((self.engine.now, lane, text))

    def new_inode(self, name):
        ino = 12 + len(self.inodes)
        inode = Inode(ino, name)
        inode.mapping = AddressSpace(self.engine, inode, self.tun)
        if self.trace:
            inode.mapping.trace = lambda text: self.event("cache", text)
        inode.i_rwsem = Mutex(self.engine, f"i_rwsem {name}", "i_rwsem")
        inode.dax = self.tun.dax
        inode.encrypted_nokey = self.tun.encrypted_nokey
        self.inodes[name] = inode
        self.by_ino[ino] = inode
        inode.last_raw = inode.raw()
        inode.size_history.append((self.engine.now, 0, 0))
        return inode

    def alloc(self, n=1):
        """The block allocator. Assumption: blocks freed during a scenario are never reused,
        so stale contents can only be pre-scenario garbage (the device fill / plants)."""
        p = self.next_pblk
        self.next_pblk += n
        return p

    def set_state(self, inode, lblk, state, pblk=None):
        e = inode.map.get(lblk)
        old = HOLE if e is None else e[0]
        if state == HOLE:
            inode.map.pop(lblk, None)
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

    def set_i_size(self, inode, size, op):
        if size != inode.i_size:
            inode.i_size = size
            inode.size_history.append((self.engine.now, op, size))
            self.event("size", f"{inode.name}: i_size={size}")

    def set_disksize(self, inode, size):
        if size != inode.i_disksize:
            inode.i_disksize = size
            self.event("size", f"{inode.name}: i_disksize={size}")

    def mark_inode_dirty(self, handle, inode):
        """ext4_mark_inode_dirty -> ext4_do_update_inode: copy the current raw inode into the
        handle's transaction; a changed size or block map moves i_datasync_tid too."""
        raw = inode.raw()
        tid = handle.tx.tid
        self.journal.log_raw(handle, raw)
        inode.i_sync_tid = tid
        last = inode.last_raw
        if last is None or last.size != raw.size or last.extents != raw.extents:
            inode.i_datasync_tid = tid
        inode.last_raw = raw

    def add_ordered(self, handle, inode, start, length, wait_only=False):
        """ext4_jbd2_inode_add_write / ext4_jbd2_inode_add_wait (data=ordered only)."""
        if self.ordered and handle is not None and length > 0:
            flags = JI_WAIT_DATA if wait_only else JI_WRITE_DATA | JI_WAIT_DATA
            self.journal.file_inode(handle, inode, start, start + length - 1, flags)

    # --- folio content helpers ----------------------------------------------------------------
    def read_blocks(self, folio, mask):
        """Fill not-uptodate blocks of `folio` selected by `mask` from the block map
        (ext4_mpage_readpages / block_read_full_folio): written blocks from the device,
        everything else zero. Blocks wholly past EOF read as zero."""
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

    def get_folio(self, inode, index, lock=True):
        """__filemap_get_folio(FGP_LOCK|FGP_CREAT): a new folio starts with no block uptodate."""
        m = inode.mapping
        f = m.lookup(index)
        if f is None:
            f = m.create(index)
            f.uptodate = 0
        if lock:
            yield from m.lock(f)
        return f

    def store(self, folio, start, end, src):
        """Copy data into the folio (copy_folio_from_iter / an mmap store), block by block.
        If the folio is under writeback the in-flight bio may carry either version
        (no stable pages: folio_wait_stable does not wait), which the bio records."""
        bs = self.bs
        base = folio.index << self.fshift
        pos = start
        while pos < end:
            b = (pos - base) // bs
            bstart = base + b * bs
            e = min(end, bstart + bs)
            folio.blocks[b] = overlay(folio.blocks[b], pos - bstart, e - bstart, src)
            pos = e
        if folio.writeback:
            self._racing_store(folio)

    def _racing_store(self, folio):
        inode = folio.mapping.host
        first = folio.index * self.bpf
        for b in range(self.bpf):
            bio = self.inflight.get((inode.ino, first + b))
            if bio is not None and bio.complete_ns is None:
                e = inode.map.get(first + b)
                if e is not None:
                    bio.racing = bio.racing + ((e[1], folio.blocks[b], self.engine.now),)

    def block_mask(self, folio, start, end):
        """Bitmask of folio blocks overlapping file bytes [start, end)."""
        base = folio.index << self.fshift
        s = max(start, base) - base
        e = min(end, base + self.fsize) - base
        if e <= s:
            return 0
        b0, b1 = s >> self.bshift, (e - 1) >> self.bshift
        return ((1 << (b1 + 1)) - 1) & ~((1 << b0) - 1)

    # --- EOF zeroing ----------------------------------------------------------------------------
    def block_zero_range(self, handle, inode, start, length, op, eof=False):
        """__ext4_block_zero_page_range: zero [start, start+length) inside one block in the page
        cache. A hole is left alone. Returns (did_zero, zero_written): whether anything was
        zeroed, and whether the block was allocated and written when it was zeroed."""
        if length <= 0:
            return False, False
        if inode.dax:
            # dax_zero_range: no page cache; the zeroes go straight to the medium.
            e = inode.map.get(start >> self.bshift)
            if e is not None and e[0] == WRITTEN:
                off = start & (self.bs - 1)
                runs = overlay(self.dev.block(e[1]), off, off + length, ZERO)
                done = Completion(self.engine, "dax zero", "dax_io")
                self.dev.submit(Bio(0, WRITE, ((e[1], runs),), why="dax-zero", ino=inode.ino,
                                    lblk=start >> self.bshift, fua=True, end_io=lambda b: done.complete()))
                yield from done.wait()
            return False, False
        lblk = start >> self.bshift
        e = inode.map.get(lblk)
        if e is None:
            return False, False
        m = inode.mapping
        folio = yield from self.get_folio(inode, start >> self.fshift)
        b = lblk - folio.index * self.bpf
        if not (folio.uptodate >> b) & 1:
            yield from self.read_blocks(folio, 1 << b)
        self.store(folio, start, start + length, ZERO)
        m.mark_dirty(folio, 1 << b)
        m.unlock(folio)
        if eof:
            self.zeroed.add((inode.ino, lblk))
        self.event("cache", f"{inode.name}: zeroed [{start}, {start + length}) in block {lblk} "
                            f"({STATE_NAMES[e[0]]})")
        return True, e[0] == WRITTEN

    def block_zero_eof(self, handle, inode, start, end, op):
        """ext4_block_zero_eof / ext4_block_truncate_page: zero from `start` (the old EOF) to the
        end of its block, capped at `end`; then the policy makes that zeroing safe
        (data=ordered: ext4_jbd2_inode_add_write; iomap designs: see policies/)."""
        if start & (self.bs - 1) == 0 or end <= start:
            return
        if inode.encrypted_nokey:
            return
        length = min(end - start, self.bs - (start & (self.bs - 1)))
        did_zero, written = yield from self.block_zero_range(handle, inode, start, length, op, eof=True)
        if did_zero:
            yield from self.policy.zeroed_eof(self, handle, inode, start, length, written)

    def zero_partial_blocks(self, handle, inode, start, length, op):
        """ext4_zero_partial_blocks: zero the partial head and tail blocks of a range."""
        bs = self.bs
        end = start + length
        if length <= 0:
            return
        head_end = min(end, (start | (bs - 1)) + 1)
        if start & (bs - 1) or head_end - start < bs:
            did, written = yield from self.block_zero_range(handle, inode, start, head_end - start, op)
            if did:
                self.add_ordered(handle, inode, start, head_end - start)
        if end > head_end and end & (bs - 1):
            tstart = end & ~(bs - 1)
            did, written = yield from self.block_zero_range(handle, inode, tstart, end - tstart, op)
            if did:
                self.add_ordered(handle, inode, tstart, end - tstart)

    def grow_disksize(self, handle, inode, new, why):
        """Raise i_disksize toward `new` as far as the policy allows (ext4_update_i_disksize)."""
        target = self.policy.disksize_target(self, inode, new, why)
        if target > inode.i_disksize:
            self.set_disksize(inode, target)

    def file_update_time(self, inode):
        """file_update_time -> generic_update_time -> ext4_dirty_inode: when the coarse clock
        moved since the last update, log the inode in a small handle of its own."""
        g = self.tun.timestamp_ns
        if not g:
            return
        tick = self.engine.now // g
        if tick == inode.mtime_tick:
            return
        inode.mtime_tick = tick
        handle = yield from self.journal.start(credits=2)
        self.mark_inode_dirty(handle, inode)
        self.journal.stop(handle)

    def pagecache_isize_extended(self, inode, start, end):
        """pagecache_isize_extended (mm/truncate.c): when blocks are smaller than a page and the
        size grew past the EOF folio's last mapped block, write-protect that folio
        (folio_mkclean) so the next mmap store faults into page_mkwrite and maps the blocks."""
        bs = self.bs
        if start >= end or bs >= self.fsize:
            return
        rounded = (start + bs - 1) & ~(bs - 1)
        if end <= rounded or not rounded & (self.fsize - 1):
            return
        m = inode.mapping
        folio = m.lookup(start >> self.fshift)
        if folio is None:
            return
        yield from m.lock(folio)
        if folio.mkwrite:
            folio.mkwrite = False
            m.mark_dirty(folio, 0)
        m.unlock(folio)

    # --- buffered write ------------------------------------------------------------------------
    def write(self, inode, off, length, op, mmap=False):
        """ext4_buffered_write_iter -> generic_perform_write (bh: ext4_da_write_begin /
        ext4_da_do_write_end, or ext4_write_begin / ext4_write_end with nodelalloc; iomap:
        iomap_file_buffered_write)."""
        yield from inode.i_rwsem.lock()
        try:
            yield from self.file_update_time(inode)
            old_size = inode.i_size
            if self.policy.path == "iomap" and off > old_size:
                # ext4_write_checks (2026 refactor): zero the old EOF block before the copy.
                yield from self.block_zero_eof(None, inode, old_size, off, op)
            pos, end = off, off + length
            first = True
            while pos < end:
                idx = pos >> self.fshift
                fend = min(end, (idx + 1) << self.fshift)
                yield from self._write_folio(inode, idx, pos, fend, op, old_size if first else None)
                first = False
                pos = fend
            if off > old_size:
                yield from self.pagecache_isize_extended(inode, old_size, off)
        finally:
            inode.i_rwsem.unlock()

    def _write_folio(self, inode, idx, pos, fend, op, old_size):
        m = inode.mapping
        bs = self.bs
        nodelalloc_bh = self.policy.path == "bh" and not self.delalloc
        handle = None
        if nodelalloc_bh:
            # ext4_write_begin starts the handle before locking the folio.
            handle = yield from self.journal.start(credits=4)
        folio = yield from self.get_folio(inode, idx)
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
                if nodelalloc_bh:
                    # ext4_map_blocks(CREATE): a written block, on the ordered list when new.
                    self.set_state(inode, lblk, WRITTEN, self.alloc())
                    self.add_ordered(handle, inode, bstart, bs)
                else:
                    # ext4_da_map_blocks -> ext4_insert_delayed_block (iomap: the same delalloc).
                    self.set_state(inode, lblk, DELAYED)
                folio.blocks[b] = fill(bs)
                folio.uptodate |= 1 << b
            elif nodelalloc_bh and e[0] == UNWRITTEN:
                # ext4_get_block(create) over an unwritten extent converts it (EXT4_MAP_NEW:
                # ordered, and the buffer is new, so the block starts as zeroes in the cache).
                self.set_state(inode, lblk, WRITTEN)
                self.add_ordered(handle, inode, bstart, bs)
                if not (folio.uptodate >> b) & 1:
                    folio.blocks[b] = fill(bs)
                    folio.uptodate |= 1 << b
            elif not (folio.uptodate >> b) & 1:
                if partial:
                    yield from self.read_blocks(folio, 1 << b)
                else:
                    folio.uptodate |= 1 << b
        self.store(folio, pos, fend, op)
        m.mark_dirty(folio, mask)
        new_size = fend
        disksize_changed = False
        if new_size > inode.i_size:
            self.set_i_size(inode, new_size, op)
            if nodelalloc_bh:
                # ext4_write_end -> ext4_update_inode_size raises both sizes.
                self.grow_disksize(handle, inode, new_size, "write_end")
                disksize_changed = True
            elif self.policy.path == "bh":
                last = inode.map.get((new_size - 1) >> self.bshift)
                if last is not None and last[0] == WRITTEN:   # ext4_da_should_update_i_disksize
                    self.grow_disksize(None, inode, new_size, "write_end")
                    disksize_changed = True
        m.unlock(folio)
        if self.policy.path == "iomap":
            return
        zero_len = pos - old_size if old_size is not None and pos > old_size else 0
        if handle is None and (disksize_changed or zero_len):
            handle = yield from self.journal.start(credits=2)
        if zero_len:
            # ext4_da_do_write_end / ext4_write_end: ext4_zero_partial_blocks(old_size, pos - old_size)
            yield from self._zero_gap(handle, inode, old_size, zero_len, op)
        if handle is not None:
            self.mark_inode_dirty(handle, inode)
            self.journal.stop(handle)

    def _zero_gap(self, handle, inode, start, length, op):
        """The EOF block's part of a partial-blocks zeroing goes through the policy
        (it is the EOF zeroing); the tail block is ordinary partial zeroing."""
        bs = self.bs
        head_end = min(start + length, (start | (bs - 1)) + 1)
        if start & (bs - 1):
            yield from self.block_zero_eof(handle, inode, start, head_end, op)
        else:
            head_end = start
        if start + length > head_end:
            yield from self.zero_partial_blocks(handle, inode, head_end, start + length - head_end, op)

    # --- mmap ------------------------------------------------------------------------------------
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
            fend = min(end, (idx + 1) << self.fshift)
            folio = yield from self.get_folio(inode, idx)
            if folio.uptodate != (1 << self.bpf) - 1:
                yield from self.read_blocks(folio, ((1 << self.bpf) - 1) & ~folio.uptodate)
            if not folio.mkwrite:
                # ext4_page_mkwrite: file_update_time first (folio unlocked there).
                m.unlock(folio)
                yield from self.file_update_time(inode)
                yield from m.lock(folio)
                base = idx << self.fshift
                inside = self.block_mask(folio, base, min(inode.i_size, base + self.fsize))
                for b in range(self.bpf):
                    lblk = idx * self.bpf + b
                    if (inside >> b) & 1 and lblk not in inode.map:
                        if self.delalloc or self.policy.path == "iomap":
                            self.set_state(inode, lblk, DELAYED)
                        else:
                            handle = yield from self.journal.start(credits=4)
                            self.set_state(inode, lblk, WRITTEN, self.alloc())
                            self.add_ordered(handle, inode, (lblk << self.bshift), self.bs)
                            self.mark_inode_dirty(handle, inode)
                            self.journal.stop(handle)
                m.mark_dirty(folio, inside)
                folio.mkwrite = True
            self.store(folio, pos, fend, op)
            m.unlock(folio)
            pos = fend

    def mread(self, inode, off, length):
        """A load through a shared mapping: the whole EOF page is visible, past i_size too.
        Callers clip at mmap_limit() (past it: SIGBUS)."""
        return (yield from self._copy_out(inode, off, off + length))

    # --- read ------------------------------------------------------------------------------------
    def read(self, inode, off, length):
        """filemap_read: bytes up to i_size."""
        end = min(off + length, inode.i_size)
        if end <= off:
            return ()
        return (yield from self._copy_out(inode, off, end))

    def _copy_out(self, inode, start, end):
        runs = fill(end - start, ZERO) if end > start else ()
        pos = start
        full = (1 << self.bpf) - 1
        while pos < end:
            idx = pos >> self.fshift
            fend = min(end, (idx + 1) << self.fshift)
            folio = inode.mapping.lookup(idx)
            if folio is None:
                folio = inode.mapping.create(idx)
                folio.uptodate = 0
            if folio.uptodate != full:
                yield from self.read_blocks(folio, full & ~folio.uptodate)
            base = idx << self.fshift
            p = pos
            while p < fend:
                b = (p - base) >> self.bshift
                bstart = base + (b << self.bshift)
                e = min(fend, bstart + self.bs)
                runs = paste(runs, p - start, cut(folio.blocks[b], p - bstart, e - bstart))
                p = e
            pos = fend
        return runs

    # --- truncate --------------------------------------------------------------------------------
    def truncate(self, inode, size, op):
        """ext4_setattr(ATTR_SIZE) and, when shrinking, ext4_truncate."""
        yield from inode.i_rwsem.lock()
        try:
            yield from self._setattr_size(inode, size, op)
        finally:
            inode.i_rwsem.unlock()

    def _setattr_size(self, inode, size, op):
        old = inode.i_size
        if size == old:
            return
        shrink = size < old
        if shrink:
            yield from self.policy.begin_truncate(self, inode, size)
        bh = self.policy.path == "bh"
        if not shrink and not bh:
            # 2026 refactor: zeroing moves outside the transaction on the iomap path.
            yield from self.block_zero_eof(None, inode, old, size, op)
            yield from self.policy.before_grow(self, inode, size, "setattr")
        handle = yield from self.journal.start(credits=3)
        if not shrink and bh:
            yield from self.block_zero_eof(handle, inode, old, size, op)
        if shrink:
            self.set_disksize(inode, self.policy.shrink_disksize(self, inode, size))
        else:
            self.grow_disksize(handle, inode, size, "setattr")
        self.mark_inode_dirty(handle, inode)
        self.set_i_size(inode, size, op)
        self.journal.stop(handle)
        if not shrink:
            yield from self.pagecache_isize_extended(inode, old, size)
        yield from self.truncate_pagecache(inode, size)
        if shrink:
            yield from self._ext4_truncate(inode, size, op)
            self.policy.truncated(self, inode, size)

    def truncate_pagecache(self, inode, size):
        """truncate_pagecache: drop folios past the new size (waiting for their writeback) and
        zero the partial folio's tail in memory without dirtying it."""
        m = inode.mapping
        first = (size + self.fsize - 1) >> self.fshift
        for idx in sorted(i for i in m.folios if i >= first):
            f = m.folios.get(idx)
            if f is None:
                continue
            yield from m.lock(f)
            yield from m.wait_writeback(f)
            m.unlock(f)
        m.remove_from(size)
        if size & (self.fsize - 1):
            m.zero_range_cached(size, first << self.fshift)

    def _ext4_truncate(self, inode, size, op):
        """ext4_truncate: zero the new EOF block's tail (ext4_block_truncate_page, ordered) and
        free the blocks past it (ext4_ext_truncate), in one handle. On the iomap path the
        zeroing runs before the handle (2026 refactor: no zeroing inside transactions)."""
        iomap = self.policy.path == "iomap"
        if iomap and size & (self.bs - 1):
            yield from self.block_zero_eof(None, inode, size, LLONG_MAX, op)
        handle = yield from self.journal.start(credits=8)
        if not iomap and size & (self.bs - 1):
            yield from self.block_zero_eof(handle, inode, size, LLONG_MAX, op)
        keep = (size + self.bs - 1) >> self.bshift
        for lblk in [l for l in inode.map if l >= keep]:
            self.set_state(inode, lblk, HOLE)
        self.mark_inode_dirty(handle, inode)
        self.journal.stop(handle)

    # --- fallocate -------------------------------------------------------------------------------
    def fallocate(self, inode, off, length, mode, op):
        """ext4_fallocate: file_modified, then the mode's own path."""
        yield from inode.i_rwsem.lock()
        try:
            yield from self.file_update_time(inode)
            if mode == "punch_hole":
                yield from self._punch_hole(inode, off, length, op)
            elif mode.startswith("zero_range"):
                yield from self._zero_range(inode, off, length, "keep_size" in mode, op)
            else:
                yield from self._alloc_range(inode, off, length, mode == "keep_size", op)
        finally:
            inode.i_rwsem.unlock()

    def _alloc_range(self, inode, off, length, keep_size, op, convert=False):
        """ext4_do_fallocate -> ext4_alloc_file_blocks: unwritten extents over holes; without
        KEEP_SIZE both sizes grow in the allocating handle and the old EOF block is zeroed
        (ext4_update_inode_size + ext4_zero_partial_blocks(old_size, epos - old_size))."""
        bs = self.bs
        lb0, lb1 = off >> self.bshift, (off + length + bs - 1) >> self.bshift
        new_size = off + length if not keep_size and off + length > inode.i_size else 0
        old_size = inode.i_size
        bh = self.policy.path == "bh"
        if new_size and not bh:
            yield from self.block_zero_eof(None, inode, old_size, new_size, op)
            yield from self.policy.before_grow(self, inode, new_size, "fallocate")
        handle = yield from self.journal.start(credits=8)
        for lblk in range(lb0, lb1):
            e = inode.map.get(lblk)
            if e is None:
                self.set_state(inode, lblk, UNWRITTEN, self.alloc())
            elif convert and e[0] == WRITTEN:
                self.set_state(inode, lblk, UNWRITTEN)
        if new_size:
            self.set_i_size(inode, new_size, op)
            self.grow_disksize(handle, inode, new_size, "fallocate")
            if bh and new_size > old_size:
                yield from self._zero_gap(handle, inode, old_size, new_size - old_size, op)
        self.mark_inode_dirty(handle, inode)
        inode.i_datasync_tid = handle.tx.tid
        self.journal.stop(handle)
        if new_size > old_size:
            yield from self.pagecache_isize_extended(inode, old_size, new_size)

    def _update_disksize_before_punch(self, inode, off, length):
        """ext4_update_disksize_before_punch: a size waiting for delalloc writeback is made
        on-disk before the page cache of the range is dropped. Skipped for policies with
        punch_logs_disksize False (XFS: xfs_free_file_space logs no size)."""
        if not getattr(self.policy, "punch_logs_disksize", True):
            return
        size = min(inode.i_size, off + length)
        if size <= inode.i_disksize:
            return
        handle = yield from self.journal.start(credits=1)
        self.set_disksize(inode, size)
        self.mark_inode_dirty(handle, inode)
        self.journal.stop(handle)

    def _punch_hole(self, inode, off, length, op):
        """ext4_punch_hole (6.12): write back the range, raise i_disksize, drop the cache,
        zero partial blocks (ordered), remove whole blocks. i_size never changes."""
        if off >= inode.i_size:
            return
        if off + length > inode.i_size:
            length = ((inode.i_size + self.fsize - 1) & ~(self.fsize - 1)) - off
        end = off + length
        m = inode.mapping
        yield from filemap_write_and_wait_range(self, m, off, end - 1, "punch")
        yield from self._update_disksize_before_punch(inode, off, length)
        yield from self._drop_cache_range(inode, off, end)
        handle = yield from self.journal.start(credits=8)
        yield from self.zero_partial_blocks(handle, inode, off, length, op)
        for lblk in range((off + self.bs - 1) >> self.bshift, end >> self.bshift):
            if lblk in inode.map:
                self.set_state(inode, lblk, HOLE)
        self.mark_inode_dirty(handle, inode)
        inode.i_datasync_tid = handle.tx.tid
        self.journal.stop(handle)

    def _drop_cache_range(self, inode, start, end):
        """truncate_pagecache_range: whole folios go (after writeback), partial ones are zeroed."""
        m = inode.mapping
        for idx in m.indices(start, end - 1):
            f = m.folios.get(idx)
            if f is None:
                continue
            yield from m.lock(f)
            yield from m.wait_writeback(f)
            base = idx << self.fshift
            if start <= base and base + self.fsize <= end:
                m.delete(f)
                m.unlock(f)
            else:
                m.unlock(f)
                m.zero_range_cached(max(start, base), min(end, base + self.fsize))

    def _zero_range(self, inode, off, length, keep_size, op):
        """ext4_zero_range (6.12): write back the range, convert the aligned middle to
        unwritten, zero the partial edge blocks, and grow the size unless KEEP_SIZE."""
        end = off + length
        m = inode.mapping
        yield from filemap_write_and_wait_range(self, m, off, end - 1, "zero_range")
        yield from self._update_disksize_before_punch(inode, off, length)
        bs = self.bs
        a0, a1 = (off + bs - 1) & ~(bs - 1), end & ~(bs - 1)
        new_size = end if not keep_size and end > inode.i_size else 0
        old_size = inode.i_size
        if new_size and self.policy.path != "bh":
            yield from self.block_zero_eof(None, inode, old_size, new_size, op)
            yield from self.policy.before_grow(self, inode, new_size, "fallocate")
        if a1 > a0:
            yield from self._drop_cache_range(inode, a0, a1)
        handle = yield from self.journal.start(credits=8)
        for lblk in range(a0 >> self.bshift, a1 >> self.bshift):
            e = inode.map.get(lblk)
            if e is None:
                self.set_state(inode, lblk, UNWRITTEN, self.alloc())
            elif e[0] != UNWRITTEN:
                self.set_state(inode, lblk, UNWRITTEN, e[1] if e[0] != DELAYED else self.alloc())
        if new_size:
            self.set_i_size(inode, new_size, op)
            self.grow_disksize(handle, inode, new_size, "fallocate")
            if self.policy.path == "bh" and old_size < off:
                yield from self._zero_gap(handle, inode, old_size, min(off, new_size) - old_size, op)
        yield from self.zero_partial_blocks(handle, inode, off, length, op)
        self.mark_inode_dirty(handle, inode)
        inode.i_datasync_tid = handle.tx.tid
        self.journal.stop(handle)

    # --- sync family -----------------------------------------------------------------------------
    def fsync(self, inode, datasync):
        """ext4_sync_file: write and wait the file's data, commit i_datasync_tid / i_sync_tid,
        and issue a cache flush if that commit will not send one."""
        yield from self.policy.before_fsync(self, inode)
        yield from filemap_write_and_wait_range(self, inode.mapping, 0, LLONG_MAX, "fsync")
        tid = inode.i_datasync_tid if datasync else inode.i_sync_tid
        needs_barrier = self.tun.barrier and not self.journal.trans_will_send_data_barrier(tid)
        yield from self.journal.complete_transaction(tid)
        if needs_barrier:
            yield from self.issue_flush("fsync")
        return tid

    def issue_flush(self, why):
        """blkdev_issue_flush: an empty PREFLUSH bio, waited for."""
        done = Completion(self.engine, "cache flush", "flush_io")
        self.dev.submit(Bio(0, FLUSH, kind="flush", why=why, end_io=lambda b: done.complete()))
        yield from done.wait()

    def sync_file_range(self, inode, off, length, flags):
        """sync_file_range(2) (fs/sync.c): never commits metadata."""
        end = off + length - 1 if length else LLONG_MAX
        m = inode.mapping
        if "wait_before" in flags:
            yield from filemap_fdatawait_range(m, off, end)
        if "write" in flags:
            mode = WB_SYNC_ALL if len(flags) == 3 else WB_SYNC_NONE
            yield from self.writepages(m, WritebackControl(mode, off, end, reason="sync_file_range"))
        if "wait_after" in flags:
            yield from filemap_fdatawait_range(m, off, end)

    def sync(self):
        """ksys_sync: WB_SYNC_ALL writeback of every inode and wait (sync_inodes_sb), then
        ext4_sync_fs: commit the running transaction, wait, flush if the commit will not."""
        for inode in list(self.inodes.values()):
            yield from filemap_write_and_wait_range(self, inode.mapping, 0, LLONG_MAX, "sync")
            inode.mapping.writeback_done()
        j = self.journal
        # jbd2_journal_start_commit / jbd2_get_latest_transaction: the running transaction,
        # else the one committing, else the last committed.
        tid = j.running.tid if j.running is not None else \
            j.committing.tid if j.committing is not None else j.commit_sequence
        needs_barrier = self.tun.barrier and not j.trans_will_send_data_barrier(tid)
        yield from j.complete_transaction(tid)
        if needs_barrier:
            yield from self.issue_flush("sync")

    # --- writeback -------------------------------------------------------------------------------
    def writepages(self, mapping, wbc):
        """->writepages: ext4_do_writepages (bh) or iomap_writepages (iomap)."""
        if self.policy.path == "bh":
            yield from self._bh_writepages(mapping, wbc)
        else:
            self.policy.writeback_range(self, mapping.host, wbc)
            yield from self.policy.before_writeback(self, mapping.host, wbc)
            yield from self._iomap_writepages(mapping, wbc)

    def _submit_inode_data(self, inode, start, end):
        """ext4_normal_submit_inode_data_buffers: WB_SYNC_ALL over the jinode window with
        can_map = 0 (only already-mapped, written blocks go out)."""
        wbc = WritebackControl(WB_SYNC_ALL, start, end, can_map=False, reason="jbd2 ordered")
        yield from self._bh_writepages(inode.mapping, wbc)

    def _walk(self, mapping, wbc):
        """writeback_iter's order: ascending index from range_start, or range-cyclic from
        mapping->writeback_index wrapping around (the `writeback_order` knob can change it)."""
        order = self.tun.writeback_order
        if wbc.range_cyclic:
            idx = mapping.dirty_indices(0, LLONG_MAX, order, self.rng)
            if order == "index":
                w = mapping.writeback_index
                idx = [i for i in idx if i >= w] + [i for i in idx if i < w]
            return idx
        return mapping.dirty_indices(wbc.range_start, wbc.range_end, order, self.rng)

    def _prepare(self, mapping, folio, wbc):
        """folio_prepare_writeback after folio_lock: skip clean folios; under writeback, skip
        (WB_SYNC_NONE) or wait (WB_SYNC_ALL)."""
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

    def _take_folio(self, mapping, folio, wbc):
        """folio_prepare_writeback, folio_clear_dirty_for_io and the EOF zeroing. Returns the
        bytes of the folio inside EOF with the folio locked, or 0 (nothing to write; the
        folio is unlocked again)."""
        ok = yield from self._prepare(mapping, folio, wbc)
        if not ok:
            return 0
        mapping.clear_dirty_for_io(folio)
        inside = self._zero_past_eof(mapping.host, folio)
        if inside <= 0:
            folio.dirty_mask = 0
            mapping.unlock(folio)
            return 0
        return inside

    def _zero_past_eof(self, inode, folio):
        """ext4_bio_write_folio / iomap_writepage_handle_eof: zero the EOF folio past i_size in
        memory before it goes to disk. Returns the number of bytes of the folio inside EOF."""
        base = folio.index << self.fshift
        inside = inode.i_size - base
        if inside < self.fsize:
            inode.mapping.zero_range_cached(max(inode.i_size, base), base + self.fsize)
        return inside

    def _bh_writepages(self, mapping, wbc):
        """ext4_do_writepages: map delayed blocks (unwritten with dioread_nolock), submit
        (ext4_bio_write_folio), and advance i_disksize after submission
        (mpage_map_and_submit_extent)."""
        inode = mapping.host
        self.writeback_calls[wbc.reason] = self.writeback_calls.get(wbc.reason, 0) + 1
        bs = self.bs
        handle = None
        io = _BioBuilder(self, inode, wbc.reason)
        written = 0
        last_idx = None
        extent_end = None
        try:
            for idx in self._walk(mapping, wbc):
                if written >= wbc.nr_to_write:
                    break
                folio = mapping.lookup(idx)
                if folio is None or not folio.dirty:
                    continue
                needs_map = wbc.can_map and any(
                    (inode.map.get(idx * self.bpf + b) or (WRITTEN,))[0] in (DELAYED, UNWRITTEN)
                    for b in range(self.bpf))
                if needs_map and handle is None:
                    # ext4_journal_start_with_reserve before mpage_prepare_extent_to_map
                    handle = yield from self.journal.start(credits=8)
                inside = yield from self._take_folio(mapping, folio, wbc)
                if not inside:
                    continue
                keep = 0
                submitted = []
                mapped = False
                for b in range(self.bpf):
                    if not (folio.dirty_mask >> b) & 1:
                        continue
                    if b * bs >= inside:
                        continue
                    lblk = idx * self.bpf + b
                    e = inode.map.get(lblk)
                    if e is None:
                        continue
                    st = e[0]
                    if st == DELAYED or (st == UNWRITTEN and not self.dioread_nolock):
                        if not wbc.can_map:
                            keep |= 1 << b
                            continue
                        if st == DELAYED:
                            new_state = UNWRITTEN if self.dioread_nolock else WRITTEN
                            self.set_state(inode, lblk, new_state, self.alloc())
                            if new_state == WRITTEN:
                                self.add_ordered(handle, inode, lblk << self.bshift, bs, wait_only=True)
                        else:
                            # ext4_ext_handle_unwritten_extents converts at writepage time and
                            # sets EXT4_MAP_NEW: the block goes on the ordered list too.
                            self.set_state(inode, lblk, WRITTEN)
                            self.add_ordered(handle, inode, lblk << self.bshift, bs, wait_only=True)
                        mapped = True
                    elif st == UNWRITTEN and not wbc.can_map:
                        keep |= 1 << b
                        continue
                    submitted.append(b)
                if mapped:
                    self.mark_inode_dirty(handle, inode)
                folio.dirty_mask = keep
                if keep:
                    mapping.redirty(folio, keep)
                if submitted:
                    mapping.start_writeback(folio)
                    for b in submitted:
                        io.add(folio, b)
                    written += 1
                    last_idx = idx
                mapping.unlock(folio)
                if needs_map and submitted and handle is not None:
                    if extent_end is not None and idx != extent_end:
                        self._bh_extent_submitted(io, handle, inode, extent_end)
                    extent_end = idx + 1
        finally:
            if extent_end is not None and handle is not None:
                self._bh_extent_submitted(io, handle, inode, extent_end)
            io.submit()
            if handle is not None:
                self.journal.stop(handle)
        if wbc.range_cyclic and last_idx is not None:
            mapping.writeback_index = last_idx + 1

    def _bh_extent_submitted(self, io, handle, inode, next_index):
        """mpage_map_and_submit_extent's tail: once a mapped extent's I/O is submitted,
        i_disksize moves to the start of the next folio (capped at i_size)."""
        io.submit()
        disksize = min(inode.i_size, next_index << self.fshift)
        if disksize > inode.i_disksize:
            self.grow_disksize(handle, inode, disksize, "writeback")
            self.mark_inode_dirty(handle, inode)

    def _iomap_writepages(self, mapping, wbc):
        """iomap_writepages -> iomap_writepage_map: per folio, zero past EOF, map each dirty
        block (->map_blocks: delayed blocks become unwritten, in a handle taken with the folio
        locked), and add it to an ioend cut at the EOF sampled now."""
        inode = mapping.host
        self.writeback_calls[wbc.reason] = self.writeback_calls.get(wbc.reason, 0) + 1
        bs = self.bs
        io = _BioBuilder(self, inode, wbc.reason, iomap=True)
        written = 0
        last_idx = None
        try:
            for idx in self._walk(mapping, wbc):
                if written >= wbc.nr_to_write:
                    break
                folio = mapping.lookup(idx)
                if folio is None or not folio.dirty:
                    continue
                inside = yield from self._take_folio(mapping, folio, wbc)
                if not inside:
                    continue
                blocks = []
                for b in range(self.bpf):
                    if (folio.dirty_mask >> b) & 1 and b * bs < inside:
                        lblk = idx * self.bpf + b
                        e = inode.map.get(lblk)
                        if e is None:
                            continue
                        if e[0] == DELAYED:
                            handle = yield from self.journal.start(credits=8)
                            self.set_state(inode, lblk, UNWRITTEN, self.alloc())
                            self.mark_inode_dirty(handle, inode)
                            self.journal.stop(handle)
                        blocks.append(b)
                folio.dirty_mask = 0
                if blocks:
                    mapping.start_writeback(folio)
                    for b in blocks:
                        io.add(folio, b, eof=inode.i_size)
                    written += 1
                    last_idx = idx
                mapping.unlock(folio)
        finally:
            io.submit()
        if wbc.range_cyclic and last_idx is not None:
            mapping.writeback_index = last_idx + 1

    # --- I/O completion -----------------------------------------------------------------------
    def _end_bio(self, ioend):
        """Bio completion in interrupt context: end writeback at once, or defer to the
        end-I/O worker when extents must be converted or the size moved
        (ext4_end_bio -> ext4_put_io_end_defer; xfs_prepare_ioend's rule on the iomap path)."""
        inode = ioend.inode
        for key in ioend.keys:
            if self.inflight.get(key) is ioend.bio:
                del self.inflight[key]
        needs_worker = ioend.unwritten or (ioend.iomap and self.policy.needs_end_io(self, inode, ioend))
        if needs_worker:
            for f in ioend.folios:
                f.wb_owner = self.endio_worker
                if f.wb_owner is not None and f.wb_wq is not None and f.wb_wq.waiters:
                    self.engine.owner_changed(f.wb_wq)
            ioend.hb = self.engine.current.hb
            self.endio_queue.append(ioend)
            self.endio_kick.wake_all()
        else:
            self._finish_ioend(ioend)

    def _finish_ioend(self, ioend):
        m = ioend.inode.mapping
        cur = self.engine.current
        for f in ioend.folios:
            # Every completion of a folio's bios is part of what its writeback ending means.
            if cur is not None:
                f.wb_hb |= cur.hb
            f.wb_pending -= 1
            if f.wb_pending == 0 and f.writeback:
                m.end_writeback(f)
                self.event("cache", f"{m.host.name}: folio {f.index} writeback ends")

    def _endio_worker(self):
        """The end-I/O workqueue (ext4-rsv-conversion; max_active 1): converts unwritten
        extents (bh: in the handle reserved at submission, which may join a locked
        transaction) and, on the iomap path, journals the new i_disksize, then ends
        writeback on the folios (iomap_finish_ioends)."""
        while True:
            while not self.endio_queue:
                yield self.endio_kick
            ioend = self.endio_queue.pop(0)
            me = self.engine.current
            me.hb |= ioend.hb
            for f in ioend.folios:
                if f.wb_owner is not me:
                    f.wb_owner = me
                    if f.wb_wq is not None and f.wb_wq.waiters:
                        self.engine.owner_changed(f.wb_wq)
            inode = ioend.inode
            yield from self.policy.before_end_io(self, inode, ioend)
            handle = yield from self.journal.start(credits=4, reserved=not ioend.iomap)
            for lblk in ioend.lblks:
                e = inode.map.get(lblk)
                if e is not None and e[0] == UNWRITTEN and e[1] == ioend.pblk_of[lblk]:
                    self.set_state(inode, lblk, WRITTEN)
            if ioend.iomap:
                target = self.policy.end_io_disksize(self, inode, ioend)
                if target > inode.i_disksize:
                    self.set_disksize(inode, min(target, inode.i_size))
            self.mark_inode_dirty(handle, inode)
            self.journal.stop(handle)
            self.policy.after_end_io(self, inode, ioend)
            self._finish_ioend(ioend)


class _IoEnd:
    __slots__ = ("inode", "bio", "folios", "lblks", "pblk_of", "unwritten", "iomap", "start",
                 "end", "keys", "why", "hb")

    def __init__(self, inode, iomap, why):
        self.inode = inode
        self.bio = None
        self.folios = []
        self.lblks = []
        self.pblk_of = {}
        self.unwritten = False
        self.iomap = iomap
        self.start = None
        self.end = 0
        """Byte offset where the I/O ends, cut at the EOF sampled at submission."""
        self.keys = []
        self.why = why
        self.hb = 0
        """Knowledge handed from the completing interrupt to the end-I/O worker."""


class _BioBuilder:
    """Merges blocks that are logically and physically contiguous and of one kind into one
    bio (io_submit_add_bh / iomap_can_add_to_ioend), and submits it."""

    def __init__(self, fs, inode, why, iomap=False):
        self.fs = fs
        self.inode = inode
        self.why = why
        self.iomap = iomap
        self.cur = None
        self.blocks = []

    def add(self, folio, b, eof=None):
        fs = self.fs
        inode = self.inode
        lblk = folio.index * fs.bpf + b
        state, pblk = inode.map[lblk]
        unwritten = state == UNWRITTEN
        cur = self.cur
        if cur is not None and (cur.unwritten != unwritten or cur.lblks[-1] + 1 != lblk
                                or cur.pblk_of[cur.lblks[-1]] + 1 != pblk
                                or len(cur.folios) >= fs.tun.ioend_batch_folios
                                or len(cur.lblks) >= fs.max_bio_blocks):
            self.submit()
            cur = None
        if cur is None:
            cur = self.cur = _IoEnd(inode, self.iomap, self.why)
            cur.unwritten = unwritten
            cur.start = lblk << fs.bshift
            self.blocks = []
        cur.lblks.append(lblk)
        cur.pblk_of[lblk] = pblk
        if not cur.folios or cur.folios[-1] is not folio:
            cur.folios.append(folio)
            folio.wb_pending += 1
        end = (lblk + 1) << fs.bshift
        if eof is not None:
            end = min(end, eof)
        cur.end = max(cur.end, end)
        self.blocks.append((pblk, folio.blocks[b]))

    def submit(self):
        cur = self.cur
        if cur is None:
            return
        self.cur = None
        fs = self.fs
        inode = self.inode
        why = self.why
        bio = Bio(0, WRITE, tuple(self.blocks), kind="data", why=why, ino=inode.ino,
                  lblk=cur.lblks[0], end_io=lambda b, ioend=cur: fs._end_bio(ioend))
        cur.bio = bio
        for f in cur.folios:
            f.wb_owner = None          # the device has it now
        zero_io = False
        for lblk in cur.lblks:
            key = (inode.ino, lblk)
            fs.inflight[key] = bio
            cur.keys.append(key)
            if key in fs.zeroed:
                fs.zeroed.discard(key)
                zero_io = True
        if zero_io:
            bio.why = why if why == "zero-eof" else f"{why}, zeroed EOF block"
        fs.dev.submit(bio)
        if zero_io:
            fs.dev.stats.zero_block_writes += 1
        fs.event("io", f"{inode.name}: submit bio {bio.id} ({why}) blocks "
                       f"{cur.lblks[0]}-{cur.lblks[-1]} -> pblk {cur.pblk_of[cur.lblks[0]]}"
                       f"{' unwritten' if cur.unwritten else ''}")
