"""Parsing and printing of byte sizes and virtual times (integers: bytes, nanoseconds)."""

import re

from .errors import InputError

_SIZE = re.compile(r"^(0[xX][0-9a-fA-F]+|[0-9]+)[ \t]*([kKmMgGtT]i?[bB]?|[bB])?$")
_SIZE_MULT = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_TIME = re.compile(r"^([0-9]+)(?:\.([0-9]+))?[ \t]*(ns|us|ms|s)?$")
_TIME_MULT = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}

MAX_FILE_BYTES = 1 << 40
MAX_TIME_NS = 10**15
_MAX_DIGITS = 24
"""Longer digit strings are refused before conversion (no 5,000-digit int() calls)."""


def _absurd(value: int, limit: int) -> str:
    """`value` for a message without formatting a huge integer."""
    return str(value) if value < 10**30 else "of more than 10^30"


def parse_int(text, what: str, lo: int = 0, hi: int = (1 << 63) - 1) -> int:
    """A decimal or 0x-hex integer in [lo, hi]. A leading zero ('0100') is refused: C, fsx
    and YAML 1.1 read it as octal, a person usually means decimal."""
    if isinstance(text, bool):
        raise InputError(f"{what} must be an integer, got {text!r}")
    if isinstance(text, int):
        value = text
    else:
        t = str(text).strip()
        neg = t.startswith("-")
        body = t[1:] if neg else t
        if len(body) > _MAX_DIGITS or not re.fullmatch(r"0[xX][0-9a-fA-F]+|[0-9]+", body):
            raise InputError(f"{what} {t[:40]!r}{'...' if len(t) > 40 else ''} is not an "
                             "integer (e.g. 42 or 0x2a)")
        if len(body) > 1 and body[0] == "0" and body[1] not in "xX":
            raise InputError(f"{what} {t!r}: a leading zero is ambiguous (octal in C, fsx "
                             f"and YAML 1.1); write {int(body, 10)} or 0x{int(body, 10):x}")
        value = int(body, 0)
        value = -value if neg else value
    if not lo <= value <= hi:
        raise InputError(f"{what} {_absurd(value, hi)} is out of range [{lo}, {hi}]")
    return value


def parse_size(text, what: str = "size", limit: int = MAX_FILE_BYTES) -> int:
    """'4096', '0x1000', '4k', '4KiB', '1M' -> bytes. Raises InputError."""
    if isinstance(text, bool):
        raise InputError(f"{what} must be a byte count, got {text!r}")
    if isinstance(text, int):
        value = text
    else:
        t = str(text).strip()
        m = _SIZE.match(t) if len(t) <= _MAX_DIGITS + 4 else None
        if not m:
            if t.startswith("-") and _SIZE.match(t[1:]):
                raise InputError(f"{what} must not be negative, got {t}")
            raise InputError(f"{what} {t[:40]!r}{'...' if len(t) > 40 else ''} is not a "
                             "byte count (e.g. 4096, 0x1000, 4k, 1M)")
        digits = m.group(1)
        if len(digits) > 1 and digits[0] == "0" and digits[1] not in "xX":
            raise InputError(f"{what} {t!r}: a leading zero is ambiguous (octal in C, fsx and "
                             f"YAML 1.1); write {int(digits, 10)} or 0x{int(digits, 10):x}")
        base = int(digits, 0)
        unit = (m.group(2) or "").lower()[:1]
        value = base * _SIZE_MULT[unit]
    if value < 0:
        raise InputError(f"{what} must not be negative, got {value}")
    if value > limit:
        raise InputError(f"{what} {_absurd(value, limit)} is absurd "
                         f"(limit {limit} bytes)")
    return value


def parse_time(text, what: str = "time") -> int:
    """'5s', '10ms', '300us', '12ns', '1.5s', bare number = ns -> nanoseconds."""
    if isinstance(text, bool):
        raise InputError(f"{what} must be a duration, got {text!r}")
    if isinstance(text, int):
        value = text
    else:
        t = str(text).strip()
        m = _TIME.match(t) if len(t) <= 2 * _MAX_DIGITS else None
        if not m:
            if t.startswith("-") and _TIME.match(t[1:]):
                raise InputError(f"{what} must not be negative, got {t}")
            raise InputError(f"{what} {t[:40]!r}{'...' if len(t) > 40 else ''} is not a "
                             "duration (e.g. 5s, 10ms, 300us, 12ns)")
        whole, frac, unit = m.group(1), m.group(2) or "", m.group(3) or "ns"
        if len(whole) > 1 and whole[0] == "0":
            raise InputError(f"{what} {t!r}: a leading zero is ambiguous (octal in C, fsx "
                             f"and YAML 1.1); write {int(whole)}{'.' + frac if frac else ''}"
                             f"{m.group(3) or ''}")
        if len(whole) > _MAX_DIGITS:
            raise InputError(f"{what} {t[:40]!r}... is absurd (limit 10^15 ns)")
        mult = _TIME_MULT[unit]
        # exact decimal arithmetic, rounded half up to a nanosecond (no float overflow)
        num = int(whole + frac) * mult
        den = 10 ** len(frac)
        value = (2 * num + den) // (2 * den)
    if value < 0:
        raise InputError(f"{what} must not be negative, got {value}")
    if value > MAX_TIME_NS:
        raise InputError(f"{what} {_absurd(value, MAX_TIME_NS)} ns is absurd (limit 10^15 ns)")
    return value


def fmt_time(ns: int | None) -> str:
    """Nanoseconds as seconds with microsecond precision: '5.000120 s'."""
    if ns is None:
        return "never"
    return f"{ns / 1e9:.6f} s"


def fmt_dur(ns: int) -> str:
    """A duration in the largest unit that states it exactly: '1s', '250us', '12ns'."""
    for unit, mult in (("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000)):
        if ns and ns % mult == 0:
            return f"{ns // mult}{unit}"
    return f"{ns}ns"
