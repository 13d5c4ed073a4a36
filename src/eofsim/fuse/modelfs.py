"""`eofsim mount`: a FUSE filesystem whose files are a live model (live.LiveModel).

Every request that changes or reads file data becomes a model operation of the calling
thread (FUSE context pid = the caller's tid) at the virtual time its arrival maps to; reads
answer with the model's bytes. Metadata the model does not have (modes, times) is kept here
and never affects the model.

FUSE passes on (and the mount serves): open/create (O_CREAT, O_EXCL, O_TRUNC) and the last
close (release), read, write, truncate (setattr size), fallocate (modes 0, KEEP_SIZE,
PUNCH_HOLE|KEEP_SIZE, ZERO_RANGE, ZERO_RANGE|KEEP_SIZE), fsync/fdatasync of files and
directories (msync arrives as fsync), unlink (also of an open file: hard_remove), rename
(also over an existing file), mkdir, stat, readdir, and mmap through FUSE's own page cache
(direct_io off: shared-mapping stores reach the daemon as writes when the kernel writes
the FUSE page back). Not modelled (EPERM): rmdir, hard and symbolic links.
FUSE cannot pass on: sync_file_range (no FUSE request), O_DIRECT semantics (FUSE sees plain
reads and writes), sync(2) and syncfs (no request reaches a FUSE daemon for them in libfuse3's
high-level API), the range of O_SYNC/O_DSYNC/RWF_DSYNC writes (FUSE follows each such write
with an FSYNC request of the whole file), page-granular mmap stores (the kernel's FUSE
writeback decides when and how much reaches the daemon).

Serving, and what it costs (bench/bench_mount.py measures it against a trivial in-memory
mfusepy filesystem served the same way):
- one thread, requests in arrival order (live.py's assumption). A second thread would have
  nothing to overlap for a single-threaded program (each syscall waits for its reply), and
  the model would still take requests one at a time under one lock;
- no writeback cache (each write(2) is one request), direct_io off (mmap works);
- the kernel's attribute and entry caches keep libfuse3's defaults (1 s). Longer timeouts
  would be safe while the model is the only writer (every size change is a request through
  this mount, and the kernel updates its cached i_size itself on write and truncate), but
  buy nothing: a write, read or fsync sends no GETATTR, and the one a truncate costs is
  libfuse's high-level API filling the SETATTR reply, which no timeout removes (measured:
  attr_timeout=entry_timeout=3600 left every op class's rate within the noise);
- write, read, truncate, fsync and flush go from the ctypes callback straight to ModelOps
  (`serve`'s Fuse class); the rest through mfusepy's Operations dispatch;
- the cyclic collector is off while serving (common.tune_gc_for_serving): the model keeps a
  record of every request, and requests leave no cyclic garbage.

Control files, not listed in readdir: writing anything to /.eofsim-crash stops the model at
that instant (`eofsim crash MOUNTPOINT` does so; from then writes get EROFS and data reads
EIO, the machine being off, while stat and readdir still answer); reading
/.eofsim-clock gives the virtual time (ns) at which the last request finished.
"""

import ctypes
import errno
import os
import stat
import sys
import time
import traceback

from ..errors import InputError
from ..ext4 import OpError
from ..live import LiveError, LiveModel
from ..ops import Op
from .common import load_mfusepy, statfs_answer, tune_gc_for_serving

CONTROL = "/.eofsim-crash"
CLOCK = "/.eofsim-clock"
"""Reading it gives the model's virtual time (ns, text): when the last request finished.
Not a model op (nothing is recorded); lets a workload log when, in virtual time, it
committed something, for an --app-check that gets the crash time (EOFSIM_CRASH_NS)."""
CLOCK_LEN = 24
CONTROL_FH = 1 << 62
CLOCK_FH = CONTROL_FH + 1
"""File handles of the control files: with nullpath_ok, requests on a handle come without
a path, so the handle says which file it is."""

# <linux/falloc.h>
FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_ZERO_RANGE = 0x10
FALLOC_MODES = {
    0: "",
    FALLOC_FL_KEEP_SIZE: "keep_size",
    FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE: "punch_hole",
    FALLOC_FL_ZERO_RANGE: "zero_range",
    FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE: "zero_range,keep_size",
}


def model_name(path):
    """FUSE path '/a/b' -> model path 'a/b' ('/' -> '.', the root); names the scenario text
    cannot hold (whitespace, a leading '@', control characters) are refused with EINVAL."""
    name = path.strip("/")
    if not name:
        return "."
    if any(c.isspace() or ord(c) < 32 for c in name) or name.startswith("@") \
            or any(p in (".", "..", "") for p in name.split("/")):
        raise OSError(errno.EINVAL, "name not representable in a scenario")
    return name


