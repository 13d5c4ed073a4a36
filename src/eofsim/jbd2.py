"""jbd2: transactions, ordered data, commit (fs/jbd2/transaction.c, commit.c, journal.c)."""

from dataclasses import dataclass


@dataclass(slots=True, unsafe_hash=True)
class RawInode:
    """The on-disk inode as ext4_fill_raw_inode copies it into a journalled buffer:
    the *current* i_disksize and the extent tree (block map). A value: never changed once
    built (not frozen only because a frozen dataclass's __init__ costs four setter calls
    more, and one is built at every ext4_mark_inode_dirty); hashed by its fields."""
    ino: int
    size: int
    extents: tuple
    """((lblk, pblk, unwritten), ...) sorted by lblk, one entry per mapped block; a long
    unwritten extent is one entry (lblk, pblk, True, count) (ext4/extents.ExtentMap)."""
    nlink: int = 1
    """i_links_count: 0 once the last name is gone (an orphan until evicted, then freed)."""


@dataclass(frozen=True, slots=True)
class RawDir:
    """A directory's entries as its journalled directory blocks hold them (ext4_add_entry,
    ext4_delete_entry, ext4_setent dirty them with ext4_handle_dirty_dirblock): recovery
    replays them with the transaction like any other metadata block."""
    ino: int
    entries: tuple
    """((name, ino), ...) sorted by name."""
    size = 0


ORPHAN_KEY = 0
"""Record key of the orphan list (the superblock's s_last_orphan chain, or the orphan file)."""


@dataclass(frozen=True, slots=True)
class RawOrphans:
    """The orphan list as journalled (ext4_orphan_add / ext4_orphan_del dirty it in the
    caller's handle): inodes that ext4_orphan_cleanup must finish at the next mount."""
    inos: tuple
    ino = ORPHAN_KEY
    size = 0


@dataclass(frozen=True, slots=True)
class LogRecord:
    """What a transaction's descriptor + metadata blocks carry: every inode it logged."""
    tid: int
    inodes: tuple
    """(RawInode, ...) as last marked dirty in this transaction."""


from .block import Bio, WRITE
from .content import fill
from .engine import Completion, WaitQueue
from .mm.filemap import filemap_fdatawait_range
from .hb import join

JOURNAL_BASE = 1 << 40
T_RUNNING, T_LOCKED, T_FLUSH, T_COMMIT_JFLUSH, T_FINISHED = range(5)
"""transaction_t t_state values the model goes through (include/linux/jbd2.h): T_FLUSH while
ordered data and log blocks go out, T_COMMIT_JFLUSH once the commit block (with its
PREFLUSH) is being written; T_SWITCH, T_COMMIT, T_COMMIT_DFLUSH and T_COMMIT_CALLBACK are
not distinguished."""
JI_WRITE_DATA, JI_WAIT_DATA = 1, 2
SECOND_NS = 1_000_000_000
_new = object.__new__


class Transaction:
    __slots__ = ("tid", "state", "created_ns", "expires_ns", "updates", "credits", "inodes",
                 "raw", "hb", "done", "updates_wq", "need_data_flush", "commit_bio", "flush_ns")

    def __init__(self, engine, tid, now, interval):
        self.tid = tid
        self.state = T_RUNNING
        self.created_ns = now
        self.expires_ns = now + interval
        """t_expires: creation time + commit interval (jbd2_get_transaction)."""
        self.updates = 0
        self.credits = 0
        self.inodes = {}
        """ino -> [inode, dirty_start, dirty_end (inclusive), JI_* flags] (t_inode_list)."""
        self.raw = {}
        """ino -> RawInode as last marked dirty in this transaction."""
        self.hb = 0
        self.done = Completion(engine, f"commit of tid {tid}", "commit_wait")
        self.updates_wq = WaitQueue(engine, f"handles of tid {tid}", "t_updates")
        self.need_data_flush = False
        self.commit_bio = None
        self.flush_ns = None
        """When the commit reached T_FLUSH (jbd2_journal_commit_transaction's start_time)."""


class Handle:
    __slots__ = ("tx", "reserved", "refs")

    def __init__(self, tx, reserved):
        self.tx = tx
        self.reserved = reserved
        self.refs = 1


