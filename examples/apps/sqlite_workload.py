"""A SQLite workload for `eofsim trace` / `eofsim mount`: N transactions, each one INSERT,
committed with synchronous=FULL. After each COMMIT returns it appends "i VIRTUAL_NS" to
LOG (outside the mount), reading the model's virtual time from .eofsim-clock, so that
sqlite_check.py can require every transaction committed before a crash.

usage: python3 sqlite_workload.py MODE N LOG [SYNC]   (MODE: delete|truncate|persist|wal;
       SYNC: PRAGMA synchronous, default FULL)
"""

import sqlite3
import sys


def vclock():
    try:
        with open(".eofsim-clock") as f:
            return int(f.read().strip() or 0)
    except OSError:
        return 0


def main():
    mode, n, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    con = sqlite3.connect("t.db", isolation_level=None)
    con.execute(f"PRAGMA journal_mode={mode}")
    con.execute(f"PRAGMA synchronous={sys.argv[4] if len(sys.argv) > 4 else 'FULL'}")
    con.execute("CREATE TABLE IF NOT EXISTS kv (k INTEGER PRIMARY KEY, v TEXT)")
    with open(log, "w") as out:
        for i in range(n):
            con.execute("BEGIN")
            con.execute("INSERT INTO kv (v) VALUES (?)", (f"row {i} " + "x" * (100 + 37 * i),))
            con.execute("COMMIT")
            out.write(f"{i + 1} {vclock()}\n")
            out.flush()
    con.close()


if __name__ == "__main__":
    main()
