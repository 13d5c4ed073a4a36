"""Run every built-in scenario on the real kernel and in the model under the four mount
configurations and print the README's fidelity table (markdown). Needs root, loop devices,
FUSE. Usage: .venv/bin/python scripts/fidelity_table.py [SCENARIO|FILE ...] > fidelity.md
(default: every built-in; pass examples/*.yaml for the examples' rows)."""

import platform
import sys
import time

from eofsim.cli import model_outcomes
from eofsim.kernel import preflight
from eofsim.kernel.check import kernel_check
from eofsim.scenario_file import builtin_names, load_scenario

CONFIGS = [("bh-ordered", True), ("bh-ordered", False), ("bh-writeback", True), ("bh-writeback", False)]


def main():
    why = preflight.reason()
    if why:
        print(f"cannot run: {why}", file=sys.stderr)
        sys.exit(2)
    print(f"Measured {time.strftime('%Y-%m-%d')} on Linux {platform.release()}.\n")
    head = ["scenario"] + [f"{'ordered' if p == 'bh-ordered' else 'writeback'},{'delalloc' if d else 'nodelalloc'}"
                           for p, d in CONFIGS]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    details = []
    for name in (sys.argv[1:] or builtin_names()):
        sc = load_scenario(name)
        name = sc.name
        row = [name]
        for pol, dl in CONFIGS:
            rep = kernel_check(sc, pol, dl, model=model_outcomes)
            row.append(rep["verdict"] + ("" if rep["exhaustive"] else " (sampled)"))
            if rep["verdict"] != "agree":
                details.append(f"- {name} {rep['mount_options']}: kernel-only {rep['kernel_only']}, "
                               f"model-only {rep['model_only']}")
            print(f"{name} {pol} delalloc={dl}: {rep['verdict']}", file=sys.stderr, flush=True)
        print("| " + " | ".join(row) + " |", flush=True)
    if details:
        print("\nDisagreements:\n" + "\n".join(details))


if __name__ == "__main__":
    main()
