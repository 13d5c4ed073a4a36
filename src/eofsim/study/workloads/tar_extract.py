"""tar extraction of a generated archive: N files of unaligned sizes in a few directories
(what unpacking a source tarball or a package does), written by Python's tarfile.

usage: python3 tar_extract.py N
"""

import io
import random
import sys
import tarfile


def archive(n):
    rng = random.Random(2)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for i in range(n):
            size = rng.choice([rng.randint(1, 4095), rng.randint(4097, 40000)])
            info = tarfile.TarInfo(f"pkg/d{i % 4}/file{i:04d}.txt")
            info.size = size
            info.mtime = 0
            tar.addfile(info, io.BytesIO(bytes((i + j) % 251 for j in range(size))))
    buf.seek(0)
    return buf


def main():
    with tarfile.open(fileobj=archive(int(sys.argv[1])), mode="r") as tar:
        tar.extractall(".", filter="data")


if __name__ == "__main__":
    main()
