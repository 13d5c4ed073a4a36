"""Run every built-in scenario (and the examples/ scenarios) on the real kernel and in the model
under the four ext4 mount configurations and XFS, and print the README's fidelity table
(markdown). Needs root, loop devices, FUSE (and xfsprogs for the xfs column).

Usage: .venv/bin/python scripts/fidelity_table.py [--only xfs|ext4] [--examples] > fidelity.md
  --only xfs    measure only the xfs column (the ext4 columns are left out)
  --only ext4   measure only the four ext4 columns
  --examples    also the scenarios in examples/*.yaml (findings)
  --rows NAME.. only these rows (built-in or examples/ names)
  --runs N      at most N real runs per cell, repeated until the union of their outcome
                classes equals the model's (kernel-check --runs N --until-agree)

What a cell compares (kernel.check.cell): the union of the kernel's outcome classes over the
runs done with the model's classes on its default schedule, both windows ending with the same
syncfs(2); "agree (k runs)" says the union needed k runs (each run's classes were within the
model's: any class outside them would stay in the union and show as kernel-only).

The xfs column compares real XFS (default mount options; log worker period scaled as
kernel-check does) with the model's `xfs` policy."""

import argparse
import platform
import sys
import time
from pathlib import Path

from eofsim.cli import model_outcomes
from eofsim.kernel import preflight
from eofsim.kernel.check import cell, kernel_check
from eofsim.scenario_file import builtin_names, load_scenario

EXT4 = [("bh-ordered", True), ("bh-ordered", False), ("bh-writeback", True),
        ("bh-writeback", False)]
XFS = [("xfs", True)]
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def column(pol, dl):
    if pol == "xfs":
        return "xfs"
    return f"{'ordered' if pol == 'bh-ordered' else 'writeback'}," \
           f"{'delalloc' if dl else 'nodelalloc'}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["xfs", "ext4"])
    ap.add_argument("--examples", action="store_true")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--rows", nargs="*", default=None)
    a = ap.parse_args()
    configs = EXT4 if a.only == "ext4" else XFS if a.only == "xfs" else EXT4 + XFS
    why = preflight.reason("xfs" if any(p == "xfs" for p, _ in configs) else "ext4")
    if why:
        print(f"cannot run: {why}", file=sys.stderr)
        sys.exit(2)
    print(f"Measured {time.strftime('%Y-%m-%d')} on Linux {platform.release()}.\n")
    head = ["scenario"] + [column(p, d) for p, d in configs]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    details = []
    names = [(n, n) for n in builtin_names()]
    if a.examples or a.rows:
        names += [(p.stem, str(p)) for p in sorted(EXAMPLES.glob("*.yaml"))]
    if a.rows:
        names = [(n, r) for n, r in names if n in a.rows]
    for name, ref in names:
        sc = load_scenario(ref)
        row = [name]
        for pol, dl in configs:
            rep = kernel_check(sc, pol, dl, model=model_outcomes, runs=a.runs, until_agree=True)
            row.append(cell(rep))
            if rep["verdict"] != "agree":
                details.append(f"- {name} {rep['fs']} {rep['mount_options']}: "
                               f"kernel-only {rep['kernel_only']}, "
                               f"model-only {rep['model_only']}")
            print(f"{name} {pol} delalloc={dl}: {cell(rep)} ({rep['crash_states']} "
                  f"images, {rep['seconds']} s) per run={rep['per_run']}", file=sys.stderr,
                  flush=True)
        print("| " + " | ".join(row) + " |", flush=True)
    if details:
        print("\nDisagreements:\n" + "\n".join(details))


if __name__ == "__main__":
    main()
