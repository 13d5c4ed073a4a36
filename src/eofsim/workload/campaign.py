"""Campaigns: many random workloads under many policies, crash-checked, results in SQLite.

One task is one (policy, seed): `generate(seed, ops, threads=...)`, `simulate` under the
policy, `crash.explore.check`, and for every violation kind found a shrunk reproducer
(delta debugging over the operation list: the smallest op list, 1-minimal unless the
shrink budget ran out, that still shows that kind), exported as a scenario file and as an
fsx `.fsxops` log. Tasks are pure functions of (policy, seed, params): same seeds and
parameters, same rows (only the timing columns differ).

Executors: a local process pool (default) or a Dask distributed cluster (`--dask ADDRESS`).
Either way the parent process is the only writer of the database: it commits each result
(with its reproducers) in one transaction as soon as it arrives, in WAL mode. So killing the
campaign at any moment, even with SIGKILL, loses at most the results still in flight, and
a restart skips every (policy, seed) already stored. synchronous=NORMAL: a committed row
survives the death of the process; a power cut may lose the last commits, which a restart
recomputes (identically).

The database: `PRAGMA application_id` marks it as an eofsim campaign, `user_version` is the
schema version, table `meta` holds the campaign parameters that change results (ops,
threads, samples, max_size, files); a restart with other parameters is refused.
"""

import asyncio
import json
import os
import sqlite3
import time
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import InputError

