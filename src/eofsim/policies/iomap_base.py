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

from .base import Policy


class IomapBase(Policy):
    path = "iomap"
    data_mode = "none"

    @staticmethod
    def eof_block(fs, start):
        """The EOF block a zeroing at byte `start` touched: (lblk, first byte, end byte)."""
        lblk = start >> fs.bshift
        return lblk, lblk << fs.bshift, (lblk + 1) << fs.bshift
