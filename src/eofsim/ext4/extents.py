"""fs/ext4/extents.c and mballoc.c: the block map (extent tree + extent status tree, one
entry a block, except long unwritten extents: ExtentMap), the allocator, and fallocate's
modes (allocate, punch hole, zero range)."""

from ..mm.truncate import folio_mkclean, pagecache_isize_extended, truncate_pagecache_range
from ..policies.base import GrowReason

from bisect import bisect_left, bisect_right
from heapq import heappop, heappush

from ..iomap import DELAYED, HOLE, STATE_NAMES, UNWRITTEN, WRITTEN
DATA_BASE = 1 << 20
"""First data block number (block bitmap start); everything below is metadata."""

EXT_UNWRITTEN_MAX_LEN = (1 << 15) - 1
"""ext4_extents.h: the longest unwritten extent (EXT_INIT_MAX_LEN - 1 blocks)."""

RUN_MIN = 1024
"""An ext4_map_blocks chunk of at least this many blocks is allocated as unwritten runs
(ExtentMap) instead of one map entry a block; a representation choice only (tests run
both ways and compare)."""


class ExtentMap(dict):
    """inode.map once fallocate or zero range allocated a long range: ext4_ext_map_blocks
    with EXT4_GET_BLOCKS_CREATE_UNWRIT_EXT makes one unwritten extent of a hole, and the
    model keeps it as a run (l0, l1, p0): blocks l0..l1-1 unwritten at p0 + (lblk - l0), in
    neither the dict nor inode.disk. The first access to such a block (get, [], pop) makes
    its entry in both, splitting the run, so the per-block code sees the map it always
    saw; membership tests do not make entries. Iterating the dict skips runs: the code that
    frees ranges (truncate, punch hole, evict) calls Ext4Extents.remove_runs too. Cost and
    memory follow the blocks touched, not the range allocated."""

    __slots__ = ("runs", "starts", "disk")

    def __init__(self, base, disk):
        dict.__init__(self, base)
        self.runs = []
        """[(l0, l1, p0)] sorted by l0, disjoint."""
        self.starts = []
        self.disk = disk

    def _find(self, k):
        i = bisect_right(self.starts, k) - 1
        if i >= 0 and k < self.runs[i][1]:
            return i
        return -1

    def _take(self, k):
        i = self._find(k)
        if i < 0:
            return None
        l0, l1, p0 = self.runs[i]
        p = p0 + k - l0
        pieces = []
        if k > l0:
            pieces.append((l0, k, p0))
        if k + 1 < l1:
            pieces.append((k + 1, l1, p + 1))
        self.runs[i:i + 1] = pieces
        self.starts[i:i + 1] = [r[0] for r in pieces]
        e = [UNWRITTEN, p]
        dict.__setitem__(self, k, e)
        self.disk[k] = (k, p, True)
        return e

    def get(self, k, d=None):
        e = dict.get(self, k)
        if e is None and self.runs:
            e = self._take(k)
        return d if e is None else e

    def __getitem__(self, k):
        e = self.get(k)
        if e is None:
            raise KeyError(k)
        return e

    def __contains__(self, k):
        return dict.__contains__(self, k) or (bool(self.runs) and self._find(k) >= 0)

    def pop(self, k, *d):
        if not dict.__contains__(self, k) and self.runs:
            self._take(k)
        return dict.pop(self, k, *d)

    def add_run(self, l0, l1, p0):
        """Add unwritten blocks l0..l1-1 at p0..; a run continuing the one before it in
        both block spaces joins it (the map stays one entry whatever the extent count)."""
        i = bisect_left(self.starts, l0)
        if i > 0:
            a0, a1, q0 = self.runs[i - 1]
            if a1 == l0 and q0 + (a1 - a0) == p0:
                self.runs[i - 1] = (a0, l1, q0)
                return
        self.runs.insert(i, (l0, l1, p0))
        self.starts.insert(i, l0)

    def cut(self, lo, hi):
        """Remove run blocks in [lo, hi); returns the freed (pblk, count) ranges."""
        freed = []
        keep = []
        for l0, l1, p0 in self.runs:
            if l1 <= lo or l0 >= hi:
                keep.append((l0, l1, p0))
                continue
            if l0 < lo:
                keep.append((l0, lo, p0))
            if l1 > hi:
                keep.append((hi, l1, p0 + hi - l0))
            a, b = max(l0, lo), min(l1, hi)
            freed.append((p0 + a - l0, b - a))
        self.runs = keep
        self.starts = [r[0] for r in keep]
        return freed

    def run_kind_at(self, k):
        """(end of the run holding k) or None."""
        i = self._find(k)
        return None if i < 0 else self.runs[i][1]

    def extent_runs(self):
        """The runs as raw extent entries (lblk, pblk, unwritten, count)."""
        return [(l0, p0, True, l1 - l0) for l0, l1, p0 in self.runs]


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
            p, c = heappop(self.freed)      # (first pblk, count): freed runs, lowest first
            if c > 1:
                heappush(self.freed, (p + 1, c - 1))
            return p
        p = self.next_pblk
        self.next_pblk += n
        return p

    def set_state(self, inode, lblk, state, pblk=None):
        """Change one block's mapping state; written/unwritten blocks are in the on-disk
        extent tree (what the raw inode carries), delayed ones only in the status tree."""
        m = inode.map
        e = m.get(lblk)
        old = HOLE if e is None else e[0]
        if state == HOLE:
            m.pop(lblk, None)
            if old >= UNWRITTEN and self.reuse_freed:
                heappush(self.freed, (e[1], 1))
        elif e is None:
            e = m[lblk] = [state, pblk]
        else:
            e[0] = state
            if pblk is not None:
                e[1] = pblk
        if old >= UNWRITTEN or state >= UNWRITTEN:
            inode.map_version += 1
            inode.disk_changed.add(lblk)
            if state >= UNWRITTEN:
                inode.disk[lblk] = (lblk, e[1], state == UNWRITTEN)    # e is map[lblk]
            else:
                inode.disk.pop(lblk, None)

    def state(self, inode, lblk):
        e = inode.map.get(lblk)
        return HOLE if e is None else e[0]

    def remove_runs(self, inode, lo, hi):
        """The unwritten runs' part of ext4_ext_remove_space over [lo, hi): the blocks are
        unmapped (freed for reuse under data=writeback, as set_state does one by one)."""
        m = inode.map
        if not isinstance(m, ExtentMap) or not m.runs:
            return
        freed = m.cut(lo, hi)
        if freed:
            inode.map_version += 1
            if self.reuse_freed:
                for r in freed:
                    heappush(self.freed, r)

    def alloc_run(self, inode, a, b):
        """ext4_ext_map_blocks allocating the hole [a, b) as unwritten extents, block for
        block as alloc() would hand them out (freed runs first, lowest first, then fresh
        blocks), kept as runs."""
        m = inode.map
        if not isinstance(m, ExtentMap):
            m = inode.map = ExtentMap(m, inode.disk)
        while a < b:
            if self.freed:
                p, c = heappop(self.freed)
                take = min(c, b - a)
                if c > take:
                    heappush(self.freed, (p + take, c - take))
            else:
                take = b - a
                p = self.alloc(take)
            m.add_run(a, a + take, p)
            a += take
        inode.map_version += 1

    def _chunks_sparse(self, inode, lb0, lb1):
        """map_chunks over a long range without a step per block: the kinds change only at
        map entries and run edges."""
        m = inode.map
        pts = sorted({k for k in m if lb0 <= k < lb1} | {k + 1 for k in m if lb0 <= k < lb1})
        if isinstance(m, ExtentMap):
            for l0, l1, _ in m.runs:
                if l1 > lb0 and l0 < lb1:
                    pts.extend((max(l0, lb0), min(l1, lb1)))
        pts = sorted({lb0, lb1, *(p for p in pts if lb0 <= p <= lb1)})

        def kind(k):
            e = dict.get(m, k)
            if e is not None:
                return HOLE if e[0] == DELAYED else e[0]
            if isinstance(m, ExtentMap) and m.run_kind_at(k) is not None:
                return UNWRITTEN
            return HOLE
        out = []
        for a, b in zip(pts, pts[1:]):
            k = kind(a)
            if out and out[-1][2] == k:
                out[-1] = (out[-1][0], b, k)
            else:
                out.append((a, b, k))
        return out

    def fallocate(self, inode, off, length, mode, op, o_sync=False):
        """ext4_fallocate: file_modified, then the mode's own path. `o_sync`: the file was
        opened O_SYNC or O_DSYNC (`file->f_flags & O_SYNC` is true for both, O_SYNC being
        __O_SYNC | O_DSYNC)."""
        yield from inode.i_rwsem.lock()
        try:
            if self.inode_needs_update_time(inode):
                yield from self.file_update_time(inode)
            if mode == "punch_hole":
                yield from self.punch_hole(inode, off, length)
            elif mode.startswith("zero_range"):
                yield from self.zero_range(inode, off, length, "keep_size" in mode, op, o_sync)
            else:
                yield from self.do_fallocate(inode, off, length, mode == "keep_size", op)
        finally:
            inode.i_rwsem.unlock()

    def fallocate_new_size(self, inode, end, keep_size):
        """The size rule of ext4_do_fallocate and ext4_zero_range (extents.c, 6.12.117):
        without KEEP_SIZE the size moves to `end` when `end > i_size || end > i_disksize` —
        also inside i_size when i_disksize lags behind it (delalloc pending). 0: no change.
        A design with falloc_grows_inside_size False (XFS: xfs_falloc_newsize) grows only
        past i_size."""
        if not self.policy.falloc_grows_inside_size:
            return end if not keep_size and end > inode.i_size else 0
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
        extent of at most EXT_UNWRITTEN_MAX_LEN blocks: ext4_ext_map_blocks caps an
        EXT4_GET_BLOCKS_UNWRIT_EXT request there, so a longer hole takes several calls,
        each in its own handle; an existing extent is returned as it is). Assumption:
        mballoc finds each such chunk contiguous (one allocation never crosses a block
        group in the kernel, so near group boundaries it returns less and the loop takes
        more, shorter chunks)."""
        if lb1 - lb0 >= RUN_MIN:
            chunks = self._chunks_sparse(inode, lb0, lb1)
        else:
            chunks = []
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
                chunks.append((lblk, r, kind))
                lblk = r
        out = []
        for a, b, kind in chunks:
            while kind == HOLE and b - a > EXT_UNWRITTEN_MAX_LEN:
                out.append((a, a + EXT_UNWRITTEN_MAX_LEN))
                a += EXT_UNWRITTEN_MAX_LEN
            out.append((a, b))
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
            handle = (self.journal.start_nowait(credits=8)
                      or (yield from self.journal.start(credits=8)))
            self.ext_map_blocks(inode, c0, c1, convert)
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

    def ext_map_blocks(self, inode, c0, c1, convert):
        """One ext4_map_blocks chunk of ext4_alloc_file_blocks (EXT4_GET_BLOCKS_CREATE_UNWRIT_EXT):
        holes and delayed blocks become unwritten, written ones too with `convert`, in
        block order. A long chunk (RUN_MIN) visits its map entries only and allocates its
        holes as runs (ExtentMap)."""
        if c1 - c0 < RUN_MIN:
            for lblk in range(c0, c1):
                e = inode.map.get(lblk)
                if e is None or e[0] == DELAYED:
                    self.set_state(inode, lblk, UNWRITTEN, self.alloc())
                elif convert and e[0] == WRITTEN:
                    self.set_state(inode, lblk, UNWRITTEN)
            return
        m = inode.map
        pos = c0
        for k in sorted(k for k in m if c0 <= k < c1) + [c1]:
            if k > pos and not (isinstance(m, ExtentMap) and m.run_kind_at(pos) is not None):
                self.alloc_run(inode, pos, k)        # a hole: the chunk has no runs then
                m = inode.map
            if k < c1:
                e = dict.get(m, k)
                if e[0] == DELAYED:
                    self.set_state(inode, k, UNWRITTEN, self.alloc())
                elif convert and e[0] == WRITTEN:
                    self.set_state(inode, k, UNWRITTEN)
            pos = k + 1

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
        handle = self.journal.start_nowait(credits=1) or (yield from self.journal.start(credits=1))
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
        yield from self.policy.before_free_range(self.ctx, inode, off, off + length)
        if off >= inode.i_size:
            return
        if off + length > inode.i_size:
            length = ((inode.i_size + self.fsize - 1) & ~(self.fsize - 1)) - off
        end = off + length
        yield from self.update_disksize_before_punch(inode, off, length)
        yield from self.truncate_page_cache_block_range(inode, off, end)
        handle = self.journal.start_nowait(credits=8) or (yield from self.journal.start(credits=8))
        yield from self.zero_partial_blocks(handle, inode, off, length)
        lo, hi = (off + self.bs - 1) >> self.bshift, end >> self.bshift
        # the mapped blocks in range, ascending: O(mapped), not O(range) (a 1 TiB punch)
        mapped = [b for b in range(lo, hi) if b in inode.map] if hi - lo < len(inode.map) \
            else sorted(b for b in inode.map if lo <= b < hi)
        for lblk in mapped:
            self.set_state(inode, lblk, HOLE)
        self.remove_runs(inode, lo, hi)
        self.mark_inode_dirty(handle, inode)
        inode.i_datasync_tid = handle.tx.tid
        self.journal.stop(handle)

    def zero_range(self, inode, off, length, keep_size, op, o_sync=False):
        """ext4_zero_range (extents.c, 6.12.117), in its order: the size rule; with unaligned
        edges, ext4_alloc_file_blocks over the whole range (unwritten, raising the sizes and
        zeroing [old_size, epos) in each chunk's handle); ext4_update_disksize_before_punch;
        the cache dropped without write-back (ext4_truncate_page_cache_block_range); the
        aligned middle converted to unwritten (ext4_alloc_file_blocks with
        CONVERT_UNWRITTEN, new_size again); and, with unaligned edges, a last handle that
        zeroes them (ext4_zero_partial_blocks) and runs ext4_update_inode_size(new_size);
        on an O_SYNC / O_DSYNC file that handle is synchronous (ext4_handle_sync: stopping it
        commits and waits, with jbd2's sync batching), the only synchronous handle a
        modelled operation reaches (fsync and O_SYNC writes commit through
        jbd2_complete_transaction, not a sync handle)."""
        end = off + length
        bs, bshift = self.bs, self.bshift
        new_size = self.fallocate_new_size(inode, end, keep_size)
        yield from self.policy.before_free_range(self.ctx, inode, off, end)
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
        handle = self.journal.start_nowait(credits=8) or (yield from self.journal.start(credits=8))
        yield from self.zero_partial_blocks(handle, inode, off, length)
        if new_size:
            self.update_inode_size(handle, inode, new_size, op)
        self.mark_inode_dirty(handle, inode)
        inode.i_datasync_tid = handle.tx.tid
        if o_sync:
            yield from self.journal.stop_sync(handle)
        else:
            self.journal.stop(handle)
