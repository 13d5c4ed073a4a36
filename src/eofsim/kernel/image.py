"""ext4 and XFS images whose never-written blocks are recognisable, with a scenario's initial
state.

Kernel/e2fsprogs behaviours relied on:
  * `mkfs.ext4 -E nodiscard` leaves unused blocks as they were (0xE5 here), and
    lazy_itable_init=0,lazy_journal_init=0 plus mount `noinit_itable` keep the background
    ext4lazyinit thread from writing during a logged run;
  * after write + fsync + umount the file's data and inode are on the image (no journal replay
    pending), so planting bytes straight into the image file is the initial state;
  * `debugfs -R "blocks /f"` lists the file's physical blocks in logical order;
  * ext4 zeroes the tail of the EOF block when it writes it back, so [size, block end) is zero
    unless a Plant puts a sentinel there.

XFS (xfsprogs; checked with mkfs.xfs 6.1 and Linux 6.18):
  * `mkfs.xfs -K` does not discard, so unused blocks keep the fill byte; mkfs refuses
    filesystems under 300 MB unless TEST_DIR, TEST_DEV and QA_CHECK_FS are all set (its
    fstests escape hatch), which the small images here rely on;
  * after fsync + umount the log is clean (unmount record) and every file's data, inode and
    extents are in place, and umount's inactivation (xfs_inactive -> xfs_free_eofblocks)
    has removed speculative post-EOF preallocation, so planting into the image file is the
    initial state;
  * `xfs_db -r -c "inode N" -c bmap` lists the data fork's extents as agno/agbno, a
    physical block being agno * sb_agblocks + agbno;
  * iomap writeback zeroes the EOF folio's tail (iomap_writepage_handle_eof), so [size,
    block end) is zero on disk unless a Plant puts a sentinel there;
  * mounting rw replays the log (xlog_recover); `nouuid` lets an image mount whatever else
    with the same UUID is mounted (crash images are copies of one filesystem).
"""

import os
from dataclasses import dataclass

from .. import content
from ..errors import InputError
from . import sysutil
from .sysutil import run

FILL = 0xE5
MIB = 1 << 20
FSTYPES = ("ext4", "xfs")
XFS_SMALL_ENV = {"TEST_DIR": "/nonexistent", "TEST_DEV": "/nonexistent", "QA_CHECK_FS": "1"}
"""mkfs.xfs's escape hatch for filesystems under 300 MB (all three must be set)."""


@dataclass(frozen=True)
class MountOpts:
    """Mount options the scenario runs under (the model's policy + tunables). For XFS only
    the defaults exist (fs='xfs': data/delalloc/commit_s do not apply)."""
    data: str = "ordered"          # ordered | writeback
    delalloc: bool = True
    commit_s: int = 5              # jbd2 commit interval (commit=N, whole seconds)
    auto_da_alloc: bool = True     # noauto_da_alloc when false
    fs: str = "ext4"               # ext4 | xfs
    xfs_syncd_cs: int = 100
    """XFS: fs.xfs.xfssyncd_centisecs during the run (the log worker's period; 3000 by
    default, 100 the sysctl's minimum). The run's time scale is xfs_syncd_cs / 3000: at 100
    one real second stands for the model's 30 s, so scenario gaps shrink 30-fold. Short on
    purpose: on a shared machine any process's sync(2) writes this filesystem's dirty data
    too, and the shorter the window, the rarer that is."""

    def text(self) -> str:
        if self.fs == "xfs":
            return XFS_OPTIONS
        return ",".join((f"data={self.data}", "delalloc" if self.delalloc else "nodelalloc",
                         f"commit={self.commit_s}")
                        + (() if self.auto_da_alloc else ("noauto_da_alloc",))
                        + ("noatime", "noinit_itable"))

    @classmethod
    def parse(cls, text: str) -> "MountOpts":
        """'data=writeback,nodelalloc,commit=1' -> MountOpts (InputError on anything else)."""
        kw = {}
        for w in filter(None, (t.strip() for t in text.split(","))):
            if w in ("delalloc", "nodelalloc"):
                kw["delalloc"] = w == "delalloc"
            elif w in ("data=ordered", "data=writeback"):
                kw["data"] = w.split("=")[1]
            elif w in ("auto_da_alloc", "noauto_da_alloc"):
                kw["auto_da_alloc"] = w == "auto_da_alloc"
            elif w.startswith("commit=") and w[7:].isdigit() and int(w[7:]) > 0:
                kw["commit_s"] = int(w[7:])
            else:
                raise InputError(f"mount option {w!r}: use data=ordered|writeback, "
                                 "delalloc|nodelalloc, [no]auto_da_alloc, commit=N")
        return cls(**kw)

    @classmethod
    def for_policy(cls, policy: str, delalloc: bool = True, commit_s: int = 1) -> "MountOpts":
        """bh-ordered -> data=ordered, bh-writeback -> data=writeback (today's buffer_head path);
        xfs -> XFS with default options."""
        if policy == "xfs":
            return cls(fs="xfs")
        data = {"bh-ordered": "ordered", "bh-writeback": "writeback"}.get(policy)
        if data is None:
            raise InputError(f"policy {policy!r} has no real-kernel counterpart "
                             "(bh-ordered, bh-writeback, xfs)")
        return cls(data=data, delalloc=delalloc, commit_s=commit_s)


