"""Happens-before knowledge as a bitmask relative to the device's durable frontier.

The crash explorer asks one thing of a task's knowledge (engine.Task.hb, carried through
wakeups, completions, folio writeback bits, handles, ioends): which device writes did the
issuer of a cache flush know to be complete when it issued the flush (states.py: such a
write is durable when the flush completes; recover.py: the log blocks a PREFLUSH commit
covers). A plain int with one bit per bio id grows with the run: after N bios every mask a
task, folio, transaction or bio holds has N bits, so a long run costs O(N^2) memory and
time (issue 12: 195 MiB of masks at 100k operations).

The device keeps a *durable frontier* F (block.BlockDevice.frontier): every bio with an id
below F is settled, i.e. a write already durable (FUA-completed, or covered by a completed
flush whose issuer knew it) or not a write at all (flush bits are never asked about). A bit
below F can no longer change any answer: the write's durable time is the *first* covering
flush's completion, already past; a later flush or PREFLUSH commit that covers it is
submitted after that time, so every crash state it is asked about already has the write
durable. Knowledge therefore stores `mask` relative to `base` (bit i = bio base + i) and
drops the bits below F when it is combined (lazily, once F is `SLACK` bits ahead), so a
mask holds only the writes not yet durable: its size follows the writes in flight or
awaiting a flush, not the length of the run.

Values are immutable (`a |= b` rebinds `a`), and combine with the int 0 every holder starts
from (and with plain int masks), so the simulation's `x.hb |= y.hb` lines are unchanged;
`&` and `>>` answer as the absolute int would. `as_int` gives the absolute
int mask the explorer reads (bits below the value's base are absent: settled).

Hot holders write `x |= h` as `x = join(x, h)`: the very value the operator gives (x | x
is x; 0 | h is h), without its dispatch when the answer is known. Nothing else may be
skipped: `x | h` can re-base even when h adds no bit.
"""

SLACK = 256
"""How far F may run ahead of a value's base before combining re-bases it (amortises the
shift)."""


def join(x, h):
    """x | h (knowledge or int masks), answered at once where the operator's answer is known:
    x itself when h is x, h when x is the int 0 a holder starts from."""
    if x is h:
        return x
    if x.__class__ is int and not x:
        return h
    return x | h


_new = object.__new__


class Frontier:
    """The device's durable frontier: every bio id below `f` is settled. `enabled=False`
    keeps every bit (the plain-int semantics; tests compare the two)."""

    __slots__ = ("f", "enabled")

    def __init__(self, enabled: bool = True):
        self.f = 0
        self.enabled = enabled


class Knowledge:
    """Writes known complete: bio ids base + i for each set bit i of mask."""

    __slots__ = ("fr", "base", "mask")
    # Invariant: bits below `base` are not held; the ones dropped were settled.

    def __init__(self, fr, base, mask):
        self.fr = fr
        self.base = base
        self.mask = mask

    def __or__(self, o):
        if o.__class__ is not Knowledge:
            if o == 0:
                return self
            if not isinstance(o, int):
                return NotImplemented
            o = Knowledge(self.fr, 0, o)     # a plain absolute mask (tests, fake logs)
        elif o is self:
            return self
        b1 = self.base
        b2 = o.base
        fr = self.fr
        # Per base ordering: re-base when the frontier is SLACK past the lower base (rare),
        # else self or o when the other adds no bit, else a new value.
        if b1 < b2:
            m = self.mask | (o.mask << (b2 - b1))
            b = b1
            if fr.f - b > SLACK and fr.enabled:
                return self._rebased(o, b, m)
            if m == self.mask:
                return self
        elif b1 == b2:
            m = self.mask | o.mask
            b = b1
            if fr.f - b > SLACK and fr.enabled:
                return self._rebased(o, b, m)
            if m == self.mask:
                return self
            if m == o.mask:
                return o
        else:
            m = (self.mask << (b1 - b2)) | o.mask
            b = b2
            if fr.f - b > SLACK and fr.enabled:
                return self._rebased(o, b, m)
            if m == o.mask:
                return o
        k = _new(Knowledge)         # Knowledge(fr, b, m) without the call of __init__
        k.fr = fr
        k.base = b
        k.mask = m
        return k

    def _rebased(self, o, b, m):
        """self | o, combined as `m` from base `b`, once the frontier is SLACK past `b`:
        the bits below the frontier go."""
        f = self.fr.f
        m >>= f - b
        if f == self.base and m == self.mask:
            return self
        if f == o.base and m == o.mask:
            return o
        return Knowledge(self.fr, f, m)

    __ror__ = __or__

    def __and__(self, o):
        """The absolute int mask's bits in common with int (or knowledge) `o`."""
        return as_int(self) & as_int(o)

    __rand__ = __and__

    def __rshift__(self, n):
        return as_int(self) >> n

    def __int__(self):
        return as_int(self)

    def __bool__(self):
        return self.mask != 0

    def __eq__(self, o):
        return as_int(self) == as_int(o)

    def __hash__(self):
        return hash(as_int(self))

    def __repr__(self):
        return f"Knowledge(base={self.base}, bits={self.mask.bit_count()})"

    def has(self, bid) -> bool:
        """Bio `bid` is in this knowledge (False for a settled bit already dropped)."""
        i = bid - self.base
        return i >= 0 and (self.mask >> i) & 1 == 1

    def ids(self):
        """The bio ids held, lowest first."""
        b = self.base
        for i in bits(self.mask):
            yield b + i

    def width(self) -> int:
        """Bits this value stores (its memory, in bits)."""
        return self.mask.bit_length()


def bits(mask: int):
    """Indices of the set bits of `mask`, lowest first."""
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


def one(fr, bid) -> "Knowledge":
    """The knowledge of bio `bid`'s completion alone."""
    k = _new(Knowledge)
    k.fr = fr
    k.base = bid
    k.mask = 1
    return k


def as_int(x) -> int:
    """The absolute bitmask (bit i = bio i) of knowledge `x` (an int passes through)."""
    if x.__class__ is Knowledge:
        return x.mask << x.base
    return x
