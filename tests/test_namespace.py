"""Namespace operations (issue 11): create, unlink, rename, open/close, mkdir, directory
fsync, synchronous writes; the kernel functions in ext4/namei.py behind them."""

import pytest

from eofsim.errors import InputError
from eofsim.jbd2 import RawDir, RawInode, RawOrphans
from eofsim.ops import parse_op
from eofsim.scenario_file import load_text
from eofsim.sim import simulate


def sc(ops, files="", tunables=""):
    body = "name: t\n" + (f"tunables: {{{tunables}}}\n" if tunables else "")
    if files:
        body += "files:\n" + "".join(f"  - {{name: {n}, size: {s}}}\n" for n, s in files)
    body += "ops:\n" + "".join(f"  - \"{o}\"\n" for o in ops)
    return load_text(body, "t.yaml")


def errors(res):
    return [(r.op.text(), r.error) for r in res.ops]


def records(res):
    """tid -> {key: raw record} as the transactions logged them."""
    return {tid: dict(tx.raw) for tid, tx in res.fs.journal.tx_by_tid.items()}


@pytest.mark.parametrize("text", ["create d/f", "open f trunc", "open f creat excl dsync",
                                  "close f", "unlink f", "rename a d/b", "mkdir d",
                                  "write f 0 10 dsync", "write f 0 10 sync", "fsync d"])
def test_op_text_round_trips(text):
    op = parse_op(text)
    assert op.text() == text
    assert parse_op(op.text()) == op


@pytest.mark.parametrize("text", ["rename a", "open f bogus", "write f 0 1 nosync", "create /x",
                                  "create a//b", "unlink ../x", "close"])
def test_malformed_namespace_ops_name_their_line(text):
    with pytest.raises(InputError) as e:
        parse_op(text, "s.yaml:7")
    assert str(e.value).startswith("s.yaml:7: ")


def test_real_errnos_are_recorded_on_the_op():
    res = simulate(sc(["create f", "unlink g", "unlink f", "unlink f", "rename g h", "mkdir d",
                       "unlink d", "write h/x 0 1", "write nod/x 0 1", "close f", "close f",
                       "mkdir d", "mkdir d/x", "rename d d/x/y"], files=[("f", 10), ("h", 1)]))
    assert [e for _, e in errors(res)] == [
        "EEXIST", "ENOENT", None, "ENOENT", "ENOENT", None, "EISDIR", "ENOTDIR", "ENOENT",
        "EBADF", "EBADF", "EEXIST", None, "EINVAL"]


def test_create_logs_inode_and_directory_entry_in_one_transaction():
    """ext4_create -> ext4_add_nondir -> ext4_add_entry: one handle."""
    res = simulate(sc(["create g", "write g 0 100", "fsync g"]))
    ino = res.inos["g"]
    create = res.ops[0]
    tids = [tid for tid, raw in records(res).items()
            if isinstance(raw.get(2), RawDir) and ("g", ino) in raw[2].entries]
    assert tids and isinstance(records(res)[tids[0]].get(ino), RawInode)
    # the fsync committed that transaction (the new inode's i_sync_tid covers the create)
    assert res.ops[2].sync_tid >= tids[0] and create.error is None
    assert any(tid == tids[0] for tid, _, _ in res.commits)


def test_fdatasync_of_a_new_file_commits_its_create():
    """ext4_new_inode: ext4_update_inode_fsync_trans(handle, inode, 1) sets i_datasync_tid."""
    res = simulate(sc(["create g", "fdatasync g"]))
    assert res.ops[1].sync_tid == res.fs.by_ino[res.inos["g"]].i_sync_tid
    assert res.ops[1].sync_tid > 0


def test_directory_fsync_forces_a_commit():
    """ext4_fsync_journal: !S_ISREG -> ext4_force_commit."""
    res = simulate(sc(["mkdir d", "create d/x", "fsync d"]))
    tid = res.ops[2].sync_tid
    assert tid and res.ops[2].end_ns >= next(t for i, _, t in res.commits if i == tid)


def _data_bio_times(res, ino):
    return [b.submit_ns for b in res.dev.bios if b.kind == "data" and b.ino == ino]


