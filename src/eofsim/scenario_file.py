"""The scenario text format: YAML, loaded into `scenario.Scenario` with errors at file:line.

A scenario file is one YAML mapping:

    name: truncate-up                  # optional; defaults to the file's stem
    description: >                     # optional; what it shows, which kernel path it exercises
      Truncate up from an unaligned EOF ...
    tunables:                          # optional; any params.Tunables field, same values as --set
      block_size: 4096
      commit_interval_ns: 5s
    files:                             # optional; files that exist, committed and clean, at t=0
      - name: f                        # required; no whitespace (ops name files by it)
        size: 1000                     # bytes, 0x.., 4k, 1M (units.parse_size); default 0
        plants:                        # optional; garbage on disk inside the file's blocks
          - {off: 1000, len: 3096, byte: 0x5a}   # byte defaults to 0x5a
        dax: false                     # optional; default: the tunable of the same name
        encrypted_nokey: false         # optional; likewise
    until: 6s                          # optional; end the run and crash exploration here
    threads:                           # concurrent application threads
      - name: t0                       # optional; defaults to t<index>
        ops:                           # one op per item, in ops.parse_op's text form
          - "@1s truncate f 8k"        # '@TIME' = earliest start; quote it, '@' is reserved in YAML
          - fsync f

Instead of `threads:`, a top-level `ops:` list is shorthand for one thread named t0.

Checks, each reported as InputError("FILE:LINE", ...) at the offending node: YAML syntax,
unknown or duplicate keys, wrong types, bad tunables, duplicate file or thread names,
plants outside the file's allocated blocks (off+len must be <= size rounded up to the
block size: those are the only blocks the file owns at t=0), empty threads, bad op text,
and a data op naming a file that is neither declared nor created earlier in the same thread
(create, open, rename's NEW, and write, truncate and fallocate, which create a missing file
as open(O_CREAT) would; threads run concurrently so creation in another thread does not
count). Namespace ops (create, open, close, unlink, rename, mkdir) are not checked here:
what they name is settled at run time, and a failure is the kernel's errno (ENOENT,
EEXIST, ENOTDIR, ...) recorded on the op, as a run against real ext4 shows it.
Declared files may sit in directories (`d/f`): the directories exist at t=0 too.

We walk yaml.compose()'s node tree instead of using yaml.safe_load so that every value
keeps its line number for messages. The composer is bounded: nesting deeper than
MAX_DEPTH, aliases (`*name`: a few lines of them expand exponentially) and tags other than
YAML's plain scalars, lists and mappings are refused at their line; integers must be written
as decimal or 0x hex (YAML 1.1 would read `0100` as octal 64 and `1:30` as 90).
"""

import re
from pathlib import Path

import yaml

from .errors import InputError
from .inputs import SCENARIO_MAX_BYTES, check_path, decode_utf8, read_bounded
from .ops import CREATING_OPS, NAMESPACE, parse_op
from .params import Tunables
from .scenario import FileSpec, Plant, Scenario, ThreadSpec
from .units import parse_size

BUILTIN_DIR = Path(__file__).parent / "scenarios"
_NAME = re.compile(r"^[^\s@][^\s]*$")
MAX_DEPTH = 32
"""Deepest nesting of lists and mappings accepted (a scenario needs 5)."""
MAX_NODES = 100_000
"""Most YAML values (scalars, lists, mappings) in one scenario: about 100,000 operations.
PyYAML composes ~50,000 nodes a second here and keeps ~600 bytes per node, so this bounds
a scenario's load at a few seconds and a few tens of MB."""
_TAGS = {None, "!"} | {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "bool", "null", "float",
                                                             "seq", "map")}
_INT_TEXT = re.compile(r"[-+]?(0|[1-9][0-9]{0,23})|0[xX][0-9a-fA-F]{1,20}")


