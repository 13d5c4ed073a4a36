"""Tunables: every timing and size knob of the model, with the kernel default it stands for.

`--set key=value` and a scenario's `tunables:` map onto these fields.
"""

from dataclasses import dataclass, fields, replace

from .errors import InputError
from .units import MAX_TIME_NS, parse_int, parse_size, parse_time

S = 1_000_000_000
MS = 1_000_000
US = 1_000
HZ = 250
"""CONFIG_HZ of Debian's kernels (CONFIG_HZ_250): the jiffy behind commit= and timestamps."""
INT_MAX = (1 << 31) - 1
U32_MAX = (1 << 32) - 1
CS = 10 * MS
"""A centisecond: the unit of vm.dirty_*_centisecs."""

BOUNDS = {
    # name: (lowest, highest, where the range comes from)
    "commit_interval_ns": (1 * US, INT_MAX // HZ * S,
                           "ext4 commit=SECONDS: at most INT_MAX/HZ s (ext4_parse_param, "
                           "Opt_commit); below 1 s is a what-if the mount option cannot set"),
    "xfs_syncd_ns": (1 * S, 7200 * S, "fs.xfs.xfssyncd_centisecs, 100..720000 centiseconds "
                                      "(xfs_params.syncd_timer in fs/xfs/xfs_globals.c)"),
    "max_batch_ns": (0, U32_MAX * US, "ext4 max_batch_time=USECS, a u32 (Opt_max_batch_time)"),
    "min_batch_ns": (0, U32_MAX * US, "ext4 min_batch_time=USECS, a u32 (Opt_min_batch_time)"),
    "dirty_writeback_ns": (1 * CS, INT_MAX * CS,
                           "vm.dirty_writeback_centisecs, an int of centiseconds "
                           "(dirty_writeback_centisecs_handler; 0, which turns periodic "
                           "writeback off, is not modelled)"),
    "dirty_expire_ns": (0, INT_MAX * CS, "vm.dirty_expire_centisecs, 0..INT_MAX centiseconds "
                                         "(proc_dointvec_minmax, extra1=SYSCTL_ZERO)"),
    "dev_write_ns": (0, 600 * S, "device latency; the block layer times a request out after "
                                 "its io_timeout (30 s by default), 600 s is a what-if ceiling"),
    "dev_flush_ns": (0, 600 * S, "as dev_write_ns"),
    "dev_read_ns": (0, 600 * S, "as dev_write_ns"),
    "dev_service_ns": (0, 600 * S, "as dev_write_ns"),
    "dev_seek_ns": (0, 600 * S, "as dev_write_ns"),
    "dev_seek_max_ns": (0, 600 * S, "as dev_write_ns"),
    "dev_rotation_ns": (0, 600 * S, "as dev_write_ns"),
    "dev_bandwidth": (0, 1 << 50, "bytes per second, 0 = unlimited; 2^50 (1 PiB/s) is a what-if "
                                  "ceiling"),
    "dev_span_bytes": (1, 1 << 60, "device capacity: sector_t counts 512-byte sectors in 64 bits; "
                                   "2^60 bytes is a ceiling"),
    "dev_cache_bytes": (0, 1 << 60, "volatile write cache; 0 = write-through (no QUEUE_FLAG_WC)"),
    "dev_queue_depth": (0, 10240, "tags: BLK_MQ_MAX_DEPTH = 10240 (include/linux/blk-mq.h); "
                                  "0 = unlimited"),
    "dev_max_request_bytes": (512, U32_MAX, "max_sectors_kb: a request's size is an unsigned "
                                            "int of bytes (rq->__data_len); one sector at least"),
    "throttle_wiops": (0, U32_MAX, "io.max wiops: unsigned int iops[2] (block/blk-throttle.h); "
                                   "0 = no limit"),
    "throttle_wbps": (0, (1 << 64) - 1, "io.max wbps: uint64_t bps[2] (block/blk-throttle.h); "
                                        "0 = no limit"),
    "max_txn_buffers": (1, 1 << 30, "j_max_transaction_buffers = journal blocks / 4 "
                                    "(jbd2_journal_get_max_txn_bufs); s_maxlen is a __be32, "
                                    "so at most 2^32 journal blocks"),
    "writeback_chunk_folios": (1, 1 << 20, "writeback_chunk_size (fs/fs-writeback.c) rounds "
                                           "a pass to MIN_WRITEBACK_PAGES, 1024 4 KiB pages; "
                                           "2^20 folios (4 GiB) is a ceiling"),
    "max_bio_bytes": (512, 1 << 31, "bio bi_size is an unsigned int of bytes; one sector at "
                                    "least"),
    "ioend_batch_folios": (1, 1 << 20, "IOEND_BATCH_SIZE (4096) in fs/iomap/buffered-io.c"),
    "syscall_ns": (0, 1 * S, "an assumption: CPU time per system call"),
    "timestamp_ns": (0, 1 * S, "the coarse clock ticks once a jiffy, 1 to 10 ms for HZ 1000 "
                               "to 100 (ktime_get_coarse_real_ts64); 0 turns it off"),
    "endio_workers": (1, 512, "WQ_MAX_ACTIVE = 512 (include/linux/workqueue.h): "
                              "alloc_workqueue's max_active is clamped to it"),
    "seed": (0, (1 << 64) - 1, "a 64-bit seed"),
    "horizon_ns": (0, 86400 * S, "an assumption: at most one day of background work after "
                                 "the last operation"),
}
MAX_FLUSHER_WAKEUPS = 2_000_000
"""A run whose virtual span needs more flusher periods than this is refused (see
`check_span`): the flusher wakes every dirty_writeback_ns whether or not anything is dirty."""


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
    commit_timer: str = "round_jiffies_up"
    """When the commit timer fires: round_jiffies_up(t_expires) as jbd2_get_transaction arms
    it (the next whole second after creation + interval), or `exact` (at t_expires)."""
    xfs_syncd_ns: int = 30 * S
    """XFS log worker period (xfs_log_worker requeued by xfs_log_work_queue every
    fs.xfs.xfssyncd_centisecs=3000): designs with XFS log timing commit at its ticks."""
    max_batch_ns: int = 15 * MS
    """Sync-commit batching upper bound (ext4 max_batch_time, EXT4_DEF_MAX_BATCH_TIME 15000
    us -> j_max_batch_time); 0 disables the batching. Read by Journal.stop_sync
    (jbd2_journal_stop of an h_sync handle), which only an O_SYNC / O_DSYNC zero range with
    unaligned edges reaches (fsync and O_SYNC writes use jbd2_complete_transaction)."""
    min_batch_ns: int = 0
    """Sync-commit batching lower bound (ext4 min_batch_time, EXT4_DEF_MIN_BATCH_TIME 0 ->
    j_min_batch_time). Read by Journal.stop_sync."""
    dirty_writeback_ns: int = 5 * S
    """Flusher wakeup period (dirty_writeback_centisecs=500)."""
    self_check: bool = False
    """Check the model's invariants after every event (selfcheck.py); the test suite turns
    them on through EOFSIM_SELF_CHECK=1."""
    flusher_timing: str = "kernel"
    """`kernel`: the flusher wakes dirty_writeback after the first dirtying of an idle bdi
    (wb_wakeup_delayed) and re-arms while inodes stay dirty; an inode left dirty keeps its
    dirtied_when (requeue_inode). `grid`: wakeups every dirty_writeback from mount and a
    fresh dirtied_when on requeue (the model before issue 10)."""
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
    ioend_merge: bool = True
    """The iomap designs' end-I/O worker sorts and merges adjacent completed ioends before
    one size update (xfs_end_io: iomap_sort_ioends + iomap_ioend_try_merge). Assumption for
    the ext4 series (its completion is taken to follow xfs_end_io); false: one ioend at a
    time (the model before the ioend/bio separation)."""
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
    until: int | None = None
    """End the run, and crash exploration, at this virtual time (a kernel recording that
    stops at a point in time); ops not finished by then are reported as cut off. None: run
    to the horizon. Also a top-level `until:` in the scenario file."""

    def check(self) -> "Tunables":
        bs, fs = self.block_size, self.folio_size
        if bs not in (1024, 2048, 4096, 8192, 16384, 32768, 65536):
            raise InputError(f"block_size {bs}: must be a power of two from 1024 to 65536")
        if fs < bs or fs % bs or fs & (fs - 1) or fs > 1 << 21:
            raise InputError(f"folio_size {fs}: must be a power of two >= block_size ({bs}), at most 2 MiB")
        if self.flusher_timing not in ("kernel", "grid"):
            raise InputError(f"flusher_timing {self.flusher_timing!r}: use kernel or grid")
        if self.commit_timer not in ("round_jiffies_up", "exact"):
            raise InputError(f"commit_timer {self.commit_timer!r}: use round_jiffies_up or exact")
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
        if self.until is not None and self.until > MAX_TIME_NS:
            raise InputError(f"until {_fmt('until_ns', self.until)} is out of range: the model's "
                             "times end at 10^15 ns")
        if self.horizon_ns == 0 and self.until is None:
            raise InputError("horizon_ns: 0 leaves no time for any op to finish "
                             "(to end the run at a time, set until instead)")
        for name, (lo, hi, why) in BOUNDS.items():
            if name.endswith("_ns") and hi > MAX_TIME_NS:
                hi, why = MAX_TIME_NS, why + "; the model's times end at 10^15 ns"
            v = getattr(self, name)
            if v is None:           # a device tunable left to its preset (block.PRESETS)
                continue
            if not lo <= v <= hi:
                unit = _fmt(name, lo), _fmt(name, hi)
                raise InputError(f"{name} {_fmt(name, v)} is out of range [{unit[0]}, "
                                 f"{unit[1]}]: {why}")
        if self.horizon_ns // self.dirty_writeback_ns > MAX_FLUSHER_WAKEUPS:
            raise InputError(f"horizon_ns {_fmt('horizon_ns', self.horizon_ns)} spans more than "
                             f"{MAX_FLUSHER_WAKEUPS} flusher periods of dirty_writeback_ns "
                             f"{_fmt('dirty_writeback_ns', self.dirty_writeback_ns)}")
        return self

    def with_values(self, values: dict, where: str | None = None) -> "Tunables":
        """Apply {key: text-or-value}; keys ending in _ns take durations, size keys take bytes."""
        kw = {}
        types = {f.name: f.type for f in fields(self)}
        for key, raw in values.items():
            if key not in types:
                raise InputError(f"unknown tunable {key!r} (known: {', '.join(types)}; "
                                 "`eofsim tunables` gives units, defaults and kernel knobs)", where)
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


