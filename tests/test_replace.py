"""Replace via rename without fsync: the outcome classes per design and configuration."""

from pathlib import Path

import pytest

from eofsim.crash.explore import check
from eofsim.crash.replace import classify, replaced_inodes
from eofsim.scenario_file import load_scenario
from eofsim.sim import simulate

SC = load_scenario(str(Path(__file__).parent.parent / "examples" / "replace-via-rename.yaml"))


def classes(policy, **ov):
    res = simulate(SC, policy, ov or None)
    return classify(res, check(res), "f")


@pytest.mark.parametrize("policy", ["bh-ordered", "bh-writeback", "iomap-v4", "iomap-deferred",
                                    "iomap-pending"])
def test_auto_da_alloc_leaves_old_or_new(policy):
    assert classes(policy) == {"old", "new"}


@pytest.mark.parametrize("policy", ["bh-ordered", "iomap-v4", "iomap-pending"])
def test_noauto_da_alloc_allows_a_zero_length_file(policy):
    assert classes(policy, auto_da_alloc="false") == {"old", "new", "zero-length"}


def test_data_writeback_without_unwritten_extents_exposes_stale_blocks():
    assert "garbage" in classes("bh-writeback", dioread_nolock="false")
    assert "garbage" not in classes("bh-ordered", dioread_nolock="false")


def test_the_replaced_pair_and_a_name_never_replaced():
    res = simulate(SC, "bh-ordered")
    old, new = replaced_inodes(res, "f")
    assert old in res.initial_inodes and new == res.inos["f"] != old
    with pytest.raises(ValueError):
        classify(res, check(res), "f.tmp")
