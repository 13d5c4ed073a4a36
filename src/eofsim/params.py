"""Tunables: every timing and size knob of the model, with the kernel default it stands for.

`--set key=value` and a scenario's `tunables:` map onto these fields.
"""

from dataclasses import dataclass, fields, replace

from .errors import InputError
from .units import parse_size, parse_time

S = 1_000_000_000
MS = 1_000_000
US = 1_000


@dataclass(frozen=True)
class Tunables:
    block_size: int = 4096
    """Filesystem block size (mkfs -b). Must be <= folio_size."""
    folio_size: int = 4096
    """Page-cache folio size (PAGE_SIZE; order-0 folios)."""
    delalloc: bool = True
    """ext4 mount default `delalloc` (ext4_set_def_opts); false = nodelalloc."""
    dioread_nolock: bool = True
    """Allocate written-back delalloc blocks as unwritten, convert at end-I/O
    (ext4_should_dioread_nolock; default when block size <= page size)."""
    commit_interval_ns: int = 5 * S
    """jbd2 transaction lifetime from creation (JBD2_DEFAULT_MAX_COMMIT_AGE, commit=)."""
    max_batch_ns: int = 15 * MS
    """Sync-commit batching upper bound (EXT4_DEF_MAX_BATCH_TIME)."""
    min_batch_ns: int = 0
    """Sync-commit batching lower bound (EXT4_DEF_MIN_BATCH_TIME)."""
    dirty_writeback_ns: int = 5 * S
    """Flusher wakeup period (dirty_writeback_centisecs=500)."""
    dirty_expire_ns: int = 30 * S
    """Per-inode dirty age before kupdate writeback (dirty_expire_centisecs=3000)."""
    device: str = "nvme"
    """Device preset (block.PRESETS): nvme, sata-ssd, hdd, throttled, ideal. Every dev_* and
    throttle_* tunable left unset takes the preset's value; block.py cites each figure."""
    dev_write_ns: int | None = None
    """Latency of a small write taken into the device's cache (unloaded; QD1 4 KiB write)."""
    dev_flush_ns: int | None = None
    """Cache flush command time beyond destaging what the cache holds."""
    dev_read_ns: int | None = None
    """Device read latency (flat: reads are not queued)."""
    dev_service_ns: int | None = None
    """Per-request time at the medium (command overhead), besides transfer and positioning."""
    dev_bandwidth: int | None = None
    """Medium bandwidth, bytes per second (0 = unlimited)."""
    dev_seek_ns: int | None = None
    """Positioning cost of the shortest move (a request not continuing the previous one)."""
    dev_seek_max_ns: int | None = None
    """Positioning cost of a full-stroke move (distance >= dev_span_bytes); sqrt in between."""
    dev_rotation_ns: int | None = None
    """Average rotational latency added to every non-contiguous request (disks)."""
    dev_span_bytes: int | None = None
    """Distance at which the positioning cost reaches dev_seek_max_ns (the device's size)."""
    dev_cache_bytes: int | None = None
    """Volatile write cache size; 0 = write-through (flush/FUA stripped, as without
    QUEUE_FLAG_WC)."""
    dev_queue_depth: int | None = None
    """Requests at the device at once (tags; 0 = unlimited)."""
    dev_scheduler: str | None = None
    """I/O scheduler: none or mq-deadline."""
    dev_fua: bool | None = None
    """The device supports FUA natively; otherwise blk-flush adds a post-flush."""
    dev_flush_exclusive: bool | None = None
    """A flush runs alone at the device (ATA FLUSH CACHE is not queued)."""
    dev_reorder: str | None = None
    """Order the cache destages in: fifo or elevator (ascending blocks from the head)."""
    dev_max_request_bytes: int | None = None
    """Largest merged request (max_sectors_kb)."""
    dev_merge: bool | None = None
    """Merge adjacent writes into one request (plug and elevator merge)."""
    throttle_wiops: int | None = None
    """cgroup io.max wiops for the workload's cgroup (0 = no limit)."""
    throttle_wbps: int | None = None
    """cgroup io.max wbps, bytes per second (0 = no limit)."""
    delay_bio: str = ""
    """Extra latency for chosen bios: 'ID=DURATION,...' (block.BlockDevice.extra_latency)."""
    barrier: bool = True
    """Mount option barrier (set_opt(BARRIER)): commit block with PREFLUSH|FUA."""
    max_txn_buffers: int = 8192
    """j_max_transaction_buffers: credits beyond which a new handle forces a commit."""
    writeback_chunk_folios: int = 1024
    """Folios written per inode per kupdate pass (MAX_WRITEBACK_PAGES)."""
    max_bio_bytes: int = 1 << 20
    """Largest data bio (BIO_MAX_VECS pages of 4 KiB); longer runs are split."""
    ioend_batch_folios: int = 4096
    """IOEND_BATCH_SIZE: folios per iomap ioend."""
    syscall_ns: int = 1 * US
    """CPU time a system call spends before it acts (entry, locks, lookups). Nonzero, it
    also orders an op that ends at the instant another thread's fsync begins before that
    fsync's work, as on a real machine."""
    timestamp_ns: int = 4 * MS
    """Granularity of mtime/ctime (coarse clock: one jiffy at HZ=250). A write, mmap fault or
    fallocate in a new tick dirties the inode in its own handle (file_update_time ->
    ext4_dirty_inode), which moves i_sync_tid. 0 turns timestamp updates off."""
    endio_workers: int = 1
    """End-I/O worker threads. 1 models a max_active=1 workqueue (ext4-rsv-conversion);
    an assumption for the iomap series, whose completion workqueue the sources do not name."""
    writeback_order: str = "index"
    """Writeback walk order: index (the kernel), reverse, random (a what-if knob)."""
    dax: bool = False
    """Inode flag S_DAX for every file: ext4_block_zero_eof uses dax_zero_range, no page cache."""
    encrypted_nokey: bool = False
    """Inode is encrypted and its key is not loaded: EOF zeroing is a no-op."""
    auto_da_alloc: bool = True
    """Mount default auto_da_alloc (false = noauto_da_alloc): ext4_alloc_da_blocks on the
    source of a rename over an existing file (ext4_rename) and on close after truncate to 0
    (ext4_release_file, EXT4_STATE_DA_ALLOC_CLOSE)."""
    seed: int = 0
    """Seed for every random choice (schedules, random writeback order)."""
    horizon_ns: int = 120 * S
    """How long after the last operation the simulation keeps running background work."""

    def check(self) -> "Tunables":
        bs, fs = self.block_size, self.folio_size
        if bs not in (1024, 2048, 4096, 8192, 16384, 32768, 65536):
            raise InputError(f"block_size {bs}: must be a power of two from 1024 to 65536")
        if fs < bs or fs % bs or fs & (fs - 1) or fs > 1 << 21:
            raise InputError(f"folio_size {fs}: must be a power of two >= block_size ({bs}), at most 2 MiB")
        from .block import PRESETS, REORDERS, SCHEDULERS, parse_delays
        if self.device not in PRESETS:
            raise InputError(f"device {self.device!r}: use one of {', '.join(PRESETS)}")
        if self.dev_scheduler is not None and self.dev_scheduler not in SCHEDULERS:
            raise InputError(f"dev_scheduler {self.dev_scheduler!r}: use {' or '.join(SCHEDULERS)}")
        if self.dev_reorder is not None and self.dev_reorder not in REORDERS:
            raise InputError(f"dev_reorder {self.dev_reorder!r}: use {' or '.join(REORDERS)}")
        parse_delays(self.delay_bio)
        if self.writeback_order not in ("index", "reverse", "random"):
            raise InputError(f"writeback_order {self.writeback_order!r}: use index, reverse or random")
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, int) and not isinstance(v, bool) and v < 0:
                raise InputError(f"{f.name} must not be negative")
        for name in ("commit_interval_ns", "dirty_writeback_ns", "max_txn_buffers", "endio_workers",
                     "writeback_chunk_folios", "ioend_batch_folios"):
            if getattr(self, name) <= 0:
                raise InputError(f"{name} must be positive")
        return self

    def with_values(self, values: dict, where: str | None = None) -> "Tunables":
        """Apply {key: text-or-value}; keys ending in _ns take durations, size keys take bytes."""
        kw = {}
        types = {f.name: f.type for f in fields(self)}
        for key, raw in values.items():
            if key not in types:
                raise InputError(f"unknown tunable {key!r} (known: {', '.join(types)})", where)
            try:
                kw[key] = _convert(key, types[key], raw)
            except InputError as e:
                raise InputError(e.message, where) from None
        try:
            return replace(self, **kw).check()
        except InputError as e:
            raise InputError(e.message, where) from None


