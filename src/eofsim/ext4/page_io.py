"""fs/ext4/page-io.c and the buffer_head writeback of inode.c: ext4_do_writepages
(mpage_prepare_extent_to_map, mpage_map_and_submit_extent, ext4_bio_write_folio), bio
completion (ext4_end_bio -> ext4_put_io_end_defer) and the end-I/O worker that converts
unwritten extents (ext4_end_io_rsv_work) — which the iomap series also uses to journal the
new i_disksize at completion."""

from ..iomap.buffered_io import IoEndBuilder, iomap_sort_and_merge
from ..mm.page_writeback import WB_SYNC_ALL, WbReason, WritebackControl, write_cache_pages
from ..policies.base import GrowReason
from .extents import DELAYED, UNWRITTEN, WRITTEN

MAX_WRITEPAGES_EXTENT_LEN = 2048
"""Blocks one mapping pass of ext4_do_writepages maps at most (inode.c: "Don't go larger
than mballoc is willing to allocate"): an extent, and with it an io_end, ends there."""


class Ext4Aops:
    """ext4_da_aops / ext4_aops: the buffer_head address-space operations."""

    def __init__(self, sb):
        self.sb = sb

    def writepages(self, mapping, wbc):
        return self.sb.ext4_do_writepages(mapping, wbc)

    def read_folio(self, folio, mask):
        return self.sb.read_folio(folio, mask)


