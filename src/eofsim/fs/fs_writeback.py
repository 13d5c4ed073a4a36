"""fs/fs-writeback.c and mm/backing-dev.c: the per-bdi flusher's periodic ("kupdate")
writeback, as struct bdi_writeback with its delayed work.

Two timings (tunable `flusher_timing`):
- `kernel` (default, Linux 6.12.117): the first dirtying of an idle bdi arms the delayed
  work `dirty_writeback` later (__mark_inode_dirty -> wb_wakeup_delayed); each wakeup runs a
  kupdate pass over the inodes dirtied at least `dirty_expire` ago (wb_check_old_data_flush
  -> wb_writeback), and re-arms itself while any inode is still dirty (wb_workfn). An inode
  left with dirty folios keeps its dirtied_when (requeue_inode -> redirty_tail only renews it
  when a more recently dirtied inode is queued), so it is written on the next pass, about
  `dirty_writeback` later, not after a fresh `dirty_expire`.
- `grid`: wakeups on a fixed grid (5 s, 10 s, ...) from mount, and a requeued inode gets a
  fresh dirtied_when (the model before issue 10).

Assumptions: the timer wheel's granularity (up to 64 jiffies at this range) and the kupdate
pass a sync(2) work item can trigger (wb_do_writeback -> wb_check_old_data_flush) are not
modelled; inodes dirtied only in metadata (timestamps, setattr) join the dirty list as
__mark_inode_dirty(I_DIRTY_SYNC) does (kernel timing only).
"""

from ..engine import WaitQueue
from ..mm.page_writeback import WB_SYNC_ALL, WB_SYNC_NONE, WbReason, WritebackControl, do_writepages


class BdiWriteback:
    """struct bdi_writeback: its delayed work (wb->dwork) and the dirty-inode lists, which
    the model reads off the mappings (an inode is listed while `inode_dirty`)."""

    def __init__(self, engine, tun):
        self.engine = engine
        self.tun = tun
        self.kernel = tun.flusher_timing == "kernel"
        self.due = None
        """When the queued delayed work runs (None: not queued)."""
        self.kick = WaitQueue(engine, "flusher idle", "wb_idle", idle=True)
        self.mappings = lambda: ()
        self.last_old_flush = 0
        """wb->last_old_flush (wb_init sets it at bdi registration: t=0)."""

    def has_dirty_io(self, but=None):
        """wb_has_dirty_io: some inode is on b_dirty / b_io / b_more_io."""
        return any(m.inode_dirty for m in self.mappings() if m is not but)

    def inode_dirtied(self, mapping):
        """__mark_inode_dirty moved a clean inode to b_dirty: if the bdi had no dirty inode
        before (inode_io_list_move_locked -> wb_io_lists_populated), wb_wakeup_delayed."""
        if self.kernel and not self.has_dirty_io(but=mapping):
            self.wakeup_delayed()

    def wakeup_delayed(self):
        """wb_wakeup_delayed: queue_delayed_work(dirty_writeback); a no-op when queued."""
        if self.due is not None:
            return
        self.due = self.engine.now + self.tun.dirty_writeback_ns
        self.engine.call_at(self.due, self._fire)

    def _fire(self, _=None):
        self.kick.wake_all()


def flusher(engine, tun, mappings, wb=None):
    """wb_workfn. Grid timing: every dirty_writeback interval from mount. Kernel timing: when
    the delayed work comes due; afterwards it re-arms while dirty inodes remain."""
    if wb is None:
        # Callers that build their own world must pass the filesystem's BdiWriteback (the
        # mappings report their dirtying to it); a private one only suits the grid timing.
        wb = BdiWriteback(engine, tun)
    wb.mappings = mappings
    if not wb.kernel:
        yield from _grid_flusher(engine, tun, mappings)
        return
    period = tun.dirty_writeback_ns
    while True:
        while wb.due is None or engine.now < wb.due:
            yield wb.kick
        wb.due = None
        if engine.now >= wb.last_old_flush + period:      # wb_check_old_data_flush
            wb.last_old_flush = engine.now
            yield from kupdate_pass(engine, tun, mappings)
        if wb.has_dirty_io():
            wb.wakeup_delayed()