def _fmt(name, v):
    from .units import fmt_dur
    return fmt_dur(v) if name.endswith("_ns") else str(v)


def check_span(tun: "Tunables", scenario):
    """Refuse a run whose virtual span (each thread's latest '@' start plus its sleeps, then
    the horizon) needs more than MAX_FLUSHER_WAKEUPS flusher periods: the model's flusher
    wakes on a fixed grid (mm flusher), so such a run would take hours for nothing. The
    error names the op that sets the span (file:line), else the scenario."""
    span, where = 0, scenario.where
    for th in scenario.threads:
        last = max(th.ops, key=lambda op: op.at_ns or 0, default=None)
        t = (last.at_ns or 0) if last is not None else 0
        t += sum(op.dur_ns for op in th.ops)
        if t > span:
            span, where = t, (last.where if last is not None and last.at_ns else scenario.where)
    span += tun.horizon_ns
    if span // tun.dirty_writeback_ns > MAX_FLUSHER_WAKEUPS:
        raise InputError(f"the run spans {_fmt('horizon_ns', span)} of virtual time: more "
                         f"than {MAX_FLUSHER_WAKEUPS} flusher periods of dirty_writeback_ns "
                         f"{_fmt('dirty_writeback_ns', tun.dirty_writeback_ns)}; raise "
                         "dirty_writeback_ns or start the operations earlier", where)


def _convert(key, typ, raw):
    if key == "until":
        if raw is None or str(raw).lower() in ("", "none"):
            return None
        return parse_time(raw, key)
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
    return parse_int(raw, key, 0, (1 << 64) - 1)


def parse_set(items, where: str = "--set") -> dict:
    """['key=value', ...] -> {key: value} (values still text)."""
    out = {}
    for item in items:
        if "=" not in item:
            raise InputError(f"{item!r} is not key=value", where)
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out
