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


def standalone(original, minimal) -> dict:
    """The minimised counterexample (crash.minimize.Minimized) as plain data."""
    m = index_map(original, minimal.scenario)
    v = minimal.violation
    vd = v.as_dict()
    vd["detail"] = renumber(vd["detail"], m)
    return {"kind": minimal.kind, "ops": ops_list(original, minimal.scenario),
            "crash_time_ns": v.crash_time_ns, "violation": vd,
            "timeline": dedupe_lines(renumber(minimal.timeline, m)), "runs": minimal.runs}


def text(ce: dict, total_ops: int) -> str:
    lines = [f"minimal counterexample ({ce['kind']}: {len(ce['ops'])} of {total_ops} "
             f"operation(s), found in {ce['runs']} runs):"]
    for o in ce["ops"]:
        where = f" ({o['where']})" if o["where"] else ""
        lines.append(f"  op #{o['index']}{where} {o['thread']}: {o['op']}")
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
