"""fstests fsx op logs (`.fsxops`) in and out, so eofsim runs what fsx ran and fsx replays
what eofsim found.

Grammar, as fstests ltp/fsx.c writes it (logdump) and reads it back (read_op):

    [skip] NAME ARG ARG ARG [ARG] [FLAG ...]

* Tokens are split on spaces and tabs. Blank lines, and lines whose first token starts with
  '#', are ignored (fsx has accepted comments since 2017).
* Numbers are parsed like C strtoul(base 0): fsx writes `0x..` hex; `0..` octal and plain
  decimal are accepted too. fsx keeps them in a C int, so the limit is 0x7fffffff.
* Three numbers for most operations, four for clone/dedupe/copy/exchange_range; the last
  one is always the file size when fsx logged the op. So: `write OFF LEN SIZE`,
  `truncate 0 NEWSIZE OLDSIZE`, `fsync 0 0 SIZE`. Replay ignores the logged size (a
  minimized log, with lines deleted, replays fine), and so does this importer.
* Flags: `keep_size` (fallocate, zero_range), `close_open` (after the op fsx closes the
  file, runs `echo 3 > /proc/sys/vm/drop_caches` and reopens), `unshare`
  (FALLOC_FL_UNSHARE_RANGE) and `*` (the op overlapped fsx's bad offset; a marker only).
* `skip NAME ...`: fsx logged the op but did not run it; replay does not run it either.

Mapping to eofsim ops (see `load_fsxops`): write, read, mapwrite -> mwrite, mapread -> mread,
truncate, fallocate [keep_size], punch_hole, zero_range [keep_size] -> fallocate with that
mode, fsync. A mapwrite that ends past the file size becomes `truncate` + `mwrite`, because
that is what fsx does (domapwrite ftruncates first); eofsim's mwrite never extends i_size.
Operations eofsim does not model are refused with the line, never dropped. (fsx logs its
RWF_DONTCACHE reads and writes as plain read/write, so those arrive as read/write.)

eofsim extension: `#eofsim OP` lines carry eofsim ops fsx has no equivalent for (sleep,
sync, fdatasync, sync_file_range, reads past EOF, ...) and `#eofsim-at TIME` gives the next
op a start time. fsx skips them as comments; `load_fsxops` restores them (extensions=True).
"""

import io
import re
from dataclasses import replace as _replace

from ..errors import InputError
from ..ops import Op, parse_op
from ..units import parse_time

INT_MAX = 0x7FFFFFFF
FLAGS = ("keep_size", "close_open", "unshare", "*")
FOUR_ARGS = ("clone_range", "dedupe_range", "copy_range", "exchange_range")
MODELLED = ("write", "mapwrite", "read", "mapread", "truncate", "fallocate", "punch_hole",
            "zero_range", "fsync")
REFUSED = {  # why, and the fsx option that keeps the op out of a recorded log
    "collapse_range": "it removes a range and shifts the extents after it; fsx -C",
    "insert_range": "it inserts a hole and shifts the extents after it; fsx -I",
    "clone_range": "reflink is not in ext4; fsx -J",
    "dedupe_range": "reflink is not in ext4; fsx -B",
    "copy_range": "copy_file_range is not modelled; fsx -E",
    "exchange_range": "extent exchange is not modelled; fsx -0",
    "read_dontcache": "RWF_DONTCACHE drops the page cache, not modelled; fsx -T",
    "write_dontcache": "RWF_DONTCACHE starts writeback and drops the page cache, "
                       "not modelled; fsx -T",
    "write_atomic": "RWF_ATOMIC writes are not modelled; fsx -a",
}
EXT = "#eofsim"
EXT_AT = "#eofsim-at"
_NUM = re.compile(r"0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*")
_MAX_LINE = 250  # fsx reads with fgets(line, 256): a longer line would be split in two


def _num(tok: str, what: str, where: str) -> int:
    if len(tok) > 24 and _NUM.fullmatch(tok):
        raise InputError(f"{what} {tok[:24]}... does not fit fsx's 32-bit argument "
                         f"(max 0x{INT_MAX:x})", where)
    if not _NUM.fullmatch(tok):
        raise InputError(f"{what} {tok[:40]!r} is not a number (fsx writes hex like 0x1000)", where)
    if tok[:2] in ("0x", "0X"):
        value = int(tok, 16)
    elif tok.startswith("0"):
        value = int(tok, 8)
    else:
        value = int(tok)
    if value > INT_MAX:
        raise InputError(f"{what} {tok} does not fit fsx's 32-bit argument (max 0x{INT_MAX:x})",
                         where)
    return value


