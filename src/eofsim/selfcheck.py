"""Model self-checks: invariants the kernel asserts or relies on, checked after every event
of the engine when enabled (tunable `self_check`, or EOFSIM_SELF_CHECK=1 in the environment,
which tests/conftest.py sets for the test suite).

- i_disksize <= i_size (ext4 relies on it: e2fsck flags blocks past i_disksize; ext4_setattr
  and ext4_truncate order their updates so it holds between handles — the model makes those
  updates without yielding, so it must hold after every event).
- jbd2: at most one running and one committing transaction (j_running_transaction,
  j_committing_transaction), in tid order, each in a state its role allows; commits land in
  tid order (jbd2_journal_commit_transaction's J_ASSERTs).
- A dirty folio has a dirty block and is tagged dirty in the mapping, and only then
  (folio_mark_dirty / PAGECACHE_TAG_DIRTY; block_dirty_folio dirties buffers).
- A folio is under writeback exactly while bios of it are in flight or being built: each bio
  that carries it holds one reference (iomap_folio_state write_bytes_pending / the bh
  end_buffer_async_write count), so no ioend can end another's writeback.
- An ordered window is a non-empty byte range starting inside the file's blocks or at the
  old EOF being zeroed (jbd2_journal_inode_ranged_write's dirty_start <= dirty_end).
- Once no open transaction holds an inode, the raw inode the model last logged for it is the
  one of the last committed transaction that logged it (what recovery would read).
- A raw inode (jbd2.RawInode) is a value: hashed by its fields and used as a key, it must
  never change once built. It is not a frozen dataclass (a frozen __init__ costs four
  setter calls, at every ext4_mark_inode_dirty), so with the self-checks on (every test)
  assigning a field of a built one raises instead.
"""

import os

from dataclasses import FrozenInstanceError

from .jbd2 import T_FINISHED, T_FLUSH, T_LOCKED, T_RUNNING, RawInode


class ModelInvariantError(AssertionError):
    """The model broke one of its own invariants (a model bug, not a finding)."""


def enabled(tun) -> bool:
    return bool(getattr(tun, "self_check", False)) or os.environ.get("EOFSIM_SELF_CHECK") == "1"


def install(engine, fs):
    engine.after_event = lambda: check(fs)
    RawInode.__setattr__ = _raw_inode_setattr


_set_slot = object.__setattr__


def _raw_inode_setattr(raw, name, value):
    """RawInode.__setattr__ while self-checks run: a field is stored once, by __init__."""
    try:
        getattr(raw, name)
    except AttributeError:
        _set_slot(raw, name, value)
        return
    raise FrozenInstanceError(f"cannot assign to field {name!r} of a built RawInode")


def fail(engine, text):
    raise ModelInvariantError(f"model invariant broken at t={engine.now} ns: {text}")


def check(fs):
    eng = fs.engine
    j = fs.journal
    run, com = j.running, j.committing
    if run is not None and run.state not in (T_RUNNING, T_LOCKED):
        fail(eng, f"running transaction {run.tid} in state {run.state}")
    if com is not None:
        if not T_FLUSH <= com.state < T_FINISHED:
            fail(eng, f"committing transaction {com.tid} in state {com.state}")
        if run is not None and run.tid <= com.tid:
            fail(eng, f"running tid {run.tid} not after committing tid {com.tid}")
        if com.tid != j.commit_sequence + 1:
            fail(eng, f"committing tid {com.tid} does not follow the last commit {j.commit_sequence}")
    elif run is not None and run.tid != j.commit_sequence + 1:
        fail(eng, f"running tid {run.tid} does not follow the last commit {j.commit_sequence}")
    open_raw = {}
    for tx in (com, run):
        if tx is None:
            continue
        open_raw.update(tx.raw)
        for ino, (inode, start, end, flags) in tx.inodes.items():
            if start < 0 or end < start:
                fail(eng, f"ordered window [{start}, {end}] of ino {ino} in tid {tx.tid}")
    bs = fs.bs
    for inode in fs.by_ino.values():
        if inode.i_disksize > inode.i_size:
            fail(eng, f"{inode.name}: i_disksize {inode.i_disksize} > i_size {inode.i_size}")
        if inode.ino not in open_raw:
            disk = j.on_disk_raw.get(inode.ino)
            if disk is not None and inode.last_raw != disk:
                fail(eng, f"{inode.name}: last logged raw inode {inode.last_raw} is not the "
                          f"committed one {disk}")
        m = inode.mapping
        for idx, f in m.folios.items():
            if f.dirty != (idx in m.dirty):
                fail(eng, f"{inode.name}: folio {idx} dirty={f.dirty} but dirty tag {idx in m.dirty}")
            if f.dirty and not f.dirty_mask:
                fail(eng, f"{inode.name}: folio {idx} dirty with no dirty block")
            if f.wb_pending < 0 or (f.wb_pending > 0) != f.writeback:
                fail(eng, f"{inode.name}: folio {idx} writeback={f.writeback} with "
                          f"{f.wb_pending} bios in flight")
    del bs
