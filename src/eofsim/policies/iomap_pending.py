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

from ..mm import WB_SYNC_ALL, WritebackControl, filemap_fdatawait_range
from .iomap_base import PendingEofBlock


class IomapPending(PendingEofBlock):
    name = "iomap-pending"
    summary = "v5+: DISKSIZE_GROW_PENDING bit; writeback/fallocate submit and wait the EOF block"

    def _submit_and_wait(self, fs, inode):
        lblk = self.pending(fs, inode)
        if lblk is None or inode.pstate.get("pending_io"):
            return
        inode.pstate["pending_io"] = True
        try:
            start, end = lblk << fs.bshift, ((lblk + 1) << fs.bshift) - 1
            wbc = WritebackControl(WB_SYNC_ALL, start, end, reason="zero-eof")
            yield from fs._iomap_writepages(inode.mapping, wbc)
            yield from filemap_fdatawait_range(inode.mapping, start, end)
        finally:
            inode.pstate.pop("pending_io", None)
        # A pending block with nothing dirty to write is already on disk.
        if inode.pstate.get("pending") == lblk:
            del inode.pstate["pending"]
            if inode.i_size > inode.i_disksize:
                handle = yield from fs.journal.start(credits=1)
                fs.set_disksize(inode, inode.i_size)
                fs.mark_inode_dirty(handle, inode)
                fs.journal.stop(handle)

    def before_grow(self, fs, inode, new_size, why):
        if why == "fallocate":
            yield from self._submit_and_wait(fs, inode)

    def before_writeback(self, fs, inode, wbc):
        if wbc.reason == "zero-eof" or self.pending(fs, inode) is None:
            return
        m = inode.mapping
        lo = max(wbc.range_start, inode.i_disksize + 1) if not wbc.range_cyclic else inode.i_disksize + 1
        if m.dirty_indices(lo, wbc.range_end if not wbc.range_cyclic else (1 << 63) - 1):
            yield from self._submit_and_wait(fs, inode)

    def end_io_disksize(self, fs, inode, ioend):
        pend = inode.pstate.get("pending")
        if pend is not None:
            if pend in ioend.lblks:
                del inode.pstate["pending"]
                return inode.i_size
            if self.pending(fs, inode) is not None:
                return inode.i_disksize
        return super().end_io_disksize(fs, inode, ioend)
