"""fs/ext4/namei.c and orphan.c, with the VFS calls around them: path lookup, create,
mkdir, unlink, rename, the orphan list, ext4_release_file (file.c) and the final iput
(ext4_evict_inode, inode.c).

Directory entries are journalled metadata: every change logs the directory's entries
(jbd2.RawDir) in the handle that makes it, as ext4_add_entry / ext4_delete_entry /
ext4_setent dirty the directory block (ext4_handle_dirty_dirblock), so recovery replays
the namespace with the inodes. The orphan list is logged the same way (jbd2.RawOrphans).

Assumptions the kernel does not settle for the model: one directory block per directory
(no htree, no block allocation for directory growth); directories have no page cache and
no size; hard links are not modelled (rename and unlink are the only ways a name goes).
"""

from ..jbd2 import RawDir, RawOrphans
from ..mm.page_writeback import WbReason
from ..mm.filemap import filemap_flush
from ..mm.truncate import truncate_pagecache
from .extents import DELAYED, HOLE
from .inode import OpError

ROOT_INO = 2
"""EXT4_ROOT_INO."""
NAME_MAX = 255


class Dir:
    """An in-core directory: name -> ino of the entries its block holds."""
    __slots__ = ("ino", "path", "entries")

    def __init__(self, ino, path):
        self.ino = ino
        self.path = path
        self.entries = {}

    def raw(self):
        return RawDir(self.ino, tuple(sorted(self.entries.items())))


