"""`eofsim tunables`: every tunable with its unit, default, accepted range and the kernel
knob it stands for (issue 14). The descriptions are params.Tunables' own attribute
docstrings, read from its source, so the listing cannot drift from the code; the kernel knob
and range of each are stated here (KNOBS), and a tunable missing from KNOBS is listed with
'-' rather than left out."""

import ast
import inspect
from dataclasses import fields

KNOBS = {
    # name: (kernel knob or "model" when it has none, accepted range)
    "block_size": ("mkfs.ext4 -b", "1024..65536, power of two, <= folio_size"),
    "folio_size": ("PAGE_SIZE (large folios: mapping_set_large_folios)", ">= block_size, power of two, <= 2 MiB"),
    "delalloc": ("mount -o delalloc / nodelalloc", "true | false"),
    "dioread_nolock": ("mount -o dioread_nolock (ext4_should_dioread_nolock)", "true | false"),
    "ioend_merge": ("iomap end-I/O merges adjacent completed ioends (xfs_end_io: "
                    "iomap_ioend_try_merge; assumed for the ext4 series)", "true | false"),
    "commit_interval_ns": ("mount -o commit=N (JBD2_DEFAULT_MAX_COMMIT_AGE = 5 s)", "> 0"),
    "commit_timer": ("round_jiffies_up in jbd2_get_transaction (exact: the model before issue 10)",
                     "round_jiffies_up | exact"),
    "self_check": ("model: invariants after every event (selfcheck.py)", "true | false"),
    "flusher_timing": ("wb_wakeup_delayed + requeue_inode (kernel) or a fixed grid", "kernel | grid"),
    "xfs_syncd_ns": ("/proc/sys/fs/xfs/xfssyncd_centisecs (xfs_log_worker period; designs "
                     "with xfs_log_timing)", "> 0"),
    "max_batch_ns": ("mount -o max_batch_time (EXT4_DEF_MAX_BATCH_TIME; jbd2_journal_stop's "
                     "sync-handle batching: O_SYNC zero range only)", ">= 0; 0 = off"),
    "min_batch_ns": ("mount -o min_batch_time (EXT4_DEF_MIN_BATCH_TIME; jbd2_journal_stop's "
                     "sync-handle batching)", ">= 0"),
    "dirty_writeback_ns": ("/proc/sys/vm/dirty_writeback_centisecs", "> 0"),
    "dirty_expire_ns": ("/proc/sys/vm/dirty_expire_centisecs", ">= 0"),
    "device": ("device preset (block.PRESETS; figures cited in block.py)",
               "nvme | sata-ssd | hdd | throttled | ideal"),
    "dev_write_ns": ("device: QD1 4 KiB write latency into its cache (datasheet)", ">= 0; unset = preset"),
    "dev_flush_ns": ("device: FLUSH command time beyond destaging (measured)", ">= 0; unset = preset"),
    "dev_read_ns": ("device: QD1 read latency (datasheet)", ">= 0; unset = preset"),
    "dev_service_ns": ("device: per-request time at the medium (command overhead)", ">= 0; unset = preset"),
    "dev_bandwidth": ("device: sustained write bandwidth (datasheet)", ">= 0 bytes/s; 0 = unlimited"),
    "dev_seek_ns": ("device: single-track seek (datasheet)", ">= 0; unset = preset"),
    "dev_seek_max_ns": ("device: full-stroke seek", ">= 0; unset = preset"),
    "dev_rotation_ns": ("device: average rotational latency (rpm)", ">= 0; unset = preset"),
    "dev_span_bytes": ("device capacity (seek distance scale)", "> 0 bytes; unset = preset"),
    "dev_cache_bytes": ("device volatile write cache (hdparm -W / QUEUE_FLAG_WC)", ">= 0 bytes; 0 = write-through"),
    "dev_queue_depth": ("/sys/block/*/queue/nr_requests, NCQ depth", ">= 0; 0 = unlimited"),
    "dev_scheduler": ("/sys/block/*/queue/scheduler", "none | mq-deadline"),
    "dev_fua": ("/sys/block/*/queue/fua (libata.fua)", "true | false"),
    "dev_flush_exclusive": ("ATA FLUSH CACHE is non-NCQ (ata_std_qc_defer)", "true | false"),
    "dev_reorder": ("device-internal destage order (NCQ)", "fifo | elevator"),
    "dev_max_request_bytes": ("/sys/block/*/queue/max_sectors_kb", "> 0 bytes"),
    "dev_merge": ("/sys/block/*/queue/nomerges (0 = merge)", "true | false"),
    "throttle_wiops": ("cgroup v2 io.max wiops", ">= 0; 0 = no limit"),
    "throttle_wbps": ("cgroup v2 io.max wbps", ">= 0 bytes/s; 0 = no limit"),
    "delay_bio": ("model: extra latency of chosen bios (as --delay-bio)", "ID=DURATION,..."),
    "barrier": ("mount -o barrier / nobarrier", "true | false"),
    "max_txn_buffers": ("j_max_transaction_buffers (journal size / 4)", "> 0"),
    "writeback_chunk_folios": ("MAX_WRITEBACK_PAGES (fs/fs-writeback.c)", "> 0"),
    "max_bio_bytes": ("BIO_MAX_VECS x PAGE_SIZE", ">= 0 bytes"),
    "ioend_batch_folios": ("IOEND_BATCH_SIZE (fs/iomap/buffered-io.c)", "> 0"),
    "syscall_ns": ("CPU cost of a system call (model)", ">= 0"),
    "timestamp_ns": ("coarse clock tick (jiffy at CONFIG_HZ=250)", ">= 0; 0 = off"),
    "endio_workers": ("workqueue max_active of the end-I/O workqueue", "> 0"),
    "writeback_order": ("writeback_iter order (what-if)", "index | reverse | random"),
    "dax": ("mount -o dax / S_DAX", "true | false"),
    "encrypted_nokey": ("fscrypt: key not loaded", "true | false"),
    "seed": ("model", "integer"),
    "horizon_ns": ("model: run time after the last op", "> 0 (0 only with until)"),
    "auto_da_alloc": ("mount -o auto_da_alloc / noauto_da_alloc", "true | false"),
    "until": ("model: end of the crash window (a recording that stops)", "a duration, or none"),
}


