"""iomap-pending: the v5+ series (ext4 dev branch, Oct 2026) with EXT4_STATE_DISKSIZE_GROW_PENDING.

Modelled from the patch titles only ("add EXT4_STATE_DISKSIZE_GROW_PENDING state bit and
helpers", "set DISKSIZE_GROW_PENDING after zeroing unaligned EOF block", "defer i_disksize
update while DISKSIZE_GROW_PENDING is set", "submit and wait for pending disksize-grow I/O on
writeback", "advance i_disksize to i_size upon disksize-grow I/O completion", "submit and wait
for disksize-grow I/O in fallocate paths", "clear DISKSIZE_GROW_PENDING on truncate or error").
Assumptions the titles do not settle:
- The bit is set only when the zeroed EOF block was allocated and written (as in 17/23).
- Truncate up does not submit (only fallocate paths are named), so its size waits for
  writeback or fsync.
- "Writeback" means any ->writepages call that has dirty data past i_disksize to write: it
  first submits the pending block and waits for its completion.
- "Clear on truncate": a truncate down that cuts the pending block off clears the bit; one
  that keeps it inside the file keeps the bit and does not raise i_disksize over it.
"""

from ..mm.page_writeback import LLONG_MAX, WbReason
from .base import GrowReason
from .iomap_base import PendingEofBlock


class IomapPending(PendingEofBlock):
    name = "iomap-pending"
    summary = "v5+: DISKSIZE_GROW_PENDING bit; writeback/fallocate submit and wait the EOF block"

    def submit_and_wait(self, ctx, inode):
        st = ctx.state(inode)
        lblk = self.pending(ctx, inode)
        if lblk is None or st.pending_io:
            return
        st.pending_io = True
        try:
            start, end = ctx.block_start(lblk), ctx.block_start(lblk + 1) - 1
            yield from ctx.submit_range(inode, start, end, WbReason.ZERO_EOF)
            yield from ctx.wait_range(inode, start, end)
        finally:
            st.pending_io = False
        # A pending block with nothing dirty to write is already on disk.
        if st.pending == lblk:
            st.pending = None
            if inode.i_size > inode.i_disksize:
                yield from ctx.journal_disksize(inode, inode.i_size)

    def before_grow(self, ctx, inode, new_size, reason, zeroed):
        if reason == GrowReason.FALLOCATE:
            yield from self.submit_and_wait(ctx, inode)

    def before_writeback(self, ctx, inode, wbc):
        if wbc.reason == WbReason.ZERO_EOF or self.pending(ctx, inode) is None:
            return
        if wbc.range_cyclic:
            lo, hi = inode.i_disksize + 1, LLONG_MAX
        else:
            lo, hi = max(wbc.range_start, inode.i_disksize + 1), wbc.range_end
        if ctx.first_dirty(inode, lo, hi) is not None:
            yield from self.submit_and_wait(ctx, inode)

    def end_io_disksize(self, ctx, inode, ioend):
        st = ctx.state(inode)
        pend = st.pending
        if pend is not None:
            if ioend.covers(pend):
                st.pending = None
                return inode.i_size
            if self.pending(ctx, inode) is not None:
                return inode.i_disksize
        return super().end_io_disksize(ctx, inode, ioend)
