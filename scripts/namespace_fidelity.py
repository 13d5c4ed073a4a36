"""Issue 11's real-kernel fidelity rows: the namespace example scenarios on the real kernel
and in the model under data=ordered/writeback x delalloc/nodelalloc, and (for the
auto_da_alloc scenarios) noauto_da_alloc. Prints a markdown table. Needs root, loop devices,
FUSE. Usage: .venv/bin/python scripts/namespace_fidelity.py [--runs N] [--only NAME...]
  > namespace-fidelity.md

What a cell compares (kernel.check.cell): the union of the kernel's outcome classes over
real runs, repeated until it equals the model's (at most N runs; kernel-check
--until-agree), with the model's default schedule, both ending the window with the same
syncfs(2); a cell also says when any single run showed a class outside the model's."""

import argparse
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

from eofsim.cli import model_outcomes
from eofsim.kernel import preflight
from eofsim.kernel.check import cell, kernel_check
from eofsim.scenario_file import load_scenario

EX = Path(__file__).resolve().parent.parent / "examples"
SCENARIOS = ["create-fsync-forces-commit", "append-litmus-new-file", "replace-via-rename",
             "truncate-rewrite", "unlink-open"]
AUTO = ("replace-via-rename", "truncate-rewrite")
CONFIGS = [("bh-ordered", True), ("bh-ordered", False), ("bh-writeback", True), ("bh-writeback", False)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--only", nargs="*", default=None)
    a = ap.parse_args()
    why = preflight.reason()
    if why:
        print(f"cannot run: {why}", file=sys.stderr)
        sys.exit(2)
    print(f"Measured {time.strftime('%Y-%m-%d')} on Linux {platform.release()}.\n")
    head = ["scenario"] + [f"{'ordered' if p == 'bh-ordered' else 'writeback'},"
                           f"{'delalloc' if d else 'nodelalloc'}" for p, d in CONFIGS]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    details = []
    for name in a.only or SCENARIOS:
        base = load_scenario(str(EX / f"{name}.yaml"))
        for auto in ((True, False) if name in AUTO else (True,)):
            sc = base if auto else replace(base, tunables={**base.tunables, "auto_da_alloc": False})
            row = [name + ("" if auto else " (noauto_da_alloc)")]
            for pol, dl in CONFIGS:
                rep = kernel_check(sc, pol, dl, model=model_outcomes, max_states=1000,
                                   runs=a.runs, until_agree=True)
                row.append(cell(rep))
                details.append(f"- {row[0]} {rep['mount_options']}: kernel {rep['kernel']}"
                               + (f" (per run: {rep['per_run']})" if rep["runs"] > 1 else "")
                               + ("" if rep["verdict"] == "agree" else
                                  f"; kernel-only {rep['kernel_only']}, model-only {rep['model_only']}"))
                print(f"{row[0]} {pol} delalloc={dl}: {cell(rep)} per run {rep['per_run']}",
                      file=sys.stderr, flush=True)
            print("| " + " | ".join(row) + " |", flush=True)
    print("\nOutcome classes:\n" + "\n".join(details))


if __name__ == "__main__":
    main()
