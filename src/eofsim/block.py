"""The block device: the block layer's queueing (blk-throttle, plug and elevator merging,
tags, the flush machinery) and a device with a volatile write cache, per-request service
time, bandwidth and a distance-dependent positioning cost; REQ_PREFLUSH and REQ_FUA; and an
append-only I/O log that crash exploration reads and nothing else.

Crash semantics (unchanged by the timing model): a write is *completed* when it reached the
device's volatile cache; it is *durable* only after a later cache flush completes (or, with
FUA, at its own completion). PREFLUSH on a write flushes the cache before the write is
performed, as blk-flush sequences it (blk_insert_flush: PREFLUSH, DATA, POSTFLUSH/FUA).
Every bio keeps its own entry in `bios` with submit_ns, complete_ns and hb; merging only
makes the bios of one request complete together.

The path of one bio, each step named after the kernel place it stands for:

1. **blk-throttle** (`blk_throtl_bio`, cgroup v2 `io.max` wiops/wbps): with
   `throttle_wiops` / `throttle_wbps` set, a bio charged to the workload's cgroup waits
   until both budgets allow it, in FIFO order (a leaky bucket: an idle group passes at once,
   as the first bio of a new slice does). Charged: data bios (cgroup writeback charges the
   inode's owner, `wbc_init_bio`, whichever task writes them back) and empty flush bios an
   application task issues (fsync's `blkdev_issue_flush`; the iops limit always counts,
   `blk_should_throtl`). Not charged: jbd2's log and commit blocks (kjournald2 runs in the
   root cgroup, which io.max cannot limit). Assumption: every application thread of a
   scenario, the neighbour included, is in the one limited cgroup (one container).
2. **Plug and elevator merge** (`blk_attempt_plug_merge`, `blk_mq_sched_try_merge`,
   `blk_rq_merge_ok`): bios are not dispatched while the submitting task runs on; the
   dispatch happens when it sleeps (`blk_flush_plug` from `schedule`), i.e. at the end of
   the current virtual instant. Until a request is dispatched, a write that starts right
   after it (back merge) or ends right before it (front merge) joins it, up to
   `dev_max_request_bytes` (max_sectors_kb); REQ_PREFLUSH / REQ_FUA requests never merge
   (REQ_NOMERGE_FLAGS). Dispatch order: FIFO (`none`) or `mq-deadline`'s ascending sector
   order from the last dispatched position with a 5 s write FIFO expiry
   (`__dd_dispatch_request`, write_expire = 5 * HZ).
3. **Tags** (`blk_mq_get_tag`): at most `dev_queue_depth` requests are at the device
   (0 = unlimited).
4. **The device**: a dispatched write is taken into the volatile cache (if the cache has
   room; otherwise it waits for the destage to free some) and completes `dev_write_ns`
   later (the unloaded latency of a small write). The cache destages in the background, one
   request at a time, each occupying the medium for `dev_service_ns` + bytes / `dev_bandwidth`
   + the positioning cost; the order is FIFO or, with `dev_reorder=elevator`, the next
   request in ascending block order from the head (C-LOOK, standing for NCQ reordering).
   `dev_cache_bytes=0` is a write-through device (write cache off): writes complete when
   they are on the medium, and PREFLUSH / FUA are stripped and empty flushes complete at
   once (`submit_bio_noacct`: `!bdev_write_cache`).
   Positioning cost of a request that does not start where the previous one ended, at a
   distance of d bytes: `dev_seek_ns + (dev_seek_max_ns - dev_seek_ns) * sqrt(min(d, span) /
   span) + dev_rotation_ns` (span = `dev_span_bytes`); 0 if it continues the previous one.
   The journal's blocks sit from the middle of the span on (mke2fs's placement).
5. **Flushes** (blk-flush.c): one flush is in flight at a time; flushes that arrive while
   one runs wait and are all served by the next one (`blk_kick_flush`, condition C1). A
   flush completes when every write the cache had taken before the flush started is on the
   medium, plus `dev_flush_ns` (latency: the destage of later writes goes on). With `dev_flush_exclusive` (ATA: FLUSH CACHE is not an NCQ
   command, `ata_std_qc_defer`) it waits until no request is at the device and nothing is
   dispatched while it runs. FUA: with `dev_fua` (native, e.g. NVMe) the write completes
   when it is on the medium (destaged before anything queued); without (libata's default
   `libata.fua=0`) blk-flush adds a POSTFLUSH (`blk_insert_flush`: REQ_FSEQ_POSTFLUSH when
   `!supports_fua`).

Per-bio extra latency (for fault injection / chosen schedules): `BlockDevice.extra_latency`
maps a bio id to extra nanoseconds; it is read when that bio is submitted, the bio then is
never merged and completes that much later than the device would complete it (it does not
occupy the device longer). The tunable `delay_bio` ("ID=DURATION,...", e.g. `--set
delay_bio=3=5ms,7=1s`) fills it; code may also set entries before the bio is submitted.

Not modelled: read queueing (a read costs a flat `dev_read_ns`; reads here are only of EOF
blocks not yet cached), the CPU cost of building and submitting bios, the device's garbage
collection and SLC-cache exhaustion, blk-throttle's slice accounting beyond the leaky bucket.
"""

