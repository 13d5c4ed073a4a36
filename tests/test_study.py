"""`eofsim study` (issue 16): the EOF-growth classifier against an independent oracle, and a
reduced study end to end on the mounted model."""

import json
import os
import shutil
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from hypothesis import given, strategies as st

from eofsim.ops import parse_op
from eofsim.study.measure import grows_past_unaligned_eof, percentile


def rec(text, before, after, error=None):
    return SimpleNamespace(op=parse_op(text), i_size_before=before, i_size_after=after, error=error)


@given(st.integers(0, 1 << 20), st.integers(0, 1 << 20), st.integers(1, 1 << 16),
       st.sampled_from([1024, 4096]))
def test_extending_write_takes_the_zeroing_path_iff_it_leaves_a_gap_from_an_unaligned_eof(size, off, n, bs):
    after = max(size, off + n)
    got = grows_past_unaligned_eof(rec(f"write f {off} {n}", size, after), bs)
    # ext4_write_checks / write_end zero [old EOF, off) inside the EOF block: only when the
    # old EOF is inside a block and the write starts past it.
    assert got == (size % bs != 0 and off > size)


@given(st.integers(0, 1 << 20), st.integers(0, 1 << 20), st.sampled_from([1024, 4096]))
def test_truncate_grows_past_unaligned_eof_iff_it_grows_from_inside_a_block(size, new, bs):
    got = grows_past_unaligned_eof(rec(f"truncate f {new}", size, new), bs)
    assert got == (new > size and size % bs != 0)
    assert not grows_past_unaligned_eof(rec(f"truncate f {new}", size, new, error="EIO"), bs)


@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=200), st.integers(1, 100))
def test_percentile_is_nearest_rank(values, q):
    p = percentile(values, q)
    v = sorted(values)
    below = sum(1 for x in v if x <= p)
    assert p in values and below * 100 >= q * len(v)
    assert sum(1 for x in v if x < p) * 100 < q * len(v)


def _fuse_ok():
    return os.geteuid() == 0 and os.path.exists("/dev/fuse") and shutil.which("fusermount3")


@pytest.mark.skipif(not _fuse_ok(), reason="needs root, /dev/fuse and fusermount3 (fuse3)")
def test_reduced_study_end_to_end(tmp_path):
    from eofsim.cli import main
    out = tmp_path / "study"
    r = CliRunner().invoke(main, ["study", "--workloads", "grow-store", "--policies",
                                  "bh-ordered,iomap-v4", "--scale", "0.2", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    rows = d["rows"]["grow-store"]
    assert set(rows) == {"bh-ordered", "iomap-v4"}
    trace_ops = d["traces"]["grow-store"]["ops"]
    # grow_store.py truncates up to an unaligned size before every record: about half the
    # ops it issues grow the file from an unaligned EOF, whatever the design.
    for r_ in rows.values():
        assert r_["grow_unaligned"] >= trace_ops // 4
        assert r_["eof_zeroings"] >= r_["eof_zeroings_written"] >= 1
        assert r_["crash"]["violations"] == {}
    assert rows["bh-ordered"]["grow_unaligned"] == rows["iomap-v4"]["grow_unaligned"]
    assert (out / "study.html").is_file() and (out / "study-events.png").is_file()
    assert (out / "traces" / "grow-store.yaml").is_file()
