"""Can the real-kernel checks run here? One reason string when not, else None.

Callers refuse with that one line (the CLI exits 2); tests pytest.skip(reason)."""

import ctypes.util
import os
import shutil

TOOLS = ("mkfs.ext4", "debugfs", "losetup", "fusermount3")
XFS_TOOLS = ("mkfs.xfs", "xfs_db")


def reason(fs="ext4") -> str | None:
    """Why the real-kernel checks on `fs` (ext4 or xfs) cannot run, or None."""
    if os.geteuid() != 0:
        return "real-kernel checks need root (loop devices, mount)"
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse (FUSE is needed to log the loop device's writes)"
    if not os.path.exists("/dev/loop-control") and not os.path.exists("/dev/loop0"):
        return "no loop devices (/dev/loop-control missing)"
    for t in TOOLS + (XFS_TOOLS if fs == "xfs" else ()):
        if shutil.which(t) is None and not os.path.exists(f"/usr/sbin/{t}") \
                and not os.path.exists(f"/sbin/{t}"):
            pkg = {"fusermount3": "fuse3", "losetup": "util-linux", "mkfs.xfs": "xfsprogs",
                   "xfs_db": "xfsprogs"}.get(t, "e2fsprogs")
            return f"{t} not found (apt-get install {pkg})"
    if ctypes.util.find_library("fuse3") is None:
        return "libfuse3 not found (apt-get install fuse3 libfuse3-dev)"
    os.environ.setdefault("FUSE_LIBRARY_NAME", "fuse3")
    try:
        import mfusepy  # noqa: F401  (imported lazily below with FUSE_LIBRARY_NAME)
    except Exception as e:  # ImportError, or OSError when libfuse cannot load
        return f"mfusepy unusable: {e}"
    with open("/proc/filesystems") as f:
        fss = f.read()
    if "ext4" not in fss:
        return "kernel has no ext4"
    if fs == "xfs" and "xfs" not in fss.split():
        return "kernel has no XFS (modprobe xfs, or a kernel built with CONFIG_XFS_FS)"
    return None
