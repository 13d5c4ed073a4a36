"""fs/ext4/fsync.c and ext4_sync_fs (super.c): make data and metadata durable."""

from ..block import Bio, FLUSH
from ..engine import Completion
from ..mm.filemap import filemap_write_and_wait_range
from ..mm.page_writeback import WbReason

LLONG_MAX = (1 << 63) - 1


class Ext4Fsync:
    """The fsync.c part of the ext4 filesystem object (see ext4/__init__.py)."""

    def fsync(self, inode, datasync, start=0, end=LLONG_MAX):
        """ext4_sync_file(file, start, end, datasync): write and wait [start, end]
        (file_write_and_wait_range), commit i_datasync_tid / i_sync_tid, and issue a cache
        flush if that commit will not send one. The design may first write what the range
        misses (a pending EOF block: "find the ordered block in ext4_sync_file()")."""
        yield from self.policy.before_fsync(self.ctx, inode, start, end)
        yield from filemap_write_and_wait_range(inode.mapping, start, end, WbReason.FSYNC)
        tid = inode.i_datasync_tid if datasync else inode.i_sync_tid
        needs_barrier = self.tun.barrier and not self.journal.trans_will_send_data_barrier(tid)
        yield from self.journal.complete_transaction(tid)
        if needs_barrier:
            yield from self.issue_flush("fsync")
        return tid

    def issue_flush(self, why):
        """blkdev_issue_flush: an empty PREFLUSH bio, waited for."""
        done = Completion(self.engine, "cache flush", "flush_io")
        self.dev.submit(Bio(0, FLUSH, kind="flush", why=why, end_io=lambda b: done.complete()))
        yield from done.wait()

    def sync_fs(self, wait=True):
        """ext4_sync_fs(sb, wait) (super.c, 6.12.117): flush_workqueue(rsv_conversion_wq)
        (the end-I/O conversions already queued finish first); target =
        jbd2_get_latest_transaction; with wait, a flush is needed when barriers are on and
        that transaction's commit will not send one (jbd2_trans_will_send_data_barrier);
        jbd2_journal_start_commit (the running transaction, else the committing one) and,
        with wait, jbd2_log_wait_commit; then blkdev_issue_flush if needed. wait=0 (the
        first pass of sync_filesystem) starts the commit and returns at once: conversions
        whose bios complete after it land in a later transaction than writeback's
        i_disksize. XFS (Policy.xfs_log_timing): xfs_fs_sync_fs does nothing when !wait and
        forces the log (xfs_log_force) when wait."""
        j = self.journal
        if j.periodic_ns is not None and not wait:
            return
        yield from self.flush_endio_workqueue()
        target = j.running.tid if j.running is not None else j.commit_request
        needs_barrier = wait and self.tun.barrier and not j.trans_will_send_data_barrier(target)
        tid = j.start_commit()
        if tid is not None and wait:
            yield from j.log_wait_commit(tid)
        if needs_barrier:
            yield from self.issue_flush("sync")
