"""Differential runs on real files (tmpfs, ext4 on loop) and the model-comparison plumbing."""

import pytest

from eofsim import content
from eofsim.kernel import differential as d
from eofsim.kernel import preflight
from eofsim.ops import Op, parse_op
from types import SimpleNamespace


def OpRecord(index, thread, op, i_size_after=None, data=None, error=None):
    """Duck-typed stand-in for eofsim.sim.OpRecord (compare_with_model reads .error, .data,
    .i_size_after only)."""
    return SimpleNamespace(index=index, thread=thread, op=op, i_size_after=i_size_after,
                           data=data, error=error)

REASON = preflight.reason()
kernel = [pytest.mark.kernel, pytest.mark.skipif(REASON is not None, reason=str(REASON))]


def ops_of(*lines):
    return [parse_op(l) for l in lines]


@pytest.mark.parametrize("where", ["tmpfs", "ext4"])
@pytest.mark.kernel
@pytest.mark.skipif(REASON is not None, reason=str(REASON))
def test_snapshots_record_size_bytes_and_eof_page(where):
    ops = ops_of("write f 100 5000", "read f 0 9000", "mread f 4096 4096", "mwrite f 8000 5000",
                 "truncate f 3000", "fallocate f 0 100 punch_hole")
    s = d.run_ops(ops, where)
    assert [x.size for x in s] == [5100, 5100, 5100, 5100, 3000, 3000]
    w1 = content.to_bytes(content.fill(5000, 1), 100)
    assert s[0].content == bytes(100) + w1
    assert s[1].data == s[0].content                       # short read stops at EOF
    assert s[2].data == s[0].content[4096:] + bytes(4096 - 1004)   # EOF page tail reads 0
    assert s[3].error == "SIGBUS"                          # 8000+5000 runs past the EOF page
    assert s[3].content[:5100] == s[0].content[:8000][:5100] and len(s[3].content) == 5100
    assert s[3].eof_page[8000 - 4096:] == content.to_bytes(content.fill(192, 4), 8000)
    assert s[5].content == bytes(100) + w1[:2900]
    assert len(s[4].eof_page) == 4096


@pytest.mark.kernel
@pytest.mark.skipif(REASON is not None, reason=str(REASON))
def test_known_real_differences_tmpfs_vs_ext4():
    """Pinned kernel behaviours (6.18): ext4 writeback zeroes the EOF page past EOF (fsync
    makes mmap stores there vanish) and truncate-up zeroes them; tmpfs keeps them."""
    ops = ops_of("truncate f 1000", "mwrite f 1500 100", "fsync f", "truncate f 8192")
    t, e = d.run_ops(ops, "tmpfs"), d.run_ops(ops, "ext4")
    stored = content.to_bytes(content.fill(100, 2), 1500)
    assert t[1].eof_page[1500:1600] == e[1].eof_page[1500:1600] == stored
    assert e[2].eof_page[1500:1600] == bytes(100)          # ext4: zeroed by writeback
    assert t[2].eof_page[1500:1600] == stored              # tmpfs: no writeback
    assert e[3].content[1500:1600] == bytes(100)
    assert t[3].content[1500:1600] == stored               # tmpfs exposes them after truncate up
    div = d.compare_real(t, e)
    assert (div.index, div.what) == (3, "eof_page")


@pytest.mark.kernel
@pytest.mark.skipif(REASON is not None, reason=str(REASON))
def test_random_ops_without_mmap_agree_on_tmpfs_and_ext4():
    for seed in range(3):
        ops = [o for o in d.random_ops(seed, 40, kinds=("write", "read", "truncate", "fallocate",
                                                        "fsync")) if "zero_range" not in o.mode]
        assert d.compare_real(d.run_ops(ops, "tmpfs"), d.run_ops(ops, "ext4")) is None, seed


def test_shrink_finds_a_minimal_list():
    ops = [Op("write", "f", i, 1) for i in range(40)]

    def fails(o):
        offs = {x.off for x in o}
        return 7 in offs and 31 in offs
    small = d.shrink(ops, fails)
    assert sorted(x.off for x in small) == [7, 31]


