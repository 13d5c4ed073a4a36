"""Scenarios kept in examples/: findings, each pinned against the model (and the kernel)."""

from pathlib import Path

import pytest

from eofsim.crash.explore import check
from eofsim.kernel import preflight
from eofsim.scenario_file import load_scenario
from eofsim.sim import simulate

EX = Path(__file__).resolve().parent.parent / "examples"
REASON = preflight.reason()


@pytest.mark.parametrize("policy", ["bh-ordered", "iomap-v4", "iomap-pending"])
def test_punch_past_disksize_recovers_a_size_the_file_never_had(policy):
    sc = load_scenario(str(EX / "punch-past-disksize.yaml"))
    rep = check(simulate(sc, policy))
    sizes = {o.size for o in rep.outcomes}
    assert 217904 in sizes
    assert rep.kinds() == {"impossible-size"}


@pytest.mark.kernel
@pytest.mark.skipif(REASON is not None, reason=str(REASON))
def test_punch_past_disksize_on_the_real_kernel():
    from eofsim.cli import model_outcomes
    from eofsim.kernel.check import kernel_check
    sc = load_scenario(str(EX / "punch-past-disksize.yaml"))
    for attempt in range(3):
        # On a shared machine another process's sync(2) within the ~1 s before the punch's
        # commit writes the delalloc data first, so that one real schedule never holds the
        # 217904 state (a sync can hide it, never create it): retry a disturbed run.
        rep = kernel_check(sc, "bh-ordered", True, model=model_outcomes)
        if "f: size=217904" in rep["kernel"]:
            break
    assert "f: size=217904" in rep["kernel"]


NEW_612 = ["zero-range-past-eof-keep-size", "punch-hole-over-dirty-data",
           "zero-range-grow-ordering", "truncate-up-unwritten-eof", "truncate-up-unwritten-eof-1k",
           "truncate-up-zeroes-whole-block", "zero-range-osync-sync-handle",
           "writeback-one-ioend-several-bios"]


@pytest.mark.kernel
@pytest.mark.skipif(REASON is not None, reason=str(REASON))
def test_fallocate_inside_size_logs_disksize_on_the_real_kernel():
    """Item 1's evidence: the real kernel recovers size 4096 with zeroes (fallocate logged
    i_disksize = 4096 while the data waited for writeback). Not a full `agree`: in 1 of 3
    runs under load the kernel also shows size=8192 with zeroes (the unwritten block's
    end-I/O conversion landing in a later transaction than writeback's i_disksize), a
    schedule the model's default run does not take."""
    from eofsim.cli import model_outcomes
    from eofsim.kernel.check import kernel_check
    rep = kernel_check(load_scenario(str(EX / "fallocate-inside-size-delalloc.yaml")), "bh-ordered", True,
                       model=model_outcomes)
    assert "f: size=4096 [zeros-instead-of-data]" in rep["kernel"]
    assert rep["model_only"] == []
    assert all("[zeros-instead-of-data]" in k and "garbage" not in k for k in rep["kernel_only"]), rep


@pytest.mark.kernel
@pytest.mark.skipif(REASON is not None, reason=str(REASON))
@pytest.mark.parametrize("name", NEW_612)
def test_issue10_examples_agree_with_the_real_kernel(name):
    """The examples of issue 10 (6.12.117 paths), data=ordered with delalloc: the real
    kernel's crash outcome classes equal the model's (scripts/fidelity_table.py runs all four
    mount configurations)."""
    from eofsim.cli import model_outcomes
    from eofsim.kernel.check import kernel_check
    rep = kernel_check(load_scenario(str(EX / f"{name}.yaml")), "bh-ordered", True, model=model_outcomes)
    assert rep["model_only"] == [], rep
    # Under load the kernel sometimes also shows the final size over zeroes: the unwritten
    # block's end-I/O conversion lands in a later transaction than writeback's i_disksize
    # (a commit timer between the two), a schedule the model's default run does not take
    # (README: issue 10, finding from re-measuring).
    assert all("[zeros-instead-of-data]" in k and "garbage" not in k for k in rep["kernel_only"]), rep
