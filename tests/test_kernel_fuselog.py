"""The FUSE write log sees a real mkfs + mount + fsync, and replaying it rebuilds the image."""

import os

import pytest

from eofsim.kernel import fuselog, image, preflight, sysutil

REASON = preflight.reason()
pytestmark = [pytest.mark.kernel, pytest.mark.skipif(REASON is not None, reason=str(REASON))]


def replay(base: bytes, log) -> bytes:
    img = bytearray(base)
    for kind, off, n, _, payload in log:
        if kind == "W":
            img[off:off + n] = payload
        elif kind in "DZ":
            img[off:off + n] = bytes(n)
    return bytes(img)


def test_log_sees_mkfs_writes_and_flushes_and_replays_byte_for_byte():
    with sysutil.Cleanup() as cu:
        work = cu.tempdir()
        disk = os.path.join(work, "disk.img")
        with open(disk, "wb") as f:
            f.write(bytes([image.FILL]) * (32 << 20))
        base = open(disk, "rb").read()
        fmnt, mnt, log = (os.path.join(work, n) for n in ("fuse", "mnt", "log.bin"))
        os.makedirs(fmnt)
        fuselog.start(disk, fmnt, log, cu)
        dev = image.losetup(os.path.join(fmnt, "disk.img"), cu)
        sysutil.run(["mkfs.ext4", "-F", "-q", "-b", "4096", dev])   # discards allowed here
        image.mount(dev, mnt, "data=ordered", cu)
        fd = os.open(os.path.join(mnt, "f"), os.O_CREAT | os.O_RDWR)
        os.pwrite(fd, b"x" * 10000, 0)
        os.fsync(fd)
        os.close(fd)
        cu.undo_last(2)                           # umount, losetup -d: all I/O has reached us
        records = fuselog.read_log(log)
        final = open(disk, "rb").read()
    kinds = {k for k, *_ in records}
    assert {"W", "F"} <= kinds, kinds
    assert sum(1 for k, *_ in records if k == "F") >= 2      # mkfs's fsync, our fsync/commit
    assert replay(base, records) == final
    assert not cu.errors


def test_markers_are_logged_in_sequence_with_writes():
    with sysutil.Cleanup() as cu:
        work = cu.tempdir()
        disk = os.path.join(work, "disk.img")
        with open(disk, "wb") as f:
            f.truncate(1 << 20)
        fmnt, log = os.path.join(work, "fuse"), os.path.join(work, "log.bin")
        os.makedirs(fmnt)
        fuselog.start(disk, fmnt, log, cu)
        m = os.open(os.path.join(fmnt, "marker"), os.O_WRONLY)
        d = os.open(os.path.join(fmnt, "disk.img"), os.O_RDWR)
        os.pwrite(m, b"A", 0)
        os.pwrite(d, b"hello", 4096)
        os.fsync(d)
        os.pwrite(m, b"B", 0)
        os.close(m)
        os.close(d)
        records = fuselog.read_log(log)
    assert [(k, p) for k, _, _, _, p in records] == [("M", b"A"), ("W", b"hello"), ("F", None),
                                                     ("M", b"B")]
