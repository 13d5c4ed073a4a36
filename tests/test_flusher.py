"""fs/fs_writeback.py: the flusher's timing under the kernel rule (wb_wakeup_delayed,
wb_workfn re-arming, requeue_inode) and the legacy grid. Expected times follow from the
rule: wakeups at first-dirtying + k * dirty_writeback; an inode is written on the first
wakeup at or after dirtied_when + dirty_expire."""

from eofsim.ops import parse_op
from eofsim.scenario import FileSpec, Scenario, ThreadSpec
from eofsim.sim import simulate

S = 1_000_000_000
US = 1_000


def sc(*threads, files=(FileSpec("f", 0),)):
    return Scenario("t", files=tuple(files),
                    threads=tuple(ThreadSpec(f"t{i}", tuple(parse_op(o) for o in ops))
                                  for i, ops in enumerate(threads)))


def kupdate_bios(r):
    return [b for b in r.dev.bios if b.kind == "data" and b.why.startswith("kupdate")]


def dirtied_at(r, op):
    return op.start_ns + r.tun.syscall_ns


def first_wake_at_or_after(armed, period, t):
    k = max(0, -(-(t - armed) // period))
    return armed + k * period


def test_first_dirtying_arms_the_flusher_and_expiry_is_exact():
    """Dirtied at 1.3 s: wakeups at 6.3, 11.3, ... s; expired (dirtied_when <= now - 30 s)
    at 31.3 s exactly. The grid would wait for 35 s."""
    r = simulate(sc(["@1300ms write f 0 4096", "sleep 60s"]), "bh-ordered")
    d = dirtied_at(r, r.ops[0])
    tun = r.tun
    (b,) = kupdate_bios(r)
    assert b.submit_ns == first_wake_at_or_after(d + tun.dirty_writeback_ns, tun.dirty_writeback_ns,
                                                 d + tun.dirty_expire_ns)


def test_grid_timing_wakes_on_multiples_of_the_period():
    r = simulate(sc(["@1300ms write f 0 4096", "sleep 60s"]), "bh-ordered", {"flusher_timing": "grid"})
    d = dirtied_at(r, r.ops[0])
    (b,) = kupdate_bios(r)
    p = r.tun.dirty_writeback_ns
    assert b.submit_ns == -(-(d + r.tun.dirty_expire_ns) // p) * p


def test_a_second_inode_dirtied_later_does_not_rearm():
    """queue_delayed_work is a no-op while the work is queued, and the bdi is not idle when
    g is dirtied at 3 s: g is written at the first wakeup of f's series after 33 s."""
    r = simulate(sc(["@1300ms write f 0 4096", "@3s write g 0 4096", "sleep 70s"]), "bh-ordered")
    tun = r.tun
    df, dg = dirtied_at(r, r.ops[0]), dirtied_at(r, r.ops[1])
    armed = df + tun.dirty_writeback_ns
    by_ino = {b.ino: b.submit_ns for b in kupdate_bios(r)}
    assert by_ino[r.inos["g"]] == first_wake_at_or_after(armed, tun.dirty_writeback_ns,
                                                         dg + tun.dirty_expire_ns)


def test_used_up_chunk_is_written_again_in_the_same_pass():
    """requeue_inode: nr_to_write used up -> requeue_io (b_more_io), written again in the
    same wb_writeback loop while nr_pages lasts."""
    r = simulate(sc(["write f 0 12288", "sleep 60s"]), "bh-ordered", {"writeback_chunk_folios": 1})
    times = {b.submit_ns for b in kupdate_bios(r)}
    assert len(kupdate_bios(r)) == 3 and len(times) == 1


def test_leftover_dirty_folio_is_written_on_the_next_pass():
    """A folio dirty and under writeback when the pass comes is skipped (WB_SYNC_NONE); the
    inode keeps its dirtied_when (redirty_tail: no more recently dirtied inode), so the next
    wakeup, dirty_writeback later, writes it (not a fresh dirty_expire later)."""
    r = simulate(sc(["write f 0 4096", "@29999900us sync_file_range f 0 4096 write",
                     "write f 0 100", "sleep 60s"]), "bh-ordered", {"dev_write_ns": "200us"})
    tun = r.tun
    d = dirtied_at(r, r.ops[0])
    pass1 = first_wake_at_or_after(d + tun.dirty_writeback_ns, tun.dirty_writeback_ns,
                                   d + tun.dirty_expire_ns)
    (b,) = kupdate_bios(r)
    assert b.submit_ns == pass1 + tun.dirty_writeback_ns


def test_metadata_only_dirtying_arms_the_flusher():
    """ext4_setattr's mark_inode_dirty puts the inode on b_dirty (and sets dirtied_when), so
    a later data dirtying of that inode keeps the earlier dirtied_when."""
    r = simulate(sc(["@1s truncate f 100", "@3s write f 0 4096", "sleep 60s"]), "bh-ordered",
                 {"timestamp_ns": 0})
    tun = r.tun
    d = r.ops[0].start_ns + tun.syscall_ns
    (b,) = kupdate_bios(r)
    assert b.submit_ns == first_wake_at_or_after(d + tun.dirty_writeback_ns, tun.dirty_writeback_ns,
                                                 d + tun.dirty_expire_ns)
