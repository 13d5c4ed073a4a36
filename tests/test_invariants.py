"""The model's self-checks (selfcheck.py): each invariant catches a state that breaks it,
an injected model bug is caught mid-run, and a Hypothesis state machine drives random
operations with the checks on after every event."""

from dataclasses import FrozenInstanceError

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from eofsim import selfcheck
from eofsim.jbd2 import RawInode
from eofsim.ops import parse_op
from eofsim.scenario import FileSpec, Scenario, ThreadSpec
from eofsim.selfcheck import ModelInvariantError
from eofsim.sim import simulate


def sc(ops, files=(FileSpec("f", 0),)):
    return Scenario("t", files=tuple(files), threads=(ThreadSpec("t0", tuple(parse_op(o) for o in ops)),))


def world(ops=("write f 0 6000",), policy="bh-ordered"):
    r = simulate(sc(list(ops)), policy, {"self_check": True})
    return r, r.fs


def test_checks_are_on_in_the_test_suite():
    assert selfcheck.enabled(simulate(sc(["write f 0 1"]), "bh-ordered").tun)


def test_clean_world_passes():
    _, fs = world()
    selfcheck.check(fs)


def test_disksize_above_size_is_caught():
    _, fs = world()
    ino = fs.inodes["f"]
    ino.i_disksize = ino.i_size + 1
    with pytest.raises(ModelInvariantError, match="i_disksize"):
        selfcheck.check(fs)


def test_dirty_folio_without_dirty_block_is_caught():
    _, fs = world(["write f 0 6000", "sleep 1s"])
    f = next(iter(fs.inodes["f"].mapping.folios.values()))
    f.dirty, f.dirty_mask = True, 0
    fs.inodes["f"].mapping.dirty.add(f.index)
    with pytest.raises(ModelInvariantError, match="no dirty block"):
        selfcheck.check(fs)


def test_dirty_tag_mismatch_is_caught():
    _, fs = world()
    m = fs.inodes["f"].mapping
    idx = next(iter(m.folios))
    m.dirty.add(idx)
    m.folios[idx].dirty = False
    with pytest.raises(ModelInvariantError, match="dirty tag"):
        selfcheck.check(fs)


def test_writeback_without_bio_is_caught():
    _, fs = world()
    f = next(iter(fs.inodes["f"].mapping.folios.values()))
    f.writeback, f.wb_pending = True, 0
    with pytest.raises(ModelInvariantError, match="bios in flight"):
        selfcheck.check(fs)


def test_logged_raw_differs_from_committed_is_caught():
    _, fs = world(["write f 0 6000", "fsync f"])
    ino = fs.inodes["f"]
    ino.last_raw = RawInode(ino.ino, ino.i_disksize + 7, ())
    with pytest.raises(ModelInvariantError, match="committed one"):
        selfcheck.check(fs)


def test_changing_a_built_raw_inode_is_caught():
    """A raw inode is a journalled value and a hash key (the crash checker's memo): with the
    self-checks on, assigning a field of one the journal holds raises."""
    _, fs = world(["write f 0 6000", "fsync f"])
    raw = fs.inodes["f"].last_raw
    before = hash(raw)
    for name, value in (("size", raw.size + 1), ("extents", ()), ("nlink", 0), ("ino", 99)):
        with pytest.raises(FrozenInstanceError):
            setattr(raw, name, value)
    assert hash(raw) == before
    assert RawInode(1, 2, ()).nlink == 1        # a built one still gets its default


def test_two_committing_orders_are_caught():
    _, fs = world(["write f 0 6000", "fsync f"])
    j = fs.journal
    j.commit_sequence += 3
    from eofsim.jbd2 import Transaction
    j.running = Transaction(fs.engine, j.commit_sequence - 1, fs.engine.now, 1)
    with pytest.raises(ModelInvariantError, match="does not follow"):
        selfcheck.check(fs)


def test_ordered_window_reversed_is_caught():
    _, fs = world(["write f 0 6000", "fsync f"])
    from eofsim.jbd2 import Transaction, JI_WRITE_DATA
    j = fs.journal
    tx = Transaction(fs.engine, j.commit_sequence + 1, fs.engine.now, 1)
    tx.inodes[12] = [fs.inodes["f"], 100, 50, JI_WRITE_DATA]
    j.running = tx
    with pytest.raises(ModelInvariantError, match="ordered window"):
        selfcheck.check(fs)


def test_injected_bug_is_caught_mid_run(monkeypatch):
    """A core bug that lets i_disksize pass i_size (here: write_end's update asks for one
    byte more) stops the run at the event that did it."""
    from eofsim.ext4.inode import Ext4Inode
    orig = Ext4Inode.grow_disksize

    def bad(self, handle, inode, new, reason):
        return orig(self, handle, inode, new + 1, reason)
    monkeypatch.setattr(Ext4Inode, "grow_disksize", bad)
    with pytest.raises(ModelInvariantError):
        simulate(sc(["write f 0 6000", "fsync f"]), "bh-ordered", {"self_check": True})


OPS = st.one_of(
    st.builds(lambda o, n: f"write f {o} {n}", st.integers(0, 40000), st.integers(1, 9000)),
    st.builds(lambda o, n: f"mwrite f {o} {n}", st.integers(0, 40000), st.integers(1, 5000)),
    st.builds(lambda s: f"truncate f {s}", st.integers(0, 40000)),
    st.builds(lambda o, n, m: f"fallocate f {o} {n} {m}".strip(), st.integers(0, 40000),
              st.integers(1, 9000), st.sampled_from(["", "keep_size", "punch_hole", "zero_range",
                                                     "zero_range,keep_size"])),
    st.sampled_from(["fsync f", "fdatasync f", "sync", "sleep 1s", "sleep 6s", "sleep 31s"]),
    st.builds(lambda o, n: f"sync_file_range f {o} {n} write", st.integers(0, 40000), st.integers(0, 9000)),
)


class RandomOps(RuleBasedStateMachine):
    """Random operation lists, simulated with the self-checks after every event; the size
    follows a plain POSIX size oracle."""

    def __init__(self):
        super().__init__()
        self.ops = []
        self.size = 0
        self.config = None

    @rule(policy=st.sampled_from(["bh-ordered", "bh-writeback", "iomap-deferred", "iomap-pending", "xfs"]),
          bs=st.sampled_from([1024, 4096]), delalloc=st.booleans())
    def configure(self, policy, bs, delalloc):
        if self.config is None:
            self.config = (policy, {"block_size": bs, "delalloc": delalloc, "self_check": True})

    @rule(op=OPS)
    def add(self, op):
        words = op.split()
        k = words[0]
        if k == "write":
            self.size = max(self.size, int(words[2]) + int(words[3]))
        elif k == "truncate":
            self.size = int(words[2])
        elif k == "fallocate" and (len(words) == 4 or words[4] == "zero_range"):
            self.size = max(self.size, int(words[2]) + int(words[3]))
        self.ops.append(op)

    @invariant()
    def model_holds(self):
        if not self.ops or len(self.ops) % 4:
            return
        policy, ov = self.config or ("bh-ordered", {"self_check": True})
        r = simulate(sc(self.ops), policy, ov)      # raises ModelInvariantError if broken
        assert r.deadlocks == [] and r.stall is None
        sizes = [rec.i_size_after for rec in r.ops if rec.op.file == "f"]
        assert sizes[-1] == self.size


RandomOps.TestCase.settings = settings(max_examples=40, stateful_step_count=16, deadline=None,
                                       derandomize=True,
                                       suppress_health_check=[HealthCheck.too_slow])
test_random_ops_keep_the_model_invariants = RandomOps.TestCase
