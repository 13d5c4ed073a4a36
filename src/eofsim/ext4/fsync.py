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

    def sync_fs(self):
        """ext4_sync_fs(wait=1): commit the running transaction (else the committing one,
        else nothing: jbd2_journal_start_commit / jbd2_get_latest_transaction), wait, and
        flush if that commit will not."""
        j = self.journal
        tid = j.running.tid if j.running is not None else \
            j.committing.tid if j.committing is not None else j.commit_sequence
        needs_barrier = self.tun.barrier and not j.trans_will_send_data_barrier(tid)
        yield from j.complete_transaction(tid)
        if needs_barrier:
            yield from self.issue_flush("sync")