import bisect
import heapq
import math
from collections import deque
from dataclasses import dataclass, field

from .content import fill, garbage
from .errors import InputError
from .hb import Frontier, Knowledge, bits, one
from .seq import Seq

WRITE, FLUSH = "write", "flush"

US = 1_000
MS = 1_000_000
MIB = 1 << 20
UNLIMITED = 1 << 62

# ------------------------------------------------------------------------------ presets
# Every figure with its source. Derived figures say how they were derived.

_NVME = dict(
    # Samsung 980 PRO 1 TB (consumer PCIe 4.0, no power-loss protection), Samsung's product
    # page as reproduced by hardwareluxx.de (2020-09) and TechPowerUp: sequential write
    # 5,000 MB/s; 4 KiB random write QD32 1,000,000 IOPS, QD1 60,000 IOPS; read QD1 22,000 IOPS.
    dev_write_ns=17 * US,            # 1 / 60,000 IOPS at QD1
    dev_read_ns=45 * US,             # 1 / 22,000 IOPS at QD1
    dev_bandwidth=5_000_000_000,     # 5,000 MB/s
    dev_service_ns=181,              # 1 / 1,000,000 IOPS minus 4 KiB at 5,000 MB/s (819 ns)
    dev_seek_ns=0, dev_seek_max_ns=0, dev_rotation_ns=0,   # no positioning on flash
    dev_span_bytes=1_000_000_000_000,
    dev_flush_ns=1 * MS,
    # Measured cache flush cost of the sibling 990 PRO (same class, no PLP): 891 us per
    # 16 KiB O_DIRECT write + fsync (M. Callaghan, "SSDs, power loss protection and fsync
    # latency", smalldatum.blogspot.com, 2026-01-07); 1,643 us per 8 KiB write + fdatasync
    # (T. Poder, "Using Postgres pg_test_fsync for testing low latency writes",
    # tanelpoder.com, 2025-05-27). 1 ms stands between them.
    dev_cache_bytes=64 * MIB,        # assumption: the volatile write buffer is not published
    dev_queue_depth=1023,            # nr_requests 1023, scheduler none, FUA 1, write back
    dev_scheduler="none",            # (lsds output for a 990 PRO, Poder 2025-05-27);
    dev_fua=True,                    # elevator_get_default: multi-queue -> none
    dev_flush_exclusive=False,       # NVMe Flush is an ordinary queued command
    dev_reorder="fifo",
    dev_max_request_bytes=1280 * 1024,   # BLK_DEF_MAX_SECTORS_CAP (2560 sectors)
    dev_merge=True,
    throttle_wiops=0, throttle_wbps=0,
)

_SATA_SSD = dict(
    # Samsung 870 EVO 1 TB (SATA 6 Gb/s), Samsung's specification as quoted by KitGuru's
    # review (2021) and Tom's Hardware (2021-01-19): sequential write 530 MB/s; 4 KiB random
    # write QD32 88,000 IOPS, QD1 36,000 IOPS; random read QD1 13,000 IOPS.
    dev_write_ns=28 * US,            # 1 / 36,000 IOPS at QD1
    dev_read_ns=77 * US,             # 1 / 13,000 IOPS at QD1
    dev_bandwidth=530_000_000,
    dev_service_ns=3_640,            # 1 / 88,000 IOPS (11.36 us) minus 4 KiB at 530 MB/s (7.73 us)
    dev_seek_ns=0, dev_seek_max_ns=0, dev_rotation_ns=0,
    dev_span_bytes=1_000_000_000_000,
    dev_flush_ns=2 * MS,             # assumption: no published measurement found; a consumer
                                     # SATA SSD without PLP, slower than the NVMe figure above
    dev_cache_bytes=64 * MIB,        # assumption
    dev_queue_depth=32,              # NCQ (ATA_MAX_QUEUE)
    dev_scheduler="mq-deadline",     # elevator_get_default: single queue -> mq-deadline
    dev_fua=False,                   # libata.fua=0 by default (libata-core.c)
    dev_flush_exclusive=True,        # FLUSH CACHE EXT is non-NCQ (ata_std_qc_defer)
    dev_reorder="fifo",
    dev_max_request_bytes=1280 * 1024,
    dev_merge=True,
    throttle_wiops=0, throttle_wbps=0,
)