@pytest.mark.parametrize("auto", [True, False])
def test_rename_over_allocates_delayed_blocks_of_the_source(auto):
    """ext4_rename: ext4_alloc_da_blocks(old.inode) before the handle when auto_da_alloc."""
    res = simulate(sc(["create f.tmp", "write f.tmp 0 8k", "close f.tmp", "rename f.tmp f"],
                      files=[("f", 1000)], tunables=f"auto_da_alloc: {str(auto).lower()}"))
    ren = res.ops[3]
    early = [t for t in _data_bio_times(res, res.inos["f"]) if t <= ren.end_ns]
    assert bool(early) == auto
    assert res.fs.writeback_calls.get("flush", 0) == (1 if auto else 0)


def test_rename_to_a_new_name_does_not_flush():
    res = simulate(sc(["create a", "write a 0 8k", "rename a b"]))
    assert not [t for t in _data_bio_times(res, res.inos["b"]) if t <= res.ops[2].end_ns]


@pytest.mark.parametrize("auto", [True, False])
def test_close_after_truncate_to_zero_allocates(auto):
    """ext4_truncate sets EXT4_STATE_DA_ALLOC_CLOSE at size 0; ext4_release_file flushes."""
    res = simulate(sc(["open f trunc", "write f 0 8k", "close f"], files=[("f", 5000)],
                      tunables=f"auto_da_alloc: {str(auto).lower()}"))
    close = res.ops[2]
    early = [t for t in _data_bio_times(res, res.inos["f"]) if t <= close.end_ns]
    assert bool(early) == auto


def test_no_flush_on_close_without_truncate_to_zero():
    res = simulate(sc(["open f", "write f 0 8k", "close f"], files=[("f", 5000)]))
    assert not [t for t in _data_bio_times(res, res.inos["f"]) if t <= res.ops[2].end_ns]


def test_unlinked_open_file_is_an_orphan_until_the_last_close():
    res = simulate(sc(["open f", "write f 0 100", "unlink f", "write f 100 100", "sleep 6s",
                       "close f"], files=[("f", 1000)]))
    ino = res.inos["f"]
    assert [e for _, e in errors(res)] == [None] * 6
    assert res.ops[3].ino == ino            # the write went to the open, unlinked inode
    recs = records(res)
    seq = [(tid, raw) for tid, r in sorted(recs.items()) for k, raw in r.items()
           if isinstance(raw, RawOrphans)]
    assert [ino in raw.inos for _, raw in seq] == [True, False]
    freed = [r[ino] for tid, r in sorted(recs.items()) if ino in r][-1]
    assert freed.nlink == 0 and freed.size == 0 and freed.extents == ()
    # freed at the close, not at the unlink
    t_free = res.fs.journal.tx_by_tid[seq[1][0]].created_ns
    assert t_free >= res.ops[5].start_ns


def test_truncate_down_uses_the_orphan_list(monkeypatch):
    """ext4_setattr: ext4_orphan_add in the shrinking handle; ext4_truncate removes it
    (the two handles share a transaction here, so the log holds only the final list)."""
    from eofsim.ext4.namei import Ext4Namei
    calls = []
    for name in ("orphan_add", "orphan_del"):
        orig = getattr(Ext4Namei, name)

        def spy(self, handle, inode, _orig=orig, _name=name):
            calls.append((_name, inode.ino, inode.ino in self.orphans))
            return _orig(self, handle, inode)
        monkeypatch.setattr(Ext4Namei, name, spy)
    res = simulate(sc(["truncate f 100", "truncate f 200"], files=[("f", 10000)]))
    ino = res.inos["f"]
    assert calls == [("orphan_add", ino, False), ("orphan_del", ino, True)]
    assert not res.fs.orphans


def test_dsync_write_syncs_the_written_range_only(monkeypatch):
    """generic_write_sync -> vfs_fsync_range(pos, pos + count - 1)."""
    from eofsim.ext4.fsync import Ext4Fsync
    seen = []
    orig = Ext4Fsync.fsync

    def spy(self, inode, datasync, start=0, end=(1 << 63) - 1):
        seen.append((datasync, start, end))
        return (yield from orig(self, inode, datasync, start, end))
    monkeypatch.setattr(Ext4Fsync, "fsync", spy)
    simulate(sc(["write f 5000 100 dsync", "open f sync", "write f 8000 10", "close f",
                 "open f dsync", "write f 9000 10", "write f 9100 10 sync"], files=[("f", 1000)]))
    assert seen == [(True, 5000, 5099), (False, 8000, 8009), (True, 9000, 9009),
                    (False, 9100, 9109)]


