"""Scenarios: initial disk state, tunables, threads and timed operations.

The data model lives here; `scenario_file` loads the YAML text format (see its docstring)
and `builtins` lists the scenarios shipped in eofsim/scenarios/.
"""

from dataclasses import dataclass, field, replace

from .ops import Op


@dataclass(frozen=True)
class Plant:
    """Garbage planted on disk inside a file's allocated blocks before the scenario starts
    (as fstests' 2026 EOF-zeroing test writes a marker into the EOF block on the raw device).
    `off`/`len` are file offsets; the blocks holding them must be allocated to the file."""
    off: int
    len: int
    byte: int = 0x5A


@dataclass(frozen=True)
class FileSpec:
    """A file that exists, committed and clean, when the scenario starts.

    Its blocks [0, ceil(size/bs)) are allocated and written; bytes [0, size) hold initial
    data, the tail of the last block holds zeros unless a Plant puts garbage there."""
    name: str
    size: int = 0
    plants: tuple[Plant, ...] = ()
    dax: bool | None = None
    encrypted_nokey: bool | None = None
    """None: take the tunable of the same name."""


@dataclass(frozen=True)
class ThreadSpec:
    name: str
    ops: tuple[Op, ...]


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str = ""
    tunables: dict = field(default_factory=dict)
    """Raw key -> value overrides, applied with Tunables.with_values."""
    files: tuple[FileSpec, ...] = ()
    threads: tuple[ThreadSpec, ...] = ()
    where: str | None = None
    """Source file of the scenario, for messages."""

    def all_ops(self):
        """(thread index, op index within thread, op) in scenario order."""
        for ti, th in enumerate(self.threads):
            for oi, op in enumerate(th.ops):
                yield ti, oi, op

    def keep_ops(self, keep) -> "Scenario":
        """This scenario with only the ops in `keep` ((thread index, op index) pairs);
        threads left empty are dropped. What every shrinker (ddmin) tries."""
        keep = set(keep)
        threads = []
        for ti, th in enumerate(self.threads):
            ops = tuple(op for oi, op in enumerate(th.ops) if (ti, oi) in keep)
            if ops:
                threads.append(replace(th, ops=ops))
        return replace(self, threads=tuple(threads))

    def with_harness_op(self, op) -> "Scenario":
        """This scenario with `op` (give it an `at_ns`) in a thread of its own, after every
        other thread: what a harness does around the workload (kernel-check's final
        syncfs), so that the model runs it too."""
        return replace(self, threads=self.threads + (ThreadSpec("harness", (op,)),))

    def file_names(self) -> list[str]:
        names = [f.name for f in self.files]
        for _, _, op in self.all_ops():
            if op.file is not None and op.file not in names:
                names.append(op.file)
        return names