class Ext4PageIo:
    """The page-io.c part of the ext4 filesystem object (see ext4/__init__.py)."""

    def count_writeback(self, wbc):
        """->writepages invocations by reason, for the I/O-cost figures."""
        key = str(wbc.reason)
        self.writeback_calls[key] = self.writeback_calls.get(key, 0) + 1

    def submit_inode_data(self, inode, start, end):
        """ext4_normal_submit_inode_data_buffers (j_submit_inode_data_buffers): WB_SYNC_ALL
        over the jinode window with can_map = 0 (only already-mapped, written blocks go out)."""
        wbc = WritebackControl(WB_SYNC_ALL, start, end, can_map=False, reason=WbReason.JBD2_ORDERED)
        yield from self.ext4_do_writepages(inode.mapping, wbc)

    def ext4_do_writepages(self, mapping, wbc):
        """ext4_do_writepages: map delayed blocks (unwritten with dioread_nolock), submit
        (ext4_bio_write_folio), and advance i_disksize after submission
        (mpage_map_and_submit_extent)."""
        inode = mapping.host
        self.count_writeback(wbc)
        if not mapping.dirty:
            # ext4_do_writepages (inode.c, 6.12.117): !mapping_tagged(PAGECACHE_TAG_DIRTY)
            # goes straight to out_writepages (no handle, no I/O)
            return
        bs, bpf = self.bs, self.bpf
        handle = extent_end = None
        needs_map = False
        extent_len = 0
        io = IoEndBuilder(self, inode, wbc.reason, self.ext4_io_end_done)

        def prepare(folio):
            # Before the folio lock: does mapping it need the handle started now?
            # (ext4_journal_start_with_reserve before mpage_prepare_extent_to_map)
            nonlocal needs_map, handle
            needs_map = False
            if wbc.can_map:
                first = folio.index * bpf
                get = inode.map.get
                for b in range(bpf):
                    e = get(first + b)
                    if e is not None and (e[0] == DELAYED or e[0] == UNWRITTEN):
                        needs_map = True
                        break
            if needs_map and handle is None:
                handle = self.journal.start_nowait(credits=8)
                if handle is None:
                    return before_lock()
            return None

        def before_lock():
            nonlocal handle
            handle = yield from self.journal.start(credits=8)

        def write_folio(folio, inside):
            nonlocal extent_end, extent_len
            idx = folio.index
            keep = 0
            submitted = []
            mapped = False
            for b in range(bpf):
                if not (folio.dirty_mask >> b) & 1 or b * bs >= inside:
                    continue
                lblk = idx * bpf + b
                e = inode.map.get(lblk)
                if e is None:
                    continue
                state = e[0]
                if state == DELAYED or (state == UNWRITTEN and not self.dioread_nolock):
                    if not wbc.can_map:
                        keep |= 1 << b
                        continue
                    if state == DELAYED:
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
                elif state == UNWRITTEN and not wbc.can_map:
                    keep |= 1 << b
                    continue
                submitted.append(b)
            if mapped:
                self.mark_inode_dirty(handle, inode)
            folio.dirty_mask = keep
            if keep:
                mapping.redirty(folio, keep)
            extends = needs_map and submitted and handle is not None
            if submitted and extent_end is not None and (
                    not extends or idx != extent_end or extent_len >= MAX_WRITEPAGES_EXTENT_LEN):
                # mpage_prepare_extent_to_map / mpage_add_bh_to_extent: the extent (and its
                # io_end) ends before a folio that is not its continuation, or that needs no
                # mapping, or once it holds MAX_WRITEPAGES_EXTENT_LEN blocks; that folio goes
                # in the next pass's io_end.
                self.extent_submitted(io, handle, inode, extent_end)
                extent_end = None
            if submitted:
                mapping.start_writeback(folio)
                for b in submitted:
                    io.add(folio, b)
            mapping.unlock(folio)
            if extends:
                if extent_end is None:
                    extent_len = 0
                extent_end = idx + 1
                extent_len += bpf
            return bool(submitted)

        try:
            yield from write_cache_pages(mapping, wbc, write_folio, prepare)
        finally:
            if extent_end is not None and handle is not None:
                self.extent_submitted(io, handle, inode, extent_end)
            io.cut()
            if handle is not None:
                self.journal.stop(handle)

    def extent_submitted(self, io, handle, inode, next_index):
        """mpage_map_and_submit_extent's tail: once a mapped extent's I/O is submitted,
        i_disksize moves to the start of the next folio (capped at i_size). The extent's
        io_end ends here (ext4_io_submit, then ext4_put_io_end_defer): the next extent gets a
        new one (ext4_init_io_end per mpage_map_and_submit_extent pass)."""
        io.cut()
        disksize = next_index << self.fshift
        if inode.i_size < disksize:
            disksize = inode.i_size
        if disksize > inode.i_disksize:
            self.grow_disksize(handle, inode, disksize, GrowReason.WRITEBACK)
            self.mark_inode_dirty(handle, inode)

    def racing_store(self, folio):
        """A store into a folio under writeback (no stable pages): the bio in flight for
        each of its blocks may carry the new bytes instead; the bio records them."""
        inode = folio.mapping.host
        first = folio.index * self.bpf
        for b in range(self.bpf):
            bio = self.inflight.get((inode.ino, first + b))
            if bio is not None and bio.complete_ns is None:
                e = inode.map.get(first + b)
                if e is not None:
                    bio.racing = bio.racing + ((e[1], folio.blocks[b], self.engine.now),)

    # --- I/O completion ---------------------------------------------------------------------
    def bio_done(self, part):
        """A data bio completed: its blocks are no longer in flight."""
        for key in part.keys:
            if self.inflight.get(key) is part.bio:
                del self.inflight[key]

    def ext4_io_end_done(self, ioend):
        """ext4_put_io_end_defer's last reference (every bio of the io_end completed and
        ext4_do_writepages dropped its own): an unwritten io_end goes to the conversion
        worker (ext4_add_complete_io); a written one is released, its bios having ended
        writeback on their folios as each completed (ext4_end_bio -> ext4_finish_bio).
        Assumption: ext4_do_writepages holds its handle over the whole pass in the model, so
        the submitter's drop is always the deferring one (ext4_put_io_end_defer), never
        ext4_put_io_end's inline conversion."""
        if ioend.unwritten:
            self.queue_end_io(ioend)
        else:
            ioend.finish(self)

    def queue_end_io(self, ioend):
        """Hand a completed ioend to the end-I/O workqueue, with the interrupt's knowledge."""
        for f in ioend.folios:
            f.wb_owner = self.endio_worker
            if f.wb_owner is not None and f.wb_wq is not None and f.wb_wq.waiters:
                self.engine.owner_changed(f.wb_wq)
        ioend.hb |= self.engine.current.hb
        self.endio_queued += 1
        self.endio_unfinished[id(ioend)] = self.endio_queued
        self.endio_queue.append(ioend)
        self.endio_kick.wake_all()

    def flush_endio_workqueue(self):
        """flush_workqueue(rsv_conversion_wq): wait until every work item queued before the
        call has run (items queued later are not waited for)."""
        target = self.endio_queued
        while any(s <= target for s in self.endio_unfinished.values()):
            yield self.endio_flushed

    def endio_worker(self):
        """The end-I/O workqueue (ext4-rsv-conversion; max_active 1): converts unwritten
        extents (bh: in the handle reserved at submission, which may join a locked
        transaction) and, on the iomap path, journals the new i_disksize, then ends
        writeback on the folios (iomap_finish_ioends). An iomap ioend is taken with every
        other completed iomap ioend of its inode, sorted and merged (xfs_end_io:
        list_replace_init of i_ioend_list, iomap_sort_ioends, iomap_ioend_try_merge), so one
        size update covers adjacent ioends (bios) that completed before the worker ran.
        Assumption: the series' ext4 iomap completion merges as xfs_end_io does; ext4's own
        io_ends (ext4_do_flush_completed_IO) are converted one at a time."""
        while True:
            while not self.endio_queue:
                yield self.endio_kick
            ioend = self.endio_queue.pop(0)
            if ioend.iomap and self.tun.ioend_merge:
                same = [x for x in self.endio_queue if x.iomap and x.inode is ioend.inode]
                if same:
                    self.endio_queue = [x for x in self.endio_queue if not (x.iomap and x.inode is ioend.inode)]
                batch = iomap_sort_and_merge([ioend] + same)
            else:
                same = []
                batch = (ioend,)
            taken = [ioend] + same
            for x in batch:
                yield from self.end_io_one(x)
            for x in taken:                     # these work items have run (flush_workqueue)
                self.endio_unfinished.pop(id(x), None)
            self.endio_flushed.wake_all()

    def end_io_one(self, ioend):
        """ext4_end_io_end (the iomap designs: as xfs_end_ioend): one (merged) ioend's
        end-I/O in the worker:
        convert its unwritten blocks, move the size (iomap), then end writeback on every
        folio of its bios."""
        pol, ctx = self.policy, self.ctx
        me = self.engine.current
        me.hb |= ioend.hb
        for f in ioend.folios:
            if f.wb_owner is not me:
                f.wb_owner = me
                if f.wb_wq is not None and f.wb_wq.waiters:
                    self.engine.owner_changed(f.wb_wq)
        inode = ioend.inode
        if ioend.iomap:
            yield from pol.before_end_io(ctx, inode, ctx.ioend_view(ioend))
        handle = (self.journal.start_nowait(credits=4, reserved=not ioend.iomap)
                  or (yield from self.journal.start(credits=4, reserved=not ioend.iomap)))
        for lblk in ioend.lblks:
            e = inode.map.get(lblk)
            if e is not None and e[0] == UNWRITTEN and e[1] == ioend.pblk_of[lblk]:
                self.set_state(inode, lblk, WRITTEN)
        if ioend.iomap:
            target = pol.end_io_disksize(ctx, inode, ctx.ioend_view(ioend))
            if target > inode.i_disksize:
                self.set_disksize(inode, min(target, inode.i_size))
        self.mark_inode_dirty(handle, inode)
        self.journal.stop(handle)
        ioend.finish(self)