_DEV_SIZES = ("dev_bandwidth", "dev_span_bytes", "dev_cache_bytes", "dev_max_request_bytes",
              "throttle_wbps")


def _convert(key, typ, raw):
    if typ == int | None:
        typ = int
    elif typ == str | None:
        typ = str
    elif typ == bool | None:
        typ = bool
    if typ in (bool, "bool"):
        if isinstance(raw, bool):
            return raw
        text = str(raw).lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise InputError(f"{key}: expected true or false, got {raw!r}")
    if typ in (str, "str"):
        return str(raw)
    if key.endswith("_ns"):
        return parse_time(raw, key)
    if key in ("block_size", "folio_size", "max_bio_bytes"):
        return parse_size(raw, key)
    if key in _DEV_SIZES:
        return parse_size(raw, key, limit=1 << 60)
    if isinstance(raw, bool):
        raise InputError(f"{key}: expected an integer, got {raw!r}")
    try:
        return int(str(raw), 0)
    except ValueError:
        raise InputError(f"{key}: expected an integer, got {raw!r}") from None


def parse_set(items, where: str = "--set") -> dict:
    """['key=value', ...] -> {key: value} (values still text)."""
    out = {}
    for item in items:
        if "=" not in item:
            raise InputError(f"{item!r} is not key=value", where)
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out
