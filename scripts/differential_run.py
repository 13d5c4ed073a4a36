#!/usr/bin/env python3
"""A rerunnable differential run of random operations against the real kernel's ext4 (no
crash): kernel/differential.py's machinery over seeded op lists, each compared op by op with
the model (size, bytes read, content, the EOF page through mmap). Prints the ops run, the
divergences (each shrunk), the time and the load average; exits 1 on a divergence, 2 when
the machine cannot run it.

    .venv/bin/python scripts/differential_run.py --ops 100000 [--chunk 400] [--seed 0]
    .venv/bin/python scripts/differential_run.py --namespace --lists 40   # namespace ops

--namespace: differential.random_namespace_ops lists (create, open [trunc], close, unlink,
rename, mkdir, syncfs with data ops over f, g, d/h; 30 ops a list before probes).
"""

import argparse
import os
import sys
import time

from eofsim.kernel import differential as d
from eofsim.kernel import preflight


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ops", type=int, default=100_000)
    ap.add_argument("--chunk", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--where", default="ext4", choices=("ext4", "tmpfs"))
    ap.add_argument("--namespace", action="store_true")
    ap.add_argument("--lists", type=int, default=40, help="--namespace: op lists to run")
    a = ap.parse_args(argv)
    why = preflight.reason()
    if why and a.where == "ext4":
        print(f"scripts/differential_run.py: cannot run: {why}", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    done, lists, divergences = 0, 0, []
    seed = a.seed
    while a.namespace and lists < a.lists:
        ops = d.random_namespace_ops(seed)
        div = d.namespace_divergence(ops, a.where)
        if div is not None:
            divergences.append((seed, div))
            print(f"seed {seed}: {div.text()}", flush=True)
        done += len(ops)
        lists += 1
        seed += 1
    while not a.namespace and done < a.ops:
        n = min(a.chunk, a.ops - done)
        ops = d.with_probes(d.random_ops(seed, n))
        rep = d.check_against_model(ops, d.simulate_ops, where=(a.where,))
        div = rep[a.where]
        if div is not None:
            divergences.append((seed, div))
            print(f"seed {seed}: {div.what} differs at op {div.index}: {[o.text() for o in div.ops]}",
                  flush=True)
        done += len(ops)
        lists += 1
        seed += 1
        if lists % 25 == 0:
            print(f"... {done} ops, {len(divergences)} divergences, {time.monotonic() - t0:.0f} s",
                  file=sys.stderr, flush=True)
    print(f"{done} {'namespace-differential ' if a.namespace else ''}operations in {lists} lists "
          f"(seeds {a.seed}..{seed - 1}) on {a.where}: "
          f"{len(divergences)} divergences, {time.monotonic() - t0:.0f} s, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 1 if divergences else 0


if __name__ == "__main__":
    sys.exit(main())
