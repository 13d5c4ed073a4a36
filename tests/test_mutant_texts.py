"""Every mutant of scripts/mutants.py still names text that occurs exactly once in the model:
a refactor that rewrites a mechanism's code must carry its mutant along, or the mechanism
loses the check that a test dies without it."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("mutants", ROOT / "scripts" / "mutants.py")
mutants = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mutants)


@pytest.mark.parametrize("m", mutants.MUTANTS, ids=lambda m: m.name)
def test_mutant_text_occurs_once(m):
    text = (ROOT / "src" / "eofsim" / m.path).read_text()
    assert text.count(m.old) == 1, f"{m.name}: its text occurs {text.count(m.old)} times in {m.path}"


def test_mutant_names_unique():
    names = [m.name for m in mutants.MUTANTS]
    assert len(names) == len(set(names))
