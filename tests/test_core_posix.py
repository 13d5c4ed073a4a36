"""Random operation sequences read back exactly what POSIX says, against a plain in-memory
oracle, under both policies, both block sizes and delalloc on/off."""

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from eofsim.content import INITIAL, ZERO, byte_value
from eofsim.jbd2 import LogRecord
from eofsim.ops import Op
from eofsim.scenario import FileSpec, Scenario, ThreadSpec
from eofsim.sim import simulate

PAGE = 4096
MAXF = 48 * 1024
S = 1_000_000_000


class OFile:
    """A POSIX file: bytes (as provenance: 0 zero, N op #N, INITIAL) up to `size`, plus
    `ghost`: bytes stored through mmap past EOF inside the EOF page. Those are invisible to
    read(); mread may show them or zero (writeback zeroes the EOF folio tail at any time);
    extending the file over them must make them read zero."""

    def __init__(self, size):
        self.size = size
        self.src = [INITIAL] * size + [ZERO] * (MAXF + 2 * PAGE - size)
        self.ghost = {}

    def _clear_ghost(self, a, b):
        for i in [i for i in self.ghost if a <= i < b]:
            del self.ghost[i]

    def _grow(self, new):
        if new > self.size:
            self._clear_ghost(self.size, new)
            self.size = new

    def write(self, off, n, op):
        self._grow(off + n)
        self.src[off:off + n] = [op] * n

    def truncate(self, s):
        if s < self.size:
            self.src[s:self.size] = [ZERO] * (self.size - s)
            self.ghost = {}
            self.size = s
        else:
            self._grow(s)

    def fallocate(self, off, n, mode):
        end = off + n
        if mode in ("punch_hole", "zero_range", "zero_range,keep_size"):
            hi = min(end, self.size)
            if hi > off:
                self.src[off:hi] = [ZERO] * (hi - off)
        if "keep_size" not in mode and mode != "punch_hole":
            self._grow(end)

    def mmap_ok(self, off, n):
        return off + n <= -(-self.size // PAGE) * PAGE

    def mwrite(self, off, n, op):
        for i in range(off, off + n):
            if i < self.size:
                self.src[i] = op
            else:
                self.ghost[i] = op


def expand(runs):
    out = []
    pos = 0
    for s, e, v in runs:
        assert s == pos and e > s, f"malformed runs {runs}"
        out += [v] * (e - s)
        pos = e
    return out


@st.composite
def workloads(draw, bs):
    nfiles = draw(st.integers(1, 2))
    names = ["f", "g"][:nfiles]
    sizes = {n: draw(st.sampled_from([0, 0, 1000, 4096, 5000, 9000])) for n in names}
    oracle = {n: OFile(sizes[n]) for n in names}
    ops, expect = [], []
    nops = draw(st.integers(1, 14))
    # an offset near interesting points: EOF, block and page boundaries
    for i in range(1, nops + 1):
        name = draw(st.sampled_from(names))
        o = oracle[name]
        kind = draw(st.sampled_from(["write", "write", "read", "read", "mwrite", "mread",
                                     "truncate", "fallocate", "fsync", "fdatasync",
                                     "sync_file_range", "sync", "sleep", "sleep"]))

        def pos(maxv=MAXF - 1):
            base = draw(st.sampled_from([0, o.size, o.size, bs, PAGE, 2 * PAGE, 3 * bs, 3 * PAGE + 100]))
            return max(0, min(maxv, base + draw(st.integers(-1500, 5000))))

        def length(maxv):
            return max(1, min(maxv, draw(st.sampled_from([1, 100, 1000, bs, PAGE, 6000, 9000]))
                              + draw(st.integers(-50, 50))))

        if kind == "write":
            off = pos(MAXF - 2)
            n = length(MAXF - off)
            ops.append(Op("write", name, off=off, len=n))
            o.write(off, n, i)
            expect.append(None)
        elif kind == "read":
            off = pos()
            n = length(MAXF)
            ops.append(Op("read", name, off=off, len=n))
            hi = min(off + n, o.size)
            expect.append(("read", off, o.src[off:hi] if hi > off else []))
        elif kind in ("mwrite", "mread"):
            page_lim = -(-o.size // PAGE) * PAGE
            lim = page_lim
            cautious = bs < PAGE and kind == "mwrite"
            if cautious:
                # Linux 6.12 does not zero mmap stores past the EOF *block* when the size
                # grows (see test_core_ordering.test_mmap_store_past_eof_block_*); keep the
                # random test to stores inside the EOF block, the part 6.12 does zero.
                lim = -(-o.size // bs) * bs
            if o.size == 0 or draw(st.integers(0, 9)) == 0:
                # at or across the end of the EOF page: SIGBUS. The access stores / loads
                # the bytes before the page end first, as a memcpy would.
                lo = page_lim if cautious else max(0, page_lim - 10)
                off = draw(st.integers(lo, page_lim + 10))
                n = draw(st.integers(max(1, page_lim + 1 - off), 30 + max(0, page_lim - off)))
            else:
                lo = max(0, min(o.size, lim) - PAGE)
                off = draw(st.integers(lo, lim - 1))
                n = draw(st.integers(1, lim - off))
            ops.append(Op(kind, name, off=off, len=n))
            if off + n > page_lim:
                if kind == "mwrite" and off < page_lim:
                    o.mwrite(off, page_lim - off, i)
                expect.append(("sigbus",))
            elif kind == "mwrite":
                o.mwrite(off, n, i)
                expect.append(None)
            else:
                exact = [o.src[j] if j < o.size else None for j in range(off, off + n)]
                ghost = {j: o.ghost.get(j) for j in range(off, off + n) if j >= o.size}
                expect.append(("mread", off, exact, ghost))
        elif kind == "truncate":
            s = draw(st.sampled_from([0, 1, 1000, bs - 1, bs, PAGE + 1, o.size // 2,
                                      o.size + 1, o.size + 3000, 20000, 40000]))
            s = min(s, MAXF)
            ops.append(Op("truncate", name, size=s))
            o.truncate(s)
            expect.append(None)
        elif kind == "fallocate":
            mode = draw(st.sampled_from(["", "keep_size", "punch_hole", "zero_range",
                                         "zero_range,keep_size"]))
            off = pos(MAXF - 2)
            n = length(MAXF - off)
            ops.append(Op("fallocate", name, off=off, len=n, mode=mode))
            o.fallocate(off, n, mode)
            expect.append(None)
        elif kind in ("fsync", "fdatasync"):
            ops.append(Op(kind, name))
            expect.append(None)
        elif kind == "sync_file_range":
            flags = draw(st.sampled_from([("write",), ("wait_before", "write", "wait_after"),
                                          ("write", "wait_after"), ("wait_after",)]))
            off = pos()
            ops.append(Op("sync_file_range", name, off=off, len=draw(st.sampled_from([0, 4096, 9000])),
                          flags=flags))
            expect.append(None)
        elif kind == "sync":
            ops.append(Op("sync"))
            expect.append(None)
        else:
            ops.append(Op("sleep", dur_ns=draw(st.sampled_from([1_000_000, 1 * S, 6 * S, 31 * S]))))
            expect.append(None)
    sizes_after = {n: oracle[n].size for n in names}
    return sizes, ops, expect, sizes_after


def check(sizes, ops, expect, sizes_after, policy, overrides):
    sc = Scenario("rand", files=tuple(FileSpec(n, s) for n, s in sizes.items()),
                  threads=(ThreadSpec("t0", tuple(ops)),))
    r = simulate(sc, policy, overrides)
    assert r.deadlocks == [] and r.stall is None
    assert len(r.ops) == len(ops)
    for rec, exp in zip(r.ops, expect):
        if exp is None:
            assert rec.error is None, f"#{rec.index} {rec.op.text()}: {rec.error}"
            continue
        if exp[0] == "sigbus":
            assert rec.error == "SIGBUS", f"#{rec.index} {rec.op.text()} should SIGBUS"
            continue
        assert rec.error is None, f"#{rec.index} {rec.op.text()}: {rec.error}"
        off = exp[1]
        got = expand(rec.runs or ())
        if exp[0] == "read":
            want = exp[2]
            assert got == want, f"#{rec.index} {rec.op.text()}: provenance differs"
            assert rec.data == bytes(byte_value(v, off + k) for k, v in enumerate(want))
        else:
            exact, ghost = exp[2], exp[3]
            assert len(got) == len(exact)
            for k, (g, w) in enumerate(zip(got, exact)):
                j = off + k
                if w is not None:
                    assert g == w, f"#{rec.index} {rec.op.text()}: byte {j} is {g}, want {w}"
                else:
                    assert g in (ZERO, ghost[j]) if ghost[j] else g == ZERO, \
                        f"#{rec.index} {rec.op.text()}: byte {j} past EOF is {g}"
            want_b = bytes(byte_value(g if (w is None) else w, off + k) for k, (g, w) in enumerate(zip(got, exact)))
            assert rec.data == want_b
    # i_size after every op follows the oracle: checked via the last op per file
    last = {}
    for rec in r.ops:
        if rec.op.file is not None:
            last[rec.op.file] = rec.i_size_after
    for name, size in last.items():
        assert size == sizes_after[name], f"{name}: i_size {size}, POSIX says {sizes_after[name]}"
    # eventually (background writeback + commits within the horizon) the committed size
    # equals the in-memory size
    committed = {ino: raw.size for ino, raw in r.initial_inodes.items()}
    done = {tid for tid, _, _ in r.commits}
    for b in r.dev.bios:
        if b.kind == "journal" and isinstance(b.payload, LogRecord) and b.payload.tid in done:
            for raw in b.payload.inodes:
                committed[raw.ino] = raw.size
    for name, size in sizes_after.items():
        assert committed[r.inos[name]] == size, f"{name}: committed size never caught up"


CONFIGS = [(p, bs, d) for p in ("bh-ordered", "bh-writeback") for bs in (1024, 4096)
           for d in (True, False)]


@pytest.mark.parametrize("policy,bs,delalloc", CONFIGS,
                         ids=[f"{p}-{bs}-{'da' if d else 'noda'}" for p, bs, d in CONFIGS])
def test_random_ops_match_posix_oracle(policy, bs, delalloc):
    @settings(max_examples=250, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(workloads(bs))
    def run(w):
        check(*w, policy, {"block_size": bs, "delalloc": delalloc})
    run()


@pytest.mark.parametrize("policy", ["bh-ordered", "bh-writeback"])
def test_mwrite_across_eof_page_stores_prefix_then_sigbus(policy):
    o = OFile(4096)
    o.mwrite(4090, 6, 1)
    ops = [Op("mwrite", "f", off=4090, len=20), Op("read", "f", off=4080, len=16),
           Op("mread", "f", off=4080, len=16), Op("mread", "f", off=4096, len=1)]
    exp = [("sigbus",), ("read", 4080, o.src[4080:4096]), ("mread", 4080, o.src[4080:4096], {}),
           ("sigbus",)]
    check({"f": 4096}, ops, exp, {"f": 4096}, policy, {})


# iomap-v4 with sub-page blocks deadlocks its end-I/O worker on the zeroed block's folio
# (README: documented); it is held to the oracle with 4 KiB blocks only.
IOMAP_CONFIGS = [(p, bs) for p in ("iomap-v4", "iomap-deferred", "iomap-pending", "xfs")
                 for bs in (1024, 4096) if not (p == "iomap-v4" and bs == 1024)]


@pytest.mark.parametrize("policy,bs", IOMAP_CONFIGS, ids=[f"{p}-{bs}" for p, bs in IOMAP_CONFIGS])
def test_random_ops_match_posix_oracle_iomap(policy, bs):
    """The iomap designs (ext4_write_checks' zeroing, no size at write_end, i_disksize at
    end-I/O) read back what POSIX says too; delalloc is implied on that path."""
    @settings(max_examples=120, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(workloads(bs))
    def run(w):
        # iomap-v4's end-I/O wait deadlocks a single worker (README: endio-waits-zero);
        # with two the random workloads here never reach the documented cycles.
        check(*w, policy, {"block_size": bs, **({"endio_workers": 2} if policy == "iomap-v4" else {})})
    run()
