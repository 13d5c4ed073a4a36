"""iomap-v4-nowait: patch v4 17/23 alone, "ext4: submit zeroed post-EOF data immediately in
the iomap buffered I/O path" (Zhang Yi, 2026-05-11).

After ext4_block_zero_eof zeroed a written EOF block, ext4_iomap_submit_zero_block locks the
EOF folio (none cached -> nothing to do), waits for writeback in progress, and if the folio
is dirty starts I/O for the zeroed range with filemap_fdatawrite_range, without waiting.
i_disksize still advances at once, so the commit may beat the zero I/O: the commit message
itself says this lowers the risk but does not order the two.
"""

from .iomap_base import IomapBase


class IomapV4Nowait(IomapBase):
    name = "iomap-v4-nowait"
    summary = "v4 17/23: submit the zeroed EOF block at once, never wait for it"

    def zeroed_eof(self, ctx, handle, inode, start, length, written):
        if written:
            yield from self.submit_zero_block(ctx, inode, start, start + length)

    @staticmethod
    def submit_zero_block(ctx, inode, start, end):
        """ext4_iomap_submit_zero_block. Returns True if I/O was started."""
        dirty = yield from ctx.lock_folio_wait_writeback(inode, start)
        if dirty:
            yield from ctx.submit_range(inode, start, end - 1)
        return bool(dirty)