XFS_OPTIONS = "noatime,nouuid"
"""XFS's defaults (relatime -> noatime keeps reads from dirtying inodes, as for ext4)."""


def make_image(path, size, bs=4096, fs="ext4"):
    """A `size`-byte file of 0xE5, then mkfs.ext4 with a journal and no discard, or mkfs.xfs
    (defaults: v5, reflink, internal log) with no discard."""
    with open(path, "wb") as f:
        chunk = bytes([FILL]) * MIB
        for _ in range(size // MIB):
            f.write(chunk)
        f.write(bytes([FILL]) * (size % MIB))
    if fs == "xfs":
        run(["mkfs.xfs", "-f", "-q", "-K", "-b", f"size={bs}", path],
            env=dict(os.environ, **XFS_SMALL_ENV))
        return
    if fs != "ext4":
        raise ValueError(f"fs={fs!r}: ext4 or xfs")
    run(["mkfs.ext4", "-F", "-q", "-b", str(bs), "-E",
         "nodiscard,lazy_itable_init=0,lazy_journal_init=0", "-O", "has_journal", path])


def losetup(path, cleanup, direct_io=True):
    """Attach a loop device to `path` (O_DIRECT to the backing file when it allows it);
    the cleanup stack detaches exactly this device."""
    dev = None
    if direct_io:
        try:
            dev = run(["losetup", "-f", "--show", "--direct-io=on", path]).strip()
        except RuntimeError:
            dev = None
    if dev is None:
        dev = run(["losetup", "-f", "--show", path]).strip()
    cleanup.push(f"losetup -d {dev}", detach, dev)
    return dev


def detach(dev):
    for _ in range(50):
        try:
            run(["losetup", "-d", dev])
            return
        except RuntimeError as e:
            if "No such device" in str(e):
                return
            import time
            time.sleep(0.05)
    run(["losetup", "-d", dev])


def mount(dev, mnt, options, cleanup, fs="ext4"):
    os.makedirs(mnt, exist_ok=True)
    sysutil.mount(dev, mnt, fs, options)
    cleanup.push(f"umount {mnt}", sysutil.umount, mnt)


def file_blocks(image, name):
    """Physical block numbers of /name in logical order (debugfs on the unmounted image)."""
    spec = name if name.startswith("<") else f"/{name}"
    out = run(["debugfs", "-R", f"blocks {spec}", image], stdin=None)
    return [int(w) for w in out.split()]


def _xfs_sb(image, *fields):
    out = run(["xfs_db", "-r", "-c", "sb 0", "-c", "p " + " ".join(fields), image])
    vals = dict(line.split(" = ", 1) for line in out.splitlines() if " = " in line)
    return [int(vals[f]) for f in fields]


def _xfs_fsb_to_phys(fsb, agblocks, agblklog):
    """XFS_FSB_TO_DADDR in blocks: an fsblock number packs agno << sb_agblklog | agbno."""
    return (fsb >> agblklog) * agblocks + (fsb & ((1 << agblklog) - 1))


def xfs_file_blocks(image, ino):
    """Physical blocks of inode `ino`'s data fork in logical order, from 0 without holes
    (xfs_db bmap on the unmounted image). Raises RuntimeError on a hole."""
    agblocks, = _xfs_sb(image, "agblocks")
    out = run(["xfs_db", "-r", "-c", f"inode {ino}", "-c", "bmap", image])
    blocks = []
    for line in out.splitlines():
        # data offset 0 startblock 10 (0/10) count 1 flag 0
        w = line.split()
        if len(w) < 9 or w[0] != "data":
            continue
        off, agno, agbno = int(w[2]), *map(int, w[5].strip("()").split("/"))
        count = int(w[7])
        if off != len(blocks):
            raise RuntimeError(f"xfs inode {ino}: hole before block {off}")
        start = agno * agblocks + agbno
        blocks.extend(range(start, start + count))
    return blocks


def xfs_log_blocks(image):
    """Physical blocks of the internal log (sb_logstart, sb_logblocks), in log order."""
    agblocks, agblklog, start, n = _xfs_sb(image, "agblocks", "agblklog", "logstart",
                                           "logblocks")
    first = _xfs_fsb_to_phys(start, agblocks, agblklog)
    return list(range(first, first + n))


def initial_bytes(size):
    return content.to_bytes(content.fill(size, content.INITIAL), 0)


def prepare(image, files, names, bs, cleanup, workdir, fs="ext4"):
    """Turn a fresh image into the scenario's initial state: every file in `names` exists
    (FileSpec contents, or empty), committed; then plant sentinels on the raw image.
    Returns {name: [pblk, ...]}."""
    dev = losetup(image, cleanup, direct_io=False)
    mnt = os.path.join(workdir, "setup-mnt")
    mount(dev, mnt, XFS_OPTIONS if fs == "xfs" else "data=ordered,noatime,noinit_itable",
          cleanup, fs)
    specs = {f.name: f for f in files}
    inos = {}
    for name in names:
        size = specs[name].size if name in specs else 0
        if "/" in name:
            os.makedirs(os.path.join(mnt, os.path.dirname(name)), exist_ok=True)
        fd = os.open(os.path.join(mnt, name), os.O_CREAT | os.O_RDWR | os.O_TRUNC, 0o644)
        try:
            if size:
                os.pwrite(fd, initial_bytes(size), 0)
            os.fsync(fd)
            inos[name] = os.fstat(fd).st_ino
        finally:
            os.close(fd)
    sysutil.syncfs(mnt)
    cleanup.undo_last(2)          # umount, losetup -d
    if fs == "xfs":
        blocks = {name: xfs_file_blocks(image, inos[name]) for name in names}
    else:
        blocks = {name: file_blocks(image, name) for name in names}
    fd = os.open(image, os.O_RDWR)
    try:
        for f in files:
            nblk = len(blocks[f.name])
            for p in f.plants:
                if p.len <= 0 or p.off + p.len > nblk * bs:
                    raise InputError(f"file {f.name}: plant [{p.off}, {p.off + p.len}) lies "
                                     f"outside its {nblk} allocated blocks")
                for x in range(p.off, p.off + p.len):   # per byte: blocks need not be contiguous
                    os.pwrite(fd, bytes([p.byte & 0xFF]), blocks[f.name][x // bs] * bs + x % bs)
    finally:
        os.close(fd)
    return blocks


def image_size_for(files, ops, minimum=32 * MIB):
    """Room for the scenario's largest offset twice over, at least `minimum`."""
    top = max([f.size for f in files] + [op.off + op.len for op in ops] +
              [op.size for op in ops] + [0])
    return max(minimum, -(-(2 * top + 8 * MIB) // MIB) * MIB)
