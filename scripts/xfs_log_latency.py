"""When does real XFS's on-disk log carry a truncate-up's size, with no fsync or sync?

Runs `@1s truncate f 16384` on the logged XFS (kernel/ harness) with the log worker at the
given fs.xfs.xfssyncd_centisecs (default: the kernel's 3000, so each run takes ~32 s of real
time) and prints when the first log-block write came, counted from the truncate's return.
The model's `xfs` policy puts it at the next xfs_log_worker tick from mount (29 s here).
Another process's sync(2) forces the log early: on a shared machine some runs end sooner.
Needs root, loop, FUSE, xfsprogs.
Usage: .venv/bin/python scripts/xfs_log_latency.py [RUNS] [CENTISECS]"""

import os
import sys

from eofsim.kernel import image, preflight, run
from eofsim.ops import parse_op
from eofsim.scenario import FileSpec, Scenario, ThreadSpec


def main():
    why = preflight.reason("xfs")
    if why:
        print(f"cannot run: {why}", file=sys.stderr)
        sys.exit(2)
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    cs = int(sys.argv[2]) if len(sys.argv) > 2 else run.XFS_SYNCD_DEFAULT_CS
    sc = Scenario("latency", files=(FileSpec("f", 1000),),
                  threads=(ThreadSpec("t", (parse_op("@1s truncate f 16384"),)),))
    print(f"Linux {os.uname().release}, xfssyncd_centisecs={cs}, "
          f"load average {os.getloadavg()[0]:.2f}")
    for i in range(runs):
        r = run.run_scenario(sc, image.MountOpts(fs="xfs", xfs_syncd_cs=cs),
                             time_scale=1.0, settle_s=cs / 100 + 1.5, final_sync=False)
        t_op = r.log[r.ops[0].end_rec][3]
        log = set(r.journal_blocks)
        first = next((t for k, off, n, t, _ in r.log[r.ops[0].end_rec:r.end_rec]
                      if k == "W" and off // r.bs in log), None)
        print(f"run {i + 1}: size in the on-disk log "
              + (f"{first - t_op:.3f} s after the truncate" if first else "never (in window)"))


if __name__ == "__main__":
    main()
