"""iomap-deferred: the alternative of Jan Kara (2026-02-05/06) and Ojaswin Mujoo (review of
v4 17/23): never submit the zeroed block at once.

- Truncate up / fallocate / extending write: zero the EOF folio tail in the page cache, mark
  it dirty, update i_size; i_disksize stays where it is while that block is pending. Only a
  block that was allocated and written when it was zeroed is pending (Jan, 02-06).
- Writeback that submits data past i_disksize submits from i_disksize upward, so the
  pending block goes with it, sync_file_range past EOF included.
- I/O completion moves i_disksize to the start of the first dirty folio after the written
  range, or to i_size if there is none (the option Zhang Yi chose), but never past a pending
  block whose I/O has not completed (at most one tail block must land first, Jan 02-06).
- fsync finds the pending block (PendingEofBlock.before_fsync) when its range misses it.
"""

from ..mm.page_writeback import WbReason
from .iomap_base import PendingEofBlock


class IomapDeferred(PendingEofBlock):
    name = "iomap-deferred"
    summary = "Jan/Ojaswin: no immediate submit; writeback from i_disksize up; completion moves the size"

    def writeback_range(self, ctx, inode, wbc):
        if self.pending(ctx, inode) is not None and not wbc.range_cyclic \
                and wbc.range_start > inode.i_disksize and wbc.reason != WbReason.ZERO_EOF:
            wbc.range_start = ctx.folio_start(inode.i_disksize)

    def end_io_disksize(self, ctx, inode, ioend):
        st = ctx.state(inode)
        pend = st.pending
        if pend is not None and not ioend.covers(pend):
            pend = self.pending(ctx, inode)
        if pend is not None:
            if not ioend.covers(pend):
                return inode.i_disksize
            st.pending = None
        # "after the written range": folios past the last one written, not a written folio
        # that was dirtied again while its I/O was in flight.
        after = ctx.first_dirty(inode, ctx.folio_start(ioend.end + ctx.folio_size - 1))
        if after is not None:
            return min(inode.i_size, after)
        return inode.i_size
