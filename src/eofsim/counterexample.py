"""Counterexamples that stand alone (issue 14): one numbering, no repeated lines, one crash
time, and the minimised scenario written out as YAML a reviewer can attach.

Numbering: an op is named by its index in the *original* scenario (thread-major, 1-based,
what the violation lines and `run` use) and, where known, its file:line (the scenario YAML's
line, or the fsx log's line). The minimised rerun numbers its ops afresh; its timeline is
renumbered back to the original indices here."""

import re

_OPREF = re.compile(r"(?<!bio )(?<!bio\(s\) )(?<!tid )#(\d+)")


def short_where(where):
    """A built-in scenario's file:line relative to the package (same on every machine)."""
    if where and "/eofsim/scenarios/" in where:
        return "eofsim/scenarios/" + where.rsplit("/eofsim/scenarios/", 1)[1]
    return where


def index_map(original, sub) -> dict:
    """sub-scenario op index -> original op index (ops are kept as the same objects)."""
    pos = {}
    i = 0
    for th in original.threads:
        for op in th.ops:
            i += 1
            pos[id(op)] = i
    out = {}
    j = 0
    for th in sub.threads:
        for op in th.ops:
            j += 1
            if id(op) in pos:
                out[j] = pos[id(op)]
    return out


def renumber(text: str, mapping: dict) -> str:
    return _OPREF.sub(lambda m: f"#{mapping.get(int(m.group(1)), m.group(1))}", text)


_OPWORD = re.compile(r"\bop #(\d+)")


def relabel(text: str, labels: dict | None) -> str:
    """Op references '#N' / 'op #N' -> labels[N] (e.g. 'line 12' of an fsx log)."""
    if not labels or not text:
        return text
    text = _OPWORD.sub(lambda m: labels.get(int(m.group(1)), m.group(0)), text)
    return _OPREF.sub(lambda m: labels.get(int(m.group(1)), m.group(0)), text)


def line_labels(scenario, only=None) -> dict:
    """op index -> 'line L' for ops whose `where` is file:line (an fsx log's line); `only`:
    just those op indices."""
    out = {}
    i = 0
    for th in scenario.threads:
        for op in th.ops:
            i += 1
            if only is not None and i not in only:
                continue
            if op.where and ":" in op.where and op.where.rsplit(":", 1)[1].isdigit():
                out[i] = f"line {op.where.rsplit(':', 1)[1]}"
    return out


def dedupe_lines(text: str) -> str:
    seen = set()
    out = []
    for line in text.split("\n"):
        if line in seen:
            continue
        seen.add(line)
        out.append(line)
    return "\n".join(out)


def ops_list(original, sub) -> list:
    """[{"index", "where", "thread", "op"}] of the kept ops, original numbering."""
    m = index_map(original, sub)
    out = []
    j = 0
    for th in sub.threads:
        for op in th.ops:
            j += 1
            out.append({"index": m.get(j), "where": short_where(op.where), "thread": th.name,
                        "op": op.text()})
    return out


def standalone(original, minimal, labels=None) -> dict:
    """The minimised counterexample (crash.minimize.Minimized) as plain data; `labels`
    (original op index -> text, e.g. fsx log lines) replaces '#N' op references."""
    m = index_map(original, minimal.scenario)
    v = minimal.violation
    vd = v.as_dict()
    vd["detail"] = relabel(renumber(vd["detail"], m), labels)
    return {"kind": minimal.kind, "ops": ops_list(original, minimal.scenario),
            "crash_time_ns": v.crash_time_ns, "violation": vd,
            "timeline": relabel(dedupe_lines(renumber(minimal.timeline, m)), labels),
            "runs": minimal.runs}


def text(ce: dict, total_ops: int, labels=None) -> str:
    lines = [f"minimal counterexample ({ce['kind']}: {len(ce['ops'])} of {total_ops} "
             f"operation(s), found in {ce['runs']} runs):"]
    for o in ce["ops"]:
        name = (labels or {}).get(o["index"])
        where = f" ({o['where']})" if o["where"] and not name else ""
        name = name or f"op #{o['index']}"
        lines.append(f"  {name}{where} {o['thread']}: {o['op']}")
    lines.append(ce["timeline"])
    return "\n".join(lines)


def save(path, original, minimal, policy):
    """Write the minimised scenario as YAML (scenario_file.dump_text) to `path`."""
    from dataclasses import replace

    from .errors import InputError
    from .scenario_file import dump_text
    n = sum(len(t.ops) for t in original.threads)
    k = sum(len(t.ops) for t in minimal.scenario.threads)
    desc = (f"Minimised from {original.name} ({k} of {n} ops) showing {minimal.kind} under "
            f"{policy}. " + (original.description or ""))
    sc = replace(minimal.scenario, name=f"{original.name}-min", description=desc.strip())
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(dump_text(sc))
    except OSError as e:
        raise InputError(f"--save-counterexample {path}: {e.strerror or e}") from None
    return path
