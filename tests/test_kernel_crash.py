"""Crash images of real ext4 runs: setup state, fsync durability, sampling, cleanup."""

import os
import subprocess

import pytest

from eofsim import content
from eofsim.kernel import crash, preflight, run, sysutil
from eofsim.kernel.image import FILL, MountOpts
from eofsim.ops import parse_op
from eofsim.outcome import Outcome
from eofsim.scenario import FileSpec, Plant, Scenario, ThreadSpec

REASON = preflight.reason()
pytestmark = [pytest.mark.kernel, pytest.mark.skipif(REASON is not None, reason=str(REASON))]


def scenario(lines, files=(FileSpec("f"),)):
    return Scenario("t", files=files,
                    threads=(ThreadSpec("a", tuple(parse_op(l) for l in lines)),))


CREATED = []
"""Temp dirs this test process's harness created (other engineers' concurrent runs on the
same machine have their own, which are not ours to count)."""
_tempdir = sysutil.Cleanup.tempdir


def _recording_tempdir(self, prefix="eofsim-k-"):
    d = _tempdir(self, prefix)
    CREATED.append(os.path.basename(d))
    return d


sysutil.Cleanup.tempdir = _recording_tempdir


def leftovers():
    """Our loop devices, mounts, FUSE daemons and temp dirs still alive."""
    ours = tuple(CREATED)

    def mine(text):
        return any(d in text for d in ours)
    loops = [l for l in subprocess.run(["losetup", "-a"], capture_output=True,
                                       text=True).stdout.splitlines() if mine(l)]
    with open("/proc/mounts") as f:
        mounts = [l for l in f if mine(l)]
    daemons = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
                if b"eofsim.kernel.fuselog" in cmd and mine(cmd.decode(errors="replace")):
                    daemons.append(pid)
        except OSError:
            pass
    dirs = [d for d in os.listdir("/dev/shm") if d in ours]
    return loops + mounts + daemons + dirs


@pytest.fixture(scope="module")
def fsync_run():
    return run.run_scenario(scenario(["write f 0 5000", "fsync f", "write f 5000 3000"]),
                            MountOpts("ordered", True, 1))


def test_after_fsync_the_size_and_data_survive(fsync_run):
    r = fsync_run
    res = crash.explore(r, max_states=100)
    assert res.states and not res.failures, res.failures
    fsync_end = r.ops[1].end_rec
    for st in res.states:
        (o,) = st.outcomes
        assert not o.garbage, st
        if st.crash_rec > fsync_end:               # fsync completed before this crash
            assert o.size >= 5000 and not o.zeros_instead_of_data, st
    assert Outcome("f", 0, False, False) in res.outcomes         # crash before anything
    assert Outcome("f", 5000, False, False) in res.outcomes
    assert 0 < res.seconds_per_image < 1.0
    print(f"\n{len(res.states)} crash images, {res.seconds_per_image * 1000:.1f} ms each "
          f"({res.states_possible} possible, {res.crash_points} crash points)")


def test_sampling_is_seeded_and_says_so(fsync_run):
    a = crash.enumerate_states(fsync_run, max_states=2, seed=1)
    b = crash.enumerate_states(fsync_run, max_states=2, seed=1)
    assert a == b and len(a[0]) == 2
    if a[1] > 2:
        assert a[2] is False


def test_initial_state_and_planted_sentinel():
    sc = scenario(["read f 0 1000"], files=(FileSpec("f", 1000, plants=(Plant(1500, 100, 0x5A),)),))
    r = run.run_scenario(sc, MountOpts("writeback", False, 1))
    blk = r.blocks["f"][0] * r.bs
    tail = r.base[blk + 1000: blk + 4096]
    assert r.base[blk: blk + 1000] == content.to_bytes(content.fill(1000, content.INITIAL), 0)
    assert tail[500:600] == b"\x5a" * 100
    assert tail[:500] == bytes(500) and tail[600:] == bytes(len(tail) - 600)
    assert r.ops[0].data == r.base[blk: blk + 1000]
    free = r.base[(r.blocks["f"][0] + 200) * r.bs:][:4096]     # never-written blocks keep 0xE5
    assert free == bytes([FILL]) * 4096
    res = crash.explore(r)
    assert res.outcomes == {Outcome("f", 1000, False, False)}


def test_classify_flags_garbage_and_zeros(fsync_run):
    r = fsync_run
    k = r.end_rec
    good = content.to_bytes(content.fill(5000, 1), 0)
    assert crash.classify(r, "f", good, k) == Outcome("f", 5000, False, False)
    assert crash.classify(r, "f", good[:4096] + bytes(904), k).zeros_instead_of_data
    assert crash.classify(r, "f", good[:4096] + bytes([FILL]) * 904, k).garbage


def test_cleanup_on_failure_and_interrupt(monkeypatch):
    real = run.apply_op

    def boom(fd, index, op, scale=1.0):
        if index == 2:
            raise KeyboardInterrupt("simulated Ctrl-C")
        return real(fd, index, op, scale)

    monkeypatch.setattr(run, "apply_op", boom)
    with pytest.raises(KeyboardInterrupt):
        run.run_scenario(scenario(["write f 0 10", "fsync f"]), MountOpts())
    monkeypatch.setattr(run, "apply_op", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        run.run_scenario(scenario(["write f 0 10"]), MountOpts())
    assert leftovers() == []


def test_nothing_left_behind_after_success(fsync_run):
    crash.explore(fsync_run, max_states=3)
    assert leftovers() == []
