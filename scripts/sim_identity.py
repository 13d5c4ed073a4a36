"""Dump the model's outputs so two builds can be diffed byte for byte (a speed change must
not change a modelled behaviour): `eofsim run` (text and --json) and `eofsim check` on every
built-in scenario under every built-in policy, `eofsim compare` over the built-ins, and a
fingerprint of `simulate` (timeline, op records, bios, device log, commits, histories, wait
statistics) on a few generated workloads. The stamp's model hash (a digest of the source) is
masked, and so are the source directory and the source line numbers of a deadlock's
model stack; fields a dataclass leaves out of its repr (callbacks) are left out.

    python scripts/sim_identity.py OUTDIR [--quick]
    diff -r OUTDIR_BEFORE OUTDIR_AFTER
"""

import os
import re
import sys
from dataclasses import fields, is_dataclass

from click.testing import CliRunner

import eofsim
from eofsim.cli import main as cli
from eofsim.policies import POLICIES
from eofsim.scenario_file import builtin_names
from eofsim.sim import simulate
from eofsim.workload.generate import generate


SRC = os.path.dirname(os.path.dirname(eofsim.__file__))
"""Where the package's built-in scenario files are (their paths appear in --json output)."""


def _plain(x):
    if is_dataclass(x) and not isinstance(x, type):
        return {f.name: _plain(getattr(x, f.name)) for f in fields(x) if f.repr}
    if isinstance(x, dict):
        return {repr(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return repr(x)


def fingerprint(res) -> str:
    dev = res.dev
    parts = {
        "end_ns": res.end_ns, "ops": _plain(res.ops), "events": _plain(res.events),
        "bios": _plain(list(dev.bios)), "log": _plain(list(getattr(dev, "log", []))),
        "stats": _plain(dev.stats), "commits": _plain(res.commits),
        "ino_history": _plain(res.ino_history), "name_history": _plain(res.name_history),
        "deadlocks": _plain(res.deadlocks), "stall": _plain(res.stall),
        "wait_counts": _plain(res.engine.wait_counts), "wait_ns": _plain(res.engine.wait_ns),
        "journal": _plain([(t, sorted(map(repr, tx.raw.items())))
                           for t, tx in sorted(res.fs.journal.tx_by_tid.items())]),
    }
    return "\n".join(f"{k}: {v}" for k, v in parts.items()) + "\n"


def invoke(args):
    r = CliRunner().invoke(cli, args)
    # The stamp's model hash is a digest of the model's source: it changes with any edit.
    out = re.sub(r"(model\"?:? \"?)[0-9a-f]{16}", r"\1HASH", r.output)
    out = re.sub(r"\.py:[0-9]+ ", ".py:N ", out)      # source lines of a deadlock's model stack
    return f"exit {r.exit_code}\n" + out.replace(SRC, "SRC")


def main():
    out = sys.argv[1]
    quick = "--quick" in sys.argv
    os.makedirs(out, exist_ok=True)

    def put(name, text):
        with open(os.path.join(out, name), "w") as f:
            f.write(text)

    pols = list(POLICIES)
    for sc in builtin_names():
        for p in pols:
            put(f"run-{sc}-{p}.txt", invoke(["run", sc, "-p", p]))
            put(f"run-{sc}-{p}.json", invoke(["run", sc, "-p", p, "--json"]))
            if not quick:
                put(f"check-{sc}-{p}.txt", invoke(["check", sc, "-p", p, "--schedules", "2"]))
    for seed, n, threads, ns in ((1, 2000, 1, False), (2, 1500, 3, False), (3, 1500, 1, True),
                                 (4, 800, 2, True)):
        sc = generate(seed=seed, n_ops=n, files=("a", "b", "c"), threads=threads,
                      max_size=256 * 1024, namespace=ns)
        for p in pols:
            put(f"gen-{seed}-{p}.txt", fingerprint(simulate(sc, p, trace=True)))
        put(f"gen-{seed}-perturb.txt", fingerprint(simulate(sc, "bh-ordered", perturb_seed=7)))
    # 1 KiB blocks (four to a folio), nodelalloc, data=writeback reuse, XFS timing
    sc = generate(seed=5, n_ops=1200, files=("a", "b"), threads=2, max_size=128 * 1024,
                  block_size=1024)
    for p in pols:
        put(f"gen-bs1k-{p}.txt", fingerprint(simulate(sc, p, {"block_size": "1024"}, trace=True)))
    sc = generate(seed=6, n_ops=1200, files=("a", "b"), threads=1, max_size=128 * 1024)
    for p in ("bh-ordered", "bh-writeback", "iomap-v4"):
        put(f"gen-nodelalloc-{p}.txt",
            fingerprint(simulate(sc, p, {"delalloc": "false"}, trace=True)))
    if not quick:
        put("compare.txt", invoke(["compare", "--jobs", "1", "--schedules", "2"]))


if __name__ == "__main__":
    main()