_HDD = dict(
    # Western Digital Ultrastar DC HC310 (7200 rpm, SATA), OEM specification §4.5: average
    # write seek 8.2 ms, single-track write seek 0.32 ms, average rotational latency 4.16 ms
    # (8.33 ms per revolution). Full stroke is derived so that the sqrt seek curve's mean
    # over uniformly random distances (2/3 of the way) is the datasheet's average:
    # 0.32 + 1.5 * (8.2 - 0.32) = 12.14 ms. Sustained transfer 255 MB/s and the 256 MB buffer
    # are the product brief's figures for the 4 TB model (not checked against a copy here).
    dev_write_ns=100 * US,           # assumption: command overhead + 4 KiB over SATA into the cache
    dev_read_ns=12_500 * US,         # average read seek 7.4 ms + 4.16 ms latency + overhead
    dev_bandwidth=255_000_000,
    dev_service_ns=100 * US,         # assumption: per-command overhead at the medium
    dev_seek_ns=320 * US,
    dev_seek_max_ns=12_140 * US,
    dev_rotation_ns=4_160 * US,
    dev_span_bytes=4_000_000_000_000,
    dev_flush_ns=1 * MS,             # assumption: FLUSH CACHE beyond destaging what is cached
    dev_cache_bytes=256 * MIB,
    dev_queue_depth=32,              # NCQ
    dev_scheduler="mq-deadline",
    dev_fua=False,                   # libata.fua=0
    dev_flush_exclusive=True,        # ata_std_qc_defer
    dev_reorder="elevator",          # NCQ reorders the cached writes it destages
    dev_max_request_bytes=1280 * 1024,
    dev_merge=True,
    throttle_wiops=0, throttle_wbps=0,
)

_THROTTLED = dict(
    _NVME,
    # The NVMe device above behind a cgroup v2 io.max limit ("MAJ:MIN wiops=3000
    # wbps=131072000", Documentation/admin-guide/cgroup-v2.rst, IO Interface Files), set to
    # the baseline of an AWS EBS gp3 volume (3,000 IOPS, 125 MiB/s; AWS EBS volume types),
    # the usual throttled device in practice.
    throttle_wiops=3000,
    throttle_wbps=125 * MIB,
)

_IDEAL = dict(
    # The model's device before issue 15: a fixed latency per write and per flush, no queue,
    # no bandwidth limit, nothing merged. Kept for unit tests and as a what-if.
    dev_write_ns=200 * US, dev_read_ns=100 * US, dev_flush_ns=1 * MS,
    dev_bandwidth=0, dev_service_ns=0,
    dev_seek_ns=0, dev_seek_max_ns=0, dev_rotation_ns=0, dev_span_bytes=1_000_000_000_000,
    dev_cache_bytes=UNLIMITED, dev_queue_depth=0, dev_scheduler="none", dev_fua=True,
    dev_flush_exclusive=False, dev_reorder="fifo", dev_max_request_bytes=1280 * 1024,
    dev_merge=False, throttle_wiops=0, throttle_wbps=0,
)

PRESETS = {"nvme": _NVME, "sata-ssd": _SATA_SSD, "hdd": _HDD, "throttled": _THROTTLED,
           "ideal": _IDEAL}
DEFAULT_DEVICE = "nvme"
DEVICE_PARAMS = tuple(_NVME)
SCHEDULERS = ("none", "mq-deadline")
REORDERS = ("fifo", "elevator")


def device_params(tun) -> dict:
    """The device's parameters: the preset named by `tun.device`, each overridden by the
    tunable of the same name when that is set (not None)."""
    try:
        base = PRESETS[tun.device]
    except KeyError:
        raise InputError(f"device {tun.device!r}: use one of {', '.join(PRESETS)}") from None
    out = dict(base)
    for k in DEVICE_PARAMS:
        v = getattr(tun, k, None)
        if v is not None:
            out[k] = v
    return out


def parse_delays(text) -> dict:
    """'3=5ms,7=1s' -> {3: 5_000_000, 7: 1_000_000_000} (bio id -> extra ns)."""
    from .units import parse_time
    out = {}
    if isinstance(text, dict):
        items = [(k, v) for k, v in text.items()]
    else:
        items = []
        for part in str(text or "").split(","):
            part = part.strip()
            if not part:
                continue
            if "=" not in part:
                raise InputError(f"delay_bio: {part!r} is not BIO_ID=DURATION")
            k, v = part.split("=", 1)
            items.append((k.strip(), v.strip()))
    for k, v in items:
        try:
            bid = int(str(k), 10)
        except ValueError:
            raise InputError(f"delay_bio: bio id {k!r} is not an integer") from None
        if bid < 0:
            raise InputError(f"delay_bio: bio id {bid} must not be negative")
        out[bid] = parse_time(v, f"delay_bio[{bid}]")
    return out