class Ext4Namei:
    """The namei.c part of the ext4 filesystem object (see ext4/__init__.py)."""

    # --- lookup (fs/namei.c: link_path_walk, lookup_one) ---------------------------------
    def lookup_parent(self, path):
        """The directory holding the last component of `path`, and that component:
        ENOENT for a missing directory on the way, ENOTDIR for a file used as one."""
        if "/" not in path:
            # a name in the root (UTF-8 takes at most 4 bytes a character)
            if len(path) * 4 > NAME_MAX and len(path.encode()) > NAME_MAX:
                raise OpError("ENAMETOOLONG")
            return self.dirs[ROOT_INO], path
        parts = path.split("/")
        d = self.dirs[ROOT_INO]
        for c in parts[:-1]:
            if len(c.encode()) > NAME_MAX:
                raise OpError("ENAMETOOLONG")
            ino = d.entries.get(c)
            if ino is None:
                raise OpError("ENOENT")
            d = self.dirs.get(ino)
            if d is None:
                raise OpError("ENOTDIR")
        if len(parts[-1].encode()) > NAME_MAX:
            raise OpError("ENAMETOOLONG")
        return d, parts[-1]

    def lookup(self, path):
        """The Inode or Dir that `path` names now ('.': the root directory); OpError
        ENOENT/ENOTDIR otherwise."""
        if path == ".":
            return self.dirs[ROOT_INO]
        if "/" not in path and len(path) * 4 <= NAME_MAX:     # lookup_parent's fast path
            d, leaf = self.dirs[ROOT_INO], path
        else:
            d, leaf = self.lookup_parent(path)
        ino = d.entries.get(leaf)
        if ino is None:
            raise OpError("ENOENT")
        return self.dirs.get(ino) or self.by_ino[ino]

    def exists(self, path):
        try:
            self.lookup(path)
            return True
        except OpError:
            return False

    def dir_dirty(self, handle, d):
        """ext4_handle_dirty_dirblock: the directory block joins the handle's transaction."""
        self.journal.log_raw(handle, d.raw())

    def name_event(self, path, ino, op):
        """Record that `path` now links `ino` (None: no longer exists), for the checkers."""
        self.name_events.append((self.engine.now, op, path, ino))

    # --- set-up before the scenario --------------------------------------------------------
    def setup_path(self, path):
        """The directories on the way to `path`, made at mkfs time (not journalled), and the
        parent Dir (for files declared under a directory)."""
        parts = path.split("/")
        d = self.dirs[ROOT_INO]
        for i, c in enumerate(parts[:-1]):
            ino = d.entries.get(c)
            if ino is None:
                ino = self.next_ino
                self.next_ino += 1
                self.dirs[ino] = Dir(ino, "/".join(parts[:i + 1]))
                d.entries[c] = ino
            d = self.dirs[ino]
        return d, parts[-1]

    # --- create / mkdir ------------------------------------------------------------------
    def create(self, path, op, excl=True):
        """ext4_create: ext4_new_inode_start_handle allocates the inode, ext4_add_nondir ->
        ext4_add_entry links it, one handle for both; the new inode's i_sync_tid and
        i_datasync_tid name that transaction (ext4_update_inode_fsync_trans(handle, inode, 1)),
        so an fsync or fdatasync of the new file commits its directory entry too."""
        d, leaf = self.lookup_parent(path)
        if leaf in d.entries:
            if excl or d.entries[leaf] in self.dirs:
                raise OpError("EEXIST" if excl else "EISDIR")
            return self.by_ino[d.entries[leaf]]
        handle = self.journal.start_nowait(credits=4) or (yield from self.journal.start(credits=4))
        inode = self.new_inode(path)
        inode.size_history[:] = [(self.engine.now, op, 0)]
        inode.last_raw = None
        self.mark_inode_dirty(handle, inode)
        d.entries[leaf] = inode.ino
        self.dir_dirty(handle, d)
        self.name_event(path, inode.ino, op)
        self.journal.stop(handle)
        if self.trace:
            self.event("op", f"created {path} (ino {inode.ino}) in tid {handle.tx.tid}")
        return inode

    def mkdir(self, path, op):
        """ext4_mkdir: a new directory inode with its first block ('.' and '..'), linked into
        the parent by ext4_add_entry, in one handle."""
        d, leaf = self.lookup_parent(path)
        if leaf in d.entries:
            raise OpError("EEXIST")
        handle = self.journal.start_nowait(credits=6) or (yield from self.journal.start(credits=6))
        ino = self.next_ino
        self.next_ino += 1
        nd = self.dirs[ino] = Dir(ino, path)
        self.dir_dirty(handle, nd)
        d.entries[leaf] = ino
        self.dir_dirty(handle, d)
        self.journal.stop(handle)
        return nd

    # --- the orphan list (orphan.c) --------------------------------------------------------
    def orphan_add(self, handle, inode):
        """ext4_orphan_add: put the inode on the orphan list in the caller's handle."""
        if inode.ino not in self.orphans:
            self.orphans.add(inode.ino)
            self.journal.log_raw(handle, RawOrphans(tuple(sorted(self.orphans))))

    def orphan_del(self, handle, inode):
        """ext4_orphan_del: take it off again (a no-op if it is not on the list)."""
        if inode.ino in self.orphans:
            self.orphans.discard(inode.ino)
            self.journal.log_raw(handle, RawOrphans(tuple(sorted(self.orphans))))

    # --- unlink / rename ---------------------------------------------------------------------
    def _relink_files(self):
        """Rebuild path -> Inode after a directory moved (names of every file under it)."""
        out = {}
        stack = [(self.dirs[ROOT_INO], "")]
        while stack:
            d, pre = stack.pop()
            for name, ino in sorted(d.entries.items()):
                p = pre + name
                if ino in self.dirs:
                    stack.append((self.dirs[ino], p + "/"))
                else:
                    out[p] = self.by_ino[ino]
                    self.by_ino[ino].name = p
        return out

    def drop_link(self, handle, inode):
        """ext4_dec_count / drop_nlink; the last link puts the inode on the orphan list
        (__ext4_unlink, ext4_rename: ext4_orphan_add when i_nlink reaches 0)."""
        inode.nlink -= 1
        if inode.nlink == 0:
            self.orphan_add(handle, inode)
        self.mark_inode_dirty(handle, inode)

    def unlink(self, path, op):
        """ext4_unlink -> __ext4_unlink: ext4_delete_entry, drop the link and, at 0 links,
        ext4_orphan_add, in one handle; the inode is freed at the last close (iput)."""
        obj = self.lookup(path)
        if not hasattr(obj, "mapping"):
            raise OpError("EISDIR")
        d, leaf = self.lookup_parent(path)
        handle = self.journal.start_nowait(credits=6) or (yield from self.journal.start(credits=6))
        del d.entries[leaf]
        self.dir_dirty(handle, d)
        self.drop_link(handle, obj)
        if self.inodes.get(path) is obj:
            del self.inodes[path]
        self.name_event(path, None, op)
        self.journal.stop(handle)
        if obj.nlink == 0 and obj.opens == 0:
            yield from self.evict(obj, op)
        return obj

    def rename(self, old, new, op):
        """ext4_rename (RENAME_NOREPLACE not set). Over an existing file with auto_da_alloc on
        (the default), ext4_alloc_da_blocks(old inode) first: a WB_SYNC_NONE filemap_flush
        of the source's delayed blocks before the rename's handle starts (the 2009
        replace-via-rename fix). Then in one handle: the new entry is added or repointed
        (ext4_add_entry / ext4_setent), the source inode is marked dirty (ctime), the old
        entry is deleted, and the replaced inode loses its link (to the orphan list at 0)."""
        src = self.lookup(old)
        od, oleaf = self.lookup_parent(old)
        nd, nleaf = self.lookup_parent(new)
        tgt_ino = nd.entries.get(nleaf)
        is_dir = not hasattr(src, "mapping")
        if tgt_ino == src.ino:
            return src
        tgt = None
        if tgt_ino is not None:
            tgt = self.dirs.get(tgt_ino) or self.by_ino[tgt_ino]
            tgt_dir = tgt_ino in self.dirs
            if is_dir and not tgt_dir:
                raise OpError("ENOTDIR")
            if not is_dir and tgt_dir:
                raise OpError("EISDIR")
            if tgt_dir and tgt.entries:
                raise OpError("ENOTEMPTY")
        if is_dir and (new + "/").startswith(old + "/"):
            raise OpError("EINVAL")
        if tgt is not None and not is_dir and self.tun.auto_da_alloc:
            yield from self.alloc_da_blocks(src)
        handle = (self.journal.start_nowait(credits=12)
                  or (yield from self.journal.start(credits=12)))
        nd.entries[nleaf] = src.ino
        self.dir_dirty(handle, nd)
        if not is_dir:
            self.mark_inode_dirty(handle, src)
        del od.entries[oleaf]
        if od is not nd:
            self.dir_dirty(handle, od)
        else:
            self.dir_dirty(handle, nd)
        if tgt is not None and not is_dir:
            self.drop_link(handle, tgt)
        elif tgt is not None:
            del self.dirs[tgt.ino]
        if is_dir:
            moved = {p: i for p, i in self.inodes.items()}
            src.path = new
            for dd in self.dirs.values():
                if (dd.path + "/").startswith(old + "/") and dd is not src:
                    dd.path = new + dd.path[len(old):]
            self.inodes = self._relink_files()
            for p, i in moved.items():
                if self.inodes.get(p) is not i:
                    self.name_event(p, None, op)
            for p, i in self.inodes.items():
                if moved.get(p) is not i:
                    self.name_event(p, i.ino, op)
        else:
            self.inodes.pop(old, None)
            self.inodes[new] = src
            src.name = new
            self.name_event(old, None, op)
            self.name_event(new, src.ino, op)
        self.journal.stop(handle)
        if tgt is not None and not is_dir and tgt.nlink == 0 and tgt.opens == 0:
            yield from self.evict(tgt, op)
        return src

    # --- auto_da_alloc, close, final iput ---------------------------------------------------
    def alloc_da_blocks(self, inode):
        """ext4_alloc_da_blocks: nothing unless the inode has delayed blocks
        (i_reserved_data_blocks); else filemap_flush: WB_SYNC_NONE writeback that allocates
        them and starts the I/O, without waiting for it."""
        if not any(e[0] == DELAYED for e in inode.map.values()):
            return
        if self.trace:
            self.event("op", f"{inode.name}: ext4_alloc_da_blocks (auto_da_alloc)")
        yield from filemap_flush(inode.mapping, reason=WbReason.FLUSH)

    def release_file(self, inode, op):
        """ext4_release_file: EXT4_STATE_DA_ALLOC_CLOSE (set by a truncate to 0) makes the
        close allocate the delayed blocks of the rewrite (ext4_alloc_da_blocks); the last
        close of an unlinked inode frees it (iput -> ext4_evict_inode)."""
        if inode.da_alloc_close:
            yield from self.alloc_da_blocks(inode)
            inode.da_alloc_close = False
        inode.opens -= 1
        if inode.opens == 0 and inode.nlink == 0 and not inode.evicted:
            yield from self.evict(inode, op)

    def evict(self, inode, op):
        """ext4_evict_inode for an inode without links: truncate_inode_pages_final (waits
        for writeback, drops the cache), then one handle that truncates to 0
        (ext4_truncate), takes it off the orphan list (ext4_orphan_del) and frees the inode
        (ext4_free_inode)."""
        yield from truncate_pagecache(inode.mapping, 0)
        handle = self.journal.start_nowait(credits=8) or (yield from self.journal.start(credits=8))
        self.set_i_size(inode, 0, op)
        self.set_disksize(inode, 0)
        for lblk in list(inode.map):
            self.set_state(inode, lblk, HOLE)
        self.remove_runs(inode, 0, 1 << 62)
        self.orphan_del(handle, inode)
        self.mark_inode_dirty(handle, inode)
        self.journal.stop(handle)
        inode.evicted = True
        self.by_ino.pop(inode.ino, None)
        if self.trace:
            self.event("op", f"ino {inode.ino} freed (ext4_evict_inode) in tid {handle.tx.tid}")

    # --- directory fsync ---------------------------------------------------------------------
    def fsync_dir(self, d):
        """ext4_sync_file on a directory: no data to write; ext4_fsync_journal sees
        !S_ISREG and calls ext4_force_commit -> jbd2_journal_force_commit: commit the running
        transaction (else wait for the committing one) and wait. No separate cache flush
        (needs_barrier stays false: the commit block's PREFLUSH|FUA covers it)."""
        j = self.journal
        tid = j.running.tid if j.running is not None else \
            j.committing.tid if j.committing is not None else j.commit_sequence
        yield from j.complete_transaction(tid)
        return tid
