"""Application checkers on crash states: materialise each distinct recovered file tree as
real files in a temporary directory and run the application's own checker there.

The recovered states are those crash exploration checks (explore.Explorer: every crash
time, every recovered journal prefix, every combination of block versions a power cut can
leave). A tree is the set of files with their recovered sizes and bytes; trees are
deduplicated first by provenance (which write each byte came from) and then by content, so
CMD runs once per distinct tree. Bytes are the program's own (live.Payload, the trace's
.data file); without a payload file the model's byte pattern stands in.

Coverage: at each (crash time, prefix) every combination is enumerated when there are at
most `per_point` of them; beyond that the newest and the oldest choice for every block and a
seeded random sample are taken, and the report says it is not exhaustive. At most
`max_trees` distinct trees are checked, spread evenly over the crash times they first
appear at (the first and the last always among them).

CMD runs with EOFSIM_CRASH_NS (the crash time, virtual ns) and EOFSIM_PREFIX (how many
transactions recovery replayed) in its environment, so a checker can ask "is everything
committed before the crash there" (a workload on the mount learns virtual times by reading
/.eofsim-clock).

CMD is told the latest crash time its tree is possible at (a tree possible at 0.1 s and at
4 s is checked as a 4 s crash): that is the strictest for checkers whose obligations grow
with time. A rejected state is reported with that crash time, the earliest time the same
files are possible, and its distance from the newest state possible then (how many blocks
hold an older version than the newest one that may be on disk): the minimal counterexample
is the rejected tree with the fewest such blocks, the earliest crash time breaking ties.
"""

import hashlib
import itertools
import os
import random
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

from .explore import Explorer


@dataclass
class TreeState:
    t: int
    p: int
    files: tuple
    """((path, size, runs, ino), ...) for every name recovery's namespace holds (size -1:
    a directory)."""
    older: tuple
    """((file, block offset, chosen version index), ...) blocks not at their newest option."""


@dataclass
class Rejection:
    state: TreeState
    status: int
    first_line: str
    digest: str
    first_t: int = 0
    """The earliest crash time the same tree is possible at (state.t is the latest: the
    time CMD was told)."""


@dataclass
class AppReport:
    cmd: str
    crash_points: int = 0
    combos: int = 0
    trees: int = 0
    """Distinct trees (by content) on which CMD ran."""
    exhaustive: bool = True
    capped: bool = False
    rejected: list = field(default_factory=list)
    elapsed_s: float = 0.0
    notes: list = field(default_factory=list)

    @property
    def ok(self):
        return not self.rejected

    def minimal(self):
        if not self.rejected:
            return None
        return min(self.rejected, key=lambda r: (len(r.state.older), r.state.t))

    def as_dict(self):
        def rj(r):
            return {"crash_time_ns": r.state.t, "first_possible_ns": r.first_t, "prefix": r.state.p, "status": r.status,
                    "first_line": r.first_line, "sha256": r.digest,
                    "files": {n: (s if s >= 0 else "dir") for n, s, _, _ in r.state.files},
                    "older_blocks": [list(o) for o in r.state.older]}
        m = self.minimal()
        return {"cmd": self.cmd, "crash_points": self.crash_points, "combinations": self.combos,
                "trees": self.trees, "exhaustive": self.exhaustive, "capped": self.capped,
                "rejected": [rj(r) for r in self.rejected],
                "minimal": rj(m) if m else None, "notes": list(self.notes)}


def _merge_runs(parts):
    out = []
    for r in parts:
        if out and out[-1][2] == r[2] and out[-1][1] == r[0]:
            out[-1] = (out[-1][0], r[1], r[2])
        else:
            out.append(r)
    return tuple(out)


