"""The public, typed contract between the ext4 model and a design (a policy).

A design decides how the zeroed EOF block reaches disk before a larger i_disksize commits.
The core calls the hooks below; a policy overrides the few its design changes. Hooks get a
`DesignContext` (policies/context.py): geometry, the inode's sizes and per-design state,
range writeback and waits, journalling an i_disksize update. A hook that may block is a
generator (its default returns an empty tuple, so the core always writes
`yield from policy.hook(...)`); it runs in the task named below and may block on folio
locks, folio writeback, journal handles and commits, like the kernel code it stands for.

| hook | called from (task) | may block | kernel place |
|---|---|---|---|
| zeroed_eof | ext4_block_zero_eof after zeroing the EOF block's tail in the page cache (the syscall's task; bh: inside the size's handle; iomap: before any handle) | yes | ext4_jbd2_inode_add_write (data=ordered); v4 17/23 ext4_iomap_submit_zero_block; v5+ setting DISKSIZE_GROW_PENDING |
| before_free_range | punch hole and zero range, first, before the size rule's effects, the unmapping and any cache drop (syscall task, i_rwsem held) | yes | xfs_free_file_space -> xfs_flush_unmap_range (fs/xfs/xfs_bmap_util.c): write back, wait and drop the page-rounded range |
| before_grow | iomap truncate up / fallocate / zero range, after the zeroing, before the handle that grows i_disksize (syscall task, i_rwsem held) | yes | v4 18/23's wait; xfs_setattr_size's write-and-wait; v5+ fallocate submit-and-wait |
| disksize_target | every ext4_update_i_disksize caller: setattr, write_end, fallocate, bh writeback (any task, inside a handle) | no | "defer i_disksize update while DISKSIZE_GROW_PENDING is set" |
| begin_truncate | ext4_setattr shrinking, before its handle (syscall task) | yes | ext4_begin_ordered_truncate -> jbd2_journal_begin_ordered_truncate |
| shrink_disksize | ext4_setattr shrinking, in its handle | no | i_disksize = new size; v5+ keeps it below a pending block |
| truncated | after ext4_truncate freed the blocks | no | "clear DISKSIZE_GROW_PENDING on truncate" |
| before_fsync | ext4_sync_file before file_write_and_wait_range(start, end) (syscall task) | yes | "find the ordered block in ext4_sync_file()" (Zhang Yi, 17/23 review) |
| writeback_range | the iomap ->writepages, before the walk (writeback caller: flusher, fsync, sync_file_range, jbd2) | no | Jan Kara 2026-02-05: submit everything from i_disksize up |
| before_writeback | the iomap ->writepages, before the walk | yes | v5+ "submit and wait for pending disksize-grow I/O on writeback" |
| needs_end_io | iomap bio completion (interrupt context) | no | xfs_prepare_ioend's rule: the ioend ends past the on-disk size |
| before_end_io | the end-I/O worker, before its handle (ext4-endio task) | yes | v4 18/23: end-I/O past the zeroed boundary waits for the zero I/O |
| end_io_disksize | the end-I/O worker, in its handle | no | v4 09/23 size update at completion, after xfs_setfilesize |
"""

from dataclasses import dataclass
from enum import Enum


class GrowReason(str, Enum):
    """Which path wants to raise the size (the ext4_update_i_disksize call sites)."""
    SETATTR = "setattr"
    WRITE_END = "write_end"
    FALLOCATE = "fallocate"
    WRITEBACK = "writeback"


class DataMode(str, Enum):
    """The data= mount option (ext4_should_order_data / ext4_should_writeback_data)."""
    ORDERED = "ordered"
    WRITEBACK = "writeback"


@dataclass(frozen=True, slots=True)
class IoEndView:
    """What a design may know of a completed ioend: its byte range (cut at the EOF sampled
    at submission) and the logical blocks it wrote."""
    start: int
    end: int
    blocks: frozenset

    def covers(self, lblk) -> bool:
        return lblk in self.blocks


@dataclass(slots=True)
class NoState:
    """Per-inode state of a design that keeps none."""


class Policy:
    """A design. Subclasses set `name`, `summary`, the mount options they stand for and,
    if they keep per-inode state, `InodeState` (a dataclass; `ctx.state(inode)` returns the
    inode's instance)."""

    name = ""
    summary = ""
    buffered_iomap = False
    """Mount option `buffered_iomap` (the series): inodes use the iomap aops (ext4_set_aops)."""
    data_mode = DataMode.ORDERED
    InodeState = NoState
    xfs_log_timing = False
    """When the log reaches disk without an fsync or sync. False: jbd2's, a transaction
    commits commit_interval_ns after it starts (jbd2_get_transaction's t_expires). True:
    XFS's, the CIL is pushed at the periodic xfs_log_worker ticks, every xfs_syncd_ns from
    mount (xfs_log_work_queue -> xfs_log_force), whenever the transaction began. Log forces
    by fsync and sync, and a push when the log outgrows its space (max_txn_buffers standing
    for the CIL's XLOG_CIL_SPACE_LIMIT), behave alike in both."""
    punch_logs_disksize = True
    """Punch hole and zero range first journal a size still waiting for delalloc writeback
    (ext4_update_disksize_before_punch). False for XFS: xfs_free_file_space logs none."""
    falloc_grows_inside_size = True
    """fallocate / zero range without KEEP_SIZE change the size also when the end lies
    inside i_size but past i_disksize (ext4_do_fallocate, ext4_zero_range: `end > i_size ||
    end > i_disksize`). False for XFS: xfs_falloc_newsize changes it only when
    offset + len > i_size."""

    def zeroed_eof(self, ctx, handle, inode, start: int, length: int, written: bool):
        return ()

    def before_free_range(self, ctx, inode, start: int, end: int):
        """Punch hole / zero range of bytes [start, end), before the core drops or zeroes
        anything in it. ext4 (ext4_punch_hole, ext4_zero_range) writes nothing back here."""
        return ()

    def before_grow(self, ctx, inode, new_size: int, reason: GrowReason, zeroed: bool):
        """`zeroed`: this operation's EOF zeroing changed the page cache."""
        return ()

    def disksize_target(self, ctx, inode, new_size: int, reason: GrowReason) -> int:
        return new_size

    def begin_truncate(self, ctx, inode, size: int):
        return ()

    def truncated(self, ctx, inode, size: int) -> None:
        pass

    def shrink_disksize(self, ctx, inode, size: int) -> int:
        """i_disksize for a truncate down to `size` (ext4_setattr sets it to the new size)."""
        return size

    def before_fsync(self, ctx, inode, start: int, end: int):
        return ()

    def writeback_range(self, ctx, inode, wbc) -> None:
        pass

    def before_writeback(self, ctx, inode, wbc):
        return ()

    def needs_end_io(self, ctx, inode, ioend: IoEndView) -> bool:
        """Route an iomap ioend's completion to the end-I/O worker (xfs_prepare_ioend's rule:
        it ends past the on-disk size)."""
        return ioend.end > inode.i_disksize

    def before_end_io(self, ctx, inode, ioend: IoEndView):
        return ()

    def end_io_disksize(self, ctx, inode, ioend: IoEndView) -> int:
        """xfs_setfilesize's rule, which the series' end-I/O size update follows:
        min(end of the I/O, i_size), only ever raising."""
        return min(ioend.end, inode.i_size)
