"""jbd2.py: deadlines, one running + one committing, T_LOCKED, ordered windows, commit I/O,
and (through the whole model) fsync/fdatasync tids."""

from types import SimpleNamespace

from eofsim.block import BlockDevice
from eofsim.engine import Engine
from eofsim.jbd2 import JI_WAIT_DATA, JI_WRITE_DATA, Journal, RawInode, T_LOCKED
from eofsim.mm import AddressSpace
from eofsim.ops import parse_op
from eofsim.params import Tunables
from eofsim.scenario import FileSpec, Scenario, ThreadSpec
from eofsim.sim import simulate

S = 1_000_000_000


def env(**kw):
    tun = Tunables(**kw)
    eng = Engine()
    dev = BlockDevice(eng, tun)
    submitted = []

    def submit_inode_data(inode, start, end):
        submitted.append((eng.now, inode.ino, start, end))
        return
        yield

    j = Journal(eng, dev, tun, submit_inode_data, lambda lane, text: None)
    return eng, dev, j, submitted


def fake_inode(eng, tun, ino=12):
    host = SimpleNamespace(name=f"i{ino}", ino=ino)
    m = AddressSpace(eng, host, tun)
    host.mapping = m
    return host


def one_handle(eng, j, at, hold=0, raw=None, log=None):
    def t():
        yield at
        h = yield from j.start()
        if log is not None:
            log.append((eng.now, h.tx.tid))
        if raw is not None:
            j.log_raw(h, raw)
        yield hold
        j.stop(h)
    return t()


def commit_bios(dev):
    return [b for b in dev.bios if b.kind == "commit"]


