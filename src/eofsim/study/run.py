"""Run the study: trace each workload once, replay it under every design, measure."""

import platform
import shutil
from pathlib import Path

from ..errors import InputError
from . import DEFAULT_POLICIES, WORKLOADS, trace
from .measure import measure


def parse_workloads(text):
    if not text:
        return list(WORKLOADS)
    names = [w.strip() for w in text.split(",") if w.strip()]
    for n in names:
        if n not in WORKLOADS:
            raise InputError(f"--workloads: unknown workload {n!r} (known: {', '.join(WORKLOADS)})")
    if not names:
        raise InputError("--workloads: give at least one workload")
    return names


def run_study(workloads, policies=DEFAULT_POLICIES, device=None, scale=1.0, out_dir="out/study",
              crash=True, app_trees=60, samples=2000, progress=None) -> dict:
    """{"workloads": [...], "policies": [...], "rows": {workload: {policy: figures}}, ...}.
    Workloads whose programs are missing are skipped with a note."""
    from ..crash.appcheck import app_check
    from ..crash.explore import check
    from ..live import Payload, payload_path
    from ..policies import policy_name
    from ..scenario_file import load_scenario
    from ..sim import simulate
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ov = {"device": device} if device else {}
    data = {"workloads": [], "policies": [policy_name(p) for p in policies], "device": device or "default",
            "scale": scale, "rows": {}, "traces": {}, "notes": [],
            "descriptions": {}, "machine": f"{platform.system()} {platform.release()}"}
    for name in workloads:
        w = WORKLOADS[name]
        missing = w.missing()
        if missing:
            data["notes"].append(f"{name} skipped: {', '.join(missing)} not installed")
            continue
        if progress:
            progress(f"trace {name}")
        t = trace(w, scale, out)
        try:
            sc = load_scenario(str(t.trace))
            payload = Payload.load(payload_path(t.trace)) if payload_path(t.trace).is_file() else Payload()
            data["workloads"].append(name)
            data["descriptions"][name] = w.description
            data["traces"][name] = {"path": str(t.trace), "ops": sum(len(th.ops) for th in sc.threads),
                                    "threads": len(sc.threads), "wall_s": t.wall_s, "status": t.status}
            data["notes"].extend(t.notes)
            rows = data["rows"][name] = {}
            app_cmd = w.check_command(t.workdir)
            for p in policies:
                if progress:
                    progress(f"{name} under {p}")
                res = simulate(sc, p, ov)
                rep = check(res, samples=samples) if crash else None
                app = None
                if crash and app_cmd:
                    app = app_check(res, app_cmd, payload, max_trees=app_trees, timeout=30.0)
                rows[policy_name(p)] = measure(res, rep, app)
        finally:
            shutil.rmtree(t.workdir, ignore_errors=True)
    return data
