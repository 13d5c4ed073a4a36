"""fs/fs-writeback.c: the per-bdi flusher's periodic ("kupdate") writeback."""

from ..mm.page_writeback import WB_SYNC_NONE, WbReason, WritebackControl, do_writepages


def flusher(engine, tun, mappings):
    """wb_workfn -> wb_check_old_data_flush: every dirty_writeback interval, write inodes
    whose dirtied_when is older than dirty_expire (writeback_sb_inodes with
    older_than_this), range-cyclic, a chunk per inode per pass; an inode with dirty folios
    left is requeued with a new dirtied_when (requeue_inode -> redirty_tail).

    Assumption: wakeups land on a fixed grid (5 s, 10 s, ...) from mount; the kernel arms
    the first one from the first dirtying, so real phases differ by up to one period."""
    period = tun.dirty_writeback_ns
    while True:
        yield period - engine.now % period
        cutoff = engine.now - tun.dirty_expire_ns
        expired = sorted((m.dirtied_when, m.host.ino, m) for m in mappings()
                         if m.inode_dirty and m.dirtied_when <= cutoff)
        for _, _, m in expired:
            wbc = WritebackControl(WB_SYNC_NONE, range_cyclic=True,
                                   nr_to_write=tun.writeback_chunk_folios, reason=WbReason.KUPDATE)
            yield from do_writepages(m, wbc)
            m.writeback_done(requeue_ns=engine.now)
