"""Where user input comes from and results go to: paths, files and output directories,
checked before any work starts so that a bad one is one line and exit 2, never a traceback,
a hang or lost results.

* Paths: no NUL byte (the kernel's strings end there), no component longer than NAME_MAX
  (255 bytes, include/uapi/linux/limits.h; ENAMETOOLONG otherwise), at most PATH_MAX
  (4096 bytes) in all.
* Input files are opened with O_NONBLOCK (a FIFO without a writer does not block the
  open), must be regular files (a FIFO, /dev/zero or /dev/urandom never ends) and are read
  with a bound: at most `limit` bytes, refused beyond.
* Output directories are created and probed with a small file before the work, so that a
  report that cannot be written is refused at once, not after the whole grid.
"""

import errno
import os
import stat
import tempfile

from .errors import InputError

NAME_MAX = 255
PATH_MAX = 4096

SCENARIO_MAX_BYTES = 4 << 20
"""A scenario file larger than this is refused (the built-ins are under 4 KiB; 100,000
operations, scenario_file.MAX_NODES, take about 2.5 MB)."""
OPLOG_MAX_BYTES = 64 << 20
"""An fsx op log larger than this is refused (fsx keeps its last 10,000 ops, ~300 KB;
a 2,000,000-op log is ~60 MB)."""


def check_path(path, what: str) -> str:
    """`path` as a str, or InputError naming `what` if the kernel would refuse it."""
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if not text:
        raise InputError(f"{what}: empty path")
    if "\0" in text:
        raise InputError(f"{what} {text!r}: a path cannot contain a NUL byte")
    raw = os.fsencode(text)
    if len(raw) >= PATH_MAX:
        raise InputError(f"{what}: path of {len(raw)} bytes is too long (PATH_MAX {PATH_MAX})")
    for comp in raw.split(b"/"):
        if len(comp) > NAME_MAX:
            raise InputError(f"{what}: path component of {len(comp)} bytes is too long "
                             f"(NAME_MAX {NAME_MAX}): {os.fsdecode(comp[:40])!r}...")
    return text


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def os_message(e: OSError) -> str:
    """An OSError as a short phrase ('No space left on device'), without the path."""
    if e.errno == errno.ENOSPC:
        return "disk is full (No space left on device)"
    return e.strerror or str(e)


def _open_regular(path, what: str):
    """(name, fd, stat) of regular file `path` opened for reading (without blocking on a FIFO
    or taking a terminal); InputError otherwise (the fd is closed then)."""
    name = check_path(path, what)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as e:
        raise InputError(f"cannot read {what}: {os_message(e)}", name) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"cannot read {what}: {_kind(st.st_mode)}, not a regular file",
                             name)
    except BaseException:
        os.close(fd)
        raise
    return name, fd, st


def read_bounded(path, what: str, limit: int) -> bytes:
    """The bytes of regular file `path`, at most `limit` of them; InputError otherwise."""
    name, fd, st = _open_regular(path, what)
    try:
        if st.st_size > limit:
            raise InputError(f"{what} of {st.st_size} bytes is too large (limit {limit})", name)
        chunks, total = [], 0
        while True:
            b = os.read(fd, min(1 << 20, limit + 1 - total))
            if not b:
                break
            chunks.append(b)
            total += len(b)
            if total > limit:
                raise InputError(f"{what} is larger than {limit} bytes", name)
        return b"".join(chunks)
    except OSError as e:
        raise InputError(f"cannot read {what}: {os_message(e)}", name) from None
    finally:
        os.close(fd)


def iter_lines(path, what: str):
    """The lines of regular file `path` (ending at '\n', kept), read a chunk at a time
    whatever its size (a streamed op log); InputError at file:line for bytes that are
    not UTF-8, as read_text."""
    name, fd, _ = _open_regular(path, what)
    try:
        lineno = 0
        rest = b""
        while True:
            try:
                b = os.read(fd, 1 << 20)
            except OSError as e:
                raise InputError(f"cannot read {what}: {os_message(e)}", name) from None
            if not b:
                break
            parts = (rest + b).split(b"\n")
            rest = parts.pop()
            for raw in parts:
                lineno += 1
                yield decode_utf8(raw, what, name, lineno) + "\n"
        if rest:
            yield decode_utf8(rest, what, name, lineno + 1)
    finally:
        os.close(fd)


def decode_utf8(data: bytes, what: str, name: str, first_line: int = 1) -> str:
    """UTF-8 text, or InputError at file:line of the first byte that is not."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + first_line
        raise InputError(f"not a text {what}: byte 0x{data[e.start]:02x} is not UTF-8 "
                         "(corrupt or binary file?)", f"{name}:{line}") from None


def read_text(path, what: str, limit: int) -> str:
    """read_bounded + decode_utf8."""
    name = check_path(path, what)
    return decode_utf8(read_bounded(name, what, limit), what, name)


def regular_or_absent(path, what: str) -> str:
    """For a file we will create or open read-write (a campaign database): it is absent or a
    regular file (sqlite3 on a FIFO blocks forever, on /dev/zero it reads forever)."""
    name = check_path(path, what)
    try:
        st = os.stat(name)
    except FileNotFoundError:
        parent = os.path.dirname(os.path.abspath(name))
        if not os.path.isdir(parent):
            raise InputError(f"{what} {name}: directory {parent} does not exist") from None
        return name
    except OSError as e:
        raise InputError(f"{what} {name}: {os_message(e)}") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{what} {name}: {_kind(st.st_mode)}, not a regular file")
    return name


def check_out_dir(path, what: str) -> str:
    """Create output directory `path` (and parents) and prove a file can be written in it."""
    name = check_path(path, what)
    try:
        os.makedirs(name, exist_ok=True)
        if not os.path.isdir(name):
            raise InputError(f"{what} {name}: exists and is not a directory")
        fd, probe = tempfile.mkstemp(prefix=".eofsim-probe-", dir=name)
        try:
            os.write(fd, b"eofsim\n" * 64)
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except FileExistsError:
        raise InputError(f"{what} {name}: exists and is not a directory") from None
    except NotADirectoryError:
        raise InputError(f"{what} {name}: a component of the path is a file, "
                         "not a directory") from None
    except OSError as e:
        raise InputError(f"{what} {name}: cannot write there: {os_message(e)}") from None
    return name


def rescue_json(text: str, stem: str = "eofsim-results-") -> str | None:
    """Write `text` to a fresh file in the temporary directory (TMPDIR, /tmp, ...) so that
    results survive an output directory that failed; its path, or None if that fails too."""
    for d in (tempfile.gettempdir(), os.getcwd(), os.path.expanduser("~")):
        try:
            fd, path = tempfile.mkstemp(prefix=stem, suffix=".json", dir=d)
        except OSError:
            continue
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            return path
        except OSError:
            try:
                os.unlink(path)
            except OSError:
                pass
    return None
