"""`eofsim study`: real workloads traced once on the mounted model, then replayed under every
design, so all designs see the same operations (issue 16: the benchmark the thread never
ran). Each workload is a small script in `workloads/` using only what Debian or PyPI
provide; its scale is a parameter.

What it answers, per workload and design: how often the workload grows a file past an
unaligned EOF, how many of those find a written EOF block whose zeroes must reach disk,
what each design pays for it (zero-block writes, flushes, commits, random writes after
merging, time blocked in syscalls), how long new sizes and fsync'd data take to be durable,
and whether a crash can expose stale data or break the application's own check.
"""

import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

HERE = Path(__file__).resolve().parent / "workloads"


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    argv: tuple
    """The command, run in the mount; `{scale}`-style fields are filled by `command()`."""
    base: dict
    """Scale parameters at scale 1."""
    needs: tuple = ()
    """Programs that must be on PATH."""
    check: tuple | None = None
    """The application's own check of a recovered tree (an --app-check), if any."""
    time_scale: float = 1.0
    """Virtual seconds per wall second while tracing."""
    fio_job: str | None = None

    def params(self, scale: float) -> dict:
        return {k: max(1, int(round(v * scale))) for k, v in self.base.items()}

    def command(self, scale: float, workdir: Path) -> list:
        p = dict(self.params(scale), py=sys.executable, here=str(HERE), log=str(workdir / "commit.log"))
        if self.fio_job:
            job = (HERE / "fio" / self.fio_job).read_text()
            job = re.sub(r"^size=(\d+)k$", lambda m: f"size={max(8, int(int(m.group(1)) * scale))}k",
                         job, flags=re.M)
            path = workdir / self.fio_job
            path.write_text(job)
            p["job"] = str(path)
        return [a.format(**p) for a in self.argv]

    def check_command(self, workdir: Path) -> str | None:
        if self.check is None:
            return None
        import shlex
        p = {"py": sys.executable, "here": str(HERE), "log": str(workdir / "commit.log")}
        return " ".join(shlex.quote(a.format(**p)) for a in self.check)

    def missing(self) -> list:
        return [n for n in self.needs if shutil.which(n) is None]


WORKLOADS = {w.name: w for w in (
    Workload("sqlite-rollback", "Python sqlite3, rollback journal (journal_mode=DELETE), "
             "one INSERT per transaction, synchronous=FULL",
             ("{py}", "{here}/sqlite_txn.py", "run", "delete", "{n}", "{log}"), {"n": 40},
             check=("{py}", "{here}/sqlite_txn.py", "check", "{log}")),
    Workload("sqlite-rollback-extra", "the same with synchronous=EXTRA (the journal's unlink "
             "is followed by a directory fsync)",
             ("{py}", "{here}/sqlite_txn.py", "run", "delete", "{n}", "{log}", "EXTRA"), {"n": 40},
             check=("{py}", "{here}/sqlite_txn.py", "check", "{log}")),
    Workload("sqlite-wal", "Python sqlite3 in WAL mode, one INSERT per transaction, "
             "synchronous=FULL",
             ("{py}", "{here}/sqlite_txn.py", "run", "wal", "{n}", "{log}"), {"n": 40},
             check=("{py}", "{here}/sqlite_txn.py", "check", "{log}")),
    Workload("git", "git init/add/commit of a generated tree, then edits and commits "
             "(core.fsync=committed)",
             ("{py}", "{here}/git_commits.py", "{n}", "{rounds}"), {"n": 30, "rounds": 3},
             needs=("git",)),
    Workload("tar", "tar extraction (Python tarfile) of a generated archive of files with "
             "unaligned sizes", ("{py}", "{here}/tar_extract.py", "{n}"), {"n": 60}),
    Workload("applog", "append-only log: small records appended (O_APPEND), fdatasync every 25",
             ("{py}", "{here}/applog.py", "{n}", "25"), {"n": 1000}),
    Workload("grow-store", "a store that grows its file with ftruncate to an unaligned size "
             "and then writes into it (mmap stores, segment files), fdatasync every 8",
             ("{py}", "{here}/grow_store.py", "{n}", "8"), {"n": 120}),
    Workload("fio-appends", "fio: 1000-byte appends, fdatasync every 16",
             ("fio", "--output=/dev/null", "{job}"), {}, needs=("fio",), fio_job="appends.fio"),
    Workload("fio-holes", "fio: 1000-byte extending writes that skip 3000 bytes each time "
             "(growth past an unaligned EOF with a gap), fdatasync every 16",
             ("fio", "--output=/dev/null", "{job}"), {}, needs=("fio",), fio_job="holes.fio"),
    Workload("fio-falloc", "fio: posix_fallocate the file, then 3000-byte writes",
             ("fio", "--output=/dev/null", "{job}"), {}, needs=("fio",), fio_job="falloc.fio"),
    Workload("fio-jobs8", "fio: 8 processes, each extending its own file past an unaligned "
             "EOF with gaps", ("fio", "--output=/dev/null", "{job}"), {}, needs=("fio",),
             fio_job="jobs8.fio"),
)}

DEFAULT_POLICIES = ("bh-ordered", "iomap-v4", "iomap-deferred", "iomap-pending")


@dataclass
class Traced:
    workload: Workload
    trace: Path
    workdir: Path
    status: int
    wall_s: float
    notes: list = field(default_factory=list)


def trace(w: Workload, scale: float, out_dir: Path, timeout: float = 600.0) -> Traced:
    """Run the workload once in a fresh mount of the model (`eofsim trace`) and keep its
    trace (scenario YAML + payload)."""
    import time
    workdir = Path(tempfile.mkdtemp(prefix=f"eofsim-study-{w.name}-"))
    out = out_dir / "traces" / f"{w.name}.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "eofsim.cli", "trace", "-o", str(out), "--time-scale",
           str(w.time_scale), "--", *w.command(scale, workdir)]
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise InputError(f"study: workload {w.name} did not finish in {timeout:.0f} s") from None
    wall = time.perf_counter() - t0
    if not out.is_file():
        last = (r.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise InputError(f"study: tracing {w.name} failed: {last}")
    t = Traced(w, out, workdir, r.returncode, wall)
    if r.returncode:
        last = (r.stderr.strip().splitlines() or [""])[-1]
        t.notes.append(f"{w.name} exited {r.returncode} on the mount: {last[:160]}")
    return t