def test_write_to_a_missing_file_is_a_journalled_create():
    res = simulate(sc(["write g 0 10"]))
    ino = res.inos["g"]
    assert ino not in res.initial_inodes
    assert any(isinstance(r.get(2), RawDir) and ("g", ino) in r[2].entries
               for r in records(res).values())


def test_declared_files_under_directories_exist_at_start():
    res = simulate(sc(["write d/e/f 0 10"], files=[("d/e/f", 100)]))
    assert res.ops[0].error is None
    assert res.inos["d/e/f"] in res.initial_inodes
    assert set(res.dir_inos) == {"", "d", "d/e"}


def test_loader_leaves_namespace_ops_to_run_time_but_checks_data_ops():
    sc(["rename nothere x", "unlink y", "close z"])      # no error: errnos at run time
    sc(["create a", "fsync a", "rename a b", "fsync b", "mkdir d", "fsync d"])
    with pytest.raises(InputError, match="t.yaml:4"):
        sc(["create a", "fsync b"])


# --- crash side -------------------------------------------------------------------------
from eofsim.crash.checkers import FOREIGN_DATA, NAME_LOST, FileHistory, NameHistory  # noqa: E402
from eofsim.crash.explore import check  # noqa: E402

REPLACE = ["create f.tmp", "write f.tmp 0 5000", "close f.tmp", "rename f.tmp f", "sleep 40s"]


def test_a_new_file_may_be_absent_until_its_create_commits():
    rep = check(simulate(sc(["create g", "write g 0 5000", "fsync g"])))
    texts = {o.text() for o in rep.outcomes}
    assert {"g: absent", "g: size=5000"} <= texts
    assert "g: absent" in rep.as_dict()["outcomes"]
    assert rep.ok


def test_fsynced_new_file_lost_is_a_violation(monkeypatch):
    """Directory entries not journalled (a broken ext4_add_entry): the fsync'd file is gone."""
    from eofsim.ext4.namei import Ext4Namei
    monkeypatch.setattr(Ext4Namei, "dir_dirty", lambda self, handle, d: None)
    rep = check(simulate(sc(["create g", "write g 0 5000", "fsync g", "sleep 1s"])))
    assert NAME_LOST in rep.kinds()


def test_directory_fsync_obliges_its_entries(monkeypatch):
    res = simulate(sc(["mkdir d", "create d/x", "fsync d", "sleep 1s"]))
    nh = NameHistory(res, "d/x")
    fs_end = res.ops[2].end_ns
    assert nh.allowed(fs_end)[0] == {res.inos["d/x"]}
    assert None in nh.allowed(fs_end - 1)[0]


def test_rename_over_must_leave_old_or_new():
    res = simulate(sc(REPLACE, files=[("f", 1000)]))
    nh = NameHistory(res, "f")
    old, new = res.name_history["f"][0][2], res.inos["f"]
    t = res.end_ns
    assert nh.allowed(t)[0] == {old, new}
    assert nh.check(t, old) == [] and nh.check(t, new) == []
    (kind, detail), = nh.check(t, None)
    assert kind == NAME_LOST and "rename" in detail
    assert nh.check(t, 999)[0][0] == "name-wrong"


def test_unlink_allows_absence_only_after_it():
    res = simulate(sc(["sleep 1s", "unlink f", "sleep 1s"], files=[("f", 10)]))
    nh = NameHistory(res, "f")
    assert nh.check(res.ops[1].start_ns - 1, None)
    assert nh.check(res.end_ns, None) == []


def test_data_of_another_inode_is_foreign():
    res = simulate(sc(REPLACE, files=[("f", 1000)]))
    old = res.name_history["f"][0][2]
    fh = FileHistory(res, "f", 4096, ino=old)
    ctx = fh.context(res.end_ns, 1)
    vl, _, _ = ctx.check_runs(((0, 100, 2),))        # op #2 wrote f.tmp's inode
    assert [v[0] for v in vl] == [FOREIGN_DATA]
    fh_new = FileHistory(res, "f", 4096, ino=res.inos["f"])
    vl, _, _ = fh_new.context(res.end_ns, 1).check_runs(((0, 100, 2),))
    assert FOREIGN_DATA not in [v[0] for v in vl]


