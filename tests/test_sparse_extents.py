"""Long unwritten extents as runs (ext4/extents.ExtentMap): fallocate and zero range over
huge ranges cost what they touch, and the runs are only a representation: the same
workloads with every allocation chunk kept as runs (RUN_MIN = 1) and with one map entry a
block (RUN_MIN huge) give the same device log, the same block maps and the same crash
check reports."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eofsim.ext4.extents as extents
from eofsim.crash import check
from eofsim.ops import Op
from eofsim.scenario import FileSpec, Scenario, ThreadSpec
from eofsim.scenario_file import load_text
from eofsim.sim import simulate
from eofsim.workload.generate import generate

TIB = 1 << 40


def _expand(ext):
    out = []
    for e in ext:
        if len(e) > 3:
            out.extend((e[0] + i, e[1] + i, e[2]) for i in range(e[3]))
        else:
            out.append(tuple(e))
    return tuple(sorted(out))


def _fingerprint(res):
    bios = [(b.id, b.op, b.kind, tuple(p for p, _ in b.blocks), b.submit_ns, b.complete_ns)
            for b in res.dev.bios]
    maps = {ino: _expand(i.extents()) for ino, i in res.fs.inodes.items()}
    return bios, maps


def _both(sc, pol, ov=None):
    out = []
    for run_min in (1, 1 << 62):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(extents, "RUN_MIN", run_min)
            res = simulate(sc, pol, ov or {})
            out.append((res, _fingerprint(res), check(res).as_dict()))
    return out


_FALLOC = st.tuples(st.sampled_from(["", "keep_size", "zero_range", "zero_range,keep_size",
                                     "punch_hole"]),
                    st.integers(0, 40_000), st.integers(1, 40_000))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(1, 10 ** 6), pol=st.sampled_from(["bh-ordered", "bh-writeback", "iomap-pending"]),
       bs=st.sampled_from(["4096", "1024"]), fallocs=st.lists(_FALLOC, min_size=1, max_size=4))
def test_runs_change_nothing(seed, pol, bs, fallocs):
    """A random workload with fallocate / zero range / punch hole mixed in: same I/O, same
    maps (runs expanded), same check report either way."""
    base = generate(seed=seed, n_ops=40, files=("a",), threads=1)
    ops = list(base.threads[0].ops)
    for i, (mode, off, ln) in enumerate(fallocs):
        ops.insert((i * 7) % (len(ops) + 1), Op("fallocate", "a", off, ln, mode=mode))
    sc = Scenario(name="runs", description="", files=base.files,
                  threads=(ThreadSpec("t0", tuple(ops)),))
    (ra, fa, ca), (rb, fb, cb) = _both(sc, pol, {"block_size": bs})
    assert any(isinstance(i.map, extents.ExtentMap) for i in ra.fs.inodes.values())
    assert fa == fb
    assert ca == cb


def _sparse(ops):
    text = "name: sparse\nfiles:\n  - name: f\n    size: 1000\nthreads:\n  - name: t0\n    ops:\n"
    return load_text(text + "".join(f'      - "{o}"\n' for o in ops), "sparse.yaml")


@pytest.mark.parametrize("ops", [
    [f"fallocate f 0 {TIB}", "fsync f"],
    [f"fallocate f 0 {TIB} zero_range", "fsync f"],
    ["write f 0 5000", f"fallocate f 100 {TIB} zero_range", f"write f {TIB // 2} 3000", "fsync f",
     f"fallocate f 4096 {TIB} punch_hole", "truncate f 3000", "fsync f"],
    [f"fallocate f 0 {TIB} keep_size", f"write f {TIB - 4096} 100", "fsync f", "truncate f 0"],
], ids=["fallocate", "zero-range", "mixed", "keep-size-write-truncate"])
def test_terabyte_ranges_follow_what_is_touched(ops):
    """fallocate / zero range over 1 TiB keep a handful of map entries and runs, not 2^28
    entries, and the check sees the file as the kernel shows it: zeros where unwritten."""
    res = simulate(_sparse(ops), "bh-ordered")
    for inode in res.fs.inodes.values():
        assert len(inode.map) < 64
        assert len(inode.extents()) < 64
    rep = check(res)
    assert rep.ok
    sizes = {o.size for o in rep.outcomes}
    assert max(sizes) >= 3000


def test_run_blocks_materialise_on_access():
    m = extents.ExtentMap({}, {})
    m.add_run(10, 20, 1000)
    assert 15 in m and 20 not in m and 9 not in m
    assert len(m) == 0                      # membership makes no entry
    assert m.get(15) == [extents.UNWRITTEN, 1005]
    assert m.disk[15] == (15, 1005, True)
    assert m.runs == [(10, 15, 1000), (16, 20, 1006)]
    assert m.cut(12, 18) == [(1002, 3), (1006, 2)]
    assert m.runs == [(10, 12, 1000), (18, 20, 1008)]
    assert sorted(m.extent_runs()) == [(10, 1000, True, 2), (18, 1008, True, 2)]


def test_long_fallocate_takes_one_handle_per_unwritten_extent():
    """ext4_ext_map_blocks caps an unwritten allocation at EXT_UNWRITTEN_MAX_LEN blocks, so
    ext4_alloc_file_blocks raises the size (ext4_update_inode_size(epos)) once per chunk:
    a 200 MiB fallocate over a file whose block 0 is written passes through i_size = 1 block
    (the existing extent), 1 + 32767 blocks (the first hole chunk) and then its end (both
    ways of keeping the map)."""
    bs = 4096
    n = 200 << 20
    cap = extents.EXT_UNWRITTEN_MAX_LEN * bs
    outs = _both(_sparse([f"fallocate f 0 {n}", "fsync f"]), "bh-ordered")
    for res, _, _ in outs:
        sizes = [s for _, _, s in res.size_history["f"]]
        assert sizes[-3:] == [bs, bs + cap, n]
    assert outs[0][1] == outs[1][1] and outs[0][2] == outs[1][2]


def _extents_oracle(inode):
    """The raw inode's extent tree from scratch: every `disk` entry and every unwritten run,
    sorted (what Inode.extents must equal however it builds it)."""
    ext = list(inode.disk.values())
    if isinstance(inode.map, extents.ExtentMap):
        ext.extend(inode.map.extent_runs())
    return tuple(sorted(ext))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(1, 10 ** 6), pol=st.sampled_from(["bh-ordered", "bh-writeback", "iomap-v4"]),
       bs=st.sampled_from(["4096", "1024"]), patch_max=st.sampled_from([0, 1, 8, 1 << 30]),
       fallocs=st.lists(_FALLOC, max_size=3))
def test_extents_patched_equal_sorted_from_scratch(seed, pol, bs, patch_max, fallocs):
    """Inode.extents patches the blocks set_state changed into its last tuple: at every call
    (each ext4_mark_inode_dirty / raw inode) it equals the tree sorted from scratch, with
    truncates, punches, zero ranges and long unwritten runs mixed in."""
    import eofsim.ext4.inode as inode_mod
    base = generate(seed=seed, n_ops=60, files=("a", "b"), threads=1, max_size=64 * 1024)
    ops = list(base.threads[0].ops)
    for i, (mode, off, ln) in enumerate(fallocs):
        ops.insert((i * 11) % (len(ops) + 1), Op("fallocate", "a", off, ln, mode=mode))
    sc = Scenario(name="ext", description="", files=base.files,
                  threads=(ThreadSpec("t0", tuple(ops)),))
    real = inode_mod.Inode.extents
    calls = []

    def checked(self):
        got = real(self)
        assert got == _extents_oracle(self), (self.name, got)
        calls.append(len(got))
        return got

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(inode_mod, "_PATCH_MAX", patch_max)
        mp.setattr(inode_mod.Inode, "extents", checked)
        simulate(sc, pol, {"block_size": bs})
    assert calls and max(calls) > 0
