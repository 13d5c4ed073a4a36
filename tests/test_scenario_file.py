"""Scenario file loader: built-ins, file:line of every kind of error, and a YAML round trip."""


import pytest
import yaml
from hypothesis import given, settings, strategies as st

from eofsim.errors import InputError
from eofsim.ops import FALLOC_MODES, SFR_FLAGS, Op
from eofsim.params import Tunables
from eofsim.scenario import FileSpec, Plant, Scenario, ThreadSpec
from eofsim.scenario_file import builtin_names, builtin_path, dump_text, load_scenario, load_text

BUILTINS = ["truncate-up", "append-fallocate", "append-write", "extend-over-hole", "mmap-beyond-eof",
            "sentinel-truncate-up", "sentinel-append", "sentinel-fallocate",
            "sync-file-range-past-eof", "fsync-after-extend"]


EXTRA_BUILTINS = ["endio-waits-zero", "writeback-waits-endio",  # issue 4: deadlock scenarios
                  "sentinel-dsync-append"]  # issue 11: an O_DSYNC append syncs its range only


def test_builtin_names_are_the_issue_list_plus_documented_extras():
    assert builtin_names() == sorted(BUILTINS + EXTRA_BUILTINS)


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_loads_and_validates(name):
    sc = load_scenario(name)
    assert sc.name == name
    assert str(sc.where) == str(builtin_path(name))
    assert len(sc.description) > 200, "description must say what it shows and which kernel path"
    Tunables().with_values(sc.tunables)
    assert sc.threads and all(t.ops for t in sc.threads)
    # a size-changing op on an existing file with an unaligned EOF: the whole point of the suite
    assert any(f.size % 4096 for f in sc.files) or name == "extend-over-hole"


@pytest.mark.parametrize("name", [n for n in BUILTINS if n.startswith("sentinel-")]
                         + ["sync-file-range-past-eof"])
def test_sentinel_scenarios_plant_the_whole_eof_tail(name):
    f = load_scenario(name).files[0]
    assert f.size == 1000 and f.plants == (Plant(1000, 3096, 0x5A),)


def test_builtin_ops_match_their_stories():
    """Independent expectations, written from the issue text, not from the files."""
    def texts(name):
        return [op.text() for _, _, op in load_scenario(name).all_ops()]
    assert texts("extend-over-hole") == ["write f 0 4096", "fsync f", "truncate f 65536",
                                         "write f 16384 8192", "write g 0 4096", "fsync g"]
    assert texts("truncate-up") == ["@1s truncate f 16384"]
    srf = [op for _, _, op in load_scenario("sync-file-range-past-eof").all_ops()]
    assert srf[-1].kind == "sync_file_range" and srf[-1].off >= 4096
    assert srf[-1].flags == ("write", "wait_after")
    mm = [op for _, _, op in load_scenario("mmap-beyond-eof").all_ops()]
    store = next(op for op in mm if op.kind == "mwrite")
    assert 1000 <= store.off and store.off + store.len <= 4096


def test_unknown_name_lists_builtins(tmp_path):
    with pytest.raises(InputError) as e:
        load_scenario(str(tmp_path / "nope"))
    assert "truncate-up" in str(e.value) and "sentinel-append" in str(e.value)


def test_file_path_and_shorthand_ops(tmp_path):
    p = tmp_path / "my-case.yaml"
    p.write_text("ops:\n  - write f 0 4k\n  - fsync f\n")
    sc = load_scenario(str(p))
    assert sc.name == "my-case"
    assert sc.threads == (ThreadSpec("t0", (Op("write", "f", 0, 4096), Op("fsync", "f"))),)


def test_op_where_is_file_and_line(tmp_path):
    p = tmp_path / "w.yaml"
    p.write_text("files: [{name: f, size: 1000}]\nthreads:\n  - ops:\n      - sync\n      - fsync f\n")
    sc = load_scenario(str(p))
    assert [op.where for op in sc.threads[0].ops] == [f"{p}:4", f"{p}:5"]


def test_yaml_1_1_words_are_fine_as_keys_and_quoted_values():
    sc = load_text("files:\n  - {name: 'on', size: 5000, plants: [{off: 5000, len: 1}]}\n"
                   "ops: ['write on 0 1']\n", "x.yaml")
    assert sc.files == (FileSpec("on", 5000, (Plant(5000, 1, 0x5A),)),)


