"""ext4_block_zero_eof's exceptions, as inode flags: encrypted without its key (a user
truncate is refused with ENOKEY; ext4_block_truncate_page's early return is for orphan
cleanup at mount) and DAX (dax_zero_range:
no page cache, the zeroes go straight to the medium)."""

from eofsim.ops import parse_op
from eofsim.scenario import FileSpec, Plant, Scenario, ThreadSpec
from eofsim.sim import simulate


def scenario(**flags):
    f = FileSpec("f", 1000, (Plant(1000, 3096, 0x5A),), **flags)
    ops = tuple(parse_op(x) for x in ["@1s truncate f 8k", "read f 0 8k"])
    return Scenario("flags", files=(f,), threads=(ThreadSpec("t0", ops),))


def test_plain_inode_reads_zero_past_old_eof():
    r = simulate(scenario(), "bh-ordered")
    assert r.ops[1].data[1000:4096] == bytes(3096)


def test_encrypted_without_key_refuses_truncate():
    """ext4_setattr -> fscrypt_prepare_setattr: ENOKEY, and nothing changes (no size, no
    zeroing, no I/O)."""
    r = simulate(scenario(encrypted_nokey=True), "bh-ordered")
    assert r.ops[0].error == "ENOKEY"
    assert r.ops[0].i_size_after == 1000
    assert not [b for b in r.dev.bios if b.kind == "data"]


def test_dax_zeroes_on_the_medium_with_fua():
    r = simulate(scenario(dax=True), "bh-ordered")
    dax = [b for b in r.dev.bios if b.why == "dax-zero"]
    assert len(dax) == 1 and dax[0].fua
    (pblk, runs), = dax[0].blocks
    assert (1000, 4096, 0) in runs
    assert dax[0].complete_ns <= r.ops[0].end_ns