APPLICATION_ID = 0x454F4643  # 'EOFC'
SCHEMA_VERSION = 1
SHRINK_BUDGET = 400
"""Most simulate+check runs a shrink spends per violation kind."""
MAX_SEED = (1 << 63) - 1
"""SQLite's INTEGER is a signed 64-bit value."""
MAX_STORED_VIOLATIONS = 200
"""Violations kept per result row (the count is always exact)."""

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE results (
    policy TEXT NOT NULL,
    seed INTEGER NOT NULL,
    n_ops INTEGER NOT NULL,
    crash_points INTEGER NOT NULL,
    crash_states INTEGER NOT NULL,
    states_checked INTEGER NOT NULL,
    exhaustive INTEGER NOT NULL,
    zeros_instead_of_data INTEGER NOT NULL,
    n_violations INTEGER NOT NULL,
    kinds TEXT NOT NULL,
    kind_counts TEXT NOT NULL,
    violations TEXT NOT NULL,
    counterexample TEXT,
    deadlocks INTEGER NOT NULL,
    stall TEXT,
    error TEXT,
    notes TEXT NOT NULL,
    elapsed_s REAL NOT NULL,
    worker TEXT NOT NULL,
    PRIMARY KEY (policy, seed)
);
CREATE TABLE reproducers (
    policy TEXT NOT NULL,
    seed INTEGER NOT NULL,
    kind TEXT NOT NULL,
    ops_before INTEGER NOT NULL,
    ops_after INTEGER NOT NULL,
    minimal INTEGER NOT NULL,
    tests INTEGER NOT NULL,
    violation TEXT NOT NULL,
    scenario_yaml TEXT NOT NULL,
    fsxops TEXT,
    fsxops_note TEXT,
    PRIMARY KEY (policy, seed, kind)
);
"""
RESULT_COLS = ("policy", "seed", "n_ops", "crash_points", "crash_states", "states_checked",
               "exhaustive", "zeros_instead_of_data", "n_violations", "kinds", "kind_counts",
               "violations", "counterexample", "deadlocks", "stall", "error", "notes",
               "elapsed_s", "worker")
TIMING_COLS = ("elapsed_s", "worker")
"""Columns that legitimately differ between two runs of the same campaign."""
REPRO_COLS = ("policy", "seed", "kind", "ops_before", "ops_after", "minimal", "tests",
              "violation", "scenario_yaml", "fsxops", "fsxops_note")
PARAM_KEYS = ("ops", "threads", "samples", "max_size", "files", "tunables", "op_interval_ns",
              "namespace")


# ---------------------------------------------------------------- arguments

def parse_seeds(text: str) -> range:
    """'A..B' (inclusive) or 'N' -> range."""
    import re
    t = (text or "").strip()
    a, sep, b = t.partition("..")
    if not re.fullmatch(r"[0-9]{1,20}", a) or (sep and not re.fullmatch(r"[0-9]{1,20}", b)):
        raise InputError(f"--seeds {t[:40]!r}: expected A..B (inclusive, e.g. 0..99) or one "
                         "seed N, decimal, at most 2^63-1")
    lo = int(a, 10)
    hi = int(b, 10) if sep else lo
    if hi > MAX_SEED:
        raise InputError(f"--seeds {t!r}: seeds are stored as SQLite integers, at most "
                         f"2^63-1 = {MAX_SEED}")
    if hi < lo:
        raise InputError(f"--seeds {text!r}: need 0 <= A <= B")
    if hi - lo >= 10_000_000:
        raise InputError(f"--seeds {text!r}: at most 10,000,000 seeds per run")
    return range(lo, hi + 1)


def parse_policies(text: str) -> list[str]:
    from ..policies import get_policy
    names = []
    for p in (text or "").split(","):
        p = p.strip()
        if p and p not in names:
            get_policy(p)  # InputError naming the known ones
            names.append(p)
    if not names:
        raise InputError("--policies: give at least one policy (see `eofsim policies`)")
    return names


@dataclass(frozen=True)
class Params:
    """What a result depends on besides (policy, seed)."""
    ops: int = 40
    threads: int = 1
    samples: int = 20000
    max_size: int = 256 * 1024
    files: int = 1
    tunables: str = ""
    """Tunable overrides as sorted 'key=value' pairs joined by ',' (`--set`)."""
    op_interval_ns: int = 0
    """Think time: ops start on this grid (workload.pacing). 0 by default: the generator
    already puts sleeps of 5 s and 30 s between ops, so its workloads span commits and
    dirty expiry on their own."""
    namespace: bool = False
    """Workloads draw namespace ops too (generate(namespace=True))."""

    def as_dict(self):
        return {k: getattr(self, k) for k in PARAM_KEYS}

    def file_names(self):
        return ("f",) if self.files == 1 else tuple(f"f{i}" for i in range(self.files))

    def overrides(self) -> dict:
        return dict(kv.split("=", 1) for kv in self.tunables.split(",") if kv)


# ---------------------------------------------------------------- one task

def ddmin(items, fails, budget):
    """Zeller's delta debugging: a 1-minimal sublist of `items` for which `fails` holds
    (`fails(items)` must hold). Returns (items, minimal, tests); `minimal` is False when the
    budget of `fails` calls ran out first."""
    tests = 0
    n = 2
    while len(items) >= 2:
        k = -(-len(items) // n)
        chunks = [items[i:i + k] for i in range(0, len(items), k)]
        cands = [(c, 2) for c in chunks]
        if len(chunks) > 2:
            cands += [([x for j, c in enumerate(chunks) if j != i for x in c], max(n - 1, 2))
                      for i in range(len(chunks))]
        reduced = False
        for cand, next_n in cands:
            if tests >= budget:
                return items, False, tests
            tests += 1
            if fails(cand):
                items, n, reduced = cand, next_n, True
                break
        if not reduced:
            if n >= len(items):
                break
            n = min(len(items), 2 * n)
    if len(items) == 1 and tests < budget:
        tests += 1
        if fails([]):
            return [], True, tests
    return items, True, tests


def shrink(sc, policy, kind, samples, t_max, budget=SHRINK_BUDGET):
    """Shrink scenario `sc` to a 1-minimal op list (no single op can go) that still shows a
    `kind` violation under `policy`. Ops that start after `t_max` (the earliest crash time of such a violation)
    cannot change the disk before it, so they go first (kept if that loses the violation)."""
    from ..crash.explore import check
    from ..sim import simulate
    cache = {}

    def run(items):
        key = tuple(items)
        if key not in cache:
            try:
                res = simulate(sc.keep_ops(items), policy)
                rep = check(res, samples=samples)
                hit = next((v for v in rep.violations if v.kind == kind), None)
            except InputError:  # a sub-workload the model refuses does not reproduce `kind`
                hit = None
            except Exception as e:
                # A model crash while shrinking is a model bug: reported with the row (the
                # caller's catch-all records it), never taken for "does not reproduce".
                raise RuntimeError(f"model crashed while shrinking ({len(items)} ops kept): "
                                   f"{type(e).__name__}: {e}") from e
            cache[key] = hit
        return cache[key]

    all_items = [(ti, oi) for ti, oi, _ in sc.all_ops()]
    items = all_items
    tests = 0
    if t_max is not None:
        res = simulate(sc, policy)
        rec = {}
        i = 0
        for ti, th in enumerate(sc.threads):
            for oi in range(len(th.ops)):
                rec[(ti, oi)] = res.ops[i]
                i += 1
        early = [it for it in all_items if rec[it].start_ns <= t_max]
        if len(early) < len(all_items):
            tests += 1
            if run(early) is not None:
                items = early
    items, minimal, n = ddmin(items, lambda c: run(c) is not None, max(budget - tests, 0))
    hit = run(items)
    if hit is None:  # cannot happen unless the model is not deterministic; keep the whole
        items, minimal, hit = all_items, False, run(all_items)
    small = sc.keep_ops(items)
    small = replace(small, description=f"{sc.description}; shrunk to {len(items)} of "
                                       f"{len(all_items)} ops still showing {kind} under {policy}")
    return small, len(items), minimal, tests + n, hit


def _fsxops_text(sc, policy):
    """The shrunk scenario as an fsx op log, ops in the order the run started them."""
    from ..sim import simulate
    from .fsxops import dump_fsxops
    res = simulate(sc, policy)
    ops = [r.op for r in sorted(res.ops, key=lambda r: (r.start_ns, r.index))]
    note = None
    if len(sc.threads) > 1:
        note = (f"{len(sc.threads)} threads serialised in start order: fsx runs one "
                "operation at a time")
    try:
        return dump_fsxops(ops, lossy=True), note
    except InputError as e:
        return None, f"not expressible as an fsx log: {e}"


def run_task(policy: str, seed: int, params: dict) -> dict:
    from ..policies import install_sources
    install_sources(params.get("plugins"))
    return _run_task(policy, seed, {k: v for k, v in params.items() if k != "plugins"})


def _run_task(policy: str, seed: int, params: dict) -> dict:
    """One (policy, seed): a dict with every results column and 'reproducers'. Pure in its
    arguments except for the timing columns."""
    from ..crash.explore import check
    from ..scenario_file import dump_text
    from ..sim import simulate
    from .generate import generate
    p = Params(**params)
    t0 = time.perf_counter()
    row = {"policy": policy, "seed": seed, "n_ops": p.ops, "crash_points": 0, "crash_states": 0,
           "states_checked": 0, "exhaustive": 1, "zeros_instead_of_data": 0,
           "n_violations": 0, "kinds": "", "kind_counts": "{}", "violations": "[]",
           "counterexample": None, "deadlocks": 0, "stall": None, "error": None,
           "notes": "[]", "reproducers": []}
    try:
        sc = generate(seed, p.ops, files=p.file_names(), threads=p.threads, max_size=p.max_size,
                      namespace=p.namespace)
        if p.tunables:
            sc = replace(sc, tunables=p.overrides())
        if p.op_interval_ns:
            from .pacing import pace
            sc = replace(sc, threads=tuple(replace(th, ops=tuple(pace(th.ops, p.op_interval_ns)))
                                           for th in sc.threads))
        res = simulate(sc, policy)
        rep = check(res, samples=p.samples)
        kinds = {}
        first_t = {}
        for v in rep.violations:
            kinds[v.kind] = kinds.get(v.kind, 0) + 1
            first_t[v.kind] = min(first_t.get(v.kind, v.crash_time_ns), v.crash_time_ns)
        ce = rep.counterexample
        row.update(
            crash_points=rep.crash_points, crash_states=rep.crash_states,
            states_checked=rep.states_checked, exhaustive=int(rep.exhaustive),
            zeros_instead_of_data=rep.zeros_instead_of_data,
            n_violations=len(rep.violations), kinds=",".join(sorted(kinds)),
            kind_counts=json.dumps(dict(sorted(kinds.items()))),
            violations=json.dumps([v.as_dict() for v in rep.violations[:MAX_STORED_VIOLATIONS]],
                                  sort_keys=True),
            counterexample=None if ce is None else (
                ce if isinstance(ce, str) else json.dumps(
                    ce if isinstance(ce, dict) else ce.as_dict(), sort_keys=True)),
            deadlocks=len(res.deadlocks), stall=res.stall.text() if res.stall else None,
            notes=json.dumps(list(rep.notes)))
        shrunk = []  # (scenario, kinds it shows) already made: reuse when it fits
        for kind in sorted(kinds):
            reuse = next((s for s in shrunk if kind in s[1]), None)
            if reuse is not None:
                small, n_after, minimal, tests, hit = reuse[0]
            else:
                small, n_after, minimal, tests, hit = shrink(sc, policy, kind, p.samples,
                                                            first_t[kind])
                srep = check(simulate(small, policy), samples=p.samples)
                shrunk.append(((small, n_after, minimal, tests, hit), srep.kinds()))
            fsx, note = _fsxops_text(small, policy)
            row["reproducers"].append({
                "policy": policy, "seed": seed, "kind": kind,
                "ops_before": sum(len(t.ops) for t in sc.threads), "ops_after": n_after,
                "minimal": int(minimal), "tests": tests,
                "violation": json.dumps(hit.as_dict(), sort_keys=True),
                "scenario_yaml": dump_text(small), "fsxops": fsx, "fsxops_note": note})
        _hang_reproducer(row, sc, policy, res)
    except InputError as e:
        row["error"] = str(e)
    except Exception as e:  # a model crash on a random workload is a finding, not a stop
        import traceback
        row["error"] = f"{type(e).__name__}: {e}"
        row["notes"] = json.dumps(traceback.format_exc().splitlines()[-12:])
    row["elapsed_s"] = time.perf_counter() - t0
    row["worker"] = f"{os.uname().nodename}:{os.getpid()}"
    return row


def _hang_reproducer(row, sc, policy, res):
    """A deadlocked or stalled workload gets a reproducer too (issue 14): shrunk with ddmin
    to the fewest ops that still deadlock (or stall), as YAML and, where expressible, as an
    fsx log; kind 'deadlock' or 'stall'."""
    from ..hang import analyse, minimize_hang, short
    from ..scenario_file import dump_text
    h = analyse(res)
    if not h["verdict"]:
        return
    kind = h["verdict"]
    hm = minimize_hang(sc, policy, None, kind, budget=SHRINK_BUDGET // 4)
    small = sc if hm is None else replace(
        hm.scenario, description=f"{sc.description}; shrunk to "
        f"{sum(len(t.ops) for t in hm.scenario.threads)} of "
        f"{sum(len(t.ops) for t in sc.threads)} ops still showing a {kind} under {policy}")
    n_after = sum(len(t.ops) for t in small.threads)
    fsx, note = _fsxops_text(small, policy)
    first = h["deadlocks"][0]["time_ns"] if h["deadlocks"] else h["stall"]["time_ns"]
    row["reproducers"].append({
        "policy": policy, "seed": row["seed"], "kind": kind,
        "ops_before": sum(len(t.ops) for t in sc.threads), "ops_after": n_after,
        "minimal": int(hm is not None and hm.complete), "tests": 0 if hm is None else hm.runs,
        "violation": json.dumps({"kind": kind, "time_ns": first, "detail": short(h)}, sort_keys=True),
        "scenario_yaml": dump_text(small), "fsxops": fsx, "fsxops_note": note})


def warm(delay: float = 0.0) -> int:
    """Import everything a task needs (a worker's first task should not pay for it);
    `delay` keeps this worker busy so the next warm() lands on another one."""
    from ..crash import explore  # noqa: F401
    from ..sim import simulate  # noqa: F401
    from . import generate  # noqa: F401
    time.sleep(delay)
    return os.getpid()


# ---------------------------------------------------------------- the database

def _db_error(path, e):
    return InputError(f"{path}: not a usable eofsim campaign database ({e})")


def _retry_locked(fn, seconds=30.0):
    """fn(), retried while SQLite answers "database is locked" (SQLITE_BUSY)."""
    import random
    deadline = time.monotonic() + seconds
    while True:
        try:
            return fn()
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(random.uniform(0.005, 0.05))


def open_db(path, params: Params | None = None, create: bool = True):
    """Open (and with `create`, initialise) a campaign database. `params` given: the stored
    campaign parameters must be equal (or are recorded, for a new database)."""
    from ..inputs import regular_or_absent
    path = str(path)
    if not create and not os.path.exists(path):
        raise InputError(f"{path}: no such campaign database")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory, not a campaign database")
    regular_or_absent(path, "campaign database")
    def header():
        app = con.execute("PRAGMA application_id").fetchone()[0]
        ver = con.execute("PRAGMA user_version").fetchone()[0]
        tables = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return app, ver, tables

    try:
        if create:
            con = sqlite3.connect(path, timeout=30, isolation_level=None)
        else:
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30,
                                  isolation_level=None)
        con.execute("BEGIN")  # one snapshot for the three reads
        app, ver, tables = header()
        con.execute("COMMIT")
        if create and not (app or tables or ver):
            # A new database. Two campaigns may start on it at the same moment: WAL first
            # (retried: a journal-mode change does not wait in SQLite's busy handler),
            # then the header is read again and the schema created under one write lock
            # (BEGIN IMMEDIATE), so exactly one of them creates it and the other reads it.
            _retry_locked(lambda: con.execute("PRAGMA journal_mode=WAL").fetchone())
            con.execute("BEGIN IMMEDIATE")
            app, ver, tables = header()
            if app or tables or ver:
                con.execute("ROLLBACK")
    except sqlite3.DatabaseError as e:
        raise _db_error(path, e) from None
    if app != APPLICATION_ID:
        if app != 0 or tables or ver != 0 or not create:
            con.close()
            what = (f"application_id 0x{app:08x}" if app else
                    f"tables {', '.join(tables)}" if tables else "an empty database")
            raise InputError(f"{path}: not an eofsim campaign database ({what}); "
                             "give another --db")
        try:
            for stmt in SCHEMA.strip().split(";\n"):
                if stmt.strip():
                    con.execute(stmt)
            con.execute(f"PRAGMA application_id={APPLICATION_ID}")
            con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            con.execute("INSERT INTO meta VALUES ('schema', 'eofsim-campaign')")
            if params is not None:
                con.execute("INSERT INTO meta VALUES ('params', ?)",
                            (json.dumps(params.as_dict(), sort_keys=True),))
            con.execute("COMMIT")
        except sqlite3.DatabaseError as e:
            if con.in_transaction:
                con.execute("ROLLBACK")
            con.close()
            raise _db_error(path, e) from None
    elif ver != SCHEMA_VERSION:
        con.close()
        raise InputError(f"{path}: campaign database schema version {ver}, this eofsim reads "
                         f"version {SCHEMA_VERSION}")
    try:
        if create:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
        stored = dict(con.execute("SELECT key, value FROM meta"))
    except sqlite3.DatabaseError as e:
        raise _db_error(path, e) from None
    if params is not None:
        want = params.as_dict()
        model = model_fingerprint()
        try:
            # first writer wins, atomically; everyone then compares with what is stored
            con.execute("INSERT OR IGNORE INTO meta VALUES ('params', ?)",
                        (json.dumps(want, sort_keys=True),))
            con.execute("INSERT OR IGNORE INTO meta VALUES ('model', ?)", (model,))
            stored = dict(con.execute("SELECT key, value FROM meta"))
        except sqlite3.DatabaseError as e:
            con.close()
            raise _db_error(path, e) from None
        try:
            have = json.loads(stored["params"])
        except ValueError as e:
            con.close()
            raise _db_error(path, f"corrupt params: {e}") from None
        defaults = Params().as_dict()
        diff = [k for k in PARAM_KEYS if have.get(k, defaults[k]) != want[k]]
        if diff:
            con.close()
            raise InputError(
                f"{path} holds a campaign run with "
                + ", ".join(f"{k}={have.get(k)}" for k in diff)
                + "; this run asks " + ", ".join(f"{k}={want[k]}" for k in diff)
                + ": rerun with the same parameters to resume it, or give another --db")
        if stored["model"] != model:
            con.close()
            raise InputError(f"{path} was filled by another version of the model "
                             f"({stored['model'][:12]}, this is {model[:12]}): resuming would mix "
                             "their results; give another --db")
    return con


def model_fingerprint() -> str:
    """A hash of the sources a result depends on (everything but the CLI, reports and the
    real-kernel harness), so a campaign never mixes rows of two models."""
    import hashlib
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.py")) + sorted(root.rglob("*.yaml")):
        rel = f.relative_to(root).as_posix()
        if rel == "cli.py" or rel.startswith(("report/", "kernel/")):
            continue
        h.update(rel.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def check_plugins(con, path, sources: dict) -> None:
    """A plug-in design's source hash joins the database's fingerprint: rows of a changed
    plug-in are never mixed with the old one's (a resume with a changed plug-in is refused)."""
    import hashlib
    stored = dict(con.execute("SELECT key, value FROM meta WHERE key LIKE 'plugin:%'"))
    for spec, text in sorted(sources.items()):
        key = f"plugin:{spec}"
        digest = hashlib.sha256(text.encode()).hexdigest()
        if key not in stored:
            con.execute("INSERT INTO meta VALUES (?, ?)", (key, digest))
        elif stored[key] != digest:
            raise InputError(f"{path}: policy plug-in {spec} changed since this campaign stored its "
                             f"results ({stored[key][:12]}, now {digest[:12]}): resuming would mix "
                             "them; give another --db")


def stored_params(con) -> dict | None:
    row = con.execute("SELECT value FROM meta WHERE key='params'").fetchone()
    return None if row is None else json.loads(row[0])


def done_keys(con) -> set:
    return {(p, s) for p, s in con.execute("SELECT policy, seed FROM results")}


class DiskFull(Exception):
    """The database's file system is full (SQLITE_FULL); every earlier row is kept."""


def store(con, row: dict):
    """One result and its reproducers, in one transaction. On SQLITE_FULL, SQLite has
    already rolled the transaction back (so a ROLLBACK of ours would fail with "cannot
    rollback - no transaction is active" and hide the cause): DiskFull is raised instead."""
    try:
        con.execute("BEGIN IMMEDIATE")
        try:
            con.execute(f"INSERT INTO results ({', '.join(RESULT_COLS)}) VALUES "
                        f"({', '.join('?' * len(RESULT_COLS))})", [row[c] for c in RESULT_COLS])
            for r in row.get("reproducers", ()):
                con.execute(f"INSERT INTO reproducers ({', '.join(REPRO_COLS)}) VALUES "
                            f"({', '.join('?' * len(REPRO_COLS))})", [r[c] for c in REPRO_COLS])
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
    except sqlite3.OperationalError as e:
        if getattr(e, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "full" in str(e):
            raise DiskFull(str(e)) from None
        raise


def rows(con, timing=False):
    """Every result and reproducer in key order (without timing columns unless asked):
    what two runs of the same campaign must agree on."""
    cols = [c for c in RESULT_COLS if timing or c not in TIMING_COLS]
    res = [tuple(r) for r in con.execute(
        f"SELECT {', '.join(cols)} FROM results ORDER BY policy, seed")]
    rep = [tuple(r) for r in con.execute(
        f"SELECT {', '.join(REPRO_COLS)} FROM reproducers ORDER BY policy, seed, kind")]
    return res, rep


def write_reproducers(row, out_dir):
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for r in row.get("reproducers", ()):
        stem = out / f"{r['policy']}-{r['seed']}-{r['kind']}"
        stem.with_suffix(".yaml").write_text(r["scenario_yaml"])
        if r["fsxops"]:
            stem.with_suffix(".fsxops").write_text(r["fsxops"])


# ---------------------------------------------------------------- executors

def run_batch(batch, params: dict) -> list[dict]:
    """Several tasks in one round trip (tasks of ~10 ms would otherwise pay as much in
    scheduling as in work)."""
    return [run_task(p, s, params) for p, s in batch]


class _Runner:
    """Batches tasks so that one batch takes about `target_s`, keeps `window` batches in
    flight, and yields rows as batches finish."""
    target_s = 0.1
    max_batch = 16
    workers = 1

    def _batch_size(self, avg, left):
        k = 1 if avg is None else int(self.target_s / max(avg, 1e-4))
        return max(1, min(k, self.max_batch, left // (2 * self.workers) or 1))

    def run(self, tasks, params):
        from collections import deque
        pending = deque(tasks)
        avg = None
        inflight = 0
        try:
            while pending or inflight:
                while pending and inflight < self.window:
                    k = min(self._batch_size(avg, len(pending)), len(pending))
                    self._submit([pending.popleft() for _ in range(k)], params)
                    inflight += 1
                rows = self._next()
                inflight -= 1
                for row in rows:
                    avg = row["elapsed_s"] if avg is None else 0.8 * avg + 0.2 * row["elapsed_s"]
                    yield row
        finally:
            self._cancel()


def process_gone(pid, timeout: float = 0.0, pidfd=None) -> bool:
    """Has process `pid` exited? A zombie (exited, not yet reaped by its own parent) counts
    as gone: `os.kill(pid, 0)` succeeds on a zombie, a pidfd polls readable as soon as the
    process exits (pidfd_poll: readable once the task is a zombie), and /proc/PID/stat says
    'Z'. Waits up to `timeout` seconds with a pidfd."""
    import select
    if pidfd is not None:
        p = select.poll()
        p.register(pidfd, select.POLLIN)
        return bool(p.poll(int(timeout * 1000)))
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return True
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
        return False
    return stat[stat.rindex(b")") + 2:][:1] in (b"Z", b"X")


def _watch_parent(pid, every=0.5):
    """In a pool worker: exit when the campaign process is gone, zombies included. A
    SIGKILLed parent leaves its workers blocked on the task queue forever otherwise (each
    holds its write end), and so holding whatever pipes the campaign's caller gave it."""
    import threading
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    if pidfd is None and process_gone(pid):
        os._exit(0)

    def watch():
        while True:
            if process_gone(pid, every, pidfd):
                os._exit(0)
            if pidfd is None:
                time.sleep(every)

    threading.Thread(target=watch, name="eofsim-parent-watch", daemon=True).start()


class PoolRunner(_Runner):
    """A local process pool (forkserver: workers start from a clean, preloaded process)."""

    def __init__(self, workers=2):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["eofsim.workload.campaign", "eofsim.sim",
                                    "eofsim.crash.explore"])
        self.workers = workers
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                        initializer=_watch_parent, initargs=(os.getpid(),))
        self.window = 2 * workers
        self._futs = set()

    def warm(self):
        list(self.pool.map(warm, [0.2] * self.workers))

    def _submit(self, batch, params):
        self._futs.add(self.pool.submit(run_batch, batch, params))

    def _next(self):
        from concurrent.futures import FIRST_COMPLETED, wait
        done, _ = wait(self._futs, return_when=FIRST_COMPLETED)
        f = min(done, key=id)
        self._futs.discard(f)
        return f.result()

    def _cancel(self):
        for f in self._futs:
            f.cancel()
        self._futs = set()

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=True)


class DaskRunner(_Runner):
    """The same tasks on a Dask distributed cluster (workers need eofsim installed).
    Batches are larger than the pool's: each Dask task costs scheduler round trips that,
    on a small machine, share the cores with the workers."""
    target_s = 0.4
    max_batch = 64

    def __init__(self, address, timeout=5.0, client=None):
        self.address = address
        self.own = client is None
        if client is None:
            client = connect_dask(address, timeout)
        self.client = client
        n = sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values())
        self.workers = max(n, 1)
        self.window = 2 * self.workers
        self._ac = None

    def warm(self):
        self.client.run(warm)

    def _submit(self, batch, params):
        from distributed import as_completed
        f = self.client.submit(run_batch, batch, params, pure=False)
        if self._ac is None:
            self._ac = as_completed([f], loop=self.client.loop)
        else:
            self._ac.add(f)

    def _next(self):
        f = next(self._ac)
        try:
            rows = f.result()
        except Exception as e:
            raise InputError(f"the Dask cluster at {self.address} failed a task "
                             f"({type(e).__name__}: {e}); finished results are "
                             "stored, rerun to resume") from None
        f.release()
        return rows

    def _cancel(self):
        if self._ac is not None:
            for f in list(self._ac.futures):
                f.cancel()
            self._ac = None

    def close(self):
        if self.own:
            self.client.close()


