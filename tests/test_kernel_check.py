"""Real-kernel fidelity pins and the kernel/model verdict."""

import pytest

from eofsim.kernel import check, preflight
from eofsim.outcome import Outcome

REASON = preflight.reason()
kernel = pytest.mark.skipif(REASON is not None, reason=str(REASON))


def test_verdict_classes():
    a, b = Outcome("f", 4096, False, False), Outcome("f", 65536, True, False)
    assert check.verdict({a}, {a})["verdict"] == "agree"
    assert check.verdict({a, b}, {a})["verdict"] == "kernel-only"
    assert check.verdict({a}, {a, b}) == dict(verdict="model-only", kernel_only=[],
                                              model_only=[b.text()])
    assert check.verdict({a}, {b})["verdict"] == "both-differ"


@pytest.mark.kernel
@kernel
@pytest.mark.parametrize("policy,delalloc,garbage", [("bh-writeback", False, True),
                                                     ("bh-ordered", False, False)])
def test_extend_over_hole_exposes_garbage_only_under_writeback_nodelalloc(policy, delalloc,
                                                                          garbage):
    """Issue 3's real-kernel claim: data=writeback,nodelalloc recovers f at 64 KiB with the
    never-written blocks [16K, 24K) inside it; data=ordered writes them before the commit."""
    from eofsim.scenario_file import load_scenario
    rep = check.kernel_check(load_scenario("extend-over-hole"), policy, delalloc,
                             settle_s=0.5, final_sync=False,
                             model=lambda *a, **k: set())
    big = [o for o in rep["kernel_outcomes"] if o.file == "f" and o.size == 65536]
    assert big, rep["kernel"]
    assert any(o.garbage for o in big) == garbage, rep["kernel"]
    assert not rep["failures"] and rep["exhaustive"]
    assert rep["verdict"] == "kernel-only"
    print("\n" + check.text(rep))
