"""xfs: XFS's size rules and log timing, as the reference point the thread compares with.

- The on-disk size moves only at ioend completion and within the I/O (xfs_end_ioend ->
  xfs_setfilesize: i_disk_size = min(offset + size, i_size) if larger).
- Truncate up (xfs_setattr_size; fallocate past EOF goes through it too): zero in the page
  cache, then filemap_write_and_wait_range(i_disk_size, newsize - 1) when this call's
  zeroing did anything (`did_zeroing`) or newsize > i_disk_size with oldsize != i_disk_size,
  then log the new size.
- Extending writes (xfs_file_write_zero_eof) zero in the page cache only, no forced flush:
  the gap Zhang Yi pointed out.
- Punch hole and zero range log no on-disk size (xfs_free_file_space: xfs_flush_unmap_range
  writes back and drops the range, then unmaps and zeroes; nothing like ext4's
  ext4_update_disksize_before_punch), so a size waiting for delalloc writeback stays
  unlogged until that writeback's ioend (punch-past-disksize on real XFS: sizes 0 and
  224881 only).
- Punch hole and zero range first write back, wait for and drop the page-rounded range
  (before_free_range: xfs_free_file_space -> xfs_flush_unmap_range), so a dirty folio
  straddling the range's edge reaches disk and its ioend logs the size it covers before
  the range changes; zero range's later size change (xfs_falloc_zero_range ->
  xfs_falloc_setsize -> xfs_setattr_size) then writes and waits only from that raised
  i_disk_size, leaving delalloc data below it to the flusher
  (zero-range-grow-ordering on real XFS: size 10000 over a hole where [0, 4096) was).
  Assumption (the model's order-0 folios): XFS maps large folios and a write of len >= 8 KiB
  gets a folio of that order (iomap_write_begin -> fgf_set_order), which the flush then
  writes back whole; on punch-hole-over-dirty-data (one 16 KiB write) real XFS writes
  [0, 16384) during the punch, the model only [4096, 8192)
  (examples/xfs-punch-flush-unmap/repro.sh shows both folio sizes).
  Assumption: the rest of 6.12.117's xfs_falloc_zero_range (unmap the whole blocks,
  xfs_zero_range on the edges inside i_size, xfs_alloc_file_space unwritten over the
  block-rounded range, then the size) runs as ext4_zero_range's steps in the model: the
  same extent states, zeroes and sizes once the call returns, but the size is raised in the
  allocation's transaction instead of a last one of its own. All of them go to the CIL
  under the inode's locks; only a log force in between (another file's fsync, log space
  pressure) could make the order visible, which no example reaches.
- The log reaches disk at XFS's times (Policy.xfs_log_timing): the periodic log worker
  (xfs_log_worker, every xfs_syncd_ns = fs.xfs.xfssyncd_centisecs, 30 s) pushes the CIL
  whenever it holds anything; fsync forces it (xfs_file_fsync -> xfs_log_force_seq), sync
  too (xfs_fs_sync_fs -> xfs_log_force). `xfs-jbd2` keeps ext4's jbd2 timing (a transaction
  commits 5 s after it began) for comparing the size rules alone with ext4.
Assumptions: the CIL and its checkpoints are modelled by jbd2 transactions (one running,
one committing; a checkpoint is one commit with PREFLUSH|FUA, as an iclog write is);
jbd2's sync-handle batching (max_batch_ns, reached only by an O_SYNC zero range; XFS's
XFS_PREALLOC_SYNC forces the log without such a sleep) stays; log space pressure is
max_txn_buffers.
Speculative post-EOF preallocation (xfs_iomap_prealloc_size) is not modelled: delalloc
conversion makes data-fork extents unwritten (xfs_bmapi_convert_one_delalloc sets
XFS_BMAPI_PREALLOC), so preallocated blocks past EOF read as zeros and are never written
by buffered writeback: they change no outcome class, only the allocation layout.
"""

from ..mm.page_writeback import WbReason
from .iomap_base import IomapBase


class Xfs(IomapBase):
    name = "xfs"
    summary = "XFS rules: size moves at ioend completion; truncate up writes and waits the zeroes"
    punch_logs_disksize = False
    """xfs_free_file_space never raises the on-disk size (ext4_update_disksize_before_punch
    has no XFS counterpart)."""
    falloc_grows_inside_size = False
    """xfs_falloc_newsize (xfs_file.c, 6.12.117): a new size only when offset + len >
    i_size, set through xfs_vn_setattr_size; xfs_alloc_file_space logs no size."""
    xfs_log_timing = True

    def before_free_range(self, ctx, inode, start, end):
        """xfs_flush_unmap_range (xfs_bmap_util.c, 6.12.117), called first by
        xfs_free_file_space (punch hole, and zero range's first step): round [start, end) out
        to max(xfs_inode_alloc_unitsize, PAGE_SIZE) (the folio size: block size <= folio
        size, no realtime or forcealign), filemap_write_and_wait_range over it, then
        truncate_pagecache_range."""
        r = ctx.folio_size
        s = start & ~(r - 1)
        e = (end + r - 1) & ~(r - 1)
        yield from ctx.write_and_wait_range(inode, s, e - 1, WbReason.XFS_FLUSH_UNMAP)
        yield from ctx.drop_cache_range(inode, s, e)

    def before_grow(self, ctx, inode, new_size, reason, zeroed):
        old = inode.i_size
        if zeroed or (new_size > inode.i_disksize and old != inode.i_disksize):
            yield from ctx.write_and_wait_range(inode, inode.i_disksize, new_size - 1,
                                                WbReason.XFS_SETATTR)


class XfsJbd2(Xfs):
    """XFS's size rules on ext4's jbd2 timing (the earlier `xfs`): isolates the size rules
    from the log timing when comparing with ext4's designs."""
    name = "xfs-jbd2"
    summary = "XFS size rules with jbd2's 5 s commit timing (compare with ext4)"
    xfs_log_timing = False
