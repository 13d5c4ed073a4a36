"""Designs as plug-ins: the built-ins, one module each, and designs from outside the package.

A policy is named by
- a built-in name (`eofsim policies`),
- `path/to/file.py:ClassName` (a file anywhere),
- `package.module:ClassName` (an importable module), or
- a name an installed package registers under the entry-point group `eofsim.policies`.
Whatever the spelling, the class must subclass `eofsim.policies.base.Policy`. The plug-in's
source text travels with campaign tasks to process-pool and Dask workers (`plugin_sources`,
`install_sources`), so workers need neither the file nor the package.
"""

import hashlib
import importlib
import importlib.util
import inspect
import sys
from importlib.metadata import entry_points
from pathlib import Path

from ..errors import InputError
from ..mm.page_writeback import WbReason
from .base import DataMode, GrowReason, IoEndView, Policy
from .bh_ordered import BhOrdered
from .bh_writeback import BhWriteback
from .context import DesignContext
from .iomap_base import IomapBase, PendingEofBlock
from .iomap_deferred import IomapDeferred
from .iomap_pending import IomapPending
from .iomap_v4 import IomapV4
from .iomap_v4_nowait import IomapV4Nowait
from .xfs import Xfs, XfsJbd2
from .zero_in_memory import ZeroInMemory

ENTRY_POINT_GROUP = "eofsim.policies"

POLICIES = {p.name: p for p in (BhOrdered, BhWriteback, IomapV4Nowait, IomapV4, IomapDeferred,
                                IomapPending, Xfs, XfsJbd2, ZeroInMemory)}

_loaded = {}
"""spec -> (class, origin, source text) for plug-ins loaded in this process."""
_sources = {}
"""spec -> source text handed over by a campaign's parent process (install_sources)."""


def _check_class(obj, spec):
    if not (inspect.isclass(obj) and issubclass(obj, Policy)):
        raise InputError(f"policy {spec!r}: {getattr(obj, '__name__', obj)!r} does not subclass "
                         "eofsim.policies.base.Policy")
    if not obj.name:
        obj.name = spec
    return obj


def _exec_source(spec, source, filename):
    """Run a plug-in file's text as a module of its own and return the module."""
    modname = "eofsim_plugin_" + hashlib.sha256(spec.encode()).hexdigest()[:16]
    mod = type(sys)(modname)
    mod.__file__ = filename
    sys.modules[modname] = mod
    try:
        exec(compile(source, filename, "exec"), mod.__dict__)
    except InputError:
        raise
    except Exception as e:
        del sys.modules[modname]
        line = ""
        tb = e.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == filename:
                line = f":{tb.tb_lineno}"
            tb = tb.tb_next
        if isinstance(e, SyntaxError) and e.lineno:
            line = f":{e.lineno}"
        raise InputError(f"cannot load policy plug-in: {type(e).__name__}: {e}", f"{filename}{line}") from None
    return mod


def _load_file(spec, path, cls_name):
    source = _sources.get(spec)
    if source is None:
        p = Path(path)
        if not p.is_file():
            raise InputError(f"policy plug-in {path!r}: no such file")
        try:
            source = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"policy plug-in {path!r}: {e}") from None
    mod = _exec_source(spec, source, path)
    if not hasattr(mod, cls_name):
        raise InputError(f"policy plug-in {path!r} has no class {cls_name!r}")
    return _check_class(getattr(mod, cls_name), spec), str(Path(path).resolve()), source


def _load_module(spec, modname, cls_name):
    source = _sources.get(spec)
    if source is not None:
        mod = _exec_source(spec, source, modname.replace(".", "/") + ".py")
        origin = modname
    else:
        try:
            mod = importlib.import_module(modname)
        except Exception as e:
            raise InputError(f"policy {spec!r}: cannot import {modname!r}: {type(e).__name__}: {e}") from None
        origin = getattr(mod, "__file__", None) or modname
        try:
            source = inspect.getsource(mod)
        except (OSError, TypeError):
            source = ""
    if not hasattr(mod, cls_name):
        raise InputError(f"policy {spec!r}: module {modname!r} has no class {cls_name!r}")
    return _check_class(getattr(mod, cls_name), spec), origin, source


def entry_point_policies() -> dict:
    """name -> entry point, for designs installed packages register (group eofsim.policies)."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def resolve(spec: str):
    """(class, origin, source) for a policy spec; origin is 'built-in', a file, a module or
    an entry point."""
    if spec in POLICIES:
        return POLICIES[spec], "built-in", None
    if spec in _loaded:
        return _loaded[spec]
    target, sep, cls_name = spec.rpartition(":")
    if sep and cls_name.isidentifier():
        if target.endswith(".py") or "/" in target:
            hit = _load_file(spec, target, cls_name)
        else:
            hit = _load_module(spec, target, cls_name)
    else:
        eps = entry_point_policies()
        if spec not in eps:
            raise InputError(f"unknown policy {spec!r} (known: {', '.join(list(POLICIES) + sorted(eps))}; "
                             "or give path/file.py:Class or package.module:Class)")
        ep = eps[spec]
        try:
            obj = ep.load()
        except Exception as e:
            raise InputError(f"policy {spec!r} (entry point {ep.value}): {type(e).__name__}: {e}") from None
        cls = _check_class(obj, spec)
        try:
            source = inspect.getsource(sys.modules[cls.__module__])
        except (OSError, TypeError, KeyError):
            source = ""
        hit = cls, f"entry point {ep.value}", source
    _loaded[spec] = hit
    return hit


def get_policy(spec: str) -> Policy:
    """A fresh instance of the design `spec` names (built-in or plug-in)."""
    return resolve(spec)[0]()


def policy_name(spec: str) -> str:
    return resolve(spec)[0].name


def plugin_sources(specs) -> dict:
    """spec -> source text of every plug-in among `specs` (built-ins need none)."""
    out = {}
    for s in specs:
        cls, origin, source = resolve(s)
        if origin != "built-in":
            out[s] = source or ""
    return out


def install_sources(sources: dict | None) -> None:
    """In a worker: make `spec` resolve from the parent's source text."""
    for spec, text in (sources or {}).items():
        if _sources.get(spec) != text:
            _sources[spec] = text
            _loaded.pop(spec, None)


def listing():
    """[(name, origin, summary)] for `eofsim policies`: built-ins, then entry points."""
    rows = [(name, "built-in", cls.summary) for name, cls in POLICIES.items()]
    for name, ep in sorted(entry_point_policies().items()):
        try:
            cls = resolve(name)[0]
            rows.append((name, f"entry point {ep.value}", cls.summary))
        except InputError as e:
            rows.append((name, f"entry point {ep.value}", f"(cannot load: {e})"))
    return rows


__all__ = ["POLICIES", "Policy", "DesignContext", "DataMode", "GrowReason", "IoEndView", "WbReason",
           "IomapBase", "PendingEofBlock", "get_policy", "policy_name", "resolve",
           "plugin_sources", "install_sources", "listing", "ENTRY_POINT_GROUP"]