def states(ex: Explorer, per_point=256, seed=0):
    """Yield (TreeState, exhaustive_here) for every recovered state's provenance tree at every
    crash time, in crash-time order (a tree recurs at each time it is possible)."""
    rng = random.Random(seed)
    jr = ex.journal
    for t in ex.crash_times():
        groups = {}
        for p in jr.prefixes(t):
            key = tuple(id(jr.raw_inode(p, n)) for n in ex.files)
            groups.setdefault(key, p)
        seen = set()
        for p in groups.values():
            forced = jr.forced(p)
            per = []
            for name, ri in recovered_tree(jr.inodes(p)):
                if ri is None:
                    per.append((name, -1, [], None))        # a directory
                else:
                    per.append((name, ri.size, ex.file_slots(ri, t, forced), ri.ino))
            flat = [(i, a, opts) for i, (_, _, fsl, _) in enumerate(per) for a, b, opts in fsl]
            sizes = [len(o) for _, _, o in flat]
            total = 1
            for n in sizes:
                total *= n
            if total <= per_point:
                combos, exhaustive = itertools.product(*[range(n) for n in sizes]), True
            else:
                picks = [tuple(0 for _ in sizes), tuple(n - 1 for n in sizes)]
                picks += [tuple(rng.randrange(n) for n in sizes) for _ in range(per_point - 2)]
                combos, exhaustive = picks, False
            for combo in combos:
                parts = [[] for _ in per]
                older = []
                for (i, a, opts), c in zip(flat, combo):
                    parts[i].extend(opts[c][1])
                    if c:
                        older.append((per[i][0], a, c))
                files = tuple((name, size, _merge_runs(parts[i]), ino)
                              for i, (name, size, _, ino) in enumerate(per))
                if files in seen:
                    continue
                seen.add(files)
                yield TreeState(t, p, files, tuple(older)), exhaustive


def recovered_tree(inodes):
    """[(path, RawInode or None for a directory)] of what recovery's namespace holds: the
    root directory's journalled entries (jbd2.RawDir) walked down, as a mount after
    ext4_orphan_cleanup shows them (an unlinked inode still on the orphan list has no name
    and is freed; a file is absent until the transaction that linked it is recovered)."""
    from ..ext4.namei import ROOT_INO
    from ..jbd2 import RawDir
    out = []

    def visit(d, prefix, depth):
        for leaf, ino in d.entries:
            obj = inodes.get(ino)
            path = prefix + leaf
            if isinstance(obj, RawDir):
                out.append((path, None))
                if depth < 64:
                    visit(obj, path + "/", depth + 1)
            elif obj is not None:
                out.append((path, obj))
            # an entry whose inode was never logged cannot happen: ext4_create logs both
            # in one handle
    root = inodes.get(ROOT_INO)
    if isinstance(root, RawDir):
        visit(root, "", 0)
    return out


def materialise(tree: TreeState, payload, directory):
    """Write the tree's files (with their directories) under `directory`."""
    for name, data in tree_bytes(tree, payload).items():
        path = os.path.join(directory, name)
        if data is None:
            os.makedirs(path, exist_ok=True)
            continue
        os.makedirs(os.path.dirname(path) or directory, exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)


def tree_bytes(tree: TreeState, payload) -> dict:
    """path -> bytes for files, path -> None for directories."""
    return {name: None if size < 0 else payload.to_bytes(runs, 0, ino)[:size].ljust(size, b"\0")
            for name, size, runs, ino in tree.files}


def app_check(result, cmd, payload, timed=False, per_point=256, max_trees=500, timeout=60.0,
              seed=0, keep=None, progress=None) -> AppReport:
    """Run shell command `cmd` in a fresh directory holding each distinct recovered tree of
    `result` (a sim.RunResult); a non-zero exit status rejects the tree. `keep`: a directory
    to copy the minimal rejected tree into."""
    t0 = time.perf_counter()
    ex = Explorer(result, timed=timed)
    rep = AppReport(cmd=cmd, crash_points=len(ex.crash_times()))
    # Pass 1: every distinct tree by content, with the crash times it is possible at.
    digest_of = {}          # provenance tree -> content digest
    trees = {}              # digest -> [first TreeState, last TreeState]
    for tree, exhaustive in states(ex, per_point=per_point, seed=seed):
        rep.combos += 1
        rep.exhaustive = rep.exhaustive and exhaustive
        digest = digest_of.get(tree.files)
        if digest is None:
            digest = digest_of[tree.files] = _digest(tree_bytes(tree, payload))
        got = trees.get(digest)
        if got is None:
            trees[digest] = [tree, tree]
        else:
            if tree.t == got[0].t and len(tree.older) < len(got[0].older):
                got[0] = tree
            if tree.t > got[1].t or len(tree.older) < len(got[1].older):
                got[1] = tree
    # Pass 2: CMD on each, told the LATEST crash time the tree is possible at: the strictest
    # for a checker whose obligations grow with time ("committed before the crash").
    order = sorted(trees.items(), key=lambda kv: (kv[1][0].t, kv[0]))
    if len(order) > max_trees:
        # evenly spread over crash time (first and last always in), not just the earliest
        rep.capped = True
        rep.exhaustive = False
        n = len(order)
        picks = sorted({round(i * (n - 1) / max(1, max_trees - 1)) for i in range(max_trees)})
        order = [order[i] for i in picks]
    root = tempfile.mkdtemp(prefix="eofsim-appcheck-")
    try:
        for digest, (first, last) in order:
            rep.trees += 1
            d = os.path.join(root, f"s{rep.trees}")
            os.mkdir(d)
            materialise(last, payload, d)
            try:
                env = dict(os.environ, EOFSIM_CRASH_NS=str(last.t), EOFSIM_PREFIX=str(last.p))
                pr = subprocess.run(["sh", "-c", cmd], cwd=d, capture_output=True, timeout=timeout,
                                    stdin=subprocess.DEVNULL, env=env)
                status, out = pr.returncode, (pr.stdout + pr.stderr)
            except subprocess.TimeoutExpired as e:
                status, out = -1, b"timed out after %gs " % timeout + (e.stdout or b"")
            if status != 0:
                lines = out.decode(errors="replace").strip().splitlines()
                rep.rejected.append(Rejection(last, status, lines[0] if lines else "", digest, first.t))
            shutil.rmtree(d, ignore_errors=True)
            if progress:
                progress(rep)
        m = rep.minimal()
        if keep and m is not None:
            os.makedirs(keep, exist_ok=True)
            materialise(m.state, payload, keep)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rep.elapsed_s = time.perf_counter() - t0
    return rep


