"""The operations a workload can call, as plain data shared by scenarios, fsx logs and the model.

Text form (one op per line, used by scenario files and the timeline):

    write FILE OFF LEN            buffered write(2)
    read FILE OFF LEN             read(2)
    mwrite FILE OFF LEN           store through a shared mmap (page_mkwrite path)
    mread FILE OFF LEN            load through a shared mmap
    truncate FILE SIZE            ftruncate(2), up or down
    fallocate FILE OFF LEN [MODE] fallocate(2); MODE: keep_size | punch_hole | zero_range
                                  | zero_range,keep_size  (punch_hole implies keep_size)
    fsync FILE | fdatasync FILE
    sync_file_range FILE OFF LEN FLAGS   FLAGS: wait_before|write|wait_after joined with '|'
    sync                          sync(2)
    sleep DURATION                the thread does nothing for DURATION
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
    "sleep": None,
}
KINDS = tuple(_SIGNATURES)
SIZE_CHANGING = ("write", "mwrite", "truncate", "fallocate")


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
    at_ns: int | None = None
    """Earliest virtual start time; None means as soon as the previous op of the thread ends."""
    where: str | None = field(default=None, compare=False)
    """Source location ('file:line') for error messages and reports."""

    def text(self) -> str:
        if self.kind == "sync":
            body = "sync"
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
        else:
            body = f"{self.kind} {self.file} {self.off} {self.len}"
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
        if kind == "sync":
            if args:
                raise InputError("sync takes no arguments")
            return Op("sync", at_ns=at_ns, where=where)
        if kind == "sleep":
            if len(args) != 1:
                raise InputError("sleep takes one duration")
            return Op("sleep", dur_ns=parse_time(args[0], "sleep duration"), at_ns=at_ns, where=where)
        n_opt = 1 if kind == "fallocate" else 0
        if not (len(sig) + 1 <= len(args) <= len(sig) + 1 + n_opt):
            raise InputError(f"{kind} takes FILE {' '.join(a.upper() for a in sig)}"
                             + (" [MODE]" if n_opt else ""))
        kw = {"file": args[0]}
        for name, text in zip(sig, args[1:]):
            if name == "flags":
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
        op = Op(kind, at_ns=at_ns, where=where, **kw)
    except InputError as e:
        raise InputError(e.message, where) from None
    if op.kind in ("write", "read", "mwrite", "mread", "fallocate") and op.len == 0:
        raise InputError(f"{kind} length must be positive", where)
    return op
