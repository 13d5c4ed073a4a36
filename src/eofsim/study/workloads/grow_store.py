"""A store that grows its file with ftruncate before writing into the new space (what
mmap-based stores such as LMDB or a message queue's segment files do): truncate up to an
unaligned size, write a record there, fdatasync every K rounds.

usage: python3 grow_store.py N K
"""

import os
import random
import sys


def main():
    n, k = int(sys.argv[1]), int(sys.argv[2])
    rng = random.Random(3)
    fd = os.open("store.dat", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        size = 0
        for i in range(1, n + 1):
            rec = rng.randint(100, 3000)
            new = size + rec + rng.randint(0, 2000)
            os.ftruncate(fd, new)
            os.pwrite(fd, b"r" * rec, size)
            size = new
            if i % k == 0:
                os.fdatasync(fd)
    finally:
        os.close(fd)


if __name__ == "__main__":
    main()