async def _identity(address, timeout):
    """Ask the scheduler at `address` who it is, without a Client (whose failed construction
    leaves a destructor that blocks and prints a traceback)."""
    from distributed.comm import connect
    comm = await connect(address, timeout=timeout)
    try:
        await comm.write({"op": "identity", "reply": True})
        return await comm.read()
    finally:
        comm.abort()


def connect_dask(address, timeout=5.0):
    import logging
    try:
        from distributed import Client
    except ImportError as e:
        raise InputError(f"--dask needs dask[distributed] installed ({e})") from None
    quiet = [logging.getLogger(n) for n in ("distributed", "distributed.client",
                                            "distributed.comm", "tornado", "asyncio")]
    levels = [lg.level for lg in quiet]
    for lg in quiet:
        lg.setLevel(logging.CRITICAL)
    try:
        try:
            who = asyncio.run(asyncio.wait_for(_identity(address, timeout), timeout + 1))
        except Exception as e:
            if isinstance(e, (MemoryError, TypeError, KeyError)):
                msg = "what answered does not speak the Dask protocol"
            else:
                msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise InputError(f"--dask {address}: no Dask scheduler answers there ({msg}; "
                             f"waited at most {timeout:g} s)") from None
        if not isinstance(who, dict) or who.get("type") != "Scheduler":
            raise InputError(f"--dask {address}: what answered is not a Dask scheduler")
        try:
            return Client(address, timeout=timeout, set_as_default=False)
        except Exception as e:
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise InputError(f"--dask {address}: cannot connect a Dask client ({msg})") from None
    finally:
        for lg, lv in zip(quiet, levels):
            lg.setLevel(lv)


