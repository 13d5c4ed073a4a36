"""Replace via rename without fsync, per design and configuration (issue 11): which
outcomes a crash allows for the replaced file (eofsim.crash.replace.CLASSES). Model only.
Usage: .venv/bin/python scripts/replace_via_rename.py"""

import os
import time

from eofsim.crash.explore import check
from eofsim.crash.replace import CLASSES, classify
from eofsim.policies import POLICIES
from eofsim.scenario_file import load_scenario
from eofsim.sim import simulate

SC = os.path.join(os.path.dirname(__file__), "..", "examples", "replace-via-rename.yaml")
CONFIGS = [("defaults", {}), ("noauto_da_alloc", {"auto_da_alloc": "false"}),
           ("nodelalloc", {"delalloc": "false"}),
           ("dioread_nolock off", {"dioread_nolock": "false"}),
           ("noauto_da_alloc, dioread_nolock off", {"auto_da_alloc": "false", "dioread_nolock": "false"})]


def main():
    sc = load_scenario(SC)
    t0 = time.perf_counter()
    print("| design | " + " | ".join(c for c, _ in CONFIGS) + " |")
    print("|---|" + "---|" * len(CONFIGS))
    for pol in sorted(POLICIES):
        row = [pol]
        for _, ov in CONFIGS:
            res = simulate(sc, pol, ov)
            got = classify(res, check(res), "f")
            row.append(", ".join(c for c in CLASSES if c in got))
        print("| " + " | ".join(row) + " |")
    print(f"\n({time.perf_counter() - t0:.1f} s; load average {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