def test_plant_may_fill_the_last_block_exactly_with_1k_blocks():
    sc = load_text("tunables: {block_size: 1024}\nfiles:\n  - name: f\n    size: 1000\n"
                   "    plants: [{off: 1000, len: 24}]\nops: [sync]\n", "x")
    assert sc.files[0].plants == (Plant(1000, 24),)
    assert sc.tunables == {"block_size": 1024}


# (yaml text, expected line, a fragment of the message)
BAD = [
    ("name: x\nfiles: [\n  {name: f}\n", 4, "YAML syntax"),                      # unclosed flow list
    ("ops:\n  - @1s sync\n", 2, "quote ops"),                                     # reserved '@'
    ("ops: [sync]\nbogus: 1\n", 2, "unknown key 'bogus'"),
    ("ops: [sync]\nops: [sync]\n", 2, "duplicate key 'ops'"),
    ("files:\n  - name: f\n    sise: 10\nops: [sync]\n", 3, "unknown key 'sise'"),
    ("files: {name: f}\nops: [sync]\n", 1, "files must be a list"),
    ("files:\n  - name: f\n    size: [1]\nops: [sync]\n", 3, "must be a single value"),
    ("files:\n  - name: f\n    size: -5\nops: [sync]\n", 3, "must not be negative"),
    ("files:\n  - name: f\n    dax: maybe\nops: [sync]\n", 3, "true or false"),
    ("files:\n  - size: 3\nops: [sync]\n", 2, "missing key 'name'"),
    ("files:\n  - name: f\n  - name: g\n  - name: f\nops: [sync]\n", 4, "duplicate file name"),
    ("files:\n  - name: f\n    size: 1000\n    plants:\n      - {off: 1000, len: 3096}\n"
     "      - {off: 4000, len: 97}\nops: [sync]\n", 6, "outside the blocks"),
    ("files:\n  - name: f\n    plants: [{off: 0, len: 1}]\nops: [sync]\n", 3, "outside the blocks"),
    ("files:\n  - name: f\n    size: 10\n    plants:\n      - {off: 0, len: 1, byte: 256}\n"
     "ops: [sync]\n", 5, "0..255"),
    ("tunables:\n  block_size: 4096\n  comit_interval_ns: 5s\nops: [sync]\n", 3, "unknown tunable"),
    ("tunables:\n  delalloc: true\n  commit_interval_ns: soon\nops: [sync]\n", 3, "not a duration"),
    ("tunables:\n  block_size: 8192\nops: [sync]\n", 2, "folio_size"),
    ("threads:\n  - name: a\n    ops: [sync]\n  - name: b\n    ops: []\n", 5, "must not be empty"),
    ("threads:\n  - name: a\n    ops: [sync]\n  - name: a\n    ops: [sync]\n", 4, "duplicate thread"),
    ("threads: []\n", 1, "must not be empty"),
    ("name: x\n", 1, "no operations"),
    ("ops: [sync]\nthreads: [{ops: [sync]}]\n", 1, "not both"),
    ("files: [{name: f}]\nops:\n  - write f 0 1\n  - frobnicate f\n", 4, "unknown operation"),
    ("files: [{name: f}]\nops:\n  - write f 0 1\n  - 42\n", 4, "one line of text"),
    ("files: [{name: f}]\nops:\n  - write f 0 1\n  - read g 0 1\n", 4, "no such file"),
    # created in another thread does not count; created earlier in the same thread does
    ("threads:\n  - ops: ['write g 0 1']\n  - ops:\n    - sync\n    - fsync g\n", 5, "no such file"),
    ("ops:\n  - truncate h 10\n  - read h 0 10\n  - mwrite k 0 1\n", 4, "no such file"),
    ("name: two words\nops: [sync]\n", 1, "no whitespace"),
    ("ops: [sync]\n---\nops: [sync]\n", 2, "single document"),
]


@pytest.mark.parametrize("text,line,fragment", BAD)
def test_errors_name_file_and_line(tmp_path, text, line, fragment):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(InputError) as e:
        load_scenario(str(p))
    assert e.value.where == f"{p}:{line}", str(e.value)
    assert fragment in e.value.message, str(e.value)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.yaml"
    p.write_text("# nothing\n")
    with pytest.raises(InputError) as e:
        load_scenario(str(p))
    assert e.value.where == f"{p}:1"


# ---- round trip -----------------------------------------------------------------------

NAMES = st.text("abcdefghijklmnopqrstuvwxyz0123456789_-.", min_size=1, max_size=6).filter(
    lambda s: s[0].isalpha())
SIZES = st.integers(0, 1 << 30)
AT = st.one_of(st.none(), st.integers(0, 10**12))


