"""The preflight reason: one line, naming what is missing."""

import os

from eofsim.kernel import preflight


def test_reason_names_root(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    r = preflight.reason()
    assert "root" in r and "\n" not in r


def test_reason_names_missing_tool(monkeypatch):
    if os.geteuid() != 0:
        return
    real = os.path.exists
    monkeypatch.setattr(preflight.shutil, "which", lambda t: None)
    monkeypatch.setattr(os.path, "exists", lambda p: False if p.startswith(("/usr/sbin", "/sbin"))
                        else real(p))
    assert "not found" in preflight.reason()