def round_jiffies_up_s(t_ns):
    """round_jiffies_common(force_up): the next whole second, strictly after t."""
    return (t_ns // S + 1) * S


def test_commit_deadline_is_creation_plus_interval():
    """t_expires = creation + interval; the timer fires at round_jiffies_up(t_expires): a
    t_expires on a whole second (6 s) moves a full second on."""
    eng, dev, j, _ = env(commit_interval_ns=5 * S)
    eng.spawn("a", one_handle(eng, j, 1 * S, raw=RawInode(12, 100, ())))
    eng.spawn("b", one_handle(eng, j, 3 * S, raw=RawInode(12, 200, ())))  # does not re-arm
    eng.run(until=60 * S)
    assert j.tx_by_tid[1].created_ns == 1 * S and j.tx_by_tid[1].expires_ns == 6 * S
    logs = [b for b in dev.bios if b.kind == "journal"]
    assert len(logs) == 1 and logs[0].submit_ns == round_jiffies_up_s(6 * S) == 7 * S
    assert logs[0].payload.tid == 1 and logs[0].payload.inodes == (RawInode(12, 200, ()),)
    assert j.commit_sequence == 1 and [c[0] for c in j.commits] == [1]


def test_commit_timer_rounds_up_to_the_next_second():
    eng, dev, j, _ = env()
    eng.spawn("a", one_handle(eng, j, S // 3, raw=RawInode(12, 100, ())))
    eng.run(until=60 * S)
    (log,) = [b for b in dev.bios if b.kind == "journal"]
    assert log.submit_ns == round_jiffies_up_s(S // 3 + 5 * S) == 6 * S


def test_commit_timer_exact_is_t_expires():
    eng, dev, j, _ = env(commit_timer="exact")
    eng.spawn("a", one_handle(eng, j, S // 3, raw=RawInode(12, 100, ())))
    eng.run(until=60 * S)
    (log,) = [b for b in dev.bios if b.kind == "journal"]
    assert log.submit_ns == S // 3 + 5 * S


def test_commit_interval_tunable():
    eng, dev, j, _ = env(commit_interval_ns=2 * S)
    eng.spawn("a", one_handle(eng, j, 1 * S))
    eng.run(until=60 * S)
    assert commit_bios(dev)[0].submit_ns >= 3 * S
    assert [b for b in dev.bios if b.kind == "journal"][0].submit_ns == round_jiffies_up_s(3 * S)


def test_commit_block_has_preflush_and_fua_and_follows_log_completion():
    eng, dev, j, _ = env()
    eng.spawn("a", one_handle(eng, j, 0))
    eng.run(until=60 * S)
    (c,) = commit_bios(dev)
    (lg,) = [b for b in dev.bios if b.kind == "journal"]
    assert c.preflush and c.fua and c.payload == 1
    assert not lg.preflush and not lg.fua
    assert c.submit_ns >= lg.complete_ns
    assert c.hb & lg.bit, "the commit's issuer knew the log block completed"


def test_no_barrier_means_plain_commit_block():
    eng, dev, j, _ = env(barrier=False)
    eng.spawn("a", one_handle(eng, j, 0))
    eng.run(until=60 * S)
    (c,) = commit_bios(dev)
    assert not c.preflush and not c.fua


def test_handle_blocks_while_locked_and_joins_next_transaction():
    eng, dev, j, _ = env(commit_interval_ns=5 * S, commit_timer="exact")
    log = []
    # handle A opened at 1 s stays open until 8 s, past the 6 s deadline
    eng.spawn("A", one_handle(eng, j, 1 * S, hold=7 * S, log=log))
    # B asks at 7 s while tid 1 is T_LOCKED waiting for A
    eng.spawn("B", one_handle(eng, j, 7 * S, log=log))
    states = {}
    eng.call_at(int(6.5 * S), lambda _: states.setdefault("t1", j.tx_by_tid[1].state))
    eng.run(until=60 * S)
    assert states["t1"] == T_LOCKED
    assert log[0] == (1 * S, 1)
    assert log[1] == (8 * S, 2), "B waits for the lock to clear, then opens tid 2"
    assert j.tx_by_tid[2].created_ns == 8 * S


def test_reserved_handle_joins_locked_transaction():
    eng, dev, j, _ = env(commit_interval_ns=5 * S)
    got = []
    eng.spawn("A", one_handle(eng, j, 1 * S, hold=7 * S))

    def r():
        yield 7 * S
        h = yield from j.start(reserved=True)
        got.append((eng.now, h.tx.tid))
        j.stop(h)
    eng.spawn("R", r())
    eng.run(until=60 * S)
    assert got == [(7 * S, 1)]


def test_one_running_and_one_committing_commits_are_serial():
    # slow device: the first commit is still in flight when tid 2 wants to commit
    eng, dev, j, _ = env(commit_interval_ns=1 * S, dev_write_ns=3 * S // 2, dev_flush_ns=1,
                         commit_timer="exact")
    seen = []

    def probe(_):
        seen.append((j.running.tid if j.running else None,
                     j.committing.tid if j.committing else None))
    eng.spawn("a", one_handle(eng, j, 0))
    eng.spawn("b", one_handle(eng, j, int(1.2 * S)))
    eng.call_at(int(1.3 * S), probe)
    eng.run(until=60 * S)
    assert seen == [(2, 1)]
    c1, c2 = commit_bios(dev)
    assert (c1.payload, c2.payload) == (1, 2)
    assert c2.submit_ns >= c1.complete_ns
    l2 = [b for b in dev.bios if b.kind == "journal" and b.payload.tid == 2][0]
    assert l2.submit_ns >= c1.complete_ns, "tid 2's commit starts only after tid 1 finished"


def test_ordered_windows_are_unions_with_merged_flags():
    eng, dev, j, submitted = env()
    tun = Tunables()
    ino = fake_inode(eng, tun)

    def t():
        h = yield from j.start()
        j.file_inode(h, ino, 8192, 9000, JI_WAIT_DATA)
        j.file_inode(h, ino, 100, 200, JI_WRITE_DATA | JI_WAIT_DATA)
        j.file_inode(h, ino, 5000, 6000, JI_WAIT_DATA)
        tx = h.tx
        assert tx.inodes[12][1:] == [100, 9000, JI_WRITE_DATA | JI_WAIT_DATA]
        assert tx.need_data_flush
        j.stop(h)
    eng.spawn("t", t())
    eng.run(until=60 * S)
    assert [(i, s, e) for _, i, s, e in submitted] == [(12, 100, 9000)]


def test_wait_only_window_is_not_submitted():
    eng, dev, j, submitted = env()
    ino = fake_inode(eng, Tunables())

    def t():
        h = yield from j.start()
        j.file_inode(h, ino, 0, 4095, JI_WAIT_DATA)
        j.stop(h)
    eng.spawn("t", t())
    eng.run(until=60 * S)
    assert submitted == [] and j.commit_sequence == 1


def test_commit_waits_for_ordered_writeback_in_window():
    eng, dev, j, _ = env()
    tun = Tunables()
    ino = fake_inode(eng, tun)
    f = ino.mapping.create(0)
    ino.mapping.start_writeback(f)

    def t():
        h = yield from j.start()
        j.file_inode(h, ino, 0, 4095, JI_WRITE_DATA | JI_WAIT_DATA)
        j.stop(h)
    eng.spawn("t", t())
    eng.call_at(9 * S, lambda _: ino.mapping.end_writeback(f))
    eng.run(until=60 * S)
    (c,) = commit_bios(dev)
    assert c.submit_ns >= 9 * S


def test_log_start_commit_and_complete_transaction():
    eng, dev, j, _ = env()
    out = []

    def t():
        h = yield from j.start()
        tid = h.tx.tid
        j.stop(h)
        yield 1000
        yield from j.complete_transaction(tid)
        out.append((eng.now, j.commit_sequence))
        yield from j.complete_transaction(tid)  # already committed: returns at once
        out.append((eng.now, j.commit_sequence))
    eng.spawn("t", t())
    eng.run(until=60 * S)
    assert out[0][1] == 1 and out[0][0] < 10_000_000, "forced commit, not the 5 s timer"
    assert out[1] == out[0]


def test_full_transaction_forces_commit():
    eng, dev, j, _ = env(max_txn_buffers=4)
    log = []

    def t():
        for _ in range(3):
            h = yield from j.start(credits=2)
            log.append((eng.now, h.tx.tid))
            j.stop(h)
    eng.spawn("t", t())
    eng.run(until=60 * S)
    assert [tid for _, tid in log] == [1, 1, 2]
    assert log[2][0] < 1 * S


# --- fsync / fdatasync tids through the whole model ---------------------------------------------

def _sc(ops, files=(FileSpec("f", 8192),), tunables=None):
    return Scenario("t", tunables=tunables or {}, files=files,
                    threads=(ThreadSpec("t0", tuple(parse_op(o) for o in ops)),))


def test_fdatasync_skips_commit_fsync_commits_for_metadata_only_change():
    # nodelalloc overwrite inside the file: a handle marks the inode dirty (i_sync_tid moves),
    # but neither size nor block map changes (i_datasync_tid stays)
    r = simulate(_sc(["write f 0 100", "fdatasync f", "fsync f"], tunables={"delalloc": False}),
                 "bh-ordered")
    w, fds, fs = r.ops
    assert fds.sync_tid == 0
    assert fs.sync_tid >= 1
    assert any(c[0] == fs.sync_tid and c[2] <= fs.end_ns for c in r.commits)
    assert not any(c[2] <= fds.end_ns for c in r.commits)


def test_fdatasync_commits_size_change():
    r = simulate(_sc(["truncate f 20000", "fdatasync f"]), "bh-ordered")
    tr, fds = r.ops
    assert fds.sync_tid >= 1
    assert tr.size_durable_ns is not None and tr.size_durable_ns <= fds.end_ns
    # and it is fast: a forced commit, not the 5 s timer
    assert fds.end_ns - fds.start_ns < 50_000_000


def test_nested_handle_reuses_the_current_one_and_never_waits():
    """journal_current_handle: a task starting a handle while it holds one gets the same
    handle back, even while a commit waits for the transaction's handles (T_LOCKED)."""
    from eofsim.block import BlockDevice
    from eofsim.engine import Engine
    from eofsim.jbd2 import Journal
    from eofsim.params import Tunables
    eng = Engine()
    tun = Tunables(commit_interval_ns=1000)
    dev = BlockDevice(eng, tun)

    def submit(inode, start, end):
        return ()
    j = Journal(eng, dev, tun, submit, lambda lane, text: None)
    seen = []

    def t():
        h1 = yield from j.start()
        yield 5000                      # the commit timer fires; the commit waits in T_LOCKED
        h2 = yield from j.start()       # nested: must not wait for the locked transaction
        seen.append(h2 is h1)
        j.stop(h2)
        j.stop(h1)
        seen.append(eng.now)

    eng.spawn("t", t())
    eng.run(until=10**9)
    assert seen[0] is True and seen[1] == 5000
    assert j.commit_sequence == 1 and not eng.deadlocks


# --- jbd2_journal_stop of an h_sync handle: sync-commit batching (issue 10 item 11) -----------

MS_ = 1_000_000


def sync_handle(eng, j, at, log, name):
    """start a handle at `at`, stop it as a synchronous one (ext4_handle_sync)."""
    def t():
        yield at
        h = yield from j.start()
        log.append((name, "start", eng.now, h.tx.tid))
        yield from j.stop_sync(h)
        log.append((name, "stopped", eng.now, h.tx.tid))
    return t()


def warm_up(eng, j):
    """One ordinary commit, so that j_average_commit_time is that commit's duration."""
    def t():
        h = yield from j.start()
        j.stop(h)
        j.log_start_commit(h.tx.tid)
        yield from j.log_wait_commit(h.tx.tid)
    return t()


def test_sync_stop_commits_and_waits_without_sleep_before_any_commit():
    """jbd2_journal_stop: h_sync -> jbd2_log_start_commit + jbd2_log_wait_commit; with
    j_average_commit_time 0 and min_batch 0 the clamped time is 0, so no batching sleep."""
    eng, dev, j, _ = env()
    log = []
    eng.spawn("a", sync_handle(eng, j, 0, log, "a"))
    eng.run(until=10 * S)
    (_, _, t0, tid), (_, _, t1, _) = log
    assert j.commit_sequence >= tid
    commit_done = next(t for ctid, _, t in j.commits if ctid == tid)
    assert t1 == commit_done                      # waited for the commit, not the 5 s timer
    assert t1 < S
    assert j.tx_by_tid[tid].flush_ns == t0        # no sleep with the handle held


def test_sync_stop_batches_a_second_task_into_the_same_transaction():
    """After one commit (j_average_commit_time = its duration), task a's sync stop sleeps
    that long with its handle held; task b's handle, started during the sleep, joins the
    same transaction, so one commit serves both. max_batch_ns = 0 turns the batching off:
    a's transaction commits at once and b's handle lands in the next one."""
    def run(**kw):
        eng, dev, j, _ = env(**kw)
        eng.spawn("w", warm_up(eng, j))
        eng.run(until=1 * S)
        avg = j.average_commit_ns
        log = []
        eng.spawn("a", sync_handle(eng, j, 0, log, "a"))
        eng.spawn("b", sync_handle(eng, j, avg // 4, log, "b"))
        eng.run(until=20 * S)
        return j, avg, log
    j, avg, log = run()
    assert 0 < avg <= 15 * MS_
    tids = {name: tid for name, what, _, tid in log if what == "start"}
    assert tids["a"] == tids["b"]
    a_start = next(t for n, w, t, _ in log if n == "a" and w == "start")
    assert j.tx_by_tid[tids["a"]].flush_ns >= a_start + avg
    j0, _, log0 = run(max_batch_ns=0)
    tids0 = {name: tid for name, what, _, tid in log0 if what == "start"}
    assert tids0["a"] != tids0["b"]


def test_sync_stop_clamps_to_min_batch_and_skips_the_last_sync_writer():
    """The sleep is j_average_commit_time clamped to [min_batch, max_batch] (here raised to
    min_batch_ns = 40 ms), and a task that was the last to stop a sync handle does not
    sleep again (j_last_sync_writer == pid: a single stream of sync writes)."""
    eng, dev, j, _ = env(min_batch_ns=40 * MS_, max_batch_ns=50 * MS_)
    eng.spawn("w", warm_up(eng, j))
    eng.run(until=1 * S)
    assert j.average_commit_ns < 40 * MS_
    log = []

    def two():
        yield from sync_handle(eng, j, 0, log, "1")
        yield from sync_handle(eng, j, 0, log, "2")
    eng.spawn("a", two())
    eng.run(until=20 * S)
    starts = {n: (t, tid) for n, w, t, tid in log if w == "start"}
    t1, tid1 = starts["1"]
    t2, tid2 = starts["2"]
    assert j.tx_by_tid[tid1].flush_ns == t1 + 40 * MS_
    assert j.tx_by_tid[tid2].flush_ns == t2