def _errno(name):
    return getattr(errno, name, None) or errno.EIO


class ModelOps:
    """The request handlers. Plain class (no mfusepy import) so tests can drive it without
    a mount; `make_fuse_ops` wraps it in mfusepy.Operations.

    Open files: each open/create is a model `open` in the caller's model thread and gets a
    file handle remembering (opener tid, model path at open, ino). A request on a handle
    runs in the caller's model thread if that thread has the path open itself, else in the
    opener's (so an fd shared by threads, or one whose name was unlinked or renamed since,
    still reaches the inode it opened: the model resolves a path its thread has open to
    that open file). The release of the last reference is the model `close`, in the
    opener's thread."""

    def __init__(self, model: LiveModel, log=None, trace_path=None):
        self.model = model
        self.logfile = log or sys.stderr
        self.trace_path = trace_path
        self.meta = {}
        """ino -> [mode, atime_ns, mtime_ns, ctime_ns] (kept here; not in the model)."""
        self.handles = {}
        """fh -> (opener tid, model path at open, ino)."""
        self.dir_handles = {}
        """fh -> model path of an open directory."""
        self.opened = {}
        """(tid, model path) -> number of handles that thread holds open on it."""
        self.next_fh = 1
        self.errors = 0
        self.mounted = False
        self.t_mount = time.time_ns()

    # --- helpers ------------------------------------------------------------------------
    def _log(self, text):
        print(f"eofsim mount: {text}", file=self.logfile, flush=True)

    def context_tid(self):
        return 0

    def _run(self, kind, tid=None, data=None, **fields):
        """One model op (Op's kind and fields); its errno -> OSError, anything else -> EIO
        logged (the daemon goes on)."""
        try:
            rec = self.model.request(self.context_tid() if tid is None else tid, kind, data, **fields)
        except LiveError as e:
            if self.model.until_ns is not None:
                raise OSError(errno.EROFS, str(e)) from None
            self.errors += 1
            self._log(f"EIO: {Op(kind, **fields).text()}: {e}")
            raise OSError(errno.EIO, str(e)) from None
        except Exception as e:   # a model bug must not take the mount down
            self.errors += 1
            self._log(f"EIO: {Op(kind, **fields).text()}: {type(e).__name__}: {e}")
            self._log(traceback.format_exc().rstrip().replace("\n", "\n    "))
            raise OSError(errno.EIO, str(e)) from None
        if rec.error:
            raise OSError(_errno(rec.error), rec.error)
        return rec

    def _obj(self, path, fh=None):
        """The model Inode or Dir for a request: by handle when it has one, else by path."""
        h = self.handles.get(fh) if fh else None
        if h is not None:
            inode = self.model.fs.by_ino.get(h[2])
            if inode is not None:
                return inode
        if path is None:
            raise OSError(errno.ENOENT, "no path")
        try:
            return self.model.lookup(model_name(path))
        except OpError as e:
            raise OSError(_errno(str(e)), path) from None

    def _route(self, path, fh):
        """(tid, model path) a request on `path` / handle `fh` runs as (see the class doc)."""
        tid = self.context_tid()
        h = self.handles.get(fh) if fh else None
        if h is None:
            if path is None:
                raise OSError(errno.ENOENT, "no path")
            return tid, model_name(path)
        otid, opath, _ = h
        if self.opened.get((tid, opath)):
            return tid, opath
        return otid, opath

    def _meta(self, ino):
        m = self.meta.get(ino)
        if m is None:
            now = time.time_ns()
            m = self.meta[ino] = [stat.S_IFREG | 0o644, now, now, now]
        return m

    def _touch(self, ino):
        m = self.meta.get(ino) or self._meta(ino)
        m[2] = m[3] = time.time_ns()

    def _writable(self):
        if self.model.until_ns is not None:
            raise OSError(errno.EROFS, "the model crashed")

    def _new_handle(self, tid, path, ino):
        fh = self.next_fh
        self.next_fh += 1
        self.handles[fh] = (tid, path, ino)
        self.opened[(tid, path)] = self.opened.get((tid, path), 0) + 1
        return fh

    # --- metadata -----------------------------------------------------------------------
    def getattr(self, path, fh=None):
        base = dict(st_uid=os.getuid(), st_gid=os.getgid())
        if path in (CONTROL, CLOCK) or fh in (CONTROL_FH, CLOCK_FH):
            if path is None:
                path = CONTROL if fh == CONTROL_FH else CLOCK
            t = self.t_mount
            return dict(base, st_mode=stat.S_IFREG | (0o200 if path == CONTROL else 0o444),
                        st_nlink=1, st_size=0 if path == CONTROL else CLOCK_LEN,
                        st_atime=t, st_mtime=t, st_ctime=t)
        obj = self._obj(path, fh)
        if not hasattr(obj, "mapping"):
            m = self.meta.setdefault(obj.ino, [stat.S_IFDIR | 0o755] + [self.t_mount] * 3)
            return dict(base, st_mode=m[0], st_nlink=2, st_ino=obj.ino, st_atime=m[1],
                        st_mtime=m[2], st_ctime=m[3])
        mode, at, mt, ct = self._meta(obj.ino)
        size = obj.i_size
        return dict(base, st_mode=mode, st_nlink=max(obj.nlink, 0), st_ino=obj.ino, st_size=size,
                    st_blocks=(size + 511) // 512, st_blksize=self.model.tun.block_size,
                    st_atime=at, st_mtime=mt, st_ctime=ct)

    def opendir(self, path):
        name = model_name(path)
        try:
            obj = self.model.lookup(name)
        except OpError as e:
            raise OSError(_errno(str(e)), path) from None
        if hasattr(obj, "mapping"):
            raise OSError(errno.ENOTDIR, path)
        fh = self.next_fh
        self.next_fh += 1
        self.dir_handles[fh] = name
        return fh

    def releasedir(self, path, fh):
        self.dir_handles.pop(fh, None)
        return 0

    def _dir_path(self, path, fh):
        if path is not None:
            return model_name(path)
        if fh in self.dir_handles:
            return self.dir_handles[fh]
        raise OSError(errno.EBADF, "no such directory handle")

    def readdir(self, path, fh):
        try:
            names = self.model.entries(self._dir_path(path, fh))
        except OpError as e:
            raise OSError(_errno(str(e)), path) from None
        return [".", ".."] + names

    def statfs(self, path):
        return statfs_answer(self.model.tun.block_size)

    def chmod(self, path, mode):
        obj = self._obj(path)
        m = self._meta(obj.ino)
        m[0] = (m[0] & ~0o7777) | (mode & 0o7777)
        return 0

    def chown(self, path, uid, gid):
        return 0

    def utimens(self, path, times=None):
        if path in (CONTROL, CLOCK):
            return 0
        obj = self._obj(path)
        now = time.time_ns()
        at, mt = times if times else (now, now)
        m = self._meta(obj.ino)
        m[1], m[2] = at, mt
        return 0

    def access(self, path, amode):
        if path not in (CONTROL, CLOCK):
            self._obj(path)
        return 0

    # --- the namespace ------------------------------------------------------------------
    def create(self, path, mode, flags=0):
        self._writable()
        name = model_name(path)
        tid = self.context_tid()
        words = ["creat"] + (["excl"] if flags & os.O_EXCL else []) + (["trunc"] if flags & os.O_TRUNC else [])
        rec = self._run("open", tid, file=name, flags=tuple(words))
        m = self._meta(rec.ino)
        m[0] = stat.S_IFREG | (mode & 0o7777)
        self._touch(rec.ino)
        return self._new_handle(tid, name, rec.ino)

    def open(self, path, flags):
        if path == CONTROL:
            return CONTROL_FH
        if path == CLOCK:
            return CLOCK_FH
        name = model_name(path)
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_TRUNC):
            self._writable()
        tid = self.context_tid()
        # O_SYNC/O_DSYNC are not passed on: without writeback cache FUSE follows each such
        # write with an FSYNC request of the whole file (generic_write_sync -> fuse_fsync),
        # which arrives as an fsync/fdatasync op.
        words = ("trunc",) if flags & os.O_TRUNC else ()
        if self.model.until_ns is not None:
            obj = self._obj(path)
            return self._new_handle(tid, name, obj.ino)
        rec = self._run("open", tid, file=name, flags=words)
        if words:
            self._touch(rec.ino)
        return self._new_handle(tid, name, rec.ino)

    def release(self, path, fh):
        h = self.handles.pop(fh, None)
        if h is None:
            return 0
        otid, opath, _ = h
        self.opened[(otid, opath)] -= 1
        if not self.opened[(otid, opath)]:
            del self.opened[(otid, opath)]
        if self.model.until_ns is None:
            self._run("close", otid, file=opath)
        return 0

    def unlink(self, path):
        self._writable()
        self._run("unlink", file=model_name(path))
        return 0

    def rename(self, old, new):
        self._writable()
        self._run("rename", file=model_name(old), new=model_name(new))
        return 0

    def mkdir(self, path, mode):
        self._writable()
        rec = self._run("mkdir", file=model_name(path))
        self.meta[rec.ino] = [stat.S_IFDIR | (mode & 0o7777)] + [time.time_ns()] * 3
        return 0

    def rmdir(self, path):
        self._log(f"EPERM: rmdir {path}: not in the model")
        raise OSError(errno.EPERM, "rmdir is not modelled")

    def link(self, target, source):
        raise OSError(errno.EPERM, "hard links are not modelled")

    def symlink(self, target, source):
        raise OSError(errno.EPERM, "symbolic links are not modelled")

    def fsyncdir(self, path, datasync, fh):
        if self.model.until_ns is not None:
            raise OSError(errno.EROFS, "the model crashed")
        self._run("fdatasync" if datasync else "fsync", file=self._dir_path(path, fh))
        return 0

    # --- data ---------------------------------------------------------------------------
    def read(self, path, size, offset, fh):
        if path == CLOCK or fh == CLOCK_FH:
            text = (f"{self.model.v_done}".ljust(CLOCK_LEN - 1) + "\n").encode()
            return text[offset:offset + size]
        obj = self._obj(path, fh)
        if size == 0 or offset >= obj.i_size:
            return b""
        if self.model.until_ns is not None:
            raise OSError(errno.EIO, "the model crashed: reads stop too")
        tid, name = self._route(path, fh)
        rec = self._run("read", tid, file=name, off=offset, len=size)
        self._meta(obj.ino)[1] = time.time_ns()
        return self.model.read_bytes(rec)

    def write(self, path, data, offset, fh):
        if fh == CLOCK_FH:
            raise OSError(errno.EBADF, "read-only control file")
        if path == CONTROL or fh == CONTROL_FH:
            t = self.model.crash()
            self._log(f"crash at virtual {t / 1e9:.9f} s: the model stops here, the mount is read-only")
            if self.trace_path:
                self.save_trace()
            return len(data)
        self._writable()
        if not data:
            return 0
        tid, name = self._route(path, fh)
        rec = self._run("write", tid, data, file=name, off=offset, len=len(data))
        self._touch(rec.ino)
        return len(data)

    def truncate(self, path, length, fh=None):
        if path in (CONTROL, CLOCK) or fh in (CONTROL_FH, CLOCK_FH):
            return 0
        self._writable()
        tid, name = self._route(path, fh)
        rec = self._run("truncate", tid, file=name, size=length)
        self._touch(rec.ino)
        return 0

    def fallocate(self, path, mode, offset, size, fh):
        self._writable()
        if mode not in FALLOC_MODES:
            raise OSError(errno.EOPNOTSUPP, f"fallocate mode {mode:#x}")
        if size <= 0:
            raise OSError(errno.EINVAL, "fallocate length")
        tid, name = self._route(path, fh)
        rec = self._run("fallocate", tid, file=name, off=offset, len=size, mode=FALLOC_MODES[mode])
        self._touch(rec.ino)
        return 0

    def fsync(self, path, datasync, fh):
        if path in (CONTROL, CLOCK) or fh in (CONTROL_FH, CLOCK_FH):
            return 0
        if self.model.until_ns is not None:
            raise OSError(errno.EROFS, "the model crashed")
        tid, name = self._route(path, fh)
        self._run("fdatasync" if datasync else "fsync", tid, file=name)
        return 0

    def flush(self, path, fh):
        return 0

    # --- the trace ----------------------------------------------------------------------
    def save_trace(self):
        if not self.trace_path:
            return None
        try:
            return self.model.write_trace(self.trace_path, description=self.description())
        except OSError as e:
            self._log(f"cannot write the trace {self.trace_path}: {e.strerror}")
            return None

    def description(self):
        m = self.model
        sets = " ".join(f"--set {k}={v}" for k, v in m.overrides.items())
        return (f"Trace of a program on `eofsim mount` under {m.policy}"
                f"{' ' + sets if sets else ''}, --time-scale {m.time_scale:g}: "
                f"{len(m.records)} requests from {len(m.threads)} threads."
                + (f" Left out after a model error (answered EIO): {'; '.join(m.failed)}." if m.failed else "")
                + (f" Hung in the model (answered EIO, kept: a replay shows the hang): "
                   f"{'; '.join(m.stuck[:5])}." if m.stuck else ""))


