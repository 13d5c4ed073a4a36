"""Crash exploration throughput and state-space growth.

crash_states_per_s: distinct crash states (crash time x recovered transaction prefix x
  distinct per-block views of every file) checked per second by `eofsim check`'s default
  exact mode, on the built-in scenarios (bh-ordered and bh-writeback) and on a
  1,000-operation random workload. Every check is a function of one byte, the crash time
  and the recovered transactions, and blocks choose their versions independently, so the
  exact mode checks each block version once per crash time and covers the product; a
  hypothesis test (tests/test_crash_oracle.py) holds it equal to brute-force enumeration.
  Target >= 20,000 states/s.
crash_states_enumerated_per_s: the same states built one by one as whole files and
  checked one by one (mode="enumerate"), for comparison.
states_inflight_*: how the state count grows with n writes in flight at one crash time:
  raw = every written block of the device independently (no pruning); pruned = distinct
  recovered views (journal blocks of uncommitted transactions, other files' blocks and
  duplicate views collapsed); checked = block versions the exact mode evaluates.
"""

import os
import sys
import time

sys.path.insert(0, "src")

from eofsim.crash import check  # noqa: E402
from eofsim.crash.fakelog import LogBuilder, RawInode, op, result  # noqa: E402
from eofsim.scenario_file import builtin_names, load_scenario  # noqa: E402
from eofsim.sim import simulate  # noqa: E402
from eofsim.workload.generate import generate  # noqa: E402

TARGET = 20_000


def runs():
    out = []
    for name in builtin_names():
        sc = load_scenario(name)
        out.append(simulate(sc, "bh-ordered"))
        out.append(simulate(sc, "bh-writeback", {"delalloc": "false"}))
    big = simulate(generate(seed=1, n_ops=1000, files=("a", "b", "c"), threads=1), "bh-ordered")
    return out, big


def rate(results, mode, reps=3):
    best = None
    for _ in range(reps):
        states = 0
        t0 = time.perf_counter()
        for r in results:
            rep = check(r, mode=mode, samples=20000)
            states += rep.states_checked if mode == "enumerate" else rep.crash_states
        dt = time.perf_counter() - t0
        if best is None or states / dt > best[0]:
            best = (states / dt, states, dt)
    return best


def inflight(n):
    """One committed file of n blocks (half of the in-flight writes rewrite it), plus
    in-flight writes to another file's blocks and to an uncommitted transaction's log."""
    B = LogBuilder()
    nf = max(1, n // 2)
    ext = tuple((lb, 100 + lb, False) for lb in range(nf))
    j = B.journal(1, 1, [RawInode(12, nf * 4096, ext)], 0, 1)
    B.commit(2, 1, 1, 2, hb=[j])
    k = 0
    for lb in range(nf):
        B.write([100 + lb], 10, None, src=1)
        k += 1
    while k < n:
        B.write([500 + k], 10, None, src=2)          # another file's blocks
        k += 1
        if k < n:
            B.write([1000 + k], 10, None, kind="journal")  # uncommitted log blocks
            k += 1
    res = result(B.dev, [op(1, f"write f 0 {nf * 4096}", 0, 1)], {"f": [(0, 0, 0), (0, 1, nf * 4096)]},
                 {"f": 12}, {12: RawInode(12, 0, ())}, end_ns=20)
    rep = check(res, raw=True)
    # the crash time with everything in flight
    return rep._explorer.disk.raw_state_count(10), rep


def main():
    results, big = runs()
    r_enum = rate(results + [big], "enumerate")
    r_exact = rate(results + [big], "exact")
    print(f"crash_states_per_s: {r_exact[0]:.0f} states/s (loadavg {os.getloadavg()[0]:.2f})")
    print(f"crash_states_vs_target: {r_exact[0] / TARGET:.2f}x (loadavg {os.getloadavg()[0]:.2f})")
    print(f"crash_states_enumerated_per_s: {r_enum[0]:.0f} states/s (loadavg {os.getloadavg()[0]:.2f})")
    b = check(big)
    print(f"random1000_crash_points: {b.crash_points} points (loadavg {os.getloadavg()[0]:.2f})")
    print(f"random1000_crash_states: {b.crash_states} states (loadavg {os.getloadavg()[0]:.2f})")
    print(f"random1000_check_s: {b.elapsed_s:.3f} s (loadavg {os.getloadavg()[0]:.2f})")
    print(f"random1000_us_per_state: {1e6 * b.elapsed_s / max(b.crash_states, 1):.1f} us (loadavg {os.getloadavg()[0]:.2f})")
    for n in (1, 2, 4, 8, 16, 32, 64):
        raw, rep = inflight(n)
        print(f"states_inflight_{n}_raw: {raw} states (loadavg {os.getloadavg()[0]:.2f})")
        print(f"states_inflight_{n}_pruned: {states_at(rep._explorer, 10)} states (loadavg {os.getloadavg()[0]:.2f})")
        print(f"states_inflight_{n}_checked: {rep.states_checked} evaluations (loadavg {os.getloadavg()[0]:.2f})")


def states_at(ex, t):
    """Distinct recovered states at crash time t, counted as the exact mode counts them."""
    jr = ex.journal
    total = 0
    seen = set()
    for p in jr.prefixes(t):
        key = tuple(id(jr.raw_inode(p, n)) for n in ex.files)
        if key in seen:
            continue
        seen.add(key)
        prod = 1
        for name in ex.files:
            for a, b, opts in ex.file_slots(jr.raw_inode(p, name), t, jr.forced(p)):
                prod *= len(opts)
        total += prod
    return total


if __name__ == "__main__":
    main()
