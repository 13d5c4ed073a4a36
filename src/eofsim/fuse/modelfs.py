"""`eofsim mount`: a FUSE filesystem whose files are a live model (live.LiveModel).

Every request that changes or reads file data becomes a model operation of the calling
thread (FUSE context pid = the caller's tid) at the virtual time its arrival maps to; reads
answer with the model's bytes. Metadata the model does not have (modes, times) is kept here
and never affects the model.

FUSE passes on (and the mount serves): open/create, read, write, truncate (setattr size,
also the O_TRUNC of an open), fallocate (modes 0, KEEP_SIZE, PUNCH_HOLE|KEEP_SIZE,
ZERO_RANGE, ZERO_RANGE|KEEP_SIZE), fsync/fdatasync (msync arrives as fsync), stat,
readdir, and mmap through FUSE's own page cache (direct_io off: shared-mapping stores reach
the daemon as writes when the kernel writes the FUSE page back).
FUSE cannot pass on: sync_file_range (no FUSE request), O_DIRECT semantics (FUSE sees plain
reads and writes), sync(2) and syncfs (no request reaches a FUSE daemon for them in libfuse3's
high-level API), O_SYNC/O_DSYNC (FUSE turns them into a write followed by fsync only with
writeback cache, which is off), page-granular mmap stores (the kernel's FUSE writeback
decides when and how much reaches the daemon).

Control files, not listed in readdir: writing anything to /.eofsim-crash stops the model at
that instant (`eofsim crash MOUNTPOINT` does so; the mount is read-only from then); reading
/.eofsim-clock gives the virtual time (ns) at which the last request finished.
"""

import errno
import os
import stat
import sys
import time
import traceback

from ..errors import InputError
from ..live import LiveError, LiveModel
from ..ops import Op
from .common import load_mfusepy, statfs_answer

CONTROL = "/.eofsim-crash"
CLOCK = "/.eofsim-clock"
"""Reading it gives the model's virtual time (ns, text): when the last request finished.
Not a model op (nothing is recorded); lets a workload log when, in virtual time, it
committed something, for an --app-check that gets the crash time (EOFSIM_CRASH_NS)."""
CLOCK_LEN = 24

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
    """FUSE path '/a' -> model file name 'a'; names the scenario text cannot hold
    (whitespace, a leading '@', control characters) are refused with EINVAL."""
    name = path.lstrip("/")
    if not name or any(c.isspace() or ord(c) < 32 for c in name) or name.startswith("@"):
        raise OSError(errno.EINVAL, "name not representable in a scenario")
    return name