def _trim(off: int, length: int, size: int) -> tuple[int, int]:
    """fsx's TRIM_OFF_LEN: what replay does to a read, mapread or punch_hole."""
    off = off % size if size else 0
    if off + length > size:
        length = size - off
    return off, length


def parse_fsxops(text: str, source: str = "<fsxops>", file_name: str = "f", *,
                 strict: bool = True, extensions: bool = True) -> list[Op]:
    """The ops of `.fsxops` text, in order (see iter_fsxops)."""
    return list(iter_fsxops(io.StringIO(text, newline="\n"), source, file_name, strict=strict,
                            extensions=extensions))


def iter_fsxops(lines, source: str = "<fsxops>", file_name: str = "f", *,
                strict: bool = True, extensions: bool = True):
    """Parse `.fsxops` text into the eofsim ops `fsx --replay-ops` would run, in order.

    Replay starts from an empty file (fsx opens with O_TRUNC) and trims read, mapread and
    punch_hole to the file size (skipping them if nothing is left); zero-length writes and
    fallocates are skipped. `strict` (default) refuses such lines instead, since a log fsx
    recorded never has them: they mean an edited log or one that lost its start (fsx keeps
    only its last 10000 ops). `strict=False` does what fsx does. `close_open` is accepted
    and has no effect here: the model has no cache-drop operation, and close does not write
    back on ext4 (auto_da_alloc's flush-on-close after truncate-to-0 is not modelled).
    Writes are taken as written: fsx would trim them at its `-l` maximum file length.
    """
    size = 0
    pending_at = None
    pending_where = None
    # Lines end at '\n' only, as fsx's fgets and an editor's line numbers count them, and
    # are read one at a time (no list of every line of a large log).
    for lineno, line in enumerate(lines, 1):
        line = line.rstrip("\n")
        where = f"{source}:{lineno}"
        toks = line.replace("\r", " ").split()  # '\r' tolerated; fsx splits on ' \t\n'
        if not toks:
            continue
        if toks[0].startswith("#"):
            if extensions and toks[0] == EXT:
                op = parse_op(" ".join(toks[1:]), where)
                if op.file is not None:
                    op = _replace(op, file=file_name)
                if pending_at is not None:
                    raise InputError(f"{EXT_AT} line is followed by a {EXT} op that has its "
                                     "own '@' time", where)
                yield op
            elif extensions and toks[0] == EXT_AT:
                if len(toks) != 2:
                    raise InputError(f"{EXT_AT} takes one start time", where)
                if pending_at is not None:
                    raise InputError(f"two {EXT_AT} lines in a row", where)
                try:
                    pending_at = parse_time(toks[1], "start time")
                except InputError as e:
                    raise InputError(e.message, where) from None
                pending_where = where
            continue

        skipped = toks[0] == "skip"
        if skipped:
            toks = toks[1:]
            if not toks:
                raise InputError("'skip' without an operation", where)
        name = toks[0]
        if name not in MODELLED and name not in REFUSED:
            raise InputError(f"unknown fsx operation {name!r}", where)
        nargs = 4 if name in FOUR_ARGS else 3
        if len(toks) < 1 + nargs:
            raise InputError(f"{name} needs {nargs} numbers, found {len(toks) - 1} "
                             "(truncated line?)", where)
        args = [_num(t, f"{name} argument {i + 1}", where)
                for i, t in enumerate(toks[1:1 + nargs])]
        flags = set()
        for t in toks[1 + nargs:]:
            if t not in FLAGS:
                raise InputError(f"{name}: unexpected {t!r} after the {nargs} numbers "
                                 f"(flags: {', '.join(FLAGS)})", where)
            flags.add(t)
        if skipped:
            continue  # fsx did not run it, and replay does not either
        if name in REFUSED:
            raise InputError(f"fsx operation {name} is not modelled by eofsim "
                             f"({REFUSED[name]} disables it); remove the line", where)

        new, size = _convert(name, args, flags, size, file_name, strict, where)
        if new and pending_at is not None:
            new[0] = _replace(new[0], at_ns=pending_at)
            pending_at = None
        yield from new
    if pending_at is not None:
        raise InputError(f"{EXT_AT} is not followed by an operation", pending_where)