def test_compare_with_model_reports_first_divergence():
    ops = ops_of("write f 0 10", "read f 0 10", "truncate f 5")
    snaps = [d.Snapshot(1, ops[0], None, None, 10), d.Snapshot(2, ops[1], None, b"x" * 10, 10),
             d.Snapshot(3, ops[2], None, None, 5)]
    good = [OpRecord(1, "t", ops[0], i_size_after=10), OpRecord(2, "t", ops[1], data=b"x" * 10),
            OpRecord(3, "t", ops[2], i_size_after=5)]
    assert d.compare_with_model(ops, good, snaps) is None
    bad = [good[0], OpRecord(2, "t", ops[1], data=b"y" * 10), good[2]]
    div = d.compare_with_model(ops, bad, snaps)
    assert (div.index, div.what) == (2, "data")


@pytest.mark.kernel
@pytest.mark.skipif(REASON is not None, reason=str(REASON))
def test_check_against_model_shrinks_a_divergence():
    """A fake 'model' that forgets truncate-down: the divergence shrinks to the truncate."""
    def fake_model(ops):
        size, recs = 0, []
        for i, op in enumerate(ops, 1):
            if op.kind == "write":
                size = max(size, op.off + op.len)
            elif op.kind == "truncate" and op.size > size:
                size = op.size
            recs.append(OpRecord(i, "t", op, i_size_after=size if op.file else None,
                                 data=b"" if op.kind == "read" else None))
        return recs
    ops = ops_of("write f 0 100", "fsync f", "write f 200 10", "truncate f 50", "write f 10 10")
    rep = d.check_against_model(ops, fake_model, where=("tmpfs",))
    div = rep["tmpfs"]
    assert div.what == "size" and [o.kind for o in div.ops] == ["write", "truncate"]


@pytest.mark.kernel
@pytest.mark.skipif(REASON is not None, reason=str(REASON))
@pytest.mark.parametrize("seed", range(6))
def test_model_agrees_with_real_ext4_after_every_op(seed):
    """Issue 5.1: random op lists (write, read, mmap store/load, truncate, fallocate modes,
    fsync) on the model and on ext4 over a loop device; with a whole-file read after every
    op, size and bytes must match exactly. A divergence is reported shrunk."""
    ops = d.with_probes(d.random_ops(seed, 20))
    rep = d.check_against_model(ops, d.simulate_ops, where=("ext4",))
    div = rep["ext4"]
    assert div is None, f"{div.what} differs at op {div.index}: {[o.text() for o in div.ops]}"


@pytest.mark.kernel
@pytest.mark.skipif(REASON is not None, reason=str(REASON))
@pytest.mark.parametrize("seed", range(3))
def test_model_agrees_with_tmpfs_without_mmap(seed):
    """tmpfs keeps mmap stores past EOF and lacks zero_range, so it is compared without them."""
    kinds = ("write", "write", "read", "truncate", "fsync")
    ops = d.with_probes(d.random_ops(seed, 20, kinds=kinds))
    assert d.check_against_model(ops, d.simulate_ops, where=("tmpfs",))["tmpfs"] is None


def _ns_divergences(where, seeds):
    out = []
    for seed in seeds:
        div = d.namespace_divergence(d.random_namespace_ops(seed), where)
        if div is not None:
            out.append((seed, div.text()))
    return out


def test_namespace_ops_agree_with_the_model_on_real_files():
    """Issue 11: create/open/close/unlink/rename/mkdir mixed with data ops over three paths:
    errnos, bytes read and sizes as the model says (a plain directory: no root needed)."""
    assert _ns_divergences("tmpfs", range(40)) == []


@pytest.mark.kernel
@pytest.mark.skipif(REASON is not None, reason=str(REASON))
def test_namespace_ops_agree_with_the_model_on_ext4():
    assert _ns_divergences("ext4", range(8)) == []
