"""The stamp every output carries (issue 14): what produced it, so that a figure pasted into
a mailing-list reply can be reproduced from the page alone. eofsim version, the model's
fingerprint (the hash campaigns use to refuse mixing models), the crash semantics, the
tunables that differ from their defaults, and the command line."""

import shlex
import sys
from dataclasses import fields

from . import __version__


def nondefault(tun) -> dict:
    """{name: value} of the tunables in `tun` (a params.Tunables) that differ from defaults."""
    from .params import Tunables
    if tun is None:
        return {}
    d = Tunables()
    return {f.name: getattr(tun, f.name) for f in fields(tun)
            if getattr(tun, f.name) != getattr(d, f.name)}


ARGV = []
"""The command line as the CLI received it (set by cli._Group.invoke); sys.argv otherwise."""


def command_line(argv=None) -> str:
    argv = list(argv if argv is not None else (ARGV or sys.argv))
    if not argv:
        return "eofsim"
    return shlex.join(["eofsim"] + argv[1:])


_FP = []


def fingerprint() -> str:
    if not _FP:
        from .workload.campaign import model_fingerprint
        _FP.append(model_fingerprint()[:16])
    return _FP[0]


def make(semantics=None, tun=None, overrides=None, argv=None) -> dict:
    """The stamp as a dict. `tun`: the Tunables a run used (non-defaults taken from it);
    `overrides`: the --set values (for multi-scenario commands)."""
    changed = nondefault(tun) if tun is not None else dict(sorted((overrides or {}).items()))
    return {"eofsim": __version__, "model": fingerprint(), "semantics": semantics,
            "tunables": {k: changed[k] for k in sorted(changed)}, "command": command_line(argv)}


def line(st: dict) -> str:
    tun = ", ".join(f"{k}={v}" for k, v in st["tunables"].items()) or "defaults"
    sem = f"; {st['semantics']} semantics" if st.get("semantics") else ""
    return (f"eofsim {st['eofsim']} model {st['model']}{sem}; tunables: {tun}; "
            f"command: {st['command']}")