def _digest(content):
    h = hashlib.sha256()
    for name in sorted(content):
        data = content[name]
        h.update(name.encode() + b"\0" + (b"dir" if data is None else str(len(data)).encode()) + b"\0")
        h.update(data or b"")
    return h.hexdigest()


def describe(rej: Rejection, ex_or_none=None) -> str:
    s = rej.state
    lines = [f"crash at {s.t / 1e9:.6f} s (the same files are possible from {rej.first_t / 1e9:.6f} s), "
             f"{s.p} transaction(s) recovered: exit {rej.status}"
             + (f": {rej.first_line}" if rej.first_line else "")]
    for name, size, _, _ in s.files:
        lines.append(f"  {name}/: directory" if size < 0 else f"  {name}: size {size}")
    if not s.files:
        lines.append("  no files")
    if s.older:
        for name, off, c in s.older:
            lines.append(f"  {name} block at {off}: {c} version(s) older than the newest that may be on disk")
    else:
        lines.append("  every block at the newest version that may be on disk then")
    return "\n".join(lines)


def run_cli(scenario_arg, result, cmd, max_trees, timeout, keep, timed, as_json, model_check):
    """`eofsim check SCENARIO --app-check CMD`: the model's own checkers, then CMD on every
    distinct tree. Returns the exit status (1 if either rejects)."""
    import json
    from pathlib import Path

    import click

    from ..live import Payload, payload_path
    from ..units import fmt_time
    pp = payload_path(scenario_arg)
    if Path(scenario_arg).is_file() and pp.is_file():
        payload, note = Payload.load(pp), None
    else:
        payload, note = Payload(), (f"no payload file {pp}: the model's byte pattern stands in "
                                    "for the data the workload wrote")
    rep = model_check()
    app = app_check(result, cmd, payload, timed=timed, max_trees=max_trees, timeout=timeout,
                    keep=keep)
    if note:
        app.notes.append(note)
    bad = bool(rep.violations) or bool(app.rejected)
    if as_json:
        d = rep.as_dict()
        d["app_check"] = app.as_dict()
        click.echo(json.dumps(d, sort_keys=True))
        return 1 if bad else 0
    name = result.scenario.name
    click.echo(f"{name} under {result.policy}: {rep.crash_points} crash points, "
               f"{rep.crash_states} crash states; model checkers: "
               + ("no violation" if not rep.violations else
                  ", ".join(f"{v.kind} in {v.file} at {fmt_time(v.crash_time_ns)}" for v in rep.violations[:5])))
    click.echo(f"app check {cmd!r}: {app.trees} distinct file trees"
               + ("" if app.exhaustive else " (NOT exhaustive: "
                  + ("--app-states cap reached" if app.capped else "sampled at some crash points") + ")")
               + f", {len(app.rejected)} rejected, {app.elapsed_s:.1f} s")
    for r in app.rejected[:10]:
        click.echo(f"REJECTED at crash time {fmt_time(r.state.t)}: exit {r.status}"
                   + (f": {r.first_line}" if r.first_line else ""))
    if len(app.rejected) > 10:
        click.echo(f"... and {len(app.rejected) - 10} more")
    m = app.minimal()
    if m is not None:
        click.echo("minimal counterexample:")
        click.echo(describe(m))
        if keep:
            click.echo(f"its files: {keep}")
    for n in rep.notes + app.notes:
        click.echo(f"note: {n}")
    if not bad:
        click.echo("no violation, no rejected state")
    return 1 if bad else 0
