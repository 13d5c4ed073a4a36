"""Replace-via-rename for `eofsim trace`: f holds "old" (fsync'd, and its directory too),
then f.tmp gets "new" and is renamed over f, with or without an fsync of f.tmp first.

usage: python3 replace_workload.py [fsync]
"""

import os
import sys


def put(name, data, sync):
    fd = os.open(name, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o644)
    os.write(fd, data)
    if sync:
        os.fsync(fd)
    os.close(fd)


def main():
    put("f", b"old " * 1000, True)
    d = os.open(".", os.O_RDONLY)
    os.fsync(d)
    put("f.tmp", b"new " * 1000, len(sys.argv) > 1 and sys.argv[1] == "fsync")
    os.rename("f.tmp", "f")
    os.fsync(d)                     # the rename is durable from here
    os.close(d)


if __name__ == "__main__":
    main()
