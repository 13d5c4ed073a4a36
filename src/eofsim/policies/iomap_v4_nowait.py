"""iomap-v4-nowait: patch v4 17/23 alone, "ext4: submit zeroed post-EOF data immediately in
the iomap buffered I/O path" (Zhang Yi, 2026-05-11).

After ext4_block_zero_eof zeroed a written EOF block, ext4_iomap_submit_zero_block locks the
EOF folio (none cached -> nothing to do), waits for writeback in progress, and if the folio
is dirty starts I/O for the zeroed range with filemap_fdatawrite_range, without waiting.
i_disksize still advances at once, so the commit may beat the zero I/O: the commit message
itself says this lowers the risk but does not order the two.
"""

from ..mm import filemap_fdatawrite_range
from .iomap_base import IomapBase


class IomapV4Nowait(IomapBase):
    name = "iomap-v4-nowait"
    summary = "v4 17/23: submit the zeroed EOF block at once, never wait for it"

    def zeroed_eof(self, fs, handle, inode, start, length, written):
        if written:
            yield from self.submit_zero_block(fs, inode, start, start + length)

    def submit_zero_block(self, fs, inode, start, end):
        """ext4_iomap_submit_zero_block. Returns True if I/O was started."""
        m = inode.mapping
        folio = m.lookup(start >> fs.fshift)
        if folio is None:
            return False
        yield from m.lock(folio)
        yield from m.wait_writeback(folio)
        do_submit = folio.dirty
        m.unlock(folio)
        if do_submit:
            yield from filemap_fdatawrite_range(fs, m, start, end - 1, "zero-eof")
        return do_submit
