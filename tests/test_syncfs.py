"""syncfs(2) (fs/sync.c sync_filesystem) and sync(2) in the model, and kernel-check's final
syncfs run in the model at the same place (issues 10 and 11)."""

from pathlib import Path

import pytest

from eofsim.crash.explore import check
from eofsim.errors import InputError
from eofsim.ops import Op, parse_op
from eofsim.outcome import Outcome
from eofsim.scenario import FileSpec, Scenario, ThreadSpec
from eofsim.scenario_file import load_scenario
from eofsim.sim import simulate

EX = Path(__file__).resolve().parent.parent / "examples"
ZEROS_5000 = Outcome("f", 5000, False, True)


def test_syncfs_op_text_round_trip_and_bad_input():
    op = parse_op("@2s syncfs")
    assert op == Op("syncfs", at_ns=2_000_000_000)
    assert parse_op(op.text()) == op
    with pytest.raises(InputError, match="syncfs takes no arguments"):
        parse_op("syncfs f", "x.yaml:3")


def _append_then(kind, **tun):
    """f empty and committed; a delalloc write of 5000 bytes, then `kind` at 1 s: before the
    write's transaction's timer commit (5-6 s), so the sync call is what commits."""
    return Scenario("s", tunables=tun, files=(FileSpec("f", 0),),
                    threads=(ThreadSpec("t", (parse_op("write f 0 5000"), parse_op(f"@1s {kind}"),
                                              parse_op("sleep 10s"))),))


def test_syncfs_can_commit_the_size_before_end_io_converts_the_extent():
    """sync_filesystem: writeback_inodes_sb submits the data (unwritten extent under
    dioread_nolock, i_disksize = 5000 in writeback's handle), ext4_sync_fs(wait=0) starts that
    transaction's commit without waiting; the bio completes after it, so the end-I/O
    conversion (ext4_end_io_rsv_work, a reserved handle) joins the next transaction: a crash
    between the two commits recovers size 5000 over an unwritten extent, read as zeros."""
    assert ZEROS_5000 in check(simulate(_append_then("syncfs")), timed=True).outcomes


def test_sync_waits_for_every_conversion_before_its_first_commit():
    """ksys_sync: sync_inodes_sb (waits for all writeback; ext4 ends writeback after the
    conversion) runs before ->sync_fs(sb, 0), so the conversion is in the committed
    transaction with the size: no zeros."""
    out = check(simulate(_append_then("sync")), timed=True).outcomes
    assert ZEROS_5000 not in out
    assert Outcome("f", 5000, False, False) in out


def test_syncfs_without_dioread_nolock_orders_the_data():
    """Without dioread_nolock the blocks are allocated written and go on the ordered list
    (ext4_map_blocks -> ext4_jbd2_inode_add_write), so the commit waits for the data."""
    out = check(simulate(_append_then("syncfs", dioread_nolock=False)), timed=True).outcomes
    assert ZEROS_5000 not in out


@pytest.mark.parametrize("kind", ["sync", "syncfs"])
def test_sync_and_syncfs_make_everything_durable(kind):
    """After either returns, the only state is the final one (a checker violation or any
    other size would mean the call returned before its commit and flush)."""
    r = simulate(_append_then(kind))
    t_end = next(o.end_ns for o in r.ops if o.op.kind == kind)
    assert not check(r, timed=True).violations
    # the commit that carries the final size ended before the call returned
    committed = [t for tid, _, t in r.commits
                 if any(x.size == 5000 for x in r.fs.journal.tx_by_tid[tid].raw.values())]
    assert committed and min(committed) <= t_end


def test_flush_workqueue_waits_for_queued_conversions_only():
    """flush_workqueue(rsv_conversion_wq), ext4_sync_fs's first step: the caller waits until
    every item queued before the call has run, not for items queued after."""
    r = simulate(Scenario("empty", files=(FileSpec("f", 0),)))
    fs, eng = r.fs, r.engine
    fs.endio_queued = 2
    fs.endio_unfinished = {"a": 1, "b": 2}
    done = []

    def flusher():
        yield from fs.flush_endio_workqueue()
        done.append(eng.now)

    def worker():
        yield 1000
        del fs.endio_unfinished["a"]
        fs.endio_queued = 3
        fs.endio_unfinished["c"] = 3            # queued after the flush began
        fs.endio_flushed.wake_all()
        yield 1000
        del fs.endio_unfinished["b"]
        fs.endio_flushed.wake_all()

    t0 = eng.now
    eng.spawn("flush", flusher(), kind="app")
    eng.spawn("fake-worker", worker(), kind="daemon")
    eng.run(until=t0 + 10_000)
    assert done == [t0 + 2000]


def _model_outcomes_after(name, **tun):
    from dataclasses import replace
    from eofsim.cli import model_outcomes
    sc = load_scenario(str(EX / f"{name}.yaml"))
    sc = replace(sc, tunables={**sc.tunables, **tun})
    plain = model_outcomes(sc, "bh-ordered", True)
    synced = model_outcomes(sc, "bh-ordered", True, final_syncfs_after_ns=12_500_000_000)
    return plain, synced


@pytest.mark.parametrize("name,tun,zeros", [
    ("replace-via-rename", {"auto_da_alloc": False}, Outcome("f", 5000, False, True)),
    ("fallocate-inside-size-delalloc", {}, Outcome("f", 8192, False, True)),
    ("zero-range-past-eof-keep-size", {}, Outcome("f", 5000, False, True)),
])
def test_kernel_checks_final_syncfs_runs_in_the_model(name, tun, zeros):
    """kernel-check's window ends with syncfs(2) 2.5 real s (12.5 model s) after the last
    op; the model runs the same op there (model_outcomes(final_syncfs_after_ns=...)) and so
    reaches the kernel's final-size-over-zeros class, which its 120 s horizon (flusher
    writeback, then a timer commit the conversion joins first) never shows."""
    plain, synced = _model_outcomes_after(name, **tun)
    assert zeros not in plain
    assert zeros in synced


def test_auto_da_alloc_replace_has_no_zero_filled_state_even_with_syncfs():
    """With auto_da_alloc the rename's ext4_alloc_da_blocks writes f.tmp back at the rename;
    its conversion joins the rename's transaction long before the final syncfs."""
    plain, synced = _model_outcomes_after("replace-via-rename")
    assert Outcome("f", 5000, False, True) not in synced
