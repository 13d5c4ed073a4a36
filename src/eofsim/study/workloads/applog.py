"""Append-only log writer (syslog, a WAL): many small records appended, fsync every K.

usage: python3 applog.py N K   (N records of 60-250 bytes, fdatasync after every K)
"""

import os
import random
import sys


def main():
    n, k = int(sys.argv[1]), int(sys.argv[2])
    rng = random.Random(1)
    fd = os.open("app.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for i in range(1, n + 1):
            rec = f"{i:08d} " + "x" * rng.randint(50, 240) + "\n"
            os.write(fd, rec.encode())
            if i % k == 0:
                os.fdatasync(fd)
    finally:
        os.close(fd)


if __name__ == "__main__":
    main()
