"""The operations a workload can call, as plain data shared by scenarios, fsx logs and the model.

Text form (one op per line, used by scenario files and the timeline):

    write FILE OFF LEN [dsync|sync]  buffered write(2); dsync/sync: pwritev2 RWF_DSYNC/RWF_SYNC
    read FILE OFF LEN             read(2)
    mwrite FILE OFF LEN           store through a shared mmap (page_mkwrite path)
    mread FILE OFF LEN            load through a shared mmap
    truncate FILE SIZE            ftruncate(2), up or down
    fallocate FILE OFF LEN [MODE] fallocate(2); MODE: keep_size | punch_hole | zero_range
                                  | zero_range,keep_size  (punch_hole implies keep_size)
    fsync FILE | fdatasync FILE
    sync_file_range FILE OFF LEN FLAGS   FLAGS: wait_before|write|wait_after joined with '|'
    sync                          sync(2)
    syncfs                        syncfs(2) on the filesystem (sync_filesystem)
    sleep DURATION                the thread does nothing for DURATION
    create FILE                   open(O_CREAT|O_EXCL|O_WRONLY): the file stays open (close it)
    open FILE [FLAG...]           open(2); FLAGs: creat, excl, trunc, sync (O_SYNC), dsync (O_DSYNC)
    close FILE                    close(2) of the thread's newest open of FILE
    unlink FILE                   unlink(2)
    rename OLD NEW                rename(2); NEW may exist (rename over it)
    mkdir DIR                     mkdir(2)

FILE and DIR are paths relative to the filesystem root, with '/' between directories
(`d/f`); `fsync DIR` syncs a directory (`fsync .`: the root). Ops naming a path that the thread has open act on
that open file (its inode, even after an unlink or rename), else on the name as it is then.
"""

from dataclasses import dataclass, field

from .errors import InputError
from .units import fmt_dur, parse_size, parse_time

FALLOC_MODES = ("", "keep_size", "punch_hole", "zero_range", "zero_range,keep_size")
SFR_FLAGS = ("wait_before", "write", "wait_after")

# kind -> argument names after FILE (None: takes no file)
_SIGNATURES = {
    "write": ("off", "len"),
    "read": ("off", "len"),
    "mwrite": ("off", "len"),
    "mread": ("off", "len"),
    "truncate": ("size",),
    "fallocate": ("off", "len"),
    "fsync": (),
    "fdatasync": (),
    "sync_file_range": ("off", "len", "flags"),
    "sync": None,
    "syncfs": None,
    "sleep": None,
    "create": (),
    "open": (),
    "close": (),
    "unlink": (),
    "rename": ("new",),
    "mkdir": (),
}
KINDS = tuple(_SIGNATURES)
SIZE_CHANGING = ("write", "mwrite", "truncate", "fallocate")
NAMESPACE = ("create", "open", "close", "unlink", "rename", "mkdir")
CREATING_OPS = ("write", "truncate", "fallocate")
"""Ops that create a missing file (the implicit open(O_CREAT) of a scenario's data op)."""
OPEN_FLAGS = ("creat", "excl", "trunc", "sync", "dsync")
WRITE_FLAGS = ("dsync", "sync")
NAME_MAX = 255


@dataclass(frozen=True)
class Op:
    kind: str
    file: str | None = None
    off: int = 0
    len: int = 0
    size: int = 0
    mode: str = ""
    flags: tuple[str, ...] = ()
    dur_ns: int = 0
    new: str | None = None
    """rename: the new path."""
    at_ns: int | None = None
    """Earliest virtual start time; None means as soon as the previous op of the thread ends."""
    where: str | None = field(default=None, compare=False)
    """Source location ('file:line') for error messages and reports."""

    def text(self) -> str:
        if self.kind in ("sync", "syncfs"):
            body = self.kind
        elif self.kind == "sleep":
            body = f"sleep {fmt_dur(self.dur_ns)}"
        elif self.kind == "truncate":
            body = f"truncate {self.file} {self.size}"
        elif self.kind in ("fsync", "fdatasync"):
            body = f"{self.kind} {self.file}"
        elif self.kind == "sync_file_range":
            body = f"sync_file_range {self.file} {self.off} {self.len} {'|'.join(self.flags)}"
        elif self.kind == "fallocate" and self.mode:
            body = f"fallocate {self.file} {self.off} {self.len} {self.mode}"
        elif self.kind == "rename":
            body = f"rename {self.file} {self.new}"
        elif self.kind in NAMESPACE:
            body = " ".join((self.kind, self.file) + self.flags)
        else:
            body = f"{self.kind} {self.file} {self.off} {self.len}" + \
                "".join(" " + f for f in self.flags)
        return body if self.at_ns is None else f"@{fmt_dur(self.at_ns)} {body}"


