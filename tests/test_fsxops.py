"""fsx op logs: the grammar of fstests ltp/fsx.c in, the same grammar out."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eofsim.errors import InputError
from eofsim.ops import Op
from eofsim.workload.fsxops import dump_fsxops, load_fsxops, parse_fsxops

DATA = Path(__file__).parent / "data"


def test_sample_loads_into_expected_ops():
    ops = load_fsxops(DATA / "sample.fsxops")
    assert ops == [
        Op("write", "f", 0x3E8F, 0x7A3),
        Op("mread", "f", 0x1000, 0x200),
        # skip read: not run
        Op("truncate", "f", size=0x10000),                 # close_open accepted, no effect
        Op("fallocate", "f", 0xF000, 0x2000, mode="keep_size"),
        Op("truncate", "f", size=0x10010),                 # fsx's mapwrite extends first
        Op("mwrite", "f", 0xFFF0, 0x20),
        Op("read", "f", 0x8000, 0x8010),                   # '*' marker ignored
        Op("fallocate", "f", 0x2000, 0x1800, mode="punch_hole"),
        Op("fallocate", "f", 0x10000, 0x1000, mode="zero_range"),
        Op("fallocate", "f", 0x12000, 0x800, mode="zero_range,keep_size"),
        Op("fallocate", "f", 0x11000, 0x1000),
        # skip collapse_range, skip clone_range (4 numbers): not run, so not refused
        Op("truncate", "f", size=0x2345),
        Op("fsync", "f"),
        Op("mwrite", "f", 0x2000, 0x345),
        Op("write", "f", 0x2345, 0x10),                    # tab-separated
    ]
    where = [int(op.where.rsplit(":", 1)[1]) for op in ops]
    assert where == [2, 3, 5, 6, 7, 7, 9, 10, 11, 12, 13, 17, 18, 19, 20]
    assert all(op.where.startswith(str(DATA / "sample.fsxops")) for op in ops)


def test_file_name_and_strtoul_numbers():
    ops = parse_fsxops("write 16 010 0\nread 0X4 0x2 0x18\n", file_name="data")
    assert ops == [Op("write", "data", 16, 8), Op("read", "data", 4, 2)]


def test_export_of_sample_is_fsx_format():
    text = dump_fsxops(load_fsxops(DATA / "sample.fsxops"))
    lines = [ln for ln in text.splitlines() if not ln.startswith("#")]
    assert lines[:6] == [
        "write 0x3e8f 0x7a3 0x0",
        "mapread 0x1000 0x200 0x4632",
        "truncate 0x0 0x10000 0x4632",
        "fallocate 0xf000 0x2000 0x10000 keep_size",
        "truncate 0x0 0x10010 0x10000",
        "mapwrite 0xfff0 0x20 0x10010",
    ]
    assert "punch_hole 0x2000 0x1800 0x10010" in lines
    assert "zero_range 0x12000 0x800 0x11000 keep_size" in lines
    assert "fsync 0x0 0x0 0x2345" in lines
    for ln in text.splitlines():
        assert len(ln) < 255  # fsx reads lines with fgets(line, 256)
    assert "fsx -i LOGDEV -l 262144 -o 65536 --replay-ops" in text
    assert "fsx -l 262144 -o 65536 --replay-ops" in dump_fsxops([Op("write", "f", 0, 1)])


def test_sample_round_trip():
    ops = load_fsxops(DATA / "sample.fsxops")
    assert parse_fsxops(dump_fsxops(ops)) == ops


def _write(tmp_path, bad_line):
    p = tmp_path / "bad.fsxops"
    p.write_text(f"# line 1 is a comment\nwrite 0x0 0x1000 0x0\n{bad_line}\nfsync 0x0 0x0 0x1000\n")
    return p


@pytest.mark.parametrize("line, words", [
    ("collapse_range 0x0 0x1000 0x1000", ["collapse_range", "not modelled"]),
    ("insert_range 0x0 0x1000 0x1000", ["insert_range", "not modelled"]),
    ("clone_range 0x0 0x1000 0x2000 0x1000", ["clone_range", "not modelled"]),
    ("dedupe_range 0x0 0x1000 0x2000 0x1000", ["dedupe_range", "not modelled"]),
    ("copy_range 0x0 0x1000 0x2000 0x1000", ["copy_range", "not modelled"]),
    ("exchange_range 0x0 0x1000 0x2000 0x1000", ["exchange_range", "not modelled"]),
    ("write_dontcache 0x0 0x10 0x1000", ["write_dontcache", "not modelled"]),
    ("read_dontcache 0x0 0x10 0x1000", ["read_dontcache", "not modelled"]),
    ("write_atomic 0x0 0x1000 0x1000", ["write_atomic", "not modelled"]),
    ("frobnicate 0x0 0x1 0x0", ["unknown fsx operation", "frobnicate"]),
    ("write 0x10 0x10", ["write needs 3 numbers", "truncated"]),
    ("clone_range 0x0 0x1000 0x2000", ["clone_range needs 4 numbers"]),
    ("fsync", ["fsync needs 3 numbers"]),
    ("skip", ["skip"]),
    ("write 0x1g 0x10 0x0", ["not a number", "0x1g"]),
    ("write 0x 0x10 0x0", ["not a number"]),
    ("write -1 0x10 0x0", ["not a number"]),
    ("write 0x0 09 0x0", ["not a number"]),  # strtoul: 0-prefixed is octal
    ("write 0x80000000 0x10 0x0", ["32-bit"]),
    ("write 0x0 0x10 0x0 0x5", ["unexpected", "0x5"]),
    ("write 0x0 0x10 0x0 bogus", ["unexpected", "bogus"]),
    ("fallocate 0x0 0x1000 0x1000 unshare", ["unshare", "not modelled"]),
    ("read 0x800 0x1000 0x1000", ["past the file size", "trim"]),
    ("mapread 0x2000 0x10 0x1000", ["past the file size", "trim"]),
    ("punch_hole 0x0 0x2000 0x1000", ["past the file size", "trim"]),
    ("write 0x0 0x0 0x1000", ["zero length", "skip"]),
    ("#eofsim bogus f 1", ["unknown operation"]),
    ("#eofsim-at", ["one start time"]),
])
def test_errors_name_file_and_line(tmp_path, line, words):
    p = _write(tmp_path, line)
    with pytest.raises(InputError) as ei:
        load_fsxops(p)
    assert ei.value.where == f"{p}:3"
    assert str(ei.value).startswith(f"{p}:3: ")
    for w in words:
        assert w in ei.value.message


def test_dangling_start_time_names_its_line(tmp_path):
    p = tmp_path / "t.fsxops"
    p.write_text("write 0x0 0x10 0x0\n#eofsim-at 5s\n")
    with pytest.raises(InputError) as ei:
        load_fsxops(p)
    assert ei.value.where == f"{p}:2"


def test_missing_file_is_input_error(tmp_path):
    with pytest.raises(InputError) as ei:
        load_fsxops(tmp_path / "nope.fsxops")
    assert "nope.fsxops" in str(ei.value)


def test_refused_ops_in_skip_lines_are_fine():
    assert parse_fsxops("skip collapse_range 0x0 0x1000 0x0\n"
                        "skip copy_range 0x0 0x1000 0x2000 0x0\n") == []


def test_non_strict_trims_like_fsx_replay():
    text = ("write 0x0 0x3000 0x0\n"
            "read 0x5000 0x100 0x3000\n"      # off %= size -> 0x2000
            "read 0x2f00 0x400 0x3000\n"      # len cut at EOF -> 0x100
            "punch_hole 0x2000 0x4000 0x3000\n"
            "truncate 0x0 0x0 0x3000\n"
            "mapread 0x0 0x10 0x0\n"          # empty file: fsx skips it
            "write 0x0 0x0 0x0\n")            # zero length: fsx skips it
    assert parse_fsxops(text, strict=False) == [
        Op("write", "f", 0, 0x3000),
        Op("read", "f", 0x2000, 0x100),
        Op("read", "f", 0x2F00, 0x100),
        Op("fallocate", "f", 0x2000, 0x1000, mode="punch_hole"),
        Op("truncate", "f", size=0),
    ]


def test_extensions_restore_eofsim_ops_and_times():
    ops = [Op("write", "g", 0, 100), Op("sleep", dur_ns=5_000_000_000), Op("fdatasync", "g"),
           Op("write", "g", 100, 10, at_ns=7_000_000_000), Op("sync"),
           Op("read", "g", 50, 500), Op("mwrite", "g", 200, 10),
           Op("sync_file_range", "g", 0, 0, flags=("write", "wait_after")),
           Op("fallocate", "g", 0, 8192, mode="punch_hole")]
    text = dump_fsxops(ops, lossy=True)
    assert "#eofsim sleep 5s" in text
    assert "#eofsim-at 7000000000ns\nwrite 0x64 0xa 0x64" in text
    assert parse_fsxops(text, file_name="g") == ops
    # without extensions the log is what fsx replays: the fsx-expressible ops only
    assert parse_fsxops(text, file_name="g", extensions=False) == [
        Op("write", "g", 0, 100), Op("write", "g", 100, 10)]


@pytest.mark.parametrize("ops, words", [
    ([Op("sleep", dur_ns=10)], ["sleep", "lossy=True"]),
    ([Op("sync")], ["sync", "no such operation"]),
    ([Op("fdatasync", "f")], ["fdatasync"]),
    ([Op("sync_file_range", "f", 0, 10, flags=("write",))], ["sync_file_range"]),
    ([Op("write", "f", 0, 10), Op("read", "f", 5, 10)], ["past the file size"]),
    ([Op("write", "f", 0, 10), Op("mwrite", "f", 5, 10)], ["extend"]),
    ([Op("write", "f", 0, 10), Op("fallocate", "f", 0, 20, mode="punch_hole")], ["punch"]),
    ([Op("write", "f", 0, 10, at_ns=5)], ["start times"]),
    ([Op("write", "f", 0, 10), Op("write", "g", 0, 10)], ["one file"]),
    ([Op("truncate", "f", size=1 << 32)], ["32-bit"]),
])
def test_export_refuses_what_fsx_would_replay_differently(ops, words):
    with pytest.raises(InputError) as ei:
        dump_fsxops(ops)
    assert ei.value.where == f"op #{len(ops)}"
    for w in words:
        assert w in ei.value.message


def test_export_error_uses_op_source_location():
    with pytest.raises(InputError) as ei:
        dump_fsxops([Op("sync", where="s.yaml:7")])
    assert ei.value.where == "s.yaml:7"


# --- property: import -> export -> import is the identity -------------------------------

_NAMES = ["write", "mapwrite", "read", "mapread", "truncate", "fallocate", "punch_hole",
          "zero_range", "fsync", "collapse_range"]
_num = st.integers(0, 0x60000)
_line = st.tuples(
    st.booleans().map(lambda b: "skip " if b else ""), st.sampled_from(_NAMES),
    _num, _num, _num,
    st.lists(st.sampled_from(["keep_size", "close_open", "*"]), max_size=2),
    st.sampled_from(["0x{:x}", "{:d}", "0X{:X}"]),
).map(lambda t: " ".join([t[0] + t[1]] + [t[6].format(v) for v in t[2:5]] + t[5]))


@settings(max_examples=300, deadline=None)
@given(st.lists(_line, max_size=40))
def test_round_trip_import_export_import(lines):
    # collapse_range is only allowed when skipped; drop the others (they must raise)
    text = "\n".join(ln for ln in lines if "collapse_range" not in ln or ln.startswith("skip"))
    ops = parse_fsxops(text, strict=False)
    out = dump_fsxops(ops)
    assert parse_fsxops(out) == ops  # strict: the export is exactly what fsx replays
    assert dump_fsxops(parse_fsxops(out)) == out


@settings(max_examples=100, deadline=None)
@given(st.lists(_line, min_size=1, max_size=20))
def test_unmodelled_ops_are_never_dropped(lines):
    text = "\n".join(lines) + "\ncollapse_range 0x0 0x1000 0x0\n"
    with pytest.raises(InputError) as ei:
        parse_fsxops(text, "x.fsxops", strict=False)
    assert ei.value.where.startswith("x.fsxops:")
