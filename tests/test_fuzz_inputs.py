"""Fuzz: every malformed input is refused cleanly.

Hypothesis generates malformed scenario YAML, op text, fsx op-log lines, `--set` values,
special paths and CLI argument lists. Each one runs in-process through click's CliRunner
under a per-input time bound (an interval timer) and memory bound (RLIMIT_AS: the
process's current address space plus MEM_HEADROOM), and must end with exit status 2,
exactly one line on stderr naming the file (and the line, where there is one), and no
traceback. Every generated input is invalid by construction (each strategy injects one
defect the format forbids), so exit 2 is the only right answer.

`make test` runs FUZZ_EXAMPLES examples per strategy (default 30); `make fuzz` runs many
more (EOFSIM_FUZZ_EXAMPLES=2000).
"""

import contextlib
import os
import re
import resource
import signal
import stat
import tempfile

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eofsim.cli import main
from eofsim.params import BOUNDS, Tunables

EXAMPLES = int(os.environ.get("EOFSIM_FUZZ_EXAMPLES", "30"))
TIME_BOUND_S = float(os.environ.get("EOFSIM_FUZZ_SECONDS", "20"))
MEM_HEADROOM = 1 << 30
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])


class Hang(BaseException):
    """Raised by the interval timer: not an Exception, so no handler in eofsim swallows it."""


def _vm_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


@contextlib.contextmanager
def bounded(seconds=TIME_BOUND_S, headroom=MEM_HEADROOM):
    """Run the body with an alarm after `seconds` and an address-space limit."""
    def on_alarm(signum, frame):
        raise Hang(f"no answer within {seconds} s")
    old_handler = signal.signal(signal.SIGALRM, on_alarm)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _vm_bytes() + headroom
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        signal.signal(signal.SIGALRM, old_handler)


def refused(args, name=None, line=None):
    """Invoke; assert exit 2, one stderr line (naming `name`, and `name:line` when `line`
    is True or a number), no traceback, nothing about memory. Returns the line."""
    try:
        with bounded():
            r = CliRunner().invoke(main, args, catch_exceptions=True)
    except Hang as e:
        raise AssertionError(f"hang: {e}: args={args!r}") from None
    err = r.stderr
    detail = f"args={args!r}\nexit={r.exit_code}\nstderr={err!r}\nstdout={r.stdout[:500]!r}"
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        import traceback
        detail += "\n" + "".join(traceback.format_exception(r.exception))
    assert r.exit_code == 2, detail
    lines = err.splitlines()
    assert len(lines) == 1, detail
    assert "Traceback" not in err + r.stdout, detail
    assert "out of memory" not in err, detail
    msg = lines[0]
    if name is not None:
        if line is True:
            assert re.search(re.escape(name) + r":\d+: ", msg), detail
        elif line is not None:
            assert f"{name}:{line}: " in msg, detail
        else:
            assert name in msg, detail
    return msg


# ---------------------------------------------------------------- building blocks

BAD_NUMBERS = st.one_of(
    st.from_regex(r"0[0-9]{1,6}", fullmatch=True),                 # leading zero
    st.from_regex(r"[1-9][0-9]{30,60}", fullmatch=True),           # absurdly long
    st.just("1" * 5000),
    st.from_regex(r"-[1-9][0-9]{0,5}", fullmatch=True),            # negative
    st.sampled_from(["٣", "１２", "1_000", "1e5", "0x", "0xZZ", "12q", "nan", "inf", "", "-",
                     "1.5", "0b101", "1:30", "0o17", "4kk", "4 k k", "+-1"]),
)
BAD_TIMES = st.one_of(
    st.from_regex(r"0[0-9]{1,4}(ns|us|ms|s)", fullmatch=True),
    st.from_regex(r"[1-9][0-9]{30,50}s", fullmatch=True),
    st.sampled_from(["5 seconds", "1e9", "-1s", "5m", "1.s", ".5s", "s", "٣s", "5S", "inf",
                     "nan", "1..2s"]),
)
CTRL = st.sampled_from([chr(c) for c in (*range(0, 9), 11, 12, *range(14, 32), 127, 0x80,
                                         0x9f)])
