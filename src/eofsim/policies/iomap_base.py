"""What every iomap design shares (the ext4 buffered-iomap series, v4 and later).

- No data=ordered: the folio lock is taken before the transaction starts, and iomap cannot
  submit part of a folio (v4 cover letter).
- New blocks are always allocated unwritten (dioread_nolock forced).
- i_disksize moves in the end-I/O worker after the data is written (v4 09/23), following
  xfs_setfilesize's rule: min(end of the I/O, i_size), only raising.
- EOF zeroing runs outside transactions; for extending writes it runs in ext4_write_checks
  before the copy ("ext4: refactor partial block zero-out for iomap conversion").
Policies that subclass this only say what they add on top.
"""

from ..ext4 import WRITTEN
from .base import Policy


class IomapBase(Policy):
    path = "iomap"
    data_mode = "none"

    @staticmethod
    def eof_block(fs, start):
        """The EOF block a zeroing at byte `start` touched: (lblk, first byte, end byte)."""
        lblk = start >> fs.bshift
        return lblk, lblk << fs.bshift, (lblk + 1) << fs.bshift


class PendingEofBlock(IomapBase):
    """Designs that keep at most one pending EOF block (Jan Kara, 2026-02-06: only the tail
    block around i_disksize ever needs writing before i_disksize may move) instead of
    submitting it at once: iomap-deferred and iomap-pending. The block is pending when it was
    allocated and written when zeroed; while it is, i_disksize does not grow, and its I/O's
    completion always goes through the end-I/O worker.
    Assumption (the series' ext4_truncate_down is not public): a truncate down that keeps the
    pending block inside the file does not raise i_disksize over it; one that cuts it off
    clears it."""

    def zeroed_eof(self, fs, handle, inode, start, length, written):
        if written:
            inode.pstate["pending"] = start >> fs.bshift
        return ()

    @staticmethod
    def pending(fs, inode):
        """The pending EOF block, if its zeroes still have to reach disk: it is still a
        written block and its folio is dirty or under writeback. A block punched, converted
        to unwritten by zero range, or dropped from the cache needs nothing any more."""
        lblk = inode.pstate.get("pending")
        if lblk is None:
            return None
        e = inode.map.get(lblk)
        folio = inode.mapping.lookup((lblk << fs.bshift) >> fs.fshift)
        if e is None or e[0] != WRITTEN or folio is None or not (folio.dirty or folio.writeback):
            del inode.pstate["pending"]
            return None
        return lblk

    def disksize_target(self, fs, inode, new_size, why):
        if self.pending(fs, inode) is not None:
            return inode.i_disksize
        return new_size

    def truncated(self, fs, inode, size):
        lblk = inode.pstate.get("pending")
        if lblk is not None and lblk << fs.bshift >= size:
            del inode.pstate["pending"]

    def shrink_disksize(self, fs, inode, size):
        lblk = inode.pstate.get("pending")
        if lblk is not None and lblk << fs.bshift < size:
            return min(size, inode.i_disksize)
        inode.pstate.pop("pending", None)
        return size

    def needs_end_io(self, fs, inode, ioend):
        return ioend.end > inode.i_disksize or inode.pstate.get("pending") in ioend.lblks
