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
- fsync writes the whole file, so it finds the pending block by itself.
"""

from .iomap_base import PendingEofBlock


class IomapDeferred(PendingEofBlock):
    name = "iomap-deferred"
    summary = "Jan/Ojaswin: no immediate submit; writeback from i_disksize up; completion moves the size"

    def writeback_range(self, fs, inode, wbc):
        if self.pending(fs, inode) is not None and not wbc.range_cyclic \
                and wbc.range_start > inode.i_disksize and wbc.reason != "zero-eof":
            wbc.range_start = inode.i_disksize & ~(fs.fsize - 1)

    def end_io_disksize(self, fs, inode, ioend):
        pend = inode.pstate.get("pending")
        if pend is not None and pend not in ioend.lblks:
            pend = self.pending(fs, inode)
        if pend is not None:
            if pend not in ioend.lblks:
                return inode.i_disksize
            del inode.pstate["pending"]
        # "after the written range": folios past the last one written, not a written folio
        # that was dirtied again while its I/O was in flight.
        after = inode.mapping.dirty_indices(ioend.end + fs.fsize - 1 & ~(fs.fsize - 1), (1 << 63) - 1)
        if after:
            return min(inode.i_size, after[0] << fs.fshift)
        return inode.i_size
