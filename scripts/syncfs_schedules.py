"""The model's side of the final-syncfs fidelity rows (issues 10 and 11), over schedules:
for each scenario and ext4 configuration, the model runs kernel-check's scenario (the final
syncfs(2) 12.5 model s after the last op, as kernel.check.kernel_check places it) on its
default schedule and on N perturbed ones (`check --schedules`: seeded I/O latencies and
order of simultaneous events), and prints, per outcome class, on how many schedules a crash
state of that class exists. A kernel run is one schedule: its classes are to be compared
with one schedule's, and the union over kernel runs with the union over schedules.
Model only. Usage: .venv/bin/python scripts/syncfs_schedules.py [--schedules N]"""

import argparse
import os
import time
from dataclasses import replace
from pathlib import Path

from eofsim.cli import kernel_model_scenario
from eofsim.crash.explore import check
from eofsim.scenario_file import load_scenario
from eofsim.sim import simulate

EX = Path(__file__).resolve().parent.parent / "examples"
ROWS = [("replace-via-rename", {"auto_da_alloc": False}), ("replace-via-rename", {}),
        ("fallocate-inside-size-delalloc", {}), ("zero-range-past-eof-keep-size", {})]
CONFIGS = [("bh-ordered", True), ("bh-writeback", True), ("bh-ordered", False), ("bh-writeback", False)]
SETTLE_NS = 12_500_000_000
"""kernel_check's default settle (2.5 s at commit=1) in model time (time scale 1/5)."""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--schedules", type=int, default=20)
    a = ap.parse_args()
    t0 = time.perf_counter()
    for name, tun in ROWS:
        base = load_scenario(str(EX / f"{name}.yaml"))
        base = replace(base, tunables={**base.tunables, **tun})
        for pol, dl in CONFIGS:
            sc = kernel_model_scenario(base, pol, dl, SETTLE_NS)
            ov = {"delalloc": dl}
            default = check(simulate(sc, pol, ov), timed=True).outcomes
            counts = {}
            for k in range(1, a.schedules + 1):
                for o in check(simulate(sc, pol, ov, perturb_seed=k), timed=True).outcomes:
                    counts[o] = counts.get(o, 0) + 1
            label = f"{name}{' (noauto_da_alloc)' if tun else ''} {pol} delalloc={dl}"
            print(label)
            for o in sorted(set(counts) | default):
                print(f"  {o.text():45s} default: {'yes' if o in default else 'no ':3s}  "
                      f"perturbed: {counts.get(o, 0)}/{a.schedules}")
    print(f"({time.perf_counter() - t0:.1f} s; load average {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