class ModelOps:
    """The request handlers. Plain class (no mfusepy import) so tests can drive it without
    a mount; `make_fuse_ops` wraps it in mfusepy.Operations."""

    def __init__(self, model: LiveModel, log=None, trace_path=None):
        self.model = model
        self.logfile = log or sys.stderr
        self.trace_path = trace_path
        self.meta = {}
        """name -> [mode, atime_ns, mtime_ns, ctime_ns] (kept here; not in the model)."""
        self.errors = 0
        self.t_mount = time.time_ns()

    # --- helpers ------------------------------------------------------------------------
    def _log(self, text):
        print(f"eofsim mount: {text}", file=self.logfile, flush=True)

    def _tid(self):
        return self.context_tid()

    def context_tid(self):
        return 0

    def _run(self, op, data=None):
        """One model op; OpError -> its errno, anything else -> EIO logged (the daemon goes on)."""
        try:
            rec = self.model.call(self._tid(), op, data)
        except LiveError as e:
            if self.model.until_ns is not None:
                raise OSError(errno.EROFS, str(e)) from None
            self.errors += 1
            self._log(f"EIO: {op.text()}: {e}")
            raise OSError(errno.EIO, str(e)) from None
        except Exception as e:   # a model bug must not take the mount down
            self.errors += 1
            self._log(f"EIO: {op.text()}: {type(e).__name__}: {e}")
            self._log(traceback.format_exc().rstrip().replace("\n", "\n    "))
            raise OSError(errno.EIO, str(e)) from None
        if rec.error:
            code = getattr(errno, rec.error, None) or errno.EIO
            raise OSError(code, rec.error)
        return rec

    def _touch(self, name, m=True):
        now = time.time_ns()
        meta = self.meta.setdefault(name, [stat.S_IFREG | 0o644, now, now, now])
        if m:
            meta[2] = meta[3] = now

    def _file(self, path):
        name = model_name(path)
        if not self.model.exists(name):
            raise OSError(errno.ENOENT, path)
        return name

    def _writable(self):
        if self.model.until_ns is not None:
            raise OSError(errno.EROFS, "the model crashed")

    # --- metadata -----------------------------------------------------------------------
    def getattr(self, path, fh=None):
        base = dict(st_uid=os.getuid(), st_gid=os.getgid())
        if path == "/":
            t = self.t_mount
            return dict(base, st_mode=stat.S_IFDIR | 0o755, st_nlink=2, st_atime=t, st_mtime=t,
                        st_ctime=t)
        if path in (CONTROL, CLOCK):
            t = self.t_mount
            return dict(base, st_mode=stat.S_IFREG | (0o200 if path == CONTROL else 0o444),
                        st_nlink=1, st_size=0 if path == CONTROL else CLOCK_LEN,
                        st_atime=t, st_mtime=t, st_ctime=t)
        name = self._file(path)
        mode, at, mt, ct = self.meta[name]
        size = self.model.size(name)
        return dict(base, st_mode=mode, st_nlink=1, st_size=size, st_blocks=(size + 511) // 512,
                    st_blksize=self.model.tun.block_size, st_atime=at, st_mtime=mt, st_ctime=ct)

    def readdir(self, path, fh):
        if path != "/":
            raise OSError(errno.ENOTDIR, path)
        return [".", ".."] + self.model.names()

    def statfs(self, path):
        return statfs_answer(self.model.tun.block_size)

    def chmod(self, path, mode):
        name = self._file(path)
        self.meta[name][0] = stat.S_IFREG | (mode & 0o7777)
        return 0

    def chown(self, path, uid, gid):
        return 0

    def utimens(self, path, times=None):
        if path == CONTROL:
            return 0
        name = self._file(path)
        now = time.time_ns()
        at, mt = times if times else (now, now)
        self.meta[name][1], self.meta[name][2] = at, mt
        return 0

    def access(self, path, amode):
        if path not in ("/", CONTROL, CLOCK):
            self._file(path)
        return 0

    # --- files --------------------------------------------------------------------------
    def create(self, path, mode, flags=0):
        self._writable()
        name = model_name(path)
        if self.model.exists(name):
            if flags & os.O_EXCL:
                raise OSError(errno.EEXIST, path)
        else:
            self.model.create(name)
        self._touch(name)
        self.meta[name][0] = stat.S_IFREG | (mode & 0o7777)
        if flags & os.O_TRUNC and self.model.size(name):
            self._run(Op("truncate", file=name, size=0))
        return 0

    def open(self, path, flags):
        if path in (CONTROL, CLOCK):
            return 0
        name = self._file(path)
        if flags & (os.O_WRONLY | os.O_RDWR):
            self._writable()
        if flags & os.O_TRUNC and self.model.size(name):
            # FUSE without atomic_o_trunc sends setattr(size=0) before OPEN; this covers the other case.
            self._run(Op("truncate", file=name, size=0))
        return 0

    def read(self, path, size, offset, fh):
        if path == CLOCK:
            text = (f"{self.model.v_done}".ljust(CLOCK_LEN - 1) + "\n").encode()
            return text[offset:offset + size]
        name = self._file(path)
        if size == 0 or offset >= self.model.size(name):
            return b""
        rec = self._run(Op("read", file=name, off=offset, len=size))
        self.meta[name][1] = time.time_ns()
        return self.model.read_bytes(rec)

    def write(self, path, data, offset, fh):
        if path == CONTROL:
            t = self.model.crash()
            self._log(f"crash at virtual {t / 1e9:.9f} s: the model stops here, the mount is read-only")
            if self.trace_path:
                self.save_trace()
            return len(data)
        self._writable()
        name = self._file(path)
        if not data:
            return 0
        self._run(Op("write", file=name, off=offset, len=len(data)), data)
        self._touch(name)
        return len(data)

    def truncate(self, path, length, fh=None):
        if path == CONTROL:
            return 0
        self._writable()
        name = self._file(path)
        self._run(Op("truncate", file=name, size=length))
        self._touch(name)
        return 0

    def fallocate(self, path, mode, offset, size, fh):
        self._writable()
        name = self._file(path)
        if mode not in FALLOC_MODES:
            raise OSError(errno.EOPNOTSUPP, f"fallocate mode {mode:#x}")
        if size <= 0:
            raise OSError(errno.EINVAL, "fallocate length")
        self._run(Op("fallocate", file=name, off=offset, len=size, mode=FALLOC_MODES[mode]))
        self._touch(name)
        return 0

    def fsync(self, path, datasync, fh):
        if path == CONTROL:
            return 0
        if self.model.until_ns is not None:
            raise OSError(errno.EROFS, "the model crashed")
        name = self._file(path)
        self._run(Op("fdatasync" if datasync else "fsync", file=name))
        return 0

    def fsyncdir(self, path, datasync, fh):
        return 0

    def flush(self, path, fh):
        return 0

    def release(self, path, fh):
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
                + (f" Left out after a model error (answered EIO): {'; '.join(m.failed)}." if m.failed else ""))


def make_fuse_ops(ops: ModelOps):
    """mfusepy.Operations delegating to `ops` (methods only: mfusepy registers attributes
    named like FUSE operations, so the state lives in `ops`, under the name `impl_`)."""
    mfusepy = load_mfusepy()
    FuseOSError = mfusepy.FuseOSError

    def wrap(fn):
        def call(self, *args):
            try:
                return fn(*args)
            except OSError as e:
                raise FuseOSError(e.errno or errno.EIO) from None
        call.__name__ = fn.__name__
        return call

    names = ("getattr", "readdir", "statfs", "chmod", "chown", "utimens", "access", "create",
             "open", "read", "write", "truncate", "fallocate", "fsync", "fsyncdir", "flush",
             "release")
    body = {n: wrap(getattr(ops, n)) for n in names}
    body["use_ns"] = True
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
    try:
        # One thread (requests in arrival order), foreground, no writeback cache (the
        # libfuse3 default: each write(2) reaches the model), direct_io off (mmap works).
        mfusepy.FUSE(fuse_ops, str(mountpoint), foreground=True, nothreads=True,
                     fsname="eofsim", subtype="eofsim")
    except RuntimeError as e:
        raise InputError(f"cannot mount: {e}", str(mountpoint)) from None
    finally:
        ops.save_trace()
    return ops
