"""xfs: XFS's rules on ext4's journal, as the reference point the thread compares with.

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
Assumption: XFS's log is replaced by jbd2 with ext4's commit timing.
"""

from ..mm.page_writeback import WbReason
from .iomap_base import IomapBase


class Xfs(IomapBase):
    name = "xfs"
    summary = "XFS rules: size moves at ioend completion; truncate up writes and waits the zeroes"
    punch_logs_disksize = False
    """xfs_free_file_space never raises the on-disk size (ext4_update_disksize_before_punch
    has no XFS counterpart)."""

    def before_grow(self, ctx, inode, new_size, reason, zeroed):
        old = inode.i_size
        if zeroed or (new_size > inode.i_disksize and old != inode.i_disksize):
            yield from ctx.write_and_wait_range(inode, inode.i_disksize, new_size - 1,
                                                WbReason.XFS_SETATTR)