class FsxLogOps:
    """The ops of an fsx log file, paced (pacing.pace_iter), read again on each pass
    (iteration and len() only): a 1,000,000-line log is never held in memory."""

    def __init__(self, path, file_name="f", *, strict=True, interval_ns=0):
        from ..inputs import iter_lines
        self._lines = lambda: iter_lines(path, "op log")
        self.path = str(path)
        self.file_name = file_name
        self.strict = strict
        self.interval_ns = interval_ns
        self._n = None

    def __iter__(self):
        from .pacing import pace_iter
        return pace_iter(iter_fsxops(self._lines(), self.path, self.file_name,
                                     strict=self.strict), self.interval_ns)

    def __len__(self):
        if self._n is None:
            self._n = sum(1 for _ in self)
        return self._n


def _convert(name, args, flags, size, f, strict, where):
    """One fsx line -> (eofsim ops, file size after it), following fsx's replay path."""
    off, length = args[0], args[1]
    keep = "keep_size" in flags

    def skip(why):
        if strict:
            raise InputError(f"{name} 0x{off:x} 0x{length:x}: fsx --replay-ops would {why}; "
                             "a recorded log never has this (load with strict=False to "
                             "skip it as fsx does)", where)
        return [], size

    if name == "fsync":
        return [Op("fsync", f, where=where)], size
    if name == "truncate":
        return [Op("truncate", f, size=length, where=where)], length
    if name in ("read", "mapread", "punch_hole"):
        t_off, t_len = _trim(off, length, size)
        if t_len <= 0 or (name == "punch_hole" and t_off >= size):
            return skip(f"skip it (file size 0x{size:x} at this point)")
        if (t_off, t_len) != (off, length):
            if strict:
                raise InputError(
                    f"{name} 0x{off:x} 0x{length:x} reaches past the file size 0x{size:x} "
                    f"the operations before it leave; fsx --replay-ops would trim it to "
                    f"0x{t_off:x} 0x{t_len:x} (load with strict=False to do the same)", where)
            off, length = t_off, t_len
        if name == "punch_hole":
            return [Op("fallocate", f, off, length, mode="punch_hole", where=where)], size
        kind = "read" if name == "read" else "mread"
        return [Op(kind, f, off, length, where=where)], size
    if length == 0:
        return skip("skip it (zero length)")
    if name == "write":
        return [Op("write", f, off, length, where=where)], max(size, off + length)
    if name == "mapwrite":
        ops = []
        if off + length > size:
            size = off + length
            ops.append(Op("truncate", f, size=size, where=where))
        ops.append(Op("mwrite", f, off, length, where=where))
        return ops, size
    if name == "fallocate":
        if "unshare" in flags:
            raise InputError("fallocate unshare (FALLOC_FL_UNSHARE_RANGE) is not modelled "
                             "(ext4 refuses it)", where)
        mode = "keep_size" if keep else ""
    else:  # zero_range
        mode = "zero_range,keep_size" if keep else "zero_range"
    op = Op("fallocate", f, off, length, mode=mode, where=where)
    return [op], size if keep else max(size, off + length)


def load_fsxops(path, file_name: str = "f", *, strict: bool = True,
                extensions: bool = True) -> list[Op]:
    """Read an `.fsxops` file; errors name "path:line". See `parse_fsxops`."""
    from ..inputs import OPLOG_MAX_BYTES, read_text
    text = read_text(path, "op log", OPLOG_MAX_BYTES)
    return parse_fsxops(text, str(path), file_name, strict=strict, extensions=extensions)


