"""The block device: submit/complete latencies, a volatile write cache, REQ_PREFLUSH and
REQ_FUA, and an append-only I/O log that crash exploration reads and nothing else.

A write is *completed* when it reached the device's volatile cache; it is *durable* only
after a later cache flush completes (or, with FUA, at its own completion). PREFLUSH on a
write flushes the cache before the write is performed, as blk-flush sequences it
(blk_insert_flush: PREFLUSH, DATA, POSTFLUSH/FUA).
"""

from dataclasses import dataclass, field

from .content import fill, garbage

WRITE, FLUSH = "write", "flush"


@dataclass(slots=True, eq=False)
class Bio:
    id: int
    op: str
    blocks: tuple = ()
    """((pblk, runs), ...): every block written, with the provenance of each byte."""
    kind: str = "data"
    """data | journal | commit | flush"""
    why: str = ""
    """Who asked: writeback, ordered, zero-eof, sync-range, jbd2 log, ..."""
    ino: int | None = None
    lblk: int | None = None
    preflush: bool = False
    fua: bool = False
    payload: object = None
    """Journal blocks: the transaction record they carry (jbd2.LogRecord)."""
    submit_ns: int = 0
    complete_ns: int | None = None
    racing: tuple = ()
    """((pblk, runs, time_ns), ...): newer contents stored into the folio while this write was
    in flight; without stable pages (folio_wait_stable does not wait) the device may have
    taken any of them instead."""
    hb: int = 0
    """Writes the issuer knew to be complete when it submitted (happens-before)."""
    end_io: object = field(default=None, repr=False)

    @property
    def bit(self) -> int:
        return 1 << self.id


@dataclass
class IoStats:
    writes: int = 0
    write_bytes: int = 0
    data_writes: int = 0
    data_bytes: int = 0
    journal_writes: int = 0
    sequential: int = 0
    random: int = 0
    flushes: int = 0
    preflush: int = 0
    fua: int = 0
    zero_block_writes: int = 0
    reads: int = 0
    queued_ns: int = 0
    """Time requests waited for the device (dev_service_ns > 0)."""
    sizes: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["sizes"] = {str(k): v for k, v in sorted(self.sizes.items())}
        return d


class BlockDevice:
    def __init__(self, engine, tun, fill_byte: int = 0xE5):
        self.engine = engine
        self.bs = tun.block_size
        self.write_ns = tun.dev_write_ns
        self.flush_ns = tun.dev_flush_ns
        self.read_ns = tun.dev_read_ns
        self.service_ns = tun.dev_service_ns
        self.seek_ns = tun.dev_seek_ns
        self.busy_until = 0
        self.fill = fill(self.bs, garbage(fill_byte))
        self.initial = {}
        """pblk -> runs on the medium before the scenario (planted garbage, initial files)."""
        self.cache = {}
        """pblk -> runs of the latest completed write: what a read returns."""
        self.bios = []
        self.log = []
        """[(time_ns, 'submit' | 'complete', bio id)] in the order things happened."""
        self.stats = IoStats()
        self._last_pblk = None
        self.extra_delay = {}
        """bio id -> extra ns added to that bio's latency at submission (`--delay-bio`, the
        timing witnesses of issue 14). Bio ids are assigned in submission order, so a delay
        changes nothing before the bio it names."""

    def _latency(self, ns):
        eng = self.engine
        if eng.perturb:
            return max(1, int(ns * eng.rng.uniform(0.05, 4.0)))
        return ns

    def block(self, pblk):
        """What a read of `pblk` returns now."""
        r = self.cache.get(pblk)
        if r is None:
            r = self.initial.get(pblk, self.fill)
        return r

    def submit(self, bio: Bio) -> Bio:
        eng = self.engine
        bio.id = len(self.bios)
        bio.submit_ns = eng.now
        cur = eng.current
        bio.hb = cur.hb if cur is not None else 0
        self.bios.append(bio)
        self.log.append((eng.now, "submit", bio.id))
        st = self.stats
        lat = 0
        if bio.op == FLUSH:
            st.flushes += 1
            lat = self._latency(self.flush_ns)
        else:
            n = len(bio.blocks)
            first = bio.blocks[0][0]
            st.writes += 1
            st.write_bytes += n * self.bs
            st.sizes[n * self.bs] = st.sizes.get(n * self.bs, 0) + 1
            seek = False
            if bio.kind == "data":
                st.data_writes += 1
                st.data_bytes += n * self.bs
                if self._last_pblk is not None and first == self._last_pblk + 1:
                    st.sequential += 1
                else:
                    st.random += 1
                    seek = True
                self._last_pblk = bio.blocks[-1][0]
            else:
                st.journal_writes += 1
            if bio.preflush:
                st.preflush += 1
                lat += self._latency(self.flush_ns)
            if bio.fua:
                st.fua += 1
            lat += self._latency(self.write_ns)
            if seek:
                lat += self.seek_ns
        if self.extra_delay:
            lat += self.extra_delay.get(bio.id, 0)
        if self.service_ns:
            start = max(eng.now, self.busy_until)
            self.busy_until = start + self.service_ns + (self.seek_ns if seek else 0)
            lat += start - eng.now
            st.queued_ns += start - eng.now
        eng.call_at(eng.now + lat, self._complete, bio)
        return bio

    def _complete(self, bio: Bio):
        eng = self.engine
        bio.complete_ns = eng.now
        self.log.append((eng.now, "complete", bio.id))
        for pblk, runs in bio.blocks:
            self.cache[pblk] = runs
        if bio.end_io is not None:
            eng.irq(bio.bit)
            bio.end_io(bio)

    def read_latency(self) -> int:
        self.stats.reads += 1
        return self._latency(self.read_ns)