# ---------------------------------------------------------------- the campaign

@dataclass
class Outcome:
    total: int = 0
    skipped: int = 0
    new: int = 0
    with_violations: int = 0
    errors: int = 0
    crash_states: int = 0
    states_checked: int = 0
    elapsed_s: float = 0.0


def run_campaign(db, policies, seeds, params: Params, runner=None, workers=2,
                 dask=None, dask_timeout=5.0, repro_dir=None, progress=None) -> Outcome:
    """Run every (policy, seed) not yet in `db`. `progress(row)` is called after each
    stored result; `runner` (PoolRunner/DaskRunner) is used as given and not closed."""
    from ..policies import plugin_sources
    con = open_db(db, params)
    lock = _lock(db, con)
    out = Outcome()
    try:
        plugins = plugin_sources(policies)
        check_plugins(con, db, plugins)
        done = done_keys(con)
        tasks = [(p, s) for s in seeds for p in policies if (p, s) not in done]
        out.total = len(seeds) * len(policies)
        out.skipped = out.total - len(tasks)
        if not tasks:
            return out
        own = runner is None
        if own:
            runner = DaskRunner(dask, dask_timeout) if dask else PoolRunner(workers)
        t0 = time.perf_counter()
        try:
            for row in runner.run(tasks, dict(params.as_dict(), plugins=plugins)):
                try:
                    store(con, row)
                except DiskFull:
                    raise InputError(f"{db}: disk is full after {out.new} new results "
                                     f"({out.skipped + out.new} in all, every one kept); "
                                     "free space and rerun the same command to resume") from None
                out.new += 1
                out.with_violations += bool(row["n_violations"])
                out.errors += bool(row["error"])
                out.crash_states += row["crash_states"]
                out.states_checked += row["states_checked"]
                if repro_dir:
                    try:
                        write_reproducers(row, repro_dir)
                    except OSError as e:
                        from ..inputs import os_message
                        raise InputError(f"--repro-dir {repro_dir}: cannot write a reproducer "
                                         f"({os_message(e)}) after {out.new} new results, all "
                                         f"stored in {db}; rerun to resume (the database "
                                         "holds every reproducer)") from None
                if progress:
                    progress(row)
        finally:
            out.elapsed_s = time.perf_counter() - t0
            if own:
                runner.close()
        return out
    finally:
        con.close()
        os.close(lock)


