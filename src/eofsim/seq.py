"""Append-only sequences indexed by absolute position, whose oldest entries can be dropped.

A long run (1,000,000 operations) must not keep every bio, size change or crash time it
ever produced: the streaming check (crash/stream.py) needs only those later crash points
can still ask for. Positions stay absolute (a bio id stays its index), so code written
against a list reads the same; `bisect_right` answers as bisect on the whole list would
for any value at or above the dropped entries."""

from bisect import bisect_right as _bisect_right


class Seq:
    __slots__ = ("base", "items", "dropped")

    def __init__(self, items=(), dropped=None):
        self.base = 0
        self.items = list(items)
        self.dropped = dropped
        """What an index below `base` reads as (None: an IndexError)."""

    def __len__(self):
        return self.base + len(self.items)

    def __getitem__(self, i):
        if i.__class__ is int:
            j = i - self.base
            if j >= 0 or i < 0:
                return self.items[j if i >= 0 else i]
            if self.dropped is None:
                raise IndexError(f"entry {i} was dropped (kept from {self.base})")
            return self.dropped
        start = self.base if i.start is None else max(i.start, self.base)
        stop = len(self) if i.stop is None else i.stop
        return self.items[start - self.base:max(stop - self.base, 0)]

    def __setitem__(self, i, v):
        j = i - self.base
        if j >= 0:
            self.items[j] = v
        elif self.dropped is None or v != self.dropped:
            raise IndexError(f"entry {i} was dropped (kept from {self.base})")

    def __iter__(self):
        return iter(self.items)

    def append(self, x):
        self.items.append(x)

    def bisect_right(self, x, lo=None, hi=None):
        """bisect.bisect_right over the whole sequence (dropped entries count as <= x)."""
        b = self.base
        if lo is None and hi is None:
            return b + _bisect_right(self.items, x)
        lo = 0 if lo is None or lo < b else lo - b
        hi = len(self.items) if hi is None else hi - b
        return b + _bisect_right(self.items, x, lo, hi)

    def insort(self, x):
        """Insert x in sorted position (it must not fall below the dropped entries)."""
        from bisect import insort_right
        insort_right(self.items, x)

    def drop_before(self, i):
        """Forget entries below position i."""
        k = i - self.base
        if k > 0:
            del self.items[:k]
            self.base = i