def docstrings(cls) -> dict:
    """{field: its attribute docstring} from the class source."""
    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body
    out = {}
    for a, b in zip(body, body[1:]):
        if isinstance(a, ast.AnnAssign) and isinstance(a.target, ast.Name) \
                and isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant) \
                and isinstance(b.value.value, str):
            out[a.target.id] = " ".join(b.value.value.split())
    return out


def unit(name, typ) -> str:
    if typ in (bool, "bool") or typ == bool | None:
        return "bool"
    if typ in (str, "str") or typ == str | None:
        return "word"
    if name in ("dev_bandwidth", "throttle_wbps"):
        return "bytes per second"
    if name in ("dev_span_bytes", "dev_cache_bytes", "dev_max_request_bytes"):
        return "bytes (4096, 4k, 1M)"
    if name.endswith("_ns") or name == "until":
        return "duration (5s, 10ms, 300us, 12ns)"
    if name in ("block_size", "folio_size", "max_bio_bytes"):
        return "bytes (4096, 4k, 1M)"
    if name.endswith("_folios"):
        return "folios"
    if name.endswith("_buffers"):
        return "blocks"
    return "count"


def default_text(name, value) -> str:
    from .units import fmt_dur
    if value is None:
        return "device preset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if name.endswith("_ns") and isinstance(value, int):
        return fmt_dur(value) if value else "0"
    return str(value)


def rows() -> list:
    """[{"name", "unit", "default", "range", "kernel", "description"}] in declaration order."""
    from .params import Tunables
    d = Tunables()
    docs = docstrings(Tunables)
    out = []
    for f in fields(Tunables):
        knob, rng = KNOBS.get(f.name, ("-", "-"))
        out.append({"name": f.name, "unit": unit(f.name, f.type),
                    "default": default_text(f.name, getattr(d, f.name)), "range": rng,
                    "kernel": knob, "description": docs.get(f.name, "")})
    return out
