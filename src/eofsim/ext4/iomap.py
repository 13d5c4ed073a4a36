"""ext4's side of the iomap buffered I/O series (v4 and later): ext4_iomap_aops, its
->writepages (ext4_iomap_writepages: the design's pre-walk work, then iomap_writepages) and
the iomap_writeback_ops ext4 gives the generic layer.

- No data=ordered: the folio lock is taken before the transaction starts, and iomap cannot
  submit part of a folio (v4 cover letter).
- New blocks are always allocated unwritten (dioread_nolock forced): ->map_blocks turns a
  delayed block into an unwritten one in a handle taken with the folio locked.
- i_disksize moves in the end-I/O worker after the data is written (v4 09/23).
"""

from ..iomap.buffered_io import iomap_writepages
from .extents import DELAYED, UNWRITTEN
from .page_io import Ext4Aops


class Ext4IomapAops(Ext4Aops):
    """ext4_iomap_aops (read_folio as the buffer_head aops), also the iomap_writeback_ops
    ext4 passes to iomap_writepages."""

    def writepages(self, mapping, wbc):
        """ext4_iomap_writepages: the design may widen the range or write a pending block
        first; then the generic iomap_writepages."""
        sb = self.sb
        inode = mapping.host
        sb.policy.writeback_range(sb.ctx, inode, wbc)
        yield from sb.policy.before_writeback(sb.ctx, inode, wbc)
        yield from iomap_writepages(sb, mapping, wbc, self)

    def map_blocks(self, inode, lblk):
        """ext4_iomap_map_blocks: a delayed block is allocated unwritten."""
        sb = self.sb
        if inode.map[lblk][0] == DELAYED:
            handle = sb.journal.start_nowait(credits=8) or (yield from sb.journal.start(credits=8))
            sb.set_state(inode, lblk, UNWRITTEN, sb.alloc())
            sb.mark_inode_dirty(handle, inode)
            sb.journal.stop(handle)

    def end_io(self, ioend):
        """Completion in interrupt context: unwritten extents to convert, or a size the
        design wants moved (needs_end_io, after xfs_prepare_ioend), go to the end-I/O
        worker; anything else ends writeback at once."""
        sb = self.sb
        if ioend.unwritten or sb.policy.needs_end_io(sb.ctx, ioend.inode, sb.ctx.ioend_view(ioend)):
            sb.queue_end_io(ioend)
        else:
            ioend.finish(sb)