def parse_op(line: str, where: str | None = None) -> Op:
    """Parse one op in text form; '@TIME ' may prefix it. Raises InputError naming `where`."""
    words = line.split()
    at_ns = None
    if words and words[0].startswith("@"):
        try:
            at_ns = parse_time(words[0][1:], "start time")
        except InputError as e:
            raise InputError(e.message, where) from None
        words = words[1:]
    if not words:
        raise InputError("empty operation", where)
    kind = words[0]
    if kind not in _SIGNATURES:
        raise InputError(f"unknown operation {kind!r} (known: {', '.join(KINDS)})", where)
    sig = _SIGNATURES[kind]
    args = words[1:]
    try:
        if kind in ("sync", "syncfs"):
            if args:
                raise InputError(f"{kind} takes no arguments")
            return Op(kind, at_ns=at_ns, where=where)
        if kind == "sleep":
            if len(args) != 1:
                raise InputError("sleep takes one duration")
            return Op("sleep", dur_ns=parse_time(args[0], "sleep duration"), at_ns=at_ns, where=where)
        if kind == "open":
            if not args:
                raise InputError(f"open takes FILE [{'|'.join(OPEN_FLAGS)}...]")
            flags = tuple(a.lower() for a in args[1:])
            bad = [f for f in flags if f not in OPEN_FLAGS]
            if bad:
                raise InputError(f"open flag {bad[0]!r}: use {', '.join(OPEN_FLAGS)}")
            if "sync" in flags and "dsync" in flags:
                flags = tuple(f for f in flags if f != "dsync")   # O_SYNC includes O_DSYNC
            return Op("open", file=check_path(args[0]), at_ns=at_ns, where=where,
                      flags=tuple(f for f in OPEN_FLAGS if f in flags))
        n_opt = 1 if kind in ("fallocate", "write") else 0
        if not (len(sig) + 1 <= len(args) <= len(sig) + 1 + n_opt):
            raise InputError(f"{kind} takes FILE {' '.join(a.upper() for a in sig)}"
                             + (" [MODE]" if kind == "fallocate" else " [dsync|sync]" if n_opt else ""))
        # `fsync .` / `fdatasync .`: the root directory (a program's fsync of its cwd).
        kw = {"file": args[0] if kind in ("fsync", "fdatasync") and args[0] == "." else check_path(args[0])}
        for name, text in zip(sig, args[1:]):
            if name == "new":
                kw["new"] = check_path(text)
            elif name == "flags":
                flags = tuple(f for f in text.lower().split("|") if f)
                bad = [f for f in flags if f not in SFR_FLAGS]
                if bad or not flags:
                    raise InputError(f"sync_file_range flags {text!r}: use {'|'.join(SFR_FLAGS)}")
                kw["flags"] = tuple(f for f in SFR_FLAGS if f in flags)
            else:
                kw[name] = parse_size(text, name)
        if kind == "fallocate":
            mode = args[3] if len(args) > 3 else ""
            mode = ",".join(sorted(mode.lower().split(","), key=("zero_range", "punch_hole", "keep_size").index)) \
                if mode and all(m in ("zero_range", "punch_hole", "keep_size") for m in mode.lower().split(",")) else mode
            if mode == "punch_hole,keep_size":
                mode = "punch_hole"
            if mode not in FALLOC_MODES:
                raise InputError(f"fallocate mode {args[3]!r}: use one of {', '.join(m for m in FALLOC_MODES if m)}")
            kw["mode"] = mode
        if kind == "write" and len(args) > 3:
            if args[3].lower() not in WRITE_FLAGS:
                raise InputError(f"write flag {args[3]!r}: use dsync or sync")
            kw["flags"] = (args[3].lower(),)
        op = Op(kind, at_ns=at_ns, where=where, **kw)
    except InputError as e:
        raise InputError(e.message, where) from None
    if op.kind in ("write", "read", "mwrite", "mread", "fallocate") and op.len == 0:
        raise InputError(f"{kind} length must be positive", where)
    return op


def check_path(text: str) -> str:
    """A path relative to the root: components joined by '/', none empty, '.' or '..'.
    (A component longer than NAME_MAX is the kernel's ENAMETOOLONG, recorded on the op.)"""
    parts = text.split("/")
    if text.startswith("/"):
        raise InputError(f"path {text!r}: paths are relative to the filesystem root (no leading '/')")
    if any(p in ("", ".", "..") for p in parts):
        raise InputError(f"path {text!r}: empty, '.' or '..' component")
    return text
