"""ext4 images whose never-written blocks are recognisable, with a scenario's initial state.

Kernel/e2fsprogs behaviours relied on:
  * `mkfs.ext4 -E nodiscard` leaves unused blocks as they were (0xE5 here), and
    lazy_itable_init=0,lazy_journal_init=0 plus mount `noinit_itable` keep the background
    ext4lazyinit thread from writing during a logged run;
  * after write + fsync + umount the file's data and inode are on the image (no journal replay
    pending), so planting bytes straight into the image file is the initial state;
  * `debugfs -R "blocks /f"` lists the file's physical blocks in logical order;
  * ext4 zeroes the tail of the EOF block when it writes it back, so [size, block end) is zero
    unless a Plant puts a sentinel there.
"""

import os
from dataclasses import dataclass

from .. import content
from ..errors import InputError
from . import sysutil
from .sysutil import run

FILL = 0xE5
MIB = 1 << 20


@dataclass(frozen=True)
class MountOpts:
    """ext4 mount options the scenario runs under (the model's policy + tunables)."""
    data: str = "ordered"          # ordered | writeback
    delalloc: bool = True
    commit_s: int = 5              # jbd2 commit interval (commit=N, whole seconds)
    auto_da_alloc: bool = True     # noauto_da_alloc when false

    def text(self) -> str:
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
        """bh-ordered -> data=ordered, bh-writeback -> data=writeback (today's buffer_head path)."""
        data = {"bh-ordered": "ordered", "bh-writeback": "writeback"}.get(policy)
        if data is None:
            raise InputError(f"policy {policy!r} has no real-kernel counterpart "
                             "(bh-ordered, bh-writeback)")
        return cls(data=data, delalloc=delalloc, commit_s=commit_s)


def make_image(path, size, bs=4096):
    """A `size`-byte file of 0xE5, then mkfs.ext4 with a journal and no discard."""
    with open(path, "wb") as f:
        chunk = bytes([FILL]) * MIB
        for _ in range(size // MIB):
            f.write(chunk)
        f.write(bytes([FILL]) * (size % MIB))
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


def mount(dev, mnt, options, cleanup):
    os.makedirs(mnt, exist_ok=True)
    sysutil.mount(dev, mnt, "ext4", options)
    cleanup.push(f"umount {mnt}", sysutil.umount, mnt)


def file_blocks(image, name):
    """Physical block numbers of /name in logical order (debugfs on the unmounted image)."""
    spec = name if name.startswith("<") else f"/{name}"
    out = run(["debugfs", "-R", f"blocks {spec}", image], stdin=None)
    return [int(w) for w in out.split()]


def initial_bytes(size):
    return content.to_bytes(content.fill(size, content.INITIAL), 0)


def prepare(image, files, names, bs, cleanup, workdir):
    """Turn a fresh image into the scenario's initial state: every file in `names` exists
    (FileSpec contents, or empty), committed; then plant sentinels on the raw image.
    Returns {name: [pblk, ...]}."""
    dev = losetup(image, cleanup, direct_io=False)
    mnt = os.path.join(workdir, "setup-mnt")
    mount(dev, mnt, "data=ordered,noatime,noinit_itable", cleanup)
    specs = {f.name: f for f in files}
    for name in names:
        size = specs[name].size if name in specs else 0
        if "/" in name:
            os.makedirs(os.path.join(mnt, os.path.dirname(name)), exist_ok=True)
        fd = os.open(os.path.join(mnt, name), os.O_CREAT | os.O_RDWR | os.O_TRUNC, 0o644)
        try:
            if size:
                os.pwrite(fd, initial_bytes(size), 0)
            os.fsync(fd)
        finally:
            os.close(fd)
    os.sync()
    cleanup.undo_last(2)          # umount, losetup -d
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
