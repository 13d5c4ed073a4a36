"""An --app-check for sqlite_workload.py: run in a directory holding one recovered crash
state. Rejects (exit 1) if PRAGMA integrity_check fails or if a transaction whose COMMIT
returned before the crash (EOFSIM_CRASH_NS) is missing; exit 0 otherwise.

usage: python3 sqlite_check.py LOG
"""

import os
import sqlite3
import sys


def main():
    crash = int(os.environ.get("EOFSIM_CRASH_NS", "0"))
    committed = 0
    with open(sys.argv[1]) as f:
        for line in f:
            n, t = line.split()
            if int(t) <= crash:
                committed = int(n)
    if not os.path.exists("t.db"):
        if committed:
            print(f"t.db missing, {committed} transactions committed")
            return 1
        return 0
    try:
        con = sqlite3.connect("t.db", isolation_level=None)
        res = con.execute("PRAGMA integrity_check").fetchall()
        if res != [("ok",)]:
            print("integrity_check: " + "; ".join(r[0] for r in res)[:200])
            return 1
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = con.execute("SELECT count(*) FROM kv").fetchone()[0] if "kv" in tables else 0
    except sqlite3.DatabaseError as e:
        print(f"sqlite: {e}")
        return 1
    if rows < committed:
        print(f"{rows} rows, but {committed} transactions committed before the crash")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
