"""fs/ext4, one module per kernel file: super.c (super.py), inode.c (inode.py), extents.c
(extents.py), file.c and the write/fault paths (file.py), fsync.c (fsync.py), namei.c and orphan.c (namei.py), page-io.c and
the buffer_head writeback (page_io.py), and the iomap series' ext4 side (iomap.py).

`Ext4` is the mounted filesystem: one object (the super block) whose methods are grouped by
the kernel file they stand for. Where designs differ it calls the policy through
policies/base.py's hooks with a policies/context.DesignContext.
"""

from .extents import DATA_BASE, DELAYED, HOLE, STATE_NAMES, UNWRITTEN, WRITTEN, Ext4Extents
from .file import Ext4File
from .fsync import Ext4Fsync
from .inode import LLONG_MAX, Ext4Inode, Inode, OpError
from .namei import ROOT_INO, Dir, Ext4Namei
from .page_io import Ext4PageIo
from .super import Ext4Super


class Ext4(Ext4Super, Ext4Inode, Ext4Namei, Ext4Extents, Ext4File, Ext4Fsync, Ext4PageIo):
    pass


__all__ = ["Ext4", "Inode", "OpError", "HOLE", "DELAYED", "UNWRITTEN", "WRITTEN", "STATE_NAMES",
           "DATA_BASE", "LLONG_MAX", "Dir", "ROOT_INO"]
