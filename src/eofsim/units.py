"""Parsing and printing of byte sizes and virtual times (integers: bytes, nanoseconds)."""

import re

from .errors import InputError

_SIZE = re.compile(r"^(0x[0-9a-fA-F]+|\d+)\s*([kKmMgG]i?[bB]?|[bB])?$")
_SIZE_MULT = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
_TIME = re.compile(r"^(\d+(?:\.\d+)?)\s*(ns|us|ms|s)?$")
_TIME_MULT = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}

MAX_FILE_BYTES = 1 << 40


def parse_size(text, what: str = "size", limit: int = MAX_FILE_BYTES) -> int:
    """'4096', '0x1000', '4k', '4KiB', '1M' -> bytes. Raises InputError."""
    if isinstance(text, bool):
        raise InputError(f"{what} must be a byte count, got {text!r}")
    if isinstance(text, int):
        value = text
    else:
        m = _SIZE.match(str(text).strip())
        if not m:
            raise InputError(f"{what} {text!r} is not a byte count (e.g. 4096, 0x1000, 4k, 1M)")
        base = int(m.group(1), 0)
        unit = (m.group(2) or "").lower()[:1]
        value = base * _SIZE_MULT[unit]
    if value < 0:
        raise InputError(f"{what} must not be negative, got {value}")
    if value > limit:
        raise InputError(f"{what} {value} is absurd (limit {limit} bytes)")
    return value


def parse_time(text, what: str = "time") -> int:
    """'5s', '10ms', '300us', '12ns', '1.5s', bare number = ns -> nanoseconds."""
    if isinstance(text, bool):
        raise InputError(f"{what} must be a duration, got {text!r}")
    if isinstance(text, int):
        value = text
    else:
        m = _TIME.match(str(text).strip())
        if not m:
            raise InputError(f"{what} {text!r} is not a duration (e.g. 5s, 10ms, 300us, 12ns)")
        value = round(float(m.group(1)) * _TIME_MULT[m.group(2) or "ns"])
    if value < 0:
        raise InputError(f"{what} must not be negative, got {value}")
    if value > 10**15:
        raise InputError(f"{what} {value} ns is absurd (limit 10^15 ns)")
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
