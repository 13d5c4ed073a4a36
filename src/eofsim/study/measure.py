"""What one replay of a traced workload under one design costs and risks (issue 16's rows)."""

from ..units import fmt_time

GIB = 1 << 30


def percentile(values, q):
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    v = sorted(values)
    k = max(0, min(len(v) - 1, -(-len(v) * q // 100) - 1))
    return v[int(k)]


def dist(values):
    if not values:
        return None
    return {"n": len(values), "p50": percentile(values, 50), "p99": percentile(values, 99),
            "max": max(values)}


def grows_past_unaligned_eof(rec, bs) -> bool:
    """An op that grows the file from an EOF inside a block and leaves bytes between the old
    EOF and its data: truncate up, fallocate without KEEP_SIZE, a write starting past EOF.
    Those are the ops that take the EOF-zeroing path (ext4_block_zero_eof)."""
    op = rec.op
    before, after = rec.i_size_before, rec.i_size_after
    if rec.error or before is None or after is None or after <= before or before % bs == 0:
        return False
    if op.kind == "write":
        return op.off > before
    return op.kind in ("truncate", "fallocate")


def measure(res, crash=None, app=None) -> dict:
    """Figures of one RunResult (sim.simulate of a trace), with its crash report and
    application check if given."""
    bs = res.tun.block_size
    st = res.dev.stats
    ops = res.ops
    written = sum(r.op.len or 0 for r in ops if r.op.kind in ("write", "mwrite") and not r.error)
    t0 = min((r.start_ns for r in ops if r.start_ns is not None), default=0)
    t1 = max((r.end_ns for r in ops if r.end_ns is not None), default=t0)
    span_s = max(1e-9, (t1 - t0) / 1e9)
    grows = [r for r in ops if grows_past_unaligned_eof(r, bs)]
    size_lat = [r.size_durable_ns - r.start_ns for r in ops if r.size_durable_ns is not None]
    size_never = sum(1 for r in ops if r.op.kind in ("write", "truncate", "fallocate")
                     and r.i_size_before is not None and r.i_size_after is not None
                     and r.i_size_after != r.i_size_before and not r.error and r.size_durable_ns is None)
    sync_lat = [r.end_ns - r.start_ns for r in ops if r.op.kind in ("fsync", "fdatasync")
                and r.end_ns is not None and r.start_ns is not None]
    blocked = sum(r.end_ns - r.start_ns for r in ops if r.end_ns is not None and r.start_ns is not None
                  and r.op.kind != "sleep")
    zeroings = getattr(res.fs, "eof_zeroings", [0, 0])
    d = {
        "policy": res.policy,
        "ops": len(ops),
        "span_s": span_s,
        "bytes_written": written,
        "grow_unaligned": len(grows),
        "grow_unaligned_per_s": len(grows) / span_s,
        "grow_unaligned_per_gib": len(grows) * GIB / written if written else 0.0,
        "eof_zeroings": zeroings[0] + zeroings[1],
        "eof_zeroings_written": zeroings[1],
        "zero_block_writes": st.zero_block_writes,
        "writes": st.writes,
        "data_writes": st.data_writes,
        "flushes": st.flushes + st.preflush,
        "fua": st.fua,
        "commits": len(res.commits),
        "random_requests": getattr(st, "req_random", st.random),
        "requests": getattr(st, "requests", st.writes),
        "size_durable_ns": dist(size_lat),
        "size_never_durable": size_never,
        "fsync_ns": dist(sync_lat),
        "syscall_ns": blocked,
        "deadlocks": len(res.deadlocks),
        "stall": bool(res.stall),
    }
    if crash is not None:
        kinds = {}
        for v in crash.violations:
            kinds[v.kind] = kinds.get(v.kind, 0) + 1
        d["crash"] = {"states": crash.crash_states, "violations": kinds,
                      "zeros_instead_of_data": crash.zeros_instead_of_data,
                      "exhaustive": crash.exhaustive}
    if app is not None:
        d["app_check"] = {"trees": app.trees, "rejected": len(app.rejected),
                          "exhaustive": app.exhaustive,
                          "first": (f"at {fmt_time(app.rejected[0].state.t)}: exit "
                                    f"{app.rejected[0].status} {app.rejected[0].first_line or ''}".strip()
                                    if app.rejected else None)}
    return d
