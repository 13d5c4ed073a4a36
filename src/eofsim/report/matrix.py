"""The scenario x design verdict matrix (issue 14): one word per cell, safe / exposes /
deadlocks / stalls, with the size-durability latency beside it; the first thing the HTML
report and the terminal view show."""

from .table import seconds, slug_text


def cell_verdict(cell) -> dict:
    """{"verdict", "kinds", "latency_ns", "never"} for one compare cell (None = not run)."""
    if cell is None:
        return {"verdict": "not run", "kinds": [], "latency_ns": None, "never": 0}
    hang = cell.get("hang")
    if hang is None and (cell.get("deadlocks") or cell.get("stall")):
        hang = "deadlock" if cell.get("deadlocks") else "stall"
    s = cell.get("safety") or {}
    kinds = sorted((s.get("violations") or {}).keys())
    if hang == "deadlock":
        verdict = "deadlocks"
    elif hang == "stall":
        verdict = "stalls"
    elif not s:
        verdict = "not checked"
    elif kinds:
        verdict = "exposes"
    else:
        verdict = "safe"
    sch = cell.get("schedules") or {}
    perturbed = ""
    if verdict not in ("deadlocks", "stalls") and (sch.get("deadlock") or sch.get("stall")):
        kind = "deadlock" if sch.get("deadlock") else "stall"
        verdict = "deadlocks" if kind == "deadlock" else "stalls"
        perturbed = f"in {len(sch[kind])} of {sch['n']} perturbed schedules"
    lats = [x.get("latency_ns") for x in cell.get("latency") or []]
    fin = [x for x in lats if x is not None]
    return {"verdict": verdict, "kinds": kinds, "latency_ns": max(fin) if fin else None,
            "never": sum(1 for x in lats if x is None), "changes": len(lats),
            "perturbed": perturbed}


def latency_word(v) -> str:
    if not v.get("changes"):
        return "no size change"
    if v["never"]:
        return f"{v['never']} never durable" + (f"; max {seconds(v['latency_ns'])}" if v["latency_ns"] else "")
    return f"durable <= {seconds(v['latency_ns'])}"


def matrix(data) -> list:
    """[(scenario, [(policy, verdict dict, anchor)])] in the data's order."""
    by = {(c.get("scenario"), c.get("policy")): c for c in data.get("cells", [])}
    out = []
    for sc in data.get("scenarios", []):
        row = []
        for pol in data.get("policies", []):
            row.append((pol, cell_verdict(by.get((sc, pol))), f"cell-{slug_text(sc)}-{slug_text(pol)}"))
        out.append((sc, row))
    return out