class _Composer(yaml.SafeLoader):
    """yaml.SafeLoader's composer with the bounds above; errors are InputError at the line."""

    def __init__(self, text, where_name):
        super().__init__(text)
        self.where_name = where_name
        self.depth = 0
        self.nodes = 0

    def _refuse(self, event, message):
        raise InputError(message, f"{self.where_name}:{event.start_mark.line + 1}")

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self._refuse(event, f"YAML alias *{event.anchor} is not supported in scenarios "
                                "(write the value out)")
        tag = getattr(event, "tag", None)
        if tag not in _TAGS:
            self._refuse(event, f"YAML tag {tag} is not supported in scenarios "
                                "(plain values, lists and mappings only)")
        self.depth += 1
        self.nodes += 1
        try:
            if self.nodes > MAX_NODES:
                self._refuse(event, f"more than {MAX_NODES} YAML values (the scenario limit)")
            if self.depth > MAX_DEPTH:
                self._refuse(event, f"nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _short(value, n=60) -> str:
    r = repr(value)
    return r if len(r) <= n else r[:n] + "..."


def builtin_names() -> list[str]:
    """Names of the scenarios shipped in eofsim/scenarios/, sorted."""
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml"))


def builtin_path(name: str) -> Path:
    """The YAML file of a built-in scenario (so `run` can name it in messages)."""
    if name not in builtin_names():
        raise InputError(f"no built-in scenario {name!r} (built-ins: {', '.join(builtin_names())})")
    return BUILTIN_DIR / f"{name}.yaml"


def load_scenario(path_or_name) -> Scenario:
    """A built-in name (wins over a same-named file in the current directory) or a path."""
    name = check_path(str(path_or_name), "scenario")
    path = builtin_path(name) if name in builtin_names() else Path(name)
    try:
        exists = path.exists()
    except OSError:
        exists = True  # let read_bounded name the error
    if not exists:
        raise InputError(f"not a scenario file nor a built-in scenario "
                         f"(built-ins: {', '.join(builtin_names())})", name)
    data = read_bounded(str(path), "scenario", SCENARIO_MAX_BYTES)
    return load_text(decode_utf8(data, "scenario", str(path)), str(path))


def load_text(text: str, where_name: str) -> Scenario:
    """Parse and validate scenario text; `where_name` names it in messages and Scenario.where."""
    try:
        loader = _Composer(text, where_name)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.reader.ReaderError as e:
        line = text[:e.position].count("\n") + 1
        ch = e.character if isinstance(e.character, str) else chr(e.character)
        raise InputError(f"YAML: control character {ch!r} is not allowed (U+{ord(ch):04X}; "
                         "write it escaped in a double-quoted string)",
                         f"{where_name}:{line}") from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        msg = ": ".join(s for s in (e.context, e.problem) if s) or "YAML syntax error"
        if "'@'" in msg:
            msg += " (quote ops that start with @TIME)"
        raise InputError(f"YAML syntax: {msg}", f"{where_name}:{mark.line + 1}" if mark else where_name) from None
    except yaml.YAMLError as e:
        raise InputError(f"YAML syntax: {e}", where_name) from None
    if root is None:
        raise InputError("empty scenario file", f"{where_name}:1")
    return _Loader(where_name).scenario(root)


class _Loader:
    """Node-tree walker; every check knows the node it is about, hence its line."""

    def __init__(self, where_name: str):
        self.name = where_name
        self.ctor = yaml.SafeLoader("")

    def at(self, node) -> str:
        return f"{self.name}:{node.start_mark.line + 1}"

    def fail(self, node, message):
        raise InputError(message, self.at(node))

    # -- generic shapes -------------------------------------------------

    def mapping(self, node, what, allowed, required=()) -> dict:
        """{key: (key node, value node)}; rejects non-mappings, odd/duplicate/unknown keys."""
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, f"{what} must be a mapping, got {_kind(node)}")
        out = {}
        for k, v in node.value:
            # Raw key text, not the constructed value: YAML 1.1 would read `off:` as False.
            if not isinstance(k, yaml.ScalarNode):
                self.fail(k, f"{what}: keys must be names, got {_kind(k)}")
            key = k.value
            if key in out:
                self.fail(k, f"{what}: duplicate key {key!r}")
            if allowed is not None and key not in allowed:
                self.fail(k, f"{what}: unknown key {key!r} (known: {', '.join(allowed)})")
            out[key] = (k, v)
        for key in required:
            if key not in out:
                self.fail(node, f"{what}: missing key {key!r}")
        return out

    def sequence(self, node, what, nonempty=False) -> list:
        if not isinstance(node, yaml.SequenceNode):
            self.fail(node, f"{what} must be a list, got {_kind(node)}")
        if nonempty and not node.value:
            self.fail(node, f"{what} must not be empty")
        return node.value

    def scalar(self, node, what):
        if not isinstance(node, yaml.ScalarNode):
            self.fail(node, f"{what} must be a single value, got {_kind(node)}")
        if node.tag == "tag:yaml.org,2002:int" and not _INT_TEXT.fullmatch(node.value):
            self.fail(node, f"{what} {_short(node.value)}: write integers as decimal without a "
                            "leading zero, or as 0x hex (YAML 1.1 reads 0100 as octal, 1:30 as "
                            "90, 1_000 as 1000)")
        try:
            return self.ctor.construct_object(node, deep=True)
        except yaml.YAMLError as e:
            self.fail(node, f"{what}: {getattr(e, 'problem', None) or e}")
        except (ValueError, TypeError, OverflowError) as e:
            self.fail(node, f"{what} {_short(node.value)}: not a value YAML can read ({e})")

    def typed(self, node, what, typ, tname):
        value = self.scalar(node, what)
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            self.fail(node, f"{what} must be {tname}, got {_short(value)}")
        return value

    def ident(self, node, what) -> str:
        value = self.typed(node, what, str, "a name")
        if not _NAME.match(value):
            self.fail(node, f"{what} {_short(value)}: a name needs no whitespace and must not "
                            "start with '@'")
        return value

    def size(self, node, what) -> int:
        try:
            return parse_size(self.scalar(node, what), what)
        except InputError as e:
            self.fail(node, e.message)

    # -- the scenario ---------------------------------------------------

    def scenario(self, root) -> Scenario:
        top = self.mapping(root, "scenario", ("name", "description", "tunables", "files", "threads",
                                              "ops", "until"))
        name = self.ident(top["name"][1], "name") if "name" in top else Path(self.name).stem
        desc = self.typed(top["description"][1], "description", str, "text") if "description" in top else ""
        raw, tun = self.tunables(top["tunables"][1]) if "tunables" in top else ({}, Tunables())
        if "until" in top:
            if "until" in raw:
                self.fail(top["until"][0], "until given twice (top level and under tunables)")
            value = self.scalar(top["until"][1], "until")
            try:
                Tunables().with_values({"until": value})
            except InputError as e:
                self.fail(top["until"][1], e.message)
            raw = {**raw, "until": value}
        files = self.files(top["files"][1], tun.block_size) if "files" in top else ()
        if "threads" in top and "ops" in top:
            self.fail(top["ops"][0], "give either 'threads:' or 'ops:' (shorthand for one thread), not both")
        if "ops" in top:
            threads = (ThreadSpec("t0", self.ops(top["ops"][1], files, "ops")),)
        elif "threads" in top:
            threads = self.threads(top["threads"][1], files)
        else:
            self.fail(root, "scenario has no operations: give 'threads:' or 'ops:'")
        return Scenario(name=name, description=desc, tunables=raw, files=files,
                        threads=threads, where=self.name)

    def tunables(self, node):
        """Raw {key: value} plus the validated Tunables (needed for block_size).

        Tunables.with_values checks the whole set (block_size vs folio_size go together);
        on failure we retry key by key to blame the first key that fails on its own."""
        if self.scalar_or_none(node) is None:
            return {}, Tunables()
        entries = self.mapping(node, "tunables", None)
        raw = {key: self.scalar(v, f"tunable {key}") for key, (_, v) in entries.items()}
        try:
            return raw, Tunables().with_values(raw)
        except InputError as whole:
            for key, (k, v) in entries.items():
                try:
                    Tunables().with_values({key: raw[key]})
                except InputError as one:
                    if one.message == whole.message:
                        self.fail(k if one.message.startswith("unknown tunable") else v, one.message)
            self.fail(node, whole.message)

    def files(self, node, block_size) -> tuple:
        if self.scalar_or_none(node) is None:
            return ()
        out, seen = [], set()
        for item in self.sequence(node, "files"):
            m = self.mapping(item, "file", ("name", "size", "plants", "dax", "encrypted_nokey"), ("name",))
            fname = self.ident(m["name"][1], "file name")
            if fname in seen:
                self.fail(m["name"][1], f"duplicate file name {fname!r}")
            seen.add(fname)
            size = self.size(m["size"][1], "file size") if "size" in m else 0
            flags = {}
            for key in ("dax", "encrypted_nokey"):
                if key in m and self.scalar_or_none(m[key][1]) is not None:
                    flags[key] = self.typed(m[key][1], key, bool, "true or false")
            plants = ()
            if "plants" in m and self.scalar_or_none(m["plants"][1]) is not None:
                end = -(-size // block_size) * block_size
                plants = tuple(self.plant(p, fname, size, end) for p in self.sequence(m["plants"][1], "plants"))
            out.append(FileSpec(fname, size, plants, **flags))
        return tuple(out)

    def scalar_or_none(self, node):
        """The node itself unless it is an explicit null (`key:` or `key: ~`)."""
        if isinstance(node, yaml.ScalarNode) and self.scalar(node, "value") is None:
            return None
        return node

    def plant(self, node, fname, size, end) -> Plant:
        m = self.mapping(node, "plant", ("off", "len", "byte"), ("off", "len"))
        off, length = self.size(m["off"][1], "plant off"), self.size(m["len"][1], "plant len")
        if length == 0:
            self.fail(m["len"][1], "plant len must be positive")
        byte = self.typed(m["byte"][1], "plant byte", int, "a byte value") if "byte" in m else 0x5A
        if not 0 <= byte <= 255:
            self.fail(m["byte"][1], f"plant byte {byte} is not in 0..255")
        if off + length > end:
            self.fail(node, f"plant [{off}, {off + length}) lies outside the blocks of {fname!r} "
                            f"(size {size} owns [0, {end}))")
        return Plant(off, length, byte)

    def threads(self, node, files) -> tuple:
        out, seen = [], set()
        for i, item in enumerate(self.sequence(node, "threads", nonempty=True)):
            m = self.mapping(item, "thread", ("name", "ops"), ("ops",))
            tname = self.ident(m["name"][1], "thread name") if "name" in m else f"t{i}"
            if tname in seen:
                self.fail(m["name"][1] if "name" in m else item, f"duplicate thread name {tname!r}")
            seen.add(tname)
            out.append(ThreadSpec(tname, self.ops(m["ops"][1], files, f"ops of thread {tname}")))
        return tuple(out)

    def ops(self, node, files, what) -> tuple:
        known = {f.name for f in files}
        dirs = {f.name.rsplit("/", 1)[0] for f in files if "/" in f.name} | {"."}
        out = []
        for item in self.sequence(node, what, nonempty=True):
            text = self.typed(item, "operation", str, "one line of text such as 'write f 0 4k'")
            op = parse_op(text, self.at(item))
            if op.kind == "rename":
                known.add(op.new)
            # A timed op ('@T ...', as in a trace of `eofsim mount`) may name a file another
            # thread creates before T; if none does, the model records ENOENT on the op.
            if op.file is not None and op.file not in known and op.kind not in NAMESPACE \
                    and op.file not in dirs and op.at_ns is None:
                if op.kind not in CREATING_OPS:
                    self.fail(item, f"{op.kind} of {op.file!r}: no such file (declare it under "
                                    "'files:' or create it earlier in this thread with write, truncate or fallocate)")
                known.add(op.file)
            if op.kind in ("create", "open"):
                known.add(op.file)
            if op.kind == "mkdir":
                dirs.add(op.file)
            out.append(op)
        return tuple(out)


def _kind(node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return f"{node.value!r}"


def dump_text(sc: Scenario) -> str:
    """Scenario -> text that load_text reads back equal (for generated or shrunk scenarios)."""
    doc = {"name": sc.name}
    if sc.description:
        doc["description"] = sc.description
    if sc.tunables:
        doc["tunables"] = dict(sc.tunables)
    if sc.files:
        doc["files"] = []
        for f in sc.files:
            d = {"name": f.name, "size": f.size}
            if f.plants:
                d["plants"] = [{"off": p.off, "len": p.len, "byte": p.byte} for p in f.plants]
            for key in ("dax", "encrypted_nokey"):
                if getattr(f, key) is not None:
                    d[key] = getattr(f, key)
            doc["files"].append(d)
    doc["threads"] = [{"name": t.name, "ops": [op.text() for op in t.ops]} for t in sc.threads]
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