def make_fuse_ops(ops: ModelOps):
    """mfusepy.Operations delegating to `ops` (methods only: mfusepy registers attributes
    named like FUSE operations, so the state lives in `ops`). mfusepy's request wrapper
    answers an OSError with its errno, which is how every handler of `ops` fails."""
    mfusepy = load_mfusepy()

    def bind(fn):
        def call(self, *args):
            return fn(*args)
        call.__name__ = fn.__name__
        return call

    names = ("getattr", "readdir", "statfs", "chmod", "chown", "utimens", "access", "create",
             "open", "read", "write", "truncate", "fallocate", "fsync", "fsyncdir", "flush",
             "release", "unlink", "rename", "mkdir", "rmdir", "link", "symlink", "opendir",
             "releasedir")
    body = {n: bind(getattr(ops, n)) for n in names}

    def init(self, path):
        ops.mounted = True         # the loop is serving: a non-zero exit later is a signal's
        tune_gc_for_serving()
    body["init"] = init
    body["use_ns"] = True
    # Requests on an fd whose name was unlinked arrive with path None (nullpath_ok) and are
    # served by file handle; hard_remove (below) passes unlink on instead of renaming an
    # open file to .fuse_hidden*.
    body["flag_nopath"] = True        # mfusepy sets nullpath_ok only when both flags are set
    body["flag_nullpath_ok"] = True
    cls = type("EofsimModelFS", (mfusepy.Operations,), body)
    ops.context_tid = lambda: mfusepy.fuse_get_context()[2]
    return cls()


