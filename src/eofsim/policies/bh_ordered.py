"""bh-ordered: today's buffer_head path with data=ordered (Linux 6.12).

The EOF block's zeroed tail goes on the running transaction's ordered list
(`__ext4_block_zero_page_range` -> `ext4_jbd2_inode_add_write`), so jbd2 writes and waits
for it (`journal_submit_data_buffers`, `journal_finish_inode_data_buffers`) before the commit
block that carries the larger i_disksize. Truncate down first pushes out data the
committing transaction still orders (`ext4_begin_ordered_truncate`).
"""

from ..mm.page_writeback import LLONG_MAX, WbReason
from .base import DataMode, Policy


class BhOrdered(Policy):
    name = "bh-ordered"
    data_mode = DataMode.ORDERED
    summary = "buffer_head path, data=ordered: zeroed EOF tail is ordered data of the size's transaction"

    def zeroed_eof(self, ctx, handle, inode, start, length, written):
        ctx.add_ordered(handle, inode, start, length)
        return ()

    def begin_truncate(self, ctx, inode, size):
        """jbd2_journal_begin_ordered_truncate: only if the inode is in the committing
        transaction, start writeback of [size, end) so its ordered data lands first."""
        if ctx.in_committing_transaction(inode):
            yield from ctx.submit_range(inode, size, LLONG_MAX, WbReason.ORDERED_TRUNCATE)