def is_zero_bio(bio) -> bool:
    """A write that carries a zeroed EOF block (ext4.py marks it in `why`)."""
    w = bio.why
    return (bio.kind == "data" and "zero" in w      # (what the three tests share: one scan)
            and (w.startswith("zero-eof") or w.endswith("zeroed EOF block") or w == "dax-zero"))


# ------------------------------------------------------------------------------ bios


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
    """Data bios that start where the previous data bio ended (before merging)."""
    random: int = 0
    flushes: int = 0
    preflush: int = 0
    fua: int = 0
    zero_block_writes: int = 0
    reads: int = 0
    queued_ns: int = 0
    """Time write requests waited between submission and the device taking them (throttle,
    tags, cache room)."""
    sizes: dict = field(default_factory=dict)
    requests: int = 0
    """Write requests dispatched to the device (after merging)."""
    merged_bios: int = 0
    """Bios that joined another bio's request (plug / elevator merge)."""
    req_sequential: int = 0
    """Dispatched write requests that start where the previous one ended."""
    req_random: int = 0
    device_flushes: int = 0
    """Cache flush commands the device executed (after blk-flush coalescing)."""
    busy_ns: int = 0
    """Time the medium was busy writing (destage, or write-through writes)."""
    flush_ns: int = 0
    """Time the device spent in flush commands (after their destage wait); a flush command is
    latency, it does not stop the destage of later writes."""
    zero_busy_ns: int = 0
    """The part of busy_ns spent writing zeroed EOF blocks (apportioned by blocks)."""
    throttled_ns: int = 0
    """Time bios waited in blk-throttle."""
    cache_full_waits: int = 0
    """Requests that found the write cache full and waited for the destage."""

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["sizes"] = {str(k): v for k, v in sorted(self.sizes.items())}
        return d


class _Req:
    """A block-layer request: one or more contiguous bios (struct request)."""

    __slots__ = ("bios", "first", "last", "nomerge", "fua", "seq", "queued_ns", "cached",
                 "zero_blocks", "nblocks", "dispatched", "left")

    def __init__(self, bio, nomerge, now):
        blocks = bio.blocks
        self.bios = [bio]
        self.first = blocks[0][0]
        self.last = blocks[-1][0]
        self.nomerge = nomerge
        self.fua = bio.fua
        self.seq = 0
        self.queued_ns = now
        self.cached = False
        self.nblocks = n = len(blocks)
        self.zero_blocks = n if is_zero_bio(bio) else 0
        self.dispatched = False
        self.left = 0


class _NoLog:
    """The I/O log of a run that does not keep one (retain=False)."""
    __slots__ = ()

    def append(self, _):
        pass


