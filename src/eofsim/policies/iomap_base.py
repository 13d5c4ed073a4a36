"""What every iomap design shares (the ext4 buffered-iomap series, v4 and later), on top of
the core's iomap path (ext4/iomap.py): the `buffered_iomap` mount option.

PendingEofBlock is the state the deferred and pending designs share.
"""

from dataclasses import dataclass

from ..mm.page_writeback import WbReason
from .base import Policy


class IomapBase(Policy):
    buffered_iomap = True


@dataclass(slots=True)
class PendingState:
    pending: int | None = None
    """The EOF block whose zeroes must reach disk before i_disksize may grow (v5+:
    EXT4_STATE_DISKSIZE_GROW_PENDING, with the block it is about)."""
    pending_io: bool = False
    """A submit-and-wait of the pending block is under way (iomap-pending)."""


class PendingEofBlock(IomapBase):
    """Designs that keep at most one pending EOF block (Jan Kara, 2026-02-06: only the tail
    block around i_disksize ever needs writing before i_disksize may move) instead of
    submitting it at once: iomap-deferred and iomap-pending. The block is pending when it was
    allocated and written when zeroed; while it is, i_disksize does not grow, and its I/O's
    completion always goes through the end-I/O worker.
    Assumption (the series' ext4_truncate_down is not public): a truncate down that keeps the
    pending block inside the file does not raise i_disksize over it; one that cuts it off
    clears it."""

    InodeState = PendingState

    def zeroed_eof(self, ctx, handle, inode, start, length, written):
        if written:
            ctx.state(inode).pending = ctx.block_of(start)
        return ()

    @staticmethod
    def pending(ctx, inode):
        """The pending EOF block, if its zeroes still have to reach disk: it is still a
        written block and its folio is dirty or under writeback. A block punched, converted
        to unwritten by zero range, or dropped from the cache needs nothing any more."""
        st = ctx.state(inode)
        lblk = st.pending
        if lblk is None:
            return None
        if not ctx.block_written(inode, lblk) or not ctx.folio_busy(inode, ctx.block_start(lblk)):
            st.pending = None
            return None
        return lblk

    def disksize_target(self, ctx, inode, new_size, reason):
        if self.pending(ctx, inode) is not None:
            return inode.i_disksize
        return new_size

    def truncated(self, ctx, inode, size):
        st = ctx.state(inode)
        if st.pending is not None and ctx.block_start(st.pending) >= size:
            st.pending = None

    def shrink_disksize(self, ctx, inode, size):
        st = ctx.state(inode)
        if st.pending is not None and ctx.block_start(st.pending) < size:
            return min(size, inode.i_disksize)
        st.pending = None
        return size

    def needs_end_io(self, ctx, inode, ioend):
        pend = ctx.state(inode).pending
        return ioend.end > inode.i_disksize or (pend is not None and ioend.covers(pend))

    def before_fsync(self, ctx, inode, start, end):
        """"Find the ordered block in ext4_sync_file()" (Zhang Yi, 17/23 review): an fsync
        whose range misses the pending block writes that block too, so the size it commits
        can be durable."""
        lblk = self.pending(ctx, inode)
        if lblk is None:
            return
        b0 = ctx.block_start(lblk)
        if b0 < start or b0 > end:
            yield from ctx.write_and_wait_range(inode, b0, ctx.block_start(lblk + 1) - 1, WbReason.FSYNC)

