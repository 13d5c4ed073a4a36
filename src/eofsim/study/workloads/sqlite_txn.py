"""SQLite through Python's sqlite3: N transactions, each one INSERT committed with
synchronous=FULL, in rollback-journal (delete) or WAL mode. After each COMMIT returns it
appends "i VIRTUAL_NS" to LOG (outside the mount; the model's virtual clock is read from
/.eofsim-clock), so the checker can demand every transaction committed before a crash.

usage: python3 sqlite_txn.py run MODE N LOG [SYNC]   (the workload, in the mount; SYNC is
                                                  PRAGMA synchronous, default FULL)
       python3 sqlite_txn.py check LOG          (the --app-check, in a recovered tree)
"""

import os
import sqlite3
import sys


def vclock():
    try:
        with open(".eofsim-clock") as f:
            return int(f.read().strip() or 0)
    except OSError:
        return 0


def run(mode, n, log, sync="FULL"):
    con = sqlite3.connect("t.db", isolation_level=None)
    con.execute(f"PRAGMA journal_mode={mode}")
    con.execute(f"PRAGMA synchronous={sync}")
    con.execute("CREATE TABLE IF NOT EXISTS kv (k INTEGER PRIMARY KEY, v TEXT)")
    with open(log, "w") as out:
        for i in range(1, n + 1):
            con.execute("BEGIN")
            con.execute("INSERT INTO kv (v) VALUES (?)", ("v" * (20 + 37 * i % 700),))
            con.execute("COMMIT")
            out.write(f"{i} {vclock()}\n")
            out.flush()
    con.close()


def check(log):
    crash = int(os.environ.get("EOFSIM_CRASH_NS", "0"))
    committed = 0
    with open(log) as f:
        for line in f:
            i, t = line.split()
            if int(t) <= crash:
                committed = int(i)
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
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        rows = con.execute("SELECT count(*) FROM kv").fetchone()[0] if "kv" in tables else 0
    except sqlite3.DatabaseError as e:
        print(f"sqlite: {e}")
        return 1
    if rows < committed:
        print(f"{rows} rows, but {committed} transactions committed before the crash")
        return 1
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "run":
        run(sys.argv[2], int(sys.argv[3]), sys.argv[4], *sys.argv[5:6])
    else:
        sys.exit(check(sys.argv[2]))