def test_orphan_cleanup_frees_an_unlinked_open_file():
    """ext4_orphan_cleanup: an orphan without links is freed at mount."""
    from eofsim.crash.explore import Explorer
    res = simulate(sc(["open f", "unlink f", "fsync f", "sleep 10s", "close f"], files=[("f", 9000)]))
    ex = Explorer(res)
    jr = ex.journal
    ino = res.name_history["f"][0][2]
    # the prefix that holds the unlink but not the eviction
    p = next(p for p in range(len(jr.tids) + 1)
             if jr.inodes(p).get(0) is not None and ino in jr.inodes(p)[0].inos)
    assert jr.inodes(p)[ino].nlink == 0 and jr.inodes(p)[ino].extents
    assert jr.recovered(p)[ino].extents == () and jr.recovered(p)[ino].size == 0
    assert jr.lookup(p, "f") is None


@pytest.mark.parametrize("auto,zero_length", [(True, False), (False, True)])
def test_replace_via_rename_without_fsync(auto, zero_length):
    """bh-ordered: auto_da_alloc (the 2009 fix) removes the zero-length outcome."""
    res = simulate(sc(REPLACE, files=[("f", 1000)], tunables=f"auto_da_alloc: {str(auto).lower()}"))
    rep = check(res)
    new = res.inos["f"]
    got = {(ino == new, size) for name, ino, size, g, z in rep.name_outcomes if name == "f"}
    assert (False, 1000) in got and (True, 5000) in got
    assert ((True, 0) in got) == zero_length
    assert rep.ok


def test_o_trunc_of_an_empty_file_arms_auto_da_alloc_but_not_on_create():
    """ext4_setattr calls ext4_truncate even at an unchanged size 0; do_open drops O_TRUNC
    for a file it created."""
    res = simulate(sc(["open f trunc", "write f 0 8k", "close f"], files=[("f", 0)]))
    assert [t for t in _data_bio_times(res, res.inos["f"]) if t <= res.ops[2].end_ns]
    res = simulate(sc(["open g creat trunc", "write g 0 8k", "close g"]))
    assert not [t for t in _data_bio_times(res, res.inos["g"]) if t <= res.ops[2].end_ns]


def test_open_resolves_the_name_not_the_threads_open_file():
    """After an unlink, `open f` looks the name up again (ENOENT, or a new file with creat)."""
    res = simulate(sc(["open g creat", "unlink g", "open g", "open g creat", "write g 0 5"]))
    assert [r.error for r in res.ops] == [None, None, "ENOENT", None, None]
    assert res.ops[3].ino != res.ops[0].ino and res.ops[4].ino == res.ops[3].ino


def test_data_writeback_reuses_freed_blocks_at_once():
    """ext4_mb_clear_bb: under data=writeback freed data blocks are free at once (the
    rewrite after a truncate gets them back); under data=ordered they wait for the commit."""
    ops = ["truncate f 0", "write f 0 5000"]
    for pol, reused in (("bh-writeback", True), ("bh-ordered", False)):
        res = simulate(sc(ops, files=[("f", 5000)], tunables="delalloc: false"), pol)
        old = {pb for _, pb, _ in res.initial_inodes[res.inos["f"]].extents}
        new = {pb for _, pb, _ in res.fs.by_ino[res.inos["f"]].extents()}
        assert bool(old & new) == reused, pol


def test_a_name_created_during_another_threads_call_is_found():
    """The path is resolved inside the call: when the owner's create lands during another
    thread's read, the read sees the new file, never a bogus errno (found by a 3-thread
    generated workload, seed 15: t1's read of f0 between t0's unlink and create)."""
    from eofsim.workload.generate import generate
    res = simulate(generate(15, 30, files=("f0", "f1", "f2"), threads=3, namespace=True))
    assert "EISDIR" not in [r.error for r in res.ops]
    read = next(r for r in res.ops if r.thread == "t1" and r.op.text() == "read f0 163840 55112")
    assert read.error is None and read.ino == res.inos["f0"]