def _lock(db, con):
    """The parent process is the only writer: a second campaign on the same database is
    refused (flock, released by the kernel however this process dies)."""
    import fcntl
    fd = os.open(str(db), os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        con.close()
        raise InputError(f"{db}: another campaign is running on this database; wait for it "
                         "or give another --db") from None
    return fd


# ---------------------------------------------------------------- the report

def _ranges(seeds):
    """[1,2,3,7,9,10] -> '1..3,7,9..10'"""
    out = []
    seeds = sorted(seeds)
    i = 0
    while i < len(seeds):
        j = i
        while j + 1 < len(seeds) and seeds[j + 1] == seeds[j] + 1:
            j += 1
        out.append(str(seeds[i]) if i == j else f"{seeds[i]}..{seeds[j]}")
        i = j + 1
    return ",".join(out)


def _kind_order(k):
    from ..crash.checkers import KINDS
    return (KINDS.index(k) if k in KINDS else len(KINDS), k)


def summary(con) -> dict:
    """By policy and violation kind; deterministic (no timings)."""
    try:
        params = stored_params(con)
        res = list(con.execute(
            "SELECT policy, seed, crash_points, crash_states, states_checked, exhaustive, "
            "zeros_instead_of_data, n_violations, kind_counts, deadlocks, stall, error "
            "FROM results ORDER BY policy, seed"))
        rep = list(con.execute(
            "SELECT policy, seed, kind, ops_before, ops_after, minimal FROM reproducers "
            "ORDER BY policy, seed, kind"))
    except sqlite3.DatabaseError as e:
        raise InputError(f"campaign database unreadable ({e})") from None
    pols = {}
    for (pol, seed, cp, cs, sc, exh, zid, nv, kc, dl, stall, err) in res:
        d = pols.setdefault(pol, {
            "workloads": 0, "workloads_with_violations": 0, "violations": 0,
            "zeros_instead_of_data": 0, "crash_points": 0, "crash_states": 0,
            "states_checked": 0, "not_exhaustive": 0, "deadlocks": 0, "stalls": 0,
            "errors": 0, "seeds_with_violations": [], "kinds": {},
            "hangs": {"deadlock": {"seeds": [], "reproducers": []},
                      "stall": {"seeds": [], "reproducers": []}}})
        d["workloads"] += 1
        d["violations"] += nv
        d["zeros_instead_of_data"] += zid
        d["crash_points"] += cp
        d["crash_states"] += cs
        d["states_checked"] += sc
        d["not_exhaustive"] += 0 if exh else 1
        d["deadlocks"] += bool(dl)
        d["stalls"] += stall is not None and not dl
        if dl:
            d["hangs"]["deadlock"]["seeds"].append(seed)
        elif stall is not None:
            d["hangs"]["stall"]["seeds"].append(seed)
        d["errors"] += err is not None
        if nv:
            d["workloads_with_violations"] += 1
            d["seeds_with_violations"].append(seed)
        try:
            counts = json.loads(kc)
        except (TypeError, ValueError):
            raise InputError(f"campaign database: result ({pol}, {seed}) has a corrupt "
                             f"kind_counts {kc!r}") from None
        for k, n in counts.items():
            kd = d["kinds"].setdefault(k, {"workloads": 0, "violations": 0, "seeds": [],
                                           "reproducers": 0, "smallest_reproducer_ops": None})
            kd["workloads"] += 1
            kd["violations"] += n
            kd["seeds"].append(seed)
    for (pol, seed, kind, before, after, minimal) in rep:
        if kind in ("deadlock", "stall") and pol in pols:
            pols[pol]["hangs"][kind]["reproducers"].append(
                {"seed": seed, "ops_before": before, "ops_after": after,
                 "files": f"{pol}-{seed}-{kind}.yaml / .fsxops"})
            continue
        kd = pols.get(pol, {}).get("kinds", {}).get(kind)
        if kd is None:
            continue
        kd["reproducers"] += 1
        s = kd["smallest_reproducer_ops"]
        kd["smallest_reproducer_ops"] = after if s is None else min(s, after)
    for d in pols.values():
        d["seeds_with_violations"] = _ranges(d["seeds_with_violations"])
        for hd in d["hangs"].values():
            hd["seeds"] = _ranges(hd["seeds"])
        d["kinds"] = {k: d["kinds"][k] for k in sorted(d["kinds"], key=_kind_order)}
        for kd in d["kinds"].values():
            kd["seeds"] = _ranges(kd["seeds"])
    return {"params": params, "workloads": len(res),
            "policies": {p: pols[p] for p in sorted(pols)}}


def report_text(s: dict) -> str:
    p = s["params"]
    lines = ["campaign: " + (", ".join(f"{k}={p[k]}" for k in PARAM_KEYS if k in p and (
                 p[k] or k not in ("tunables", "op_interval_ns", "namespace")))
                             if p else "no parameters recorded")
             + f"; {s['workloads']} results"]
    if not s["policies"]:
        lines.append("no results yet")
    for pol, d in s["policies"].items():
        lines.append("")
        lines.append(f"{pol}: {d['workloads']} workloads, {d['workloads_with_violations']} "
                     f"with violations ({d['violations']} violations), zeros instead of data "
                     f"in {d['zeros_instead_of_data']} states, {d['crash_states']} crash "
                     f"states ({d['states_checked']} checked) at {d['crash_points']} crash "
                     "points")
        extra = [f"{d[k]} {k.replace('_', ' ')}" for k in ("not_exhaustive", "deadlocks",
                                                              "stalls", "errors") if d[k]]
        if extra:
            lines.append("  also: " + ", ".join(extra))
        if d["seeds_with_violations"]:
            lines.append(f"  seeds with violations: {d['seeds_with_violations']}")
        for hk, hd in (d.get("hangs") or {}).items():
            if not hd["seeds"]:
                continue
            lines.append(f"  {hk + 'ed' if hk == 'stall' else 'deadlocked'} seeds: {hd['seeds']}")
            for r in hd["reproducers"][:5]:
                lines.append(f"    seed {r['seed']}: reproducer of {r['ops_after']} of {r['ops_before']} "
                             f"ops ({r['files']}, written by --repro-dir)")
            if len(hd["reproducers"]) > 5:
                lines.append(f"    ... {len(hd['reproducers']) - 5} more (--json lists all)")
        for k, kd in d["kinds"].items():
            small = kd["smallest_reproducer_ops"]
            lines.append(f"  {k:16} {kd['workloads']:6} workloads {kd['violations']:8} "
                         f"violations  reproducers {kd['reproducers']}"
                         + (f" (smallest {small} ops)" if small is not None else "")
                         + f"  seeds {kd['seeds']}")
        if not d["kinds"]:
            lines.append("  no violation")
    return "\n".join(lines)
