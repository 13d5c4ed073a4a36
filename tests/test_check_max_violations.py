"""`check --max-violations`: a long log under a design that keeps violating stops where asked
and says so, instead of silently checking only a prefix at a fixed cap."""
import json

from click.testing import CliRunner

from eofsim.cli import main
from eofsim.crash.explore import check
from eofsim.scenario_file import dump_text
from eofsim.sim import simulate
from eofsim.workload.generate import generate


def test_max_violations_stops_and_says_where(tmp_path):
    sc = generate(1, 200, files=("a", "b"))
    full = check(simulate(sc, "zero-in-memory", {}))
    assert len(full.violations) >= 3
    path = tmp_path / "w.yaml"
    path.write_text(dump_text(sc))
    args = ["check", str(path), "-p", "zero-in-memory", "--no-witness", "--json"]
    capped = json.loads(CliRunner().invoke(main, args + ["--max-violations", "1"]).output)
    assert len(capped["violations"]) == 2
    assert any("stopped after 2 violations" in n for n in capped["notes"])
    whole = json.loads(CliRunner().invoke(main, args).output)
    assert len(whole["violations"]) == len(full.violations)
    assert not any("stopped after" in n for n in whole["notes"])


def test_max_violations_must_be_positive():
    r = CliRunner().invoke(main, ["check", "truncate-up", "--max-violations", "0"])
    assert r.exit_code == 2