def op_strategy(files):
    f = st.sampled_from(files)
    pos = st.integers(1, 1 << 30)
    return st.one_of(
        st.builds(lambda k, f, o, n, a: Op(k, f, off=o, len=n, at_ns=a),
                  st.sampled_from(["write", "read", "mwrite", "mread"]), f, SIZES, pos, AT),
        st.builds(lambda f, s, a: Op("truncate", f, size=s, at_ns=a), f, SIZES, AT),
        st.builds(lambda f, o, n, m, a: Op("fallocate", f, off=o, len=n, mode=m, at_ns=a),
                  f, SIZES, pos, st.sampled_from(FALLOC_MODES), AT),
        st.builds(lambda k, f, a: Op(k, f, at_ns=a), st.sampled_from(["fsync", "fdatasync"]), f, AT),
        st.builds(lambda f, o, n, fl, a: Op("sync_file_range", f, off=o, len=n,
                                            flags=tuple(x for x in SFR_FLAGS if x in fl), at_ns=a),
                  f, SIZES, SIZES, st.sets(st.sampled_from(SFR_FLAGS), min_size=1), AT),
        st.builds(lambda a: Op("sync", at_ns=a), AT),
        st.builds(lambda d, a: Op("sleep", dur_ns=d, at_ns=a), st.integers(0, 10**12), AT),
    )


@st.composite
def scenarios(draw):
    bs = draw(st.sampled_from([None, 1024, 4096]))
    tunables = {} if bs is None else {"block_size": bs}
    if draw(st.booleans()):
        tunables["commit_interval_ns"] = draw(st.sampled_from(["5s", "100ms", 7000]))
    if draw(st.booleans()):
        tunables["delalloc"] = draw(st.booleans())
    names = draw(st.lists(NAMES, min_size=1, max_size=3, unique=True))
    files = []
    for n in names:
        size = draw(st.integers(0, 100_000))
        end = -(-size // (bs or 4096)) * (bs or 4096)
        plants = ()
        if end:
            plants = tuple(draw(st.lists(st.integers(0, end - 1).flatmap(
                lambda off: st.builds(Plant, st.just(off), st.integers(1, end - off), st.integers(0, 255))),
                max_size=2)))
        files.append(FileSpec(n, size, plants, draw(st.sampled_from([None, True, False])),
                              draw(st.sampled_from([None, True, False]))))
    tnames = draw(st.lists(NAMES, min_size=1, max_size=3, unique=True))
    threads = tuple(ThreadSpec(t, tuple(draw(st.lists(op_strategy(names), min_size=1, max_size=6))))
                    for t in tnames)
    desc = draw(st.text("abc xyz:#-'\"\n", max_size=40))
    return Scenario(draw(NAMES), desc, tunables, tuple(files), threads, where="gen.yaml")


def to_yaml(sc):
    """Written here, independently of dump_text, so the loader is checked against the format."""
    doc = {"name": sc.name, "description": sc.description, "tunables": sc.tunables,
           "files": [{"name": f.name, "size": f.size,
                      "plants": [{"off": p.off, "len": p.len, "byte": p.byte} for p in f.plants],
                      **({"dax": f.dax} if f.dax is not None else {}),
                      **({"encrypted_nokey": f.encrypted_nokey} if f.encrypted_nokey is not None else {})}
                     for f in sc.files],
           "threads": [{"name": t.name, "ops": [op.text() for op in t.ops]} for t in sc.threads]}
    return yaml.safe_dump(doc)


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_round_trip(sc):
    assert load_text(to_yaml(sc), "gen.yaml") == sc
    assert load_text(dump_text(sc), "gen.yaml") == sc


@given(st.lists(st.integers(0, 5), min_size=1, max_size=4), st.data())
def test_keep_ops_keeps_exactly_the_chosen_ops_in_order(sizes, data):
    from eofsim.ops import parse_op
    threads = tuple(ThreadSpec(f"t{i}", tuple(parse_op(f"write f {i * 100 + j} 1") for j in range(n)))
                    for i, n in enumerate(sizes))
    sc = Scenario(name="k", threads=threads)
    every = [(ti, oi) for ti, n in enumerate(sizes) for oi in range(n)]
    keep = data.draw(st.sets(st.sampled_from(every))) if every else set()
    got = sc.keep_ops(keep)
    want = [(th.name, [op for oi, op in enumerate(th.ops) if (ti, oi) in keep])
            for ti, th in enumerate(threads)]
    assert [(th.name, list(th.ops)) for th in got.threads] == [w for w in want if w[1]]
    assert got.name == sc.name and got.files == sc.files