def kupdate_pass(engine, tun, mappings):
    """wb_writeback(for_kupdate, nr_pages = dirty pages now): queue the inodes dirtied at
    least dirty_expire ago (queue_io, oldest first), write a chunk of each
    (writeback_sb_inodes), and requeue_inode: a used-up chunk goes to b_more_io (written
    again in this pass), anything else left dirty is redirty_tail'ed. Loops while it makes
    progress and nr_pages lasts."""
    # get_nr_dirty_pages: dirty page-cache pages plus dirty inodes.
    budget = sum(m.nr_dirty + (1 if m.inode_dirty else 0) for m in mappings())
    more = []
    while budget > 0:
        cutoff = engine.now - tun.dirty_expire_ns
        queued = {id(m) for m in more}
        io = more + [m for _, _, m in sorted((m.dirtied_when, m.host.ino, m) for m in mappings()
                                              if m.inode_dirty and m.dirtied_when <= cutoff
                                              and id(m) not in queued)]
        more = []
        if not io:
            break
        progress = 0
        for m in io:
            if budget <= 0:
                break
            if not m.inode_dirty:
                continue
            chunk = tun.writeback_chunk_folios
            wbc = WritebackControl(WB_SYNC_NONE, range_cyclic=True, nr_to_write=chunk,
                                   reason=WbReason.KUPDATE)
            yield from do_writepages(m, wbc)
            wrote = chunk - wbc.nr_to_write
            budget -= wrote
            progress += wrote
            if not m.dirty:
                m.writeback_done()
                progress += 1
            elif wbc.nr_to_write <= 0 and m.dirtied_when <= cutoff:
                more.append(m)                              # requeue_io
            else:
                newest = max((o.dirtied_when for o in mappings()
                              if o is not m and o.inode_dirty), default=None)
                if newest is not None and m.dirtied_when < newest:
                    m.dirtied_when = engine.now             # redirty_tail
        if not progress:
            break


def _grid_flusher(engine, tun, mappings):
    """Grid timing (`flusher_timing = grid`): every dirty_writeback interval from mount,
    write inodes whose dirtied_when is older than dirty_expire, range-cyclic, a chunk per
    inode per pass; an inode with dirty folios left gets a new dirtied_when."""
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


def _dirty_list(mappings):
    """The inodes a sync work item queues (queue_io with no expiry cutoff: every inode on
    b_dirty), oldest dirtied_when first."""
    return [m for _, _, m in sorted((m.dirtied_when, m.host.ino, m) for m in mappings
                                    if m.inode_dirty)]


def writeback_inodes_sb(mappings, reason=WbReason.SYNC):
    """writeback_inodes_sb -> __writeback_inodes_sb_nr: a WB_SYNC_NONE, tagged_writepages
    work item over every dirty inode of the superblock (writeback_sb_inodes: range 0 to
    LLONG_MAX, not cyclic; writeback_chunk_size is unlimited for tagged work), and the caller
    waits for the work to finish (wb_wait_for_completion): for the submission, not the I/O.
    Assumptions: the work runs in the calling task (the flusher runs it and wakes the caller;
    the order of events is the same); an inode another pass is writing (I_SYNC) is written
    anyway rather than requeued."""
    for m in _dirty_list(mappings):
        yield from do_writepages(m, WritebackControl(WB_SYNC_NONE, reason=reason))
        m.writeback_done()


def sync_inodes_sb(mappings):
    """sync_inodes_sb: a WB_SYNC_ALL for_sync work item over every dirty inode (waited for),
    then wait_sb_inodes: filemap_fdatawait_keep_errors on every inode with folios under
    writeback. ext4_write_inode does nothing for for_sync writeback (sync_fs commits).
    The wait walks every inode, as filemap_fdatawait_range does, so the caller also learns
    of writeback that had already ended (the happens-before a later flush relies on)."""
    from ..mm.filemap import filemap_fdatawait_range
    for m in _dirty_list(mappings):
        yield from do_writepages(m, WritebackControl(WB_SYNC_ALL, reason=WbReason.SYNC))
        m.writeback_done()
    for m in sorted(mappings, key=lambda m: m.host.ino):
        yield from filemap_fdatawait_range(m, 0, (1 << 63) - 1)
