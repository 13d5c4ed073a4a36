"""A crash window that ends (issue 11): `until:` / --set until=..., and settings under
which ops cannot finish are one-line errors."""

import pytest
from click.testing import CliRunner

from eofsim.cli import main
from eofsim.crash.explore import Explorer, check
from eofsim.errors import InputError
from eofsim.scenario_file import load_text
from eofsim.sim import simulate

TEXT = """name: u
files:
  - {name: f, size: 1000}
%s
ops:
  - "@1s truncate f 100"
  - write f 0 5000
  - "@5500ms fsync f"
"""


def test_until_ends_the_run_and_the_crash_window():
    sc = load_text(TEXT % "until: 5500500us", "u.yaml")
    res = simulate(sc)
    assert res.end_ns == res.until_ns == 5_500_500_000
    assert res.cut_off == [3]                 # the fsync waits for a commit past the end
    assert max(Explorer(res).crash_times()) <= res.until_ns
    full = simulate(load_text(TEXT % "", "u.yaml"))
    # without until the run goes on until nothing is left to happen (the kernel-timed flusher
    # sleeps once nothing is dirty), far past the until above
    assert full.end_ns > 5 * res.until_ns and full.cut_off == []
    assert max(Explorer(full).crash_times()) > res.until_ns


def test_set_until_is_the_same_as_the_top_level_key():
    a = simulate(load_text(TEXT % "until: 5500500us", "u.yaml"))
    b = simulate(load_text(TEXT % "", "u.yaml"), overrides={"until": "5500500us"})
    assert (a.end_ns, a.cut_off, [r.end_ns for r in a.ops]) == (b.end_ns, b.cut_off, [r.end_ns for r in b.ops])
    assert check(a).crash_points == check(b).crash_points


def test_a_cut_off_fsync_obliges_nothing():
    rep = check(simulate(load_text(TEXT % "until: 5500500us", "u.yaml")))
    assert rep.ok


def test_cut_off_ops_are_reported(tmp_path):
    p = tmp_path / "u.yaml"
    p.write_text(TEXT % "until: 5500500us")
    out = CliRunner().invoke(main, ["run", str(p)]).output
    assert "ops cut off: #3 @5.5s fsync f" in out or "ops cut off: #3 " in out
    out = CliRunner().invoke(main, ["check", str(p)]).output
    assert "ops cut off: #3" in out


@pytest.mark.parametrize("sets,msg", [(["--set", "horizon_ns=0"], "horizon_ns: 0"),
                                      (["--set", "horizon_ns=1us"], "cannot finish"),
                                      (["--set", "until=500ms"], "scheduled after until")])
def test_settings_where_ops_cannot_finish_are_one_line_errors(sets, msg):
    r = CliRunner().invoke(main, ["check", "truncate-up"] + sets)
    assert r.exit_code == 2
    lines = [l for l in r.output.splitlines() if l.strip()]
    assert len(lines) == 1 and msg in lines[0]


def test_until_given_twice_names_the_line():
    with pytest.raises(InputError, match="u.yaml:5"):
        load_text(TEXT.replace("files:", "tunables: {until: 1s}\nfiles:", 1) % "until: 2s", "u.yaml")