NAMES = st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True)
GOOD_OPS = ["write f 0 4k", "truncate f 8k", "fsync f", "fallocate f 0 4096 keep_size",
            "@1s read f 0 100", "sync", "sleep 1ms", "mwrite f 0 10"]


def _write(dirname, name, data):
    path = os.path.join(dirname, name)
    with open(path, "wb") as f:
        f.write(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
    return path


@st.composite
def bad_op(draw):
    """One op line that parse_op must refuse."""
    kind = draw(st.sampled_from(["write", "read", "mwrite", "mread", "truncate", "fallocate",
                                 "sync_file_range", "sleep", "fsync", "sync", "wrte", ""]))
    how = draw(st.sampled_from(["number", "arity", "time", "mode", "kind"]))
    if how == "kind" or kind in ("wrte", ""):
        return draw(st.sampled_from(["wrte f 0 1", "", "@1s", "WRITE f 0 1", "write", "f 0 1",
                                     "unlink f", "sync f", "fsync", "sleep", "sleep 1 2"]))
    if how == "time":
        return f"@{draw(BAD_TIMES)} fsync f"
    if how == "arity":
        return draw(st.sampled_from([f"{kind} f 1 2 3 4 5", f"{kind}"])) if kind not in (
            "sync",) else "sync f"
    if how == "mode":
        return f"fallocate f 0 4096 {draw(st.sampled_from(['keep', 'punch_hole,zero_range', 'x', 'collapse']))}"
    n = draw(BAD_NUMBERS)
    if kind in ("fsync", "sync"):
        return f"truncate f {n}" if n else "truncate f"
    if kind == "sleep":
        return f"sleep {draw(BAD_TIMES)}"
    if kind == "truncate":
        return f"truncate f {n}"
    if kind == "sync_file_range":
        return f"sync_file_range f {n} 4096 write"
    return draw(st.sampled_from([f"{kind} f {n} 4096", f"{kind} f 0 {n}"])) if n else f"{kind} f 0"


def _yaml_quote(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@st.composite
def bad_scenario(draw):
    """(YAML text or bytes, 1-based line of the defect or True for 'some line')."""
    ops = draw(st.lists(st.sampled_from(GOOD_OPS), min_size=1, max_size=4))
    head = ["name: fz", "files:", "  - name: f", "    size: 1000", "ops:"]
    body = [f"  - {_yaml_quote(o)}" for o in ops]
    defect = draw(st.sampled_from(["op", "nest", "tag", "bigint", "ctrl", "utf8", "alias",
                                   "key", "tunable", "octal", "syntax", "size"]))
    at = draw(st.integers(0, len(body)))
    if defect == "op":
        body.insert(at, f"  - {_yaml_quote(draw(bad_op()))}")
        return "\n".join(head + body) + "\n", len(head) + at + 1
    if defect == "nest":
        depth = draw(st.integers(40, 3000))
        style = draw(st.sampled_from(["flow", "map"]))
        if style == "flow":
            line = "description: " + "[" * depth + "]" * depth
        else:
            line = "description: " + "{a: " * depth + "1" + "}" * depth
        return "\n".join([line] + head + body) + "\n", 1
    if defect == "tag":
        tag = draw(st.sampled_from(["!!timestamp not-a-date", "!!binary '%%%'", "!!set {a}",
                                    "!!python/object:os.system x", "!foo bar", "!!omap []",
                                    "!!int nope", "!!float x", "!!timestamp 2001-13-45"]))
        return "\n".join(head[:3] + [f"    size: {tag}"] + head[4:] + body) + "\n", 4
    if defect == "bigint":
        digits = draw(st.integers(25, 6000))
        return "\n".join(head[:3] + ["    size: " + "7" * digits] + head[4:] + body) + "\n", 4
    if defect == "ctrl":
        ch = draw(CTRL)
        lines = head + body
        i = draw(st.integers(0, len(lines) - 1))
        pos = draw(st.integers(0, len(lines[i])))
        lines[i] = lines[i][:pos] + ch + lines[i][pos:]
        return "\n".join(lines) + "\n", i + 1
    if defect == "utf8":
        lines = head + body
        i = draw(st.integers(0, len(lines) - 1))
        bad = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80abc", b"\xfe\xfe"]))
        data = ("\n".join(lines[:i]) + ("\n" if i else "")).encode() + bad + \
            ("\n".join(lines[i:]) + "\n").encode()
        return data, i + 1
    if defect == "alias":
        lines = ["x0: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]"] + \
            [f"x{k}: &a{k} [*a, *a, *a, *a, *a, *a, *a, *a, *a]" for k in range(1, 9)]
        return "\n".join(head + body + lines) + "\n", True
    if defect == "key":
        return "\n".join(head + body + [f"{draw(st.sampled_from(['opz', 'Files', 'tunable']))}: 1"]) + "\n", \
            len(head) + len(body) + 1
    if defect == "tunable":
        key, value = draw(bad_set())
        return "\n".join(["tunables:", f"  {key}: {_yaml_quote(value)}"] + head + body) + "\n", True
    if defect == "octal":
        v = draw(st.from_regex(r"0[0-7]{2,5}", fullmatch=True))
        return "\n".join(head[:3] + [f"    size: {v}"] + head[4:] + body) + "\n", 4
    if defect == "size":
        v = draw(st.sampled_from(["2T", "-1", "1099511627777", "4 kb b", "0x" + "f" * 30]))
        return "\n".join(head[:3] + [f"    size: {_yaml_quote(v)}"] + head[4:] + body) + "\n", 4
    # syntax
    lines = head + body
    i = draw(st.integers(0, len(lines) - 1))
    lines[i] = lines[i] + draw(st.sampled_from([" [", " {", ": :", " '", ' "', " - - x: ]"]))
    return "\n".join(lines) + "\n", True


@st.composite
def bad_set(draw):
    """(key, value) that Tunables must refuse."""
    names = sorted(Tunables.__dataclass_fields__)
    key = draw(st.sampled_from(names))
    typ = Tunables.__dataclass_fields__[key].type
    if typ in (bool, "bool"):
        return key, draw(st.sampled_from(["maybe", "2", "", "yes please", "tru"]))
    if typ in (str, "str"):
        return key, draw(st.sampled_from(["Index", "", "rand", "random x"]))
    if key in BOUNDS and draw(st.booleans()):
        lo, hi, _ = BOUNDS[key]
        v = draw(st.sampled_from([hi + 1, hi * 2 + 3, 2 ** 31, 2 ** 64] + ([lo - 1] if lo else [])))
        if v <= hi and v >= lo:
            v = hi + 1
        return key, f"{v}ns" if key.endswith("_ns") else str(v)
    return key, draw(BAD_TIMES if key.endswith("_ns") else BAD_NUMBERS)


@st.composite
def bad_fsx(draw):
    """(fsx log text or bytes, 1-based line of the defect)."""
    good = draw(st.lists(st.sampled_from(["write 0x0 0x1000 0x0", "truncate 0x0 0x2000 0x1000",
                                          "fsync 0x0 0x0 0x2000", "# a comment", "",
                                          "mapread 0x0 0x10 0x2000", "skip read 0x0 0x1 0x0"]),
                         min_size=0, max_size=5))
    # the good lines must keep a size so the reads above are in range: start with a write
    good = ["write 0x0 0x3000 0x0"] + good
    defect = draw(st.sampled_from(["number", "name", "arity", "flag", "at", "ext", "utf8",
                                   "refused", "big"]))
    if defect == "number":
        line = f"write {draw(st.sampled_from(['0x', '0xg', '12q', '٣', '-1', '0x-1', '09']))} 0x10 0x0"
    elif defect == "name":
        line = f"{draw(st.sampled_from(['wrte', 'WRITE', 'unlink', 'skipwrite']))} 0x0 0x1 0x0"
    elif defect == "arity":
        line = draw(st.sampled_from(["write 0x0 0x1", "truncate", "skip", "fsync 0x0"]))
    elif defect == "flag":
        line = f"fallocate 0x0 0x1000 0x3000 {draw(st.sampled_from(['keepsize', 'x', '**']))}"
    elif defect == "at":
        line = f"#eofsim-at {draw(BAD_TIMES)}"
        good.append(line)
        good.append("fsync 0x0 0x0 0x3000")
        return "\n".join(good) + "\n", len(good) - 1
    elif defect == "ext":
        line = f"#eofsim {draw(bad_op())}"
    elif defect == "refused":
        line = draw(st.sampled_from(["collapse_range 0x0 0x1000 0x3000",
                                     "clone_range 0x0 0x1000 0x0 0x3000",
                                     "fallocate 0x0 0x1000 0x3000 unshare"]))
    elif defect == "big":
        line = f"write 0x{'f' * draw(st.integers(9, 400))} 0x10 0x0"
    else:
        good_text = ("\n".join(good) + "\n").encode()
        return good_text + b"write 0x0 \xff\xfe 0x0\n", len(good) + 1
    return "\n".join(good + [line]) + "\n", len(good) + 1


# ---------------------------------------------------------------- the fuzz tests

@FUZZ
@given(bad_scenario(), st.sampled_from(["run", "check"]))
def test_fuzz_scenario_yaml(case, cmd):
    text, line = case
    with tempfile.TemporaryDirectory() as d:
        path = _write(d, "s.yaml", text)
        refused([cmd, path], path, line)


@FUZZ
@given(bad_fsx())
def test_fuzz_fsx_lines(case):
    text, line = case
    with tempfile.TemporaryDirectory() as d:
        path = _write(d, "log.fsxops", text)
        refused(["fsx", path], path, line)


@FUZZ
@given(bad_set(), st.sampled_from([["run", "truncate-up"], ["check", "truncate-up"],
                                   ["compare", "--scenarios", "truncate-up"],
                                   ["campaign", "--policies", "bh-ordered", "--seeds", "1"]]))
def test_fuzz_set_values(kv, cmd):
    key, value = kv
    with tempfile.TemporaryDirectory() as d:
        extra = ["--db", os.path.join(d, "c.db")] if cmd[0] == "campaign" else []
        msg = refused(cmd + extra + ["--set", f"{key}={value}"])
    assert key in msg


SPECIAL = ["fifo", "dir", "/dev/zero", "/dev/urandom", "/dev/null", "long", "nul", "missing",
           "under-file", "ctrl-name"]


def _special(d, kind):
    if kind == "fifo":
        p = os.path.join(d, "fifo")
        os.mkfifo(p)
        return p
    if kind == "dir":
        return d
    if kind.startswith("/dev/"):
        return kind
    if kind == "long":
        return os.path.join(d, "x" * 256)
    if kind == "nul":
        return os.path.join(d, "a\0b")
    if kind == "missing":
        return os.path.join(d, "missing", "x")
    if kind == "under-file":
        p = _write(d, "plain", "x")
        return os.path.join(p, "sub")
    return os.path.join(d, "bad\nname\x1b[31m")


@FUZZ
@given(st.sampled_from(SPECIAL), st.sampled_from(["run", "check", "fsx", "campaign",
                                                  "campaign-report", "compare-out",
                                                  "compare-scenarios", "repro-dir", "demo"]))
def test_fuzz_special_paths(kind, cmd):
    with tempfile.TemporaryDirectory() as d:
        p = _special(d, kind)
        if cmd == "campaign" and kind in ("dir", "missing"):
            p = p if kind == "missing" else d
        args = {
            "run": ["run", p], "check": ["check", p], "fsx": ["fsx", p],
            "campaign": ["campaign", "--policies", "bh-ordered", "--seeds", "1", "--db", p],
            "campaign-report": ["campaign", "report", "--db", p],
            "compare-out": ["compare", "--scenarios", "truncate-up", "--out", p],
            "compare-scenarios": ["compare", "--scenarios", p],
            "repro-dir": ["campaign", "--policies", "bh-ordered", "--seeds", "1", "--db",
                          os.path.join(d, "c.db"), "--repro-dir", p],
            "demo": ["demo", "--out", p],
        }[cmd]
        if cmd in ("compare-out", "repro-dir", "demo") and kind in ("dir", "missing",
                                                                    "ctrl-name"):
            return  # a directory, or one that can be created: valid output locations
        if cmd == "campaign" and kind == "ctrl-name":
            return  # a valid name for a new database
        if cmd == "campaign" and kind == "missing":
            p = p  # a new database in a missing directory: refused
        msg = refused(args)
        if kind not in ("nul", "long", "ctrl-name"):
            assert p.split("\0")[0][:40] in msg or os.path.basename(p)[:40] in msg, msg


CLI_BAD = [
    ["campaign", "--policies", "bh-ordered", "--seeds", "1", "--ops", "-1"],
    ["campaign", "--policies", "bh-ordered", "--seeds", "9223372036854775808"],
    ["campaign", "--policies", "bh-ordered", "--seeds", "99999999999999999999999..1"],
    ["campaign", "--policies", "bh-ordered", "--seeds", "5..2"],
    ["campaign", "--policies", "bh-ordered", "--seeds", "٣"],
    ["campaign", "--policies", "nope", "--seeds", "1"],
    ["campaign", "--policies", ",", "--seeds", "1"],
    ["campaign", "--seeds", "1"],
    ["campaign", "--policies", "bh-ordered", "--seeds", "1", "--workers", "0"],
    ["campaign", "--policies", "bh-ordered", "--seeds", "1", "--threads", "x"],
    ["campaign", "--policies", "bh-ordered", "--seeds", "1", "--dask-timeout", "0"],
    ["check", "truncate-up", "--samples", "0"],
    ["check", "truncate-up", "--samples", "100000001"],
    ["check", "truncate-up", "--schedules", "100001"],
    ["campaign", "--policies", "bh-ordered", "--seeds", "1", "--dask-timeout", "nan"],
    ["check", "truncate-up", "--schedules", "-3"],
    ["check"], ["run"], ["run", "truncate-up", "--policy"], ["run", "truncate-up", "extra"],
    ["run", "truncate-up", "--bogus"], ["nosuchcommand"], ["run", "truncate-up", "-p", "nope"],
    ["compare", "--threads", "0"], ["compare", "--threads", "1,x"], ["compare", "--threads", "٣"],
    ["compare", "--threads", ""], ["compare", "--policies", "nope"],
    ["compare", "--scenarios", "nope"], ["compare", "--samples", "-1"],
    ["kernel-check", "truncate-up", "--mount-opts", "data=journal"],
    ["kernel-check", "truncate-up", "--max-states", "0"],
    ["fsx"], ["fsx", "/nonexistent/log"],
    ["run", "truncate-up", "--set", "=5"], ["run", "truncate-up", "--set", "x"],
    ["run", "truncate-up", "--delay-bio", "٣=5s"], ["run", "truncate-up", "--delay-bio", "3=05s"],
    ["run", "truncate-up", "--delay-bio", "1" * 40 + "=5s"], ["run", "truncate-up", "--perturb-seed", "0"],
    ["check", "truncate-up", "--save-counterexample", "a\0b"],
    ["check", "truncate-up", "--save-counterexample", "x" * 300],
]


@FUZZ
@given(st.sampled_from(CLI_BAD), st.sampled_from([[], ["--json"]]))
def test_fuzz_cli_arguments(args, extra):
    if extra and args and args[0] in ("run", "check", "compare", "fsx", "kernel-check") \
            and len(args) > 1:
        args = args + extra
    with tempfile.TemporaryDirectory() as d:
        if args[0] == "campaign":
            args = args + ["--db", os.path.join(d, "c.db")]
        refused(args)


@pytest.mark.parametrize("args", CLI_BAD, ids=lambda a: " ".join(a)[:50])
def test_every_bad_cli_argument(args, tmp_path):
    """The CLI list in full, not a sample: each is one line, exit 2."""
    if args[0] == "campaign":
        args = args + ["--db", str(tmp_path / "c.db")]
    refused(args)


def test_the_bounds_catch_a_hang():
    """The harness itself: an input that loops is reported as a hang, not waited for."""
    with pytest.raises(Hang):
        with bounded(seconds=0.2):
            while True:
                pass


def test_the_bounds_catch_a_memory_blowup():
    with pytest.raises(MemoryError):
        with bounded(headroom=64 << 20):
            _ = bytearray(256 << 20)


def test_special_files_exist_here():
    """The special paths the fuzzer uses are what they claim (else it tests nothing)."""
    assert stat.S_ISCHR(os.stat("/dev/zero").st_mode)
    assert stat.S_ISCHR(os.stat("/dev/urandom").st_mode)


# ---------------------------------------------------------------- mutations of valid inputs
# Arbitrary edits of a valid input may leave it valid, so here any exit status of the
# convention is allowed (0, 1, 2); what must never happen is a traceback, a hang, a memory
# blow-up, or a refusal that is not exactly one line naming the file. Sizes stay small
# (tokens come from a fixed pool): absurd-but-valid sizes are the linear-time issue's.

SEED_SCENARIO = """name: mut
description: a seed for mutations
tunables:
  block_size: 4096
  commit_interval_ns: 5s
files:
  - name: f
    size: 1000
    plants:
      - {off: 1000, len: 3096, byte: 0x5a}
threads:
  - name: t0
    ops:
      - "@1s truncate f 8k"
      - fsync f
  - ops:
      - write f 0 100
      - fallocate f 0 4096 keep_size
"""
TOKENS = ["", " ", "  ", "-", ":", "[", "]", "{", "}", ",", "'", '"', "&x", "*x", "!!str",
          "#", "@", "\t", "~", "null", "true", "0", "1", "4k", "0x10", "5s", "f", "g", "t0",
          "ops", "threads", "files", "name", "size", "tunables", "plants", "off", "len",
          "byte", "write", "sync", "fsync", "\n", "\n  ", "\n    - ", "é", "\u2028", "\x00",
          "\x85", "\ufeff", "%YAML 1.1", "---", "...", "? ", "|", ">", "<<: "]


@st.composite
def mutated(draw, seed):
    text = seed
    for _ in range(draw(st.integers(1, 4))):
        how = draw(st.sampled_from(["insert", "delete", "replace", "dupline", "dropline"]))
        lines = text.split("\n")
        if how in ("dupline", "dropline") and len(lines) > 1:
            i = draw(st.integers(0, len(lines) - 1))
            lines = lines[:i] + ([lines[i]] * 2 if how == "dupline" else []) + lines[i + 1:]
            text = "\n".join(lines)
            continue
        pos = draw(st.integers(0, len(text)))
        n = draw(st.integers(0, 6))
        tok = draw(st.sampled_from(TOKENS))
        if how == "insert":
            text = text[:pos] + tok + text[pos:]
        elif how == "delete":
            text = text[:pos] + text[pos + n:]
        else:
            text = text[:pos] + tok + text[pos + n:]
    return text


def clean_outcome(args, name):
    try:
        with bounded():
            r = CliRunner().invoke(main, args, catch_exceptions=True)
    except Hang as e:
        raise AssertionError(f"hang: {e}: args={args!r}") from None
    detail = f"args={args!r}\nexit={r.exit_code}\nstderr={r.stderr!r}"
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        import traceback
        detail += "\n" + "".join(traceback.format_exception(r.exception))
    assert r.exit_code in (0, 1, 2), detail
    assert "Traceback" not in r.stderr and "out of memory" not in r.stderr, detail
    if r.exit_code == 2:
        assert len(r.stderr.splitlines()) == 1 and name in r.stderr, detail


@FUZZ
@given(mutated(SEED_SCENARIO))
def test_fuzz_mutated_scenarios(text):
    with tempfile.TemporaryDirectory() as d:
        path = _write(d, "m.yaml", text)
        clean_outcome(["run", path], path)


SEED_FSX = ("# recorded\nwrite 0x0 0x1800 0x0\ntruncate 0x0 0x3000 0x1800\n"
            "#eofsim-at 2s\nfsync 0x0 0x0 0x3000\nmapread 0x0 0x10 0x3000\n"
            "#eofsim sync\nzero_range 0x100 0x200 0x3000 keep_size\n")


@FUZZ
@given(mutated(SEED_FSX))
def test_fuzz_mutated_fsx_logs(text):
    with tempfile.TemporaryDirectory() as d:
        path = _write(d, "m.fsxops", text)
        clean_outcome(["fsx", path, "--samples", "200"], path)