class Journal:
    """journal_t with its kjournald2 thread.

    Assumption: the journal never wraps and is never checkpointed within a scenario; its
    blocks get fresh numbers from JOURNAL_BASE up, so every log write stays in the I/O log
    as written (recovery reads the newest committed copy of each inode either way)."""

    def __init__(self, engine, dev, tun, submit_inode_data, log_event, periodic_ns=None):
        self.engine = engine
        self.periodic_ns = periodic_ns
        """XFS log timing (Policy.xfs_log_timing): a transaction commits at the next tick of
        the periodic log worker (xfs_log_worker every xfs_syncd_ns since mount) instead of
        commit_interval_ns after it began."""
        self.dev = dev
        self.tun = tun
        self.submit_inode_data = submit_inode_data
        """j_submit_inode_data_buffers (ext4_normal_submit_inode_data_buffers)."""
        self.log_event = log_event
        """Callback(lane, text) for the timeline."""
        self.trace = True
        """Whether the timeline is kept (False: the texts for log_event are not built)."""
        self.running = None
        self.committing = None
        self.commit_sequence = 0
        """j_commit_sequence: tid of the last committed transaction."""
        self.commit_request = 0
        self.next_tid = 1
        self.head = JOURNAL_BASE
        self.locked_wq = WaitQueue(engine, "transaction locked", "journal_locked",
                                   owner=lambda: (self.thread,))
        self.kick = WaitQueue(engine, "kjournald2 idle", "jbd2_idle", idle=True)
        self.current_handles = {}
        """task -> the handle it holds (current->journal_info)."""
        self.commits = []
        """[(tid, commit bio id, committed time)]"""
        self.tx_by_tid = {}
        self.on_disk_raw = {}
        """ino -> RawInode of the last committed transaction that logged it."""
        self.average_commit_ns = 0
        """j_average_commit_time (jbd2_journal_commit_transaction: (new + 3 * old) / 4)."""
        self.last_sync_writer = None
        """j_last_sync_writer: the task that last stopped a synchronous handle (pid 0 at
        journal creation, which no modelled task has)."""
        self.thread = engine.spawn("kjournald2", self._kjournald2(), kind="daemon")

    # --- handles ---------------------------------------------------------------------------
    def start_nowait(self, credits=1, reserved=False):
        """start()'s path that does not wait, without a generator: the handle, or None when
        start() would wait (T_LOCKED, or the transaction full); callers write
        `journal.start_nowait(c) or (yield from journal.start(credits=c))`."""
        eng = self.engine
        cur = eng.current
        held = self.current_handles.get(cur)
        if held is not None:
            held.refs += 1
            return held
        tx = self.running
        if tx is None:
            tx = Transaction(eng, self.next_tid, eng.now, self._lifetime(eng.now))
            self.next_tid += 1
            self.running = tx
            self.tx_by_tid[tx.tid] = tx
            eng.call_at(self.commit_timer_ns(tx.expires_ns), self._commit_timeout, tx)
        state = tx.state
        if state == T_LOCKED and not reserved:
            return None
        if state == T_RUNNING and tx.credits and tx.credits + credits > self.tun.max_txn_buffers:
            return None
        tx.updates += 1
        tx.credits += credits
        handle = _new(Handle)       # Handle(tx, reserved) without the call of __init__
        handle.tx = tx
        handle.reserved = reserved
        handle.refs = 1
        if cur is not None:
            self.current_handles[cur] = handle
        return handle

    def start(self, credits=1, reserved=False):
        """jbd2__journal_start / start_this_handle. Waits while the running transaction is
        T_LOCKED (wait_transaction_locked) unless the handle was reserved, and forces a commit
        when the transaction is full (add_transaction_credits). A task that already holds a
        handle gets it back with one more reference (journal_current_handle), never waiting."""
        while True:
            handle = self.start_nowait(credits, reserved)
            if handle is not None:
                return handle
            tx = self.running
            if tx.state != T_LOCKED or reserved:
                self.log_start_commit(tx.tid)       # full: add_transaction_credits
            yield self.locked_wq

    def commit_timer_ns(self, expires_ns):
        """jbd2_get_transaction (transaction.c, 6.12.117): j_commit_timer.expires =
        round_jiffies_up(t_expires). round_jiffies_common(force_up) always moves to the next
        whole second of jiffies (a t_expires already on a second boundary moves a full second
        on), so the timer commit lands 5-6 s after the transaction was created, while
        jbd2_journal_stop still compares jiffies with the unrounded t_expires.
        Assumptions: jiffies count whole seconds from t=0 (their phase at mount is unknown),
        CPU 0 (no 3-jiffies-a-CPU skew), and the timer wheel fires at the exact expiry (level
        granularity would add up to 63 jiffies). `commit_timer = exact` restores a timer at
        t_expires (the model before issue 10)."""
        if self.tun.commit_timer == "exact" or self.periodic_ns is not None:
            # XFS log timing: the log worker's delayed work is not rounded.
            return expires_ns
        hz = SECOND_NS
        return (expires_ns // hz + 1) * hz

    def stop(self, handle):
        """jbd2_journal_stop: hands the caller's knowledge to the transaction; starts a commit
        if the transaction's deadline has passed."""
        tx = handle.tx
        eng = self.engine
        cur = eng.current
        if cur is not None:
            tx.hb = join(tx.hb, cur.hb)
        if handle.refs > 1:
            handle.refs -= 1
            return
        self.current_handles.pop(cur, None)
        tx.updates -= 1
        if not tx.updates and tx.updates_wq.waiters:
            tx.updates_wq.wake_all()
        if eng.now >= tx.expires_ns:
            self.log_start_commit(tx.tid)

    def stop_sync(self, handle):
        """jbd2_journal_stop of a handle with h_sync set (ext4_handle_sync; transaction.c,
        6.12.117). The synchronous-transaction batching: unless this task was the last to
        stop a sync handle (j_last_sync_writer) or max_batch_ns is 0, and while the
        transaction is younger than j_average_commit_time clamped to [min_batch_ns,
        max_batch_ns], sleep that long (schedule_hrtimeout to now + the clamped time, not the
        difference) with the handle still held, so the transaction cannot commit and other
        tasks' handles join it. Then the handle stops, a commit is started
        (jbd2_log_start_commit) and waited for (jbd2_log_wait_commit)."""
        if handle.refs > 1:
            self.stop(handle)
            return
        eng = self.engine
        tx = handle.tx
        tun = self.tun
        cur = eng.current
        if tun.max_batch_ns and self.last_sync_writer is not cur:
            self.last_sync_writer = cur
            commit_ns = min(max(self.average_commit_ns, tun.min_batch_ns), tun.max_batch_ns)
            if eng.now - tx.created_ns < commit_ns:
                self.log_event("jbd2", f"sync handle of tid {tx.tid}: batching sleep "
                               f"{commit_ns} ns")
                yield commit_ns
        tid = tx.tid
        self.stop(handle)
        self.log_start_commit(tid)
        yield from self.log_wait_commit(tid)

    def file_inode(self, handle, inode, start, end, flags):
        """jbd2_journal_file_inode: merge [start, end] into the inode's window (a union)."""
        tx = handle.tx
        ent = tx.inodes.get(inode.ino)
        if ent is None:
            tx.inodes[inode.ino] = [inode, start, end, flags]
        else:
            if start < ent[1]:
                ent[1] = start
            if end > ent[2]:
                ent[2] = end
            ent[3] |= flags
        tx.need_data_flush = True

    def _lifetime(self, now):
        """jbd2: commit_interval_ns. XFS: until the log worker's next tick after `now`
        (the worker forces the log only when the CIL is not empty: xfs_log_worker ->
        xfs_log_need_covered false -> xfs_log_force)."""
        p = self.periodic_ns
        if p is None:
            return self.tun.commit_interval_ns
        return (now // p + 1) * p - now

    def log_raw(self, handle, raw):
        handle.tx.raw[raw.ino] = raw

    # --- commits -----------------------------------------------------------------------------
    def _commit_timeout(self, tx):
        """commit_timeout -> wake kjournald2 when t_expires passes."""
        if self.running is tx:
            self.log_start_commit(tx.tid)

    def log_start_commit(self, tid):
        """jbd2_log_start_commit."""
        if tid > self.commit_request and (self.running is not None and self.running.tid == tid
                                          or self.committing is not None and self.committing.tid == tid):
            self.commit_request = tid
            self.kick.wake_all()

    def start_commit(self):
        """jbd2_journal_start_commit: ask for the running transaction's commit (else name
        the committing one); the tid to wait for, or None when there is neither."""
        if self.running is not None:
            self.log_start_commit(self.running.tid)
            return self.running.tid
        if self.committing is not None:
            return self.committing.tid
        return None

    def log_wait_commit(self, tid):
        """jbd2_log_wait_commit."""
        tx = self.tx_by_tid.get(tid)
        if tx is not None:
            yield from tx.done.wait()

    def complete_transaction(self, tid):
        """jbd2_complete_transaction: commit `tid` if it has not been, and wait for it."""
        if tid <= self.commit_sequence:
            return
        self.log_start_commit(tid)
        yield from self.log_wait_commit(tid)

    def trans_will_send_data_barrier(self, tid) -> bool:
        """jbd2_trans_will_send_data_barrier (journal on the filesystem device). When it says
        yes, the caller relies on that commit's PREFLUSH for the data it has seen complete:
        reading the state before the commit thread moves it on orders the two, so the
        caller's knowledge joins the transaction's."""
        if not self.tun.barrier or tid <= self.commit_sequence:
            return False
        c = self.committing
        if c is None or c.tid != tid:
            tx = self.tx_by_tid.get(tid)
            self._lend_knowledge(tx)
            return True
        if c.state < T_COMMIT_JFLUSH:
            self._lend_knowledge(c)
            return True
        return False

    def _lend_knowledge(self, tx):
        cur = self.engine.current
        if tx is not None and cur is not None:
            tx.hb |= cur.hb

    def _kjournald2(self):
        while True:
            while self.commit_request <= self.commit_sequence or self.running is None:
                yield self.kick
            yield from self._commit(self.running)

    def _commit(self, tx):
        """jbd2_journal_commit_transaction."""
        eng = self.engine
        me = eng.current
        tx.state = T_LOCKED
        while tx.updates:
            yield tx.updates_wq
        me.hb |= tx.hb
        tx.state = T_FLUSH
        tx.flush_ns = eng.now
        self.committing = tx
        self.running = None
        self.locked_wq.wake_all()
        if self.trace:
            self.log_event("jbd2", f"commit tid {tx.tid} starts ({len(tx.raw)} inodes, "
                           f"{len(tx.inodes)} ordered)")
        # Phase 2a: journal_submit_data_buffers
        for ino, (inode, start, end, flags) in sorted(tx.inodes.items()):
            if flags & JI_WRITE_DATA:
                yield from self.submit_inode_data(inode, start, end)
        # descriptor + metadata blocks
        raw = tx.raw
        record = LogRecord(tx.tid, tuple([raw[i] for i in sorted(raw)]))
        nblk = 1 + len(record.inodes)
        empty = fill(self.dev.bs)
        head = self.head
        self.head = head + nblk      # _jblock, nblk times
        blocks = tuple([(head + i, empty) for i in range(nblk)])
        log_done = Completion(eng, f"log blocks of tid {tx.tid}", "jbd2_log_io")
        lbio = Bio(0, WRITE, blocks)           # the fields stored, not passed by keyword
        lbio.kind = "journal"
        lbio.why = f"jbd2 log tid {tx.tid}"
        lbio.payload = record
        lbio.end_io = lambda b: log_done.complete()
        self.dev.submit(lbio)
        # journal_finish_inode_data_buffers: wait for ordered data
        for ino, (inode, start, end, flags) in sorted(tx.inodes.items()):
            if flags & JI_WAIT_DATA:
                yield from filemap_fdatawait_range(inode.mapping, start, end)
        yield from log_done.wait()
        me.hb |= tx.hb
        tx.state = T_COMMIT_JFLUSH
        commit_done = Completion(eng, f"commit block of tid {tx.tid}", "jbd2_commit_io")
        barrier = self.tun.barrier
        cbio = Bio(0, WRITE, ((self._jblock(), fill(self.dev.bs)),))
        cbio.kind = "commit"
        cbio.why = f"jbd2 commit tid {tx.tid}"
        cbio.payload = tx.tid
        cbio.preflush = cbio.fua = barrier
        cbio.end_io = lambda b: commit_done.complete()
        self.dev.submit(cbio)
        tx.commit_bio = cbio
        yield from commit_done.wait()
        tx.state = T_FINISHED
        self.commit_sequence = tx.tid
        commit_ns = eng.now - tx.flush_ns
        avg = self.average_commit_ns
        self.average_commit_ns = (commit_ns + 3 * avg) // 4 if avg else commit_ns
        self.committing = None
        self.commits.append((tx.tid, cbio.id, eng.now))
        for r in record.inodes:
            self.on_disk_raw[r.ino] = r
        if self.trace:
            self.log_event("jbd2", f"tid {tx.tid} committed (commit block bio {cbio.id}); on disk: "
                           + (", ".join(f"ino {r.ino} size={r.size}" for r in record.inodes)
                              or "no inodes"))
        tx.done.complete()
        self.locked_wq.wake_all()

    def _jblock(self):
        self.head += 1
        return self.head - 1