def dump_fsxops(ops, *, lossy: bool = False) -> str:
    """Write ops on one file as an `.fsxops` log that `fsx --replay-ops` runs the same way.

    fsx replays from an empty file, so sizes are tracked from 0. An op fsx cannot express
    exactly (sleep, sync, fdatasync, sync_file_range; a read, mapread or punch_hole past the
    file size, which replay would trim; an mwrite past the size, which fsx would turn into
    an extending ftruncate) raises InputError, or with `lossy=True` is written as a
    `#eofsim OP` comment: fsx skips it, `load_fsxops` restores it. A start time (`@T`)
    becomes a `#eofsim-at T` line before the op under the same rule. The header names the
    fsx `-l`/`-o` needed so replay neither trims writes nor overflows its read buffer, and
    `-i LOGDEV` when there is an fsync: fsx only runs fsync in its dm-log-writes integrity
    mode (dofsync marks the log device, and exits 211 if there is none).
    """
    lines = []
    size = 0
    fname = None
    max_end = 0
    max_io = 0

    for i, op in enumerate(ops):
        where = op.where or f"op #{i + 1}"
        if op.file is not None:
            if fname is None:
                fname = op.file
            elif op.file != fname:
                raise InputError(f"fsx drives one file; these ops touch {fname!r} and "
                                 f"{op.file!r}", where)
        for v in (op.off, op.len, op.size, op.off + op.len):
            if v > INT_MAX:
                raise InputError(f"{op.text()}: {v} does not fit fsx's 32-bit arguments",
                                 where)

        def comment(why):
            if not lossy:
                raise InputError(f"{op.text()}: {why}; pass lossy=True to keep it as an "
                                 f"'{EXT}' comment that fsx skips", where)
            text = f"{EXT} {op.text()}"
            if len(text) > _MAX_LINE:
                raise InputError(f"{op.text()}: too long for an fsx log line", where)
            return text

        k = op.kind
        line = None
        if k == "write":
            line = f"write 0x{op.off:x} 0x{op.len:x} 0x{size:x}"
            size = max(size, op.off + op.len)
            max_end = max(max_end, op.off + op.len)
            max_io = max(max_io, op.len)
        elif k in ("read", "mread"):
            if op.off + op.len > size:
                lines.append(comment(f"reaches past the file size 0x{size:x}; fsx replay "
                                     "trims reads to the file size"))
                continue
            line = f"{'read' if k == 'read' else 'mapread'} 0x{op.off:x} 0x{op.len:x} 0x{size:x}"
            max_io = max(max_io, op.len)
        elif k == "mwrite":
            if op.off + op.len > size:
                lines.append(comment(f"ends past the file size 0x{size:x}; fsx's mapwrite "
                                     "would extend the file, eofsim's mwrite does not"))
                continue
            line = f"mapwrite 0x{op.off:x} 0x{op.len:x} 0x{size:x}"
            max_io = max(max_io, op.len)
        elif k == "truncate":
            line = f"truncate 0x0 0x{op.size:x} 0x{size:x}"
            size = op.size
            max_end = max(max_end, op.size)
        elif k == "fallocate":
            end = op.off + op.len
            if op.mode == "punch_hole":
                if end > size:
                    lines.append(comment(f"punches past the file size 0x{size:x}; fsx "
                                         "replay trims punch_hole to the file size"))
                    continue
                line = f"punch_hole 0x{op.off:x} 0x{op.len:x} 0x{size:x}"
            else:
                name = "zero_range" if op.mode.startswith("zero_range") else "fallocate"
                keep = op.mode.endswith("keep_size")
                line = f"{name} 0x{op.off:x} 0x{op.len:x} 0x{size:x}" + (" keep_size" if keep else "")
                if not keep:
                    size = max(size, end)
            max_end = max(max_end, end)
        elif k == "fsync":
            line = f"fsync 0x0 0x0 0x{size:x}"
        else:
            lines.append(comment("fsx has no such operation"))
            continue
        if op.at_ns is not None:
            if not lossy:
                raise InputError(f"{op.text()}: fsx runs operations back to back and has no "
                                 f"start times; pass lossy=True to keep it as an "
                                 f"'{EXT_AT}' comment", where)
            lines.append(f"{EXT_AT} {op.at_ns}ns")
        lines.append(line)

    max_len = max(256 * 1024, -(-max_end // 4096) * 4096)
    max_op = max(64 * 1024, max_io)
    has_fsync = any(ln.startswith("fsync ") for ln in lines)
    header = [f"# eofsim export: {len(ops)} operations on one file; fsx starts it empty",
              f"# replay: fsx {'-i LOGDEV ' if has_fsync else ''}-l {max_len} -o {max_op} "
              "--replay-ops THIS_FILE TESTFILE"]
    if has_fsync:
        header.append("# fsync needs -i: fsx marks a dm-log-writes device LOGDEV at each "
                      "fsync (exit 211 without one)")
    return "\n".join(header + lines) + "\n"