def serve(mountpoint, model: LiveModel, trace_path=None, log=None):
    """Mount and serve until unmounted (fusermount3 -u), SIGINT or SIGTERM; write the trace
    on the way out whatever ended it. Returns the ModelOps (for its counters)."""
    from .common import check_mountpoint
    check_mountpoint(mountpoint)
    mfusepy = load_mfusepy()
    ops = ModelOps(model, log=log, trace_path=trace_path)
    fuse_ops = make_fuse_ops(ops)
    string_at = ctypes.string_at
    memmove = ctypes.memmove

    class Fuse(mfusepy.FUSE):
        """The requests a program issues per syscall (write, read, truncate, fsync, flush)
        go from the ctypes callback straight to `ops`, past mfusepy's Operations dispatch."""

        def truncate_fuse_3(self, path, length, fip):
            # mfusepy drops the file handle of truncate; ftruncate on a handle (path None
            # under nullpath_ok) needs it.
            return ops.truncate(None if path is None else path.decode(self.encoding, self.errors),
                                length, fip.contents.fh if fip else None)

        def write(self, path, buf, size, offset, fip):
            return ops.write(None if path is None else path.decode(self.encoding, self.errors),
                             string_at(buf, size), offset, fip.contents.fh)

        def read(self, path, buf, size, offset, fip):
            ret = ops.read(None if path is None else path.decode(self.encoding, self.errors),
                           size, offset, fip.contents.fh)
            if not ret:
                return 0
            memmove(buf, ret, len(ret))
            return len(ret)

        def fsync(self, path, datasync, fip):
            return ops.fsync(None if path is None else path.decode(self.encoding, self.errors),
                             datasync, fip.contents.fh)

        def flush(self, path, fip):
            return 0

    # libfuse installs its own SIGINT/SIGTERM/SIGHUP handlers (fuse_set_signal_handlers:
    # end the loop, then unmount) only over SIG_DFL; Python's handlers (KeyboardInterrupt,
    # the CLI's SIGTERM) would fire only inside a later request, or never when idle.
    import signal
    saved = {sig: signal.signal(sig, signal.SIG_DFL)
             for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        # One thread (requests in arrival order), foreground, no writeback cache (the
        # libfuse3 default: each write(2) reaches the model), direct_io off (mmap works).
        Fuse(fuse_ops, str(mountpoint), foreground=True, nothreads=True,
                     fsname="eofsim", subtype="eofsim", hard_remove=True)
    except RuntimeError as e:
        # libfuse's fuse_main returns non-zero both when it cannot mount and when a signal
        # ended the loop; only the first is bad input.
        if not ops.mounted:
            raise InputError(f"cannot mount: {e}", str(mountpoint)) from None
        ops._log(f"stopped by a signal (libfuse exit status {e})")
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        ops.save_trace()
    return ops