class BlockDevice:
    def __init__(self, engine, tun, fill_byte: int = 0xE5, retain: bool = True):
        self.engine = engine
        self.retain = retain
        """False (crash/stream.py): bios are released once taken (release) and the I/O log
        and the journal's blocks' contents are not kept; the events are the same."""
        self.bs = tun.block_size
        p = self.params = device_params(tun)
        self.device = tun.device
        self.write_ns = p["dev_write_ns"]
        self.flush_ns = p["dev_flush_ns"]
        self.read_ns = p["dev_read_ns"]
        self.service_ns = p["dev_service_ns"]
        self.bandwidth = p["dev_bandwidth"]
        self.seek_ns = p["dev_seek_ns"]
        self.seek_max_ns = max(p["dev_seek_max_ns"], p["dev_seek_ns"])
        self.rotation_ns = p["dev_rotation_ns"]
        self.span = max(1, p["dev_span_bytes"])
        self.cache_bytes = p["dev_cache_bytes"]
        self.qd = p["dev_queue_depth"] or UNLIMITED
        self.deadline = p["dev_scheduler"] == "mq-deadline"
        self.fua_native = p["dev_fua"]
        self.flush_exclusive = p["dev_flush_exclusive"]
        self.elevator = p["dev_reorder"] == "elevator"
        self.max_req_blocks = max(1, p["dev_max_request_bytes"] // self.bs)
        self.merge = p["dev_merge"]
        self.wiops = p["throttle_wiops"]
        self.wbps = p["throttle_wbps"]
        from .jbd2 import JOURNAL_BASE
        self._journal_base = JOURNAL_BASE
        self._tunable_delays = parse_delays(getattr(tun, "delay_bio", ""))
        self.extra_latency = dict(self._tunable_delays)
        """bio id -> extra nanoseconds of latency (read when that bio is submitted)."""
        self.fill = fill(self.bs, garbage(fill_byte))
        self.initial = {}
        """pblk -> runs on the medium before the scenario (planted garbage, initial files)."""
        self.cache = {}
        """pblk -> runs of the latest completed write: what a read returns."""
        self.bios = [] if retain else Seq()
        self.log = [] if retain else _NoLog()
        """[(time_ns, 'submit' | 'complete', bio id)] in the order things happened."""
        self.frontier = Frontier()
        """hb.Frontier: every bio id below frontier.f is settled (see _settle)."""
        self.durable_ns = [] if retain else Seq()
        """Per bio id: when the write became durable under the guarantee semantics
        (crash/states.py), or None (not yet, or not a write)."""
        self._settled = bytearray() if retain else Seq(dropped=1)
        self.stats = IoStats()
        self._last_pblk = None
        # block layer
        self._thr_iops_t = 0
        self._thr_bps_t = 0
        self._sched = []            # requests not yet dispatched (mergeable)
        self._by_first = {}
        self._by_last = {}
        self._armed = False
        self._inflight = 0
        self._last_dispatch_end = None
        self._deadline_pos = 0
        # device
        self._cache_used = 0
        self._room_waiters = []     # requests dispatched that wait for cache room
        self._destage = []          # FIFO list or sorted [(first, seq, req)]
        self._destage_head = 0
        self._urgent = []           # FUA writes, destaged first
        self._media_busy = False
        self._head = None           # block after the last one the medium wrote
        self._wseq = 0
        self._undestaged = []       # heap of seqs of cached writes not yet on the medium
        self._media_free = 0        # FIFO medium: when it has destaged everything taken
        self._cached = deque()      # FIFO medium: (destage end, bytes) of what the cache holds
        self._room_retry = False
        self._flush_wait = False
        self._destaged = set()
        self._flush_pending = []
        self._flush_running = None  # (callbacks, target seq) or None
        self._flush_cmd = False
        self.busy_until = 0

    @property
    def extra_delay(self) -> dict:
        """The same map as `extra_latency` under the name issue 14's `--delay-bio` uses
        (sim.simulate's bio_delays). Assigning a map keeps the `delay_bio` tunable's entries
        it does not name."""
        return self.extra_latency

    @extra_delay.setter
    def extra_delay(self, delays):
        merged = dict(self._tunable_delays)
        merged.update(delays or {})
        self.extra_latency = merged

    # ------------------------------------------------------------------ helpers
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

    def read_latency(self) -> int:
        self.stats.reads += 1
        return self._latency(self.read_ns)

    def where(self, pblk) -> int:
        """Where block `pblk` is on the device, in blocks. The model's journal lives at
        jbd2.JOURNAL_BASE, far from any data; mke2fs puts the journal near the middle of the
        filesystem (e2fsprogs lib/ext2fs/mkjournal.c, get_midpoint_journal_block), so journal
        blocks are placed from the middle of the span on."""
        if pblk >= self._journal_base:
            return self.span // 2 // self.bs + (pblk - self._journal_base)
        return pblk

    def position_ns(self, start) -> int:
        """The positioning cost of a request starting at block `start` after the medium's
        last write (0 when it continues it)."""
        if self._head is None or start == self._head:
            return 0
        if not (self.seek_ns or self.seek_max_ns or self.rotation_ns):
            return 0
        d = min(abs(self.where(start) - self.where(self._head)) * self.bs, self.span)
        return int(self.seek_ns + (self.seek_max_ns - self.seek_ns) * math.sqrt(d / self.span)
                   + self.rotation_ns)

    def _transfer_ns(self, nblocks) -> int:
        if not self.bandwidth:
            return 0
        return nblocks * self.bs * 1_000_000_000 // self.bandwidth

    # ------------------------------------------------------------------ submission
    def submit(self, bio: Bio) -> Bio:
        eng = self.engine
        bio.id = len(self.bios)
        bio.submit_ns = eng.now
        cur = eng.current
        bio.hb = cur.hb if cur is not None else 0
        self.bios.append(bio)
        self.durable_ns.append(None)
        self._settled.append(bio.op != WRITE)
        self.log.append((eng.now, "submit", bio.id))
        st = self.stats
        if bio.op == FLUSH:
            st.flushes += 1
        else:
            blocks = bio.blocks
            nb = len(blocks) * self.bs
            st.writes += 1
            st.write_bytes += nb
            sizes = st.sizes
            sizes[nb] = sizes.get(nb, 0) + 1
            if bio.kind == "data":
                st.data_writes += 1
                st.data_bytes += nb
                last = self._last_pblk
                if last is not None and blocks[0][0] == last + 1:
                    st.sequential += 1
                else:
                    st.random += 1
                self._last_pblk = blocks[-1][0]
            else:
                st.journal_writes += 1
            if bio.preflush:
                st.preflush += 1
            if bio.fua:
                st.fua += 1
        if self.wiops or self.wbps:
            t = self._throttle(bio, cur)
            if t > eng.now:
                st.throttled_ns += t - eng.now
                eng.call_at(t, self._enter, bio)
                return bio
        self._enter(bio)
        return bio

    def _throttle(self, bio, cur) -> int:
        """blk-throttle: when this bio may go on (a leaky bucket per limit, FIFO)."""
        if not (self.wiops or self.wbps):
            return 0
        if bio.op == FLUSH:
            if cur is None or cur.kind != "app" or not self.wiops:
                return 0
        elif bio.kind != "data":
            return 0
        now = self.engine.now
        t = now
        if self.wiops:
            t = max(t, self._thr_iops_t)
        if self.wbps and bio.op != FLUSH:
            t = max(t, self._thr_bps_t)
        if self.wiops:
            self._thr_iops_t = t + 1_000_000_000 // self.wiops
        if self.wbps and bio.op != FLUSH:
            self._thr_bps_t = t + len(bio.blocks) * self.bs * 1_000_000_000 // self.wbps
        return t

    def _enter(self, bio):
        """submit_bio past blk-throttle: flushes to blk-flush, writes to the queue."""
        if self.cache_bytes == 0:
            # No volatile cache: blk-flush strips PREFLUSH/FUA; an empty flush ends at once.
            if bio.op == FLUSH:
                self._finish(bio, 0)
                return
            self._queue(bio)
            return
        if bio.op == FLUSH:
            self._flush_request(lambda: self._finish(bio, 0))
        elif bio.preflush:
            self._flush_request(lambda: self._queue(bio))
        else:
            self._queue(bio)

    def _queue(self, bio):
        """Plug / elevator merge, or a new request."""
        nomerge = (not self.merge or bio.preflush or bio.fua or bio.id in self.extra_latency)
        if not nomerge:
            first, last = bio.blocks[0][0], bio.blocks[-1][0]
            n = len(bio.blocks)
            r = self._by_last.get(first - 1)
            if r is not None and r.nblocks + n <= self.max_req_blocks:
                del self._by_last[r.last]
                r.bios.append(bio)
                r.last = last
                r.nblocks += n
                self._by_last[last] = r
                self._merged(r, bio)
                return
            r = self._by_first.get(last + 1)
            if r is not None and r.nblocks + n <= self.max_req_blocks:
                del self._by_first[r.first]
                r.bios.insert(0, bio)
                r.first = first
                r.nblocks += n
                self._by_first[first] = r
                self._merged(r, bio)
                return
        req = _Req(bio, nomerge, self.engine.now)
        self._sched.append(req)
        if not nomerge:
            self._by_first[req.first] = req
            self._by_last[req.last] = req
        if not self._armed:
            self._kick()

    def _merged(self, req, bio):
        self.stats.merged_bios += 1
        if is_zero_bio(bio):
            req.zero_blocks += len(bio.blocks)

    def _kick(self):
        """Dispatch at the end of this instant (blk_flush_plug when the submitter sleeps)."""
        if not self._armed:
            self._armed = True
            self.engine.call_at(self.engine.now, self._dispatch)

    def _pick(self):
        s = self._sched
        if not self.deadline or len(s) == 1:
            return s.pop(0)
        now = self.engine.now
        oldest = min(range(len(s)), key=lambda i: s[i].queued_ns)
        if now - s[oldest].queued_ns >= 5_000_000_000:      # write_expire = 5 * HZ
            return s.pop(oldest)
        pos = self._deadline_pos
        w = self.where
        ahead = [i for i in range(len(s)) if w(s[i].first) >= pos]
        pool = ahead or range(len(s))
        i = min(pool, key=lambda i: (w(s[i].first), s[i].queued_ns))
        return s.pop(i)

    def _dispatch(self, _=None):
        self._armed = False
        s = self._sched
        st = self.stats
        deadline = self.deadline
        while s and self._inflight < self.qd:
            if self.flush_exclusive and (self._flush_cmd or (self._flush_running is not None)):
                break           # ATA: nothing is issued while a flush waits or runs
            req = s.pop(0) if not deadline or len(s) == 1 else self._pick()   # _pick's FIFO case
            if not req.nomerge:
                self._by_first.pop(req.first, None)
                self._by_last.pop(req.last, None)
            req.dispatched = True
            req.left = len(req.bios)
            self._inflight += 1
            st.requests += 1
            end = self._last_dispatch_end
            if end is not None and req.first == end + 1:
                st.req_sequential += 1
            else:
                st.req_random += 1
            last = self._last_dispatch_end = req.last
            if deadline:            # (only mq-deadline's _pick reads it)
                p = last + 1
                self._deadline_pos = p if p < self._journal_base else self.where(p)
            if self.cache_bytes == 0:
                st.queued_ns += self.engine.now - req.queued_ns
                self._to_medium(req)
            else:
                self._room_waiters.append(req)
        self._take_into_cache()

    # ------------------------------------------------------------------ the device
    def _take_into_cache(self, _=None):
        eng = self.engine
        w = self._room_waiters
        cached = self._cached
        if cached:
            # FIFO medium: requests whose destage has ended free their room now.
            now = eng.now
            while cached and cached[0][0] <= now:
                self._cache_used -= cached.popleft()[1]
        while w:
            req = w[0]
            need = req.nblocks * self.bs
            if self._cache_used + need > self.cache_bytes and self._cache_used > 0:
                if not req.cached:
                    req.cached = True          # (a flag: the wait is counted once)
                    self.stats.cache_full_waits += 1
                if cached and not self._room_retry:
                    self._room_retry = True
                    eng.call_at(cached[0][0], self._room_again)
                return
            w.pop(0)
            self._cache_used += need
            self.stats.queued_ns += eng.now - req.queued_ns
            self._to_medium(req)
            if not (req.fua and self.fua_native):
                for bio in req.bios:
                    self._finish(bio, self._latency(self.write_ns) if eng.perturb else self.write_ns,
                                 req)

    def _room_again(self, _=None):
        self._room_retry = False
        self._take_into_cache()

    def _to_medium(self, req):
        self._wseq += 1
        req.seq = self._wseq
        if not self.elevator:
            self._to_fifo_medium(req)
            return
        heapq.heappush(self._undestaged, req.seq)
        if req.fua and self.fua_native:
            self._urgent.append(req)
        elif self.elevator:
            bisect.insort(self._destage, (self.where(req.first), req.seq, req))
        else:
            self._destage.append(req)
        self._media_next()

    def _to_fifo_medium(self, req):
        """A FIFO medium is a single server in arrival order: each request's destage end is
        known when the cache takes it (max(now, end of the previous one) + its service,
        transfer and positioning), so no event is needed per request; FUA writes take their
        turn too. Room in the cache is given back when the end has passed."""
        eng = self.engine
        occ = self.service_ns
        bw = self.bandwidth
        if bw:
            occ += req.nblocks * self.bs * 1_000_000_000 // bw     # _transfer_ns
        head = self._head
        if head is not None and req.first != head:
            occ += self.position_ns(req.first)
        self._head = req.last + 1
        now = eng.now
        free = self._media_free
        end = (now if now > free else free) + occ
        self._media_free = end
        self.busy_until = end
        st = self.stats
        st.busy_ns += occ
        if req.zero_blocks:
            st.zero_busy_ns += occ * req.zero_blocks // req.nblocks
        if self.cache_bytes == 0 or (req.fua and self.fua_native):
            for bio in req.bios:
                self._finish(bio, end - now + self._latency(self.write_ns), req)
        if self.cache_bytes:
            self._cached.append((end, req.nblocks * self.bs))

    def _media_next(self):
        if self._media_busy or not self.elevator:
            return
        req = None
        if self._urgent:
            req = self._urgent.pop(0)
        elif self.elevator:
            d = self._destage
            if d:
                pos = self.where(self._head or 0)
                i = bisect.bisect_left(d, (pos, -1))
                if i >= len(d):
                    i = 0
                req = d.pop(i)[2]
        elif self._destage_head < len(self._destage):
            req = self._destage[self._destage_head]
            self._destage_head += 1
            if self._destage_head > 1024:
                del self._destage[:self._destage_head]
                self._destage_head = 0
        if req is None:
            if self._flush_running is not None:
                self._maybe_flush_cmd()
            return
        occ = self.service_ns + self._transfer_ns(req.nblocks) + self.position_ns(req.first)
        self._media_busy = True
        st = self.stats
        st.busy_ns += occ
        if req.zero_blocks:
            st.zero_busy_ns += occ * req.zero_blocks // req.nblocks
        self.busy_until = self.engine.now + occ
        self.engine.call_at(self.engine.now + occ, self._media_done, req)

    def _media_done(self, req):
        self._media_busy = False
        self._head = req.last + 1
        self._destaged.add(req.seq)
        u = self._undestaged
        while u and u[0] in self._destaged:
            self._destaged.discard(heapq.heappop(u))
        if self.cache_bytes == 0:
            for bio in req.bios:
                self._finish(bio, self._latency(self.write_ns), req)
        else:
            self._cache_used -= req.nblocks * self.bs
            if req.fua:
                if self.fua_native:
                    for bio in req.bios:
                        self._finish(bio, self._latency(self.write_ns), req)
            self._take_into_cache()
        self._maybe_flush_cmd()
        self._media_next()

    def _finish(self, bio, lat, req=None):
        """The device reports `bio` complete `lat` from now (+ its injected extra latency);
        a request's tag is released with its last bio."""
        el = self.extra_latency
        if el:
            lat += el.get(bio.id, 0)
        eng = self.engine
        eng.call_at(eng.now + lat, self._complete, (bio, req))

    def _complete(self, arg):
        bio, req = arg
        if req is not None:
            self._release(req, bio)
            if bio.fua and not self.fua_native and self.cache_bytes:
                # blk-flush: DATA done, now the POSTFLUSH; the bio ends when it does.
                self._flush_request(lambda: self._end_bio(bio))
                return
        self._end_bio(bio)

    def _release(self, req, bio):
        req.left -= 1
        if req.left == 0:
            if req.dispatched:
                req.dispatched = False
                self._inflight -= 1
                if self._inflight == 0 and self._flush_running is not None:
                    self._maybe_flush_cmd()
                if self._sched:
                    self._kick()

    def _end_bio(self, bio):
        eng = self.engine
        now = bio.complete_ns = eng.now
        self.log.append((now, "complete", bio.id))
        if self.retain or bio.kind not in ("journal", "commit"):
            self.cache.update(bio.blocks)
        self._settle(bio)
        end_io = bio.end_io
        if end_io is not None:
            # dropped once run: the log keeps the bio, not its ioend and folios
            bio.end_io = None
            eng.irq(one(self.frontier, bio.id))
            end_io(bio)

    def _settle(self, bio):
        """Durability as it happens, the online form of crash/states.durable_times: a FUA
        write is durable at its completion; a flush (or the flush half of a PREFLUSH write)
        makes durable, at its completion, every write its issuer knew complete (bio.hb)
        that had completed when it was issued. Then the durable frontier (hb.Frontier)
        moves past the leading settled bios, so knowledge drops their bits."""
        now = self.engine.now
        dur = self.durable_ns
        st = self._settled
        if bio.fua and bio.op == WRITE and dur[bio.id] is None:
            dur[bio.id] = now
            st[bio.id] = 1
        fr = self.frontier
        f = fr.f
        if (bio.op == FLUSH or bio.preflush) and bio.hb:
            bios = self.bios
            hb = bio.hb
            base, m = (hb.base, hb.mask) if hb.__class__ is Knowledge else (0, hb)
            if base < f:
                # Every bio below the frontier is settled already: only the bits from f on
                # can make a write durable (knowledge keeps up to hb.SLACK bits below it).
                m >>= f - base
                base = f
            n = len(bios)
            submit_ns = bio.submit_ns
            for b in bits(m):
                i = base + b
                if i >= n or st[i]:
                    continue
                w = bios[i]
                if w.complete_ns is None or w.complete_ns > submit_ns:
                    continue    # an inconsistent hb: states.durable_times notes it
                dur[i] = now
                st[i] = 1
        n = len(st)
        while f < n and st[f]:
            f += 1
        fr.f = f

    def release(self, upto):
        """retain=False: forget the bios below id `upto` (settled ones only: _settle reads
        no settled bio again)."""
        upto = min(upto, self.frontier.f)
        self.bios.drop_before(upto)
        self.durable_ns.drop_before(upto)
        self._settled.drop_before(upto)

    def forget(self, pblk):
        """retain=False: a freed block that is never allocated again (extents.alloc under
        data=ordered) is never read again either: drop its cached contents."""
        if not self.retain:
            self.cache.pop(pblk, None)

    # ------------------------------------------------------------------ blk-flush
    def _flush_request(self, cb):
        self._flush_pending.append(cb)
        self._kick_flush()

    def _kick_flush(self):
        """blk_kick_flush: one flush in flight; those pending meanwhile share the next."""
        if self._flush_running is not None or not self._flush_pending:
            return
        cbs, self._flush_pending = self._flush_pending, []
        self._flush_running = (cbs, self._wseq, self._media_free)
        self._maybe_flush_cmd()

    def _maybe_flush_cmd(self):
        fr = self._flush_running
        if fr is None or self._flush_cmd:
            return
        if self.flush_exclusive and self._inflight:
            return
        if self.elevator:
            if self._undestaged and self._undestaged[0] <= fr[1]:
                return      # writes it covers are still in the cache: the destage goes on
        elif self.engine.now < fr[2]:
            if not self._flush_wait:
                self._flush_wait = True
                self.engine.call_at(fr[2], self._flush_again)
            return
        self._flush_wait = False
        self._flush_cmd = True
        ns = self._latency(self.flush_ns)
        self.stats.device_flushes += 1
        self.stats.flush_ns += ns
        self.engine.call_at(self.engine.now + ns, self._flush_done)

    def _flush_again(self, _=None):
        self._flush_wait = False
        self._maybe_flush_cmd()

    def _flush_done(self, _=None):
        cbs = self._flush_running[0]
        self._flush_running = None
        self._flush_cmd = False
        for cb in cbs:
            cb()
        self._kick_flush()
        self._media_next()
        if self._sched:
            self._kick()
