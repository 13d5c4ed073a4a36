"""content.py: provenance runs against a bytearray/list oracle."""

from hypothesis import given, settings, strategies as st

from eofsim.content import (INITIAL, ZERO, byte_value, cut, describe, fill, garbage, is_garbage,
                            overlay, paste, srcs, to_bytes)

N = 64
srcs_st = st.sampled_from([ZERO, 1, 2, 3, 7, INITIAL, garbage(0x5A), garbage(0xE5)])


def expand(runs, n=None):
    out = []
    pos = 0
    for s, e, v in runs:
        assert s == pos, f"runs not contiguous: {runs}"
        assert e > s, f"empty run in {runs}"
        out += [v] * (e - s)
        pos = e
    if n is not None:
        assert pos == n
    return out


def well_formed(runs):
    for (s1, e1, v1), (s2, e2, v2) in zip(runs, runs[1:]):
        assert e1 == s2
        assert v1 != v2, f"adjacent equal runs not merged: {runs}"


edits = st.lists(st.tuples(st.integers(0, N), st.integers(0, N), srcs_st), max_size=12)


def apply(runs, ref, a, b, v):
    """One edit on both the runs under test and the list oracle."""
    s, e = min(a, b), max(a, b)
    ref = ref[:s] + [v] * (e - s) + ref[e:]
    return overlay(runs, s, e, v), ref


@settings(max_examples=300, deadline=None)
@given(edits, st.integers(0, 10_000))
def test_overlay_matches_list_oracle(ops, file_off):
    runs, ref = fill(N), [ZERO] * N
    for a, b, v in ops:
        runs, ref = apply(runs, ref, a, b, v)
        assert expand(runs, N) == ref
        well_formed(runs)
    # to_bytes equals byte-by-byte byte_value
    assert to_bytes(runs, file_off) == bytes(byte_value(v, file_off + i) for i, v in enumerate(ref))


@settings(max_examples=300, deadline=None)
@given(edits, st.integers(0, N), st.integers(0, N), st.integers(0, 5000))
def test_cut_matches_slice(ops, a, b, off):
    runs, ref = fill(N), [ZERO] * N
    for x, y, v in ops:
        runs, ref = apply(runs, ref, x, y, v)
    s, e = min(a, b), max(a, b)
    piece = cut(runs, s, e)
    if s == e:
        # an empty cut may carry zero-length runs; they must be harmless
        assert to_bytes(piece, off) == b"" and paste(runs, s, piece) == runs
        return
    assert expand(piece, e - s) == ref[s:e]
    # bytes of a cut, placed at its file offset, equal the slice of the whole
    assert to_bytes(piece, off + s) == to_bytes(runs, off)[s:e]


@settings(max_examples=300, deadline=None)
@given(edits, edits, st.integers(0, N))
def test_paste_matches_slice_assignment(ops1, ops2, at):
    base, ref = fill(N), [ZERO] * N
    for x, y, v in ops1:
        s, e = min(x, y), max(x, y)
        base = overlay(base, s, e, v)
        ref[s:e] = [v] * (e - s)
    m = 16
    piece, pref = fill(m, 3), [3] * m
    for x, y, v in ops2:
        s, e = min(x, y) % (m + 1), max(x, y) % (m + 1)
        s, e = min(s, e), max(s, e)
        piece = overlay(piece, s, e, v)
        pref[s:e] = [v] * (e - s)
    at = min(at, N - m)
    out = paste(base, at, piece)
    ref[at:at + m] = pref
    assert expand(out, N) == ref
    well_formed(out)


def test_byte_values():
    assert byte_value(ZERO, 5) == 0
    assert byte_value(garbage(0x5A), 0) == 0x5A
    assert is_garbage(garbage(0)) and not is_garbage(ZERO) and not is_garbage(1)
    # op data is never a zero byte, and depends on op number and offset
    vals = {byte_value(n, off) for n in range(1, 50) for off in range(0, 600)}
    assert 0 not in vals and all(1 <= v <= 251 for v in vals)
    assert byte_value(1, 0) != byte_value(2, 0)
    assert byte_value(1, 0) != byte_value(1, 1)
    assert to_bytes(fill(3, garbage(0xE5)), 0) == b"\xe5\xe5\xe5"
    assert describe(ZERO) == "zero" and "0x5a" in describe(garbage(0x5A))
    assert srcs(((0, 4, 1), (4, 8, 2), (8, 9, 0)), 3, 5) == {1, 2}


def test_overlay_empty_range_is_identity():
    r = ((0, 10, 1),)
    assert overlay(r, 5, 5, 2) is r
    assert overlay(r, 7, 3, 2) is r


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4 * N), st.integers(1, 6), srcs_st), min_size=20, max_size=80))
def test_overlay_of_many_small_edits_matches_list_oracle(ops):
    """Long run lists (one run per small write, as appends of a few bytes make): overlay
    finds its place by bisection there, checked against the list oracle."""
    n = 4 * N
    runs, ref = fill(n), [ZERO] * n
    for a, ln, v in ops:
        runs, ref = apply(runs, ref, a, min(n, a + ln), v)
        assert expand(runs, n) == ref
        well_formed(runs)
