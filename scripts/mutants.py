#!/usr/bin/env python3
"""Remove each named model mechanism in turn and run the fast core tests against it.

A mutant is one textual edit of src/eofsim (the mechanism deleted or weakened), named after
the kernel function or patch it stands for. Each runs in a copy of src/ put first on
PYTHONPATH, so the worktree is never touched. A mutant the tests do not kill must be listed
as equivalent, with the reason; any other survivor is an unexplained survivor and the script
exits 1.

    .venv/bin/python scripts/mutants.py                 # all, 2 at a time
    .venv/bin/python scripts/mutants.py --list
    .venv/bin/python scripts/mutants.py --only fsync-barrier-lend --jobs 1

Output (one line a mutant, then the counts) is deterministic for a given tree.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAST_TESTS = ["tests/test_core_ordering.py", "tests/test_core_posix.py", "tests/test_core_mm.py",
              "tests/test_core_jbd2.py", "tests/test_core_engine.py", "tests/test_core_block.py",
              "tests/test_core_content.py", "tests/test_fidelity_612.py", "tests/test_examples.py",
              "tests/test_ext4_flags.py", "tests/test_designs.py", "tests/test_crash_sim.py",
              "tests/test_invariants.py", "tests/test_mechanisms.py", "tests/test_flusher.py",
              "tests/test_hb_frontier.py", "tests/test_sparse_extents.py", "tests/test_ioend.py",
              "tests/test_syncfs.py"]


STREAM_TESTS = ("tests/test_stream.py",)
ENGINE_TESTS = ("tests/test_engine_now_fifo.py", "tests/test_core_engine.py")


@dataclass(frozen=True)
class Mutant:
    name: str
    kernel: str
    """The kernel function / patch the removed mechanism stands for."""
    path: str
    old: str
    new: str
    equivalent: str = ""
    """Why no test can kill it (the mutant is behaviourally equivalent), if so."""
    tests: tuple = ()
    """The tests to run instead of FAST_TESTS (a mechanism of the checker, not the model)."""


M = Mutant
MUTANTS = [
    # --- the nine the issue lists -----------------------------------------------------------
    M("fsync-barrier-lend", "jbd2_trans_will_send_data_barrier (campaign-found fsync fix)",
      "jbd2.py", "        if tx is not None and cur is not None:\n            tx.hb |= cur.hb",
      "        pass"),
    M("mmap-racing-store", "no stable pages: a store into a folio under writeback (folio_wait_stable)",
      "ext4/file.py", "        if folio.writeback:\n            self.racing_store(folio)", "        pass"),
    M("eof-zero-at-submission", "ext4_bio_write_folio / iomap_writepage_handle_eof",
      "mm/page_writeback.py",
      "    if inside < mapping.fsize:\n        mapping.zero_range_cached(max(i_size, base), base + mapping.fsize)",
      "    pass"),
    M("wb-sync-none-skips-writeback", "folio_prepare_writeback (WB_SYNC_NONE skips a folio under writeback)",
      "mm/page_writeback.py", "        if wbc.sync_mode == WB_SYNC_NONE:\n            mapping.unlock(folio)\n            return False\n",
      ""),
    M("begin-ordered-truncate", "jbd2_journal_begin_ordered_truncate", "policies/bh_ordered.py",
      "        if ctx.in_committing_transaction(inode):", "        if False:"),
    M("writeback-index", "writeback_iter: mapping->writeback_index", "mm/page_writeback.py",
      "        mapping.writeback_index = last_idx + 1", "        pass"),
    M("deferred-endio-pending-guard", "iomap-deferred: completion never moves i_disksize past a pending block",
      "policies/iomap_deferred.py", "            if not ioend.covers(pend):\n                return inode.i_disksize\n",
      ""),
    M("deferred-endio-route-pending", "iomap-deferred/pending: the pending block's I/O always completes in the worker",
      "policies/iomap_base.py", " or (pend is not None and ioend.covers(pend))", ""),
    M("deferred-writeback-widening", "iomap-deferred: writeback from i_disksize up (Jan Kara 2026-02-05)",
      "policies/iomap_deferred.py", "            wbc.range_start = ctx.folio_start(inode.i_disksize)", "            pass"),
    M("pending-submit-and-wait", "v5+ submit and wait for pending disksize-grow I/O on writeback",
      "policies/iomap_pending.py",
      "        if ctx.first_dirty(inode, lo, hi) is not None:\n            yield from self.submit_and_wait(ctx, inode)",
      "        pass"),
    # --- issue 10 items 1-6 -------------------------------------------------------------------
    M("fallocate-size-rule-disksize", "ext4_do_fallocate / ext4_zero_range: end > i_disksize", "ext4/extents.py",
      "(end > inode.i_size or end > inode.i_disksize)", "end > inode.i_size"),
    M("fallocate-allocates-delayed", "ext4_alloc_file_blocks -> ext4_map_blocks over a delayed extent",
      "ext4/extents.py", "                if e is None or e[0] == DELAYED:\n                    self.set_state",
      "                if e is None:\n                    self.set_state"),
    M("update-inode-size-disksize", "ext4_update_inode_size raises i_disksize on its own", "ext4/extents.py",
      "        if size > inode.i_disksize:\n            self.grow_disksize(handle, inode, size, GrowReason.FALLOCATE)",
      "        if size > inode.i_disksize and size > inode.i_size:\n            pass"),
    M("disksize-before-punch-early-return", "ext4_update_disksize_before_punch: offset > i_size",
      "ext4/extents.py", "        if off > inode.i_size:\n            return\n        size = min", "        size = min"),
    M("disksize-before-punch", "ext4_update_disksize_before_punch", "ext4/extents.py",
      "        if size <= inode.i_disksize:\n            return\n        handle = self.journal.start_nowait(credits=1)",
      "        return\n        handle = self.journal.start_nowait(credits=1)"),
    M("punch-writes-back-first", "ext4_truncate_page_cache_block_range (no write-back unless data=journal)",
      "ext4/extents.py", "        end = off + length\n        yield from self.update_disksize_before_punch(inode, off, length)",
      "        end = off + length\n        from ..mm.filemap import filemap_write_and_wait_range as fww\n"
      "        yield from fww(inode.mapping, off, end - 1)\n"
      "        yield from self.update_disksize_before_punch(inode, off, length)"),
    M("zero-range-old-order", "ext4_zero_range: edges allocated (and sizes raised) before the cache drop",
      "ext4/extents.py",
      "        if not aligned:\n            yield from self.alloc_file_blocks(inode, off >> bshift, (end + bs - 1) >> bshift, new_size, op)\n"
      "        yield from self.update_disksize_before_punch(inode, off, length)\n"
      "        yield from self.truncate_page_cache_block_range(inode, off, end)\n",
      "        from ..mm.filemap import filemap_write_and_wait_range as fww\n"
      "        yield from fww(inode.mapping, off, end - 1)\n"
      "        yield from self.update_disksize_before_punch(inode, off, length)\n"
      "        yield from self.truncate_page_cache_block_range(inode, off, end)\n"),
    M("truncate-folio-mkclean", "ext4_truncate_folio (folio_mkclean of partial edge folios)", "ext4/extents.py",
      "        yield from folio_mkclean(inode.mapping, start >> self.fshift)", "        return\n        yield"),
    M("unwritten-bh-unmapped", "__ext4_block_zero_page_range: unwritten buffer stays unmapped", "ext4/inode.py",
      "            elif cached is None or not (cached.bh_mapped >> b) & 1:", "            elif False:"),
    M("iomap-zero-skips-unwritten", "iomap_zero_iter: an unwritten range is not zeroed as such", "ext4/inode.py",
      "        if e[0] == UNWRITTEN:\n            cached = m.lookup",
      "        if e[0] == UNWRITTEN and not inode.buffered_iomap:\n            cached = m.lookup"),
    M("iomap-zero-flushes-dirty-unwritten", "iomap_zero_iter_flush_and_stale: a dirty unwritten range is flushed, then zeroed",
      "ext4/inode.py",
      "                yield from filemap_write_and_wait_range(m, b0, b0 + self.bs - 1, WbReason.ZERO_EOF)\n", ""),
    M("bh-mapped-by-write", "ext4_da_get_block_prep maps the buffer of an unwritten block", "ext4/file.py",
      "        folio.bh_mapped |= mask\n", ""),
    M("bh-truncate-page-to-block-end", "ext4_setattr -> ext4_block_truncate_page(oldsize)", "ext4/inode.py",
      "            yield from self.block_zero_eof(handle, inode, old, LLONG_MAX)",
      "            yield from self.block_zero_eof(handle, inode, old, size)"),
    M("bio-captured-at-submission", "submit_bio: the bio's pages are read at submission (issue 10 item 9)",
      "iomap/buffered_io.py", "        part.blocks.append((pblk, folio, b))", "        part.blocks.append((pblk, type('Copy', (), {'blocks': [folio.blocks[b]]}), 0))"),
    M("sync-handle-batching", "jbd2_journal_stop: sync-commit batching sleep (issue 10 item 11)", "jbd2.py",
      "            if eng.now - tx.created_ns < commit_ns:", "            if False:"),
    M("sync-handle-last-writer", "jbd2_journal_stop: j_last_sync_writer skips a lone sync writer", "jbd2.py",
      "        if tun.max_batch_ns and self.last_sync_writer is not cur:", "        if tun.max_batch_ns:"),
    M("sync-handle-commit-wait", "jbd2_journal_stop: h_sync -> jbd2_log_start_commit + jbd2_log_wait_commit",
      "jbd2.py", "        self.log_start_commit(tid)\n        yield from self.log_wait_commit(tid)\n\n    def file_inode",
      "\n    def file_inode"),
    M("zero-range-osync-handle", "ext4_zero_range: file->f_flags & O_SYNC -> ext4_handle_sync", "ext4/extents.py",
      "        if o_sync:\n            yield from self.journal.stop_sync(handle)", "        if False:\n            pass"),
    # --- issue 10 item 9, second half: the ioend is the completion unit, the bio the device's -------
    M("ext4-io-end-spans-bios", "io_submit_add_bh: a full bio is submitted, the io_end goes on (ext4_io_submit)",
      "iomap/buffered_io.py", "                self.submit_bio()\n                part = None",
      "                self.cut()\n                cur = part = None"),
    M("io-end-bio-reference", "io_submit_init_bio -> ext4_get_io_end: a reference per bio",
      "iomap/buffered_io.py", "        cur.refs += 1\n", ""),
    M("ext4-finish-bio-per-bio", "ext4_end_bio -> ext4_finish_bio at once for a written io_end",
      "iomap/buffered_io.py", "        if not (self.iomap or self.unwritten):", "        if False:"),
    M("iomap-ioend-try-merge", "xfs_end_io -> iomap_sort_ioends + iomap_ioend_try_merge",
      "iomap/buffered_io.py", "        if out and out[-1].can_merge(io):", "        if False:"),
    M("iomap-ioend-can-merge-eof", "iomap_ioend_can_merge: io_offset + io_size == next->io_offset",
      "iomap/buffered_io.py", "self.unwritten == nxt.unwritten and self.end == nxt.start",
      "self.unwritten == nxt.unwritten and self.lblks[-1] + 1 == nxt.lblks[0]"),
    M("iomap-ioend-one-bio", "iomap_add_to_ioend: bio_add_folio fails -> new ioend (no bio chain in 6.12)",
      "iomap/buffered_io.py", "                if (full or cur.unwritten != unwritten", "                if (cur.unwritten != unwritten"),
    M("max-writepages-extent-len", "mpage_add_bh_to_extent: MAX_WRITEPAGES_EXTENT_LEN", "ext4/page_io.py",
      " or extent_len >= MAX_WRITEPAGES_EXTENT_LEN", ""),
    # --- other named mechanisms ---------------------------------------------------------------
    M("ordered-eof-zeroing", "__ext4_block_zero_page_range -> ext4_jbd2_inode_add_write", "policies/bh_ordered.py",
      "        ctx.add_ordered(handle, inode, start, length)\n        return ()", "        return ()"),
    M("ordered-partial-zeroing", "ext4_zero_partial_blocks -> ext4_jbd2_inode_add_write (punch edges)",
      "ext4/inode.py", "            if did:\n                self.add_ordered(handle, inode, start, head_end - start)",
      "            pass"),
    M("da-should-update-disksize", "ext4_da_should_update_i_disksize", "ext4/file.py",
      "                if last is not None and last[0] == WRITTEN:", "                if True:"),
    M("mpage-disksize-after-submit", "mpage_map_and_submit_extent: i_disksize after submission",
      "ext4/page_io.py", "        if disksize > inode.i_disksize:\n            self.grow_disksize(handle, inode, disksize, GrowReason.WRITEBACK)",
      "        if False:\n            pass"),
    M("writeback-conversion-ordered", "ext4_ext_handle_unwritten_extents: EXT4_MAP_NEW -> ordered",
      "ext4/page_io.py",
      "                        self.set_state(inode, lblk, WRITTEN)\n                        self.add_ordered(handle, inode, lblk << self.bshift, bs, wait_only=True)",
      "                        self.set_state(inode, lblk, WRITTEN)"),
    M("nodelalloc-new-block-ordered", "ext4_map_blocks: new written blocks on the ordered list",
      "ext4/file.py", "                    self.set_state(inode, lblk, WRITTEN, self.alloc())\n                    self.add_ordered(handle, inode, bstart, bs)",
      "                    self.set_state(inode, lblk, WRITTEN, self.alloc())"),
    M("fsync-writes-data", "ext4_sync_file -> file_write_and_wait_range", "ext4/fsync.py",
      "        yield from filemap_write_and_wait_range(inode.mapping, start, end, WbReason.FSYNC)\n", ""),
    M("fsync-commits", "ext4_sync_file -> jbd2_complete_transaction", "ext4/fsync.py",
      "        yield from self.journal.complete_transaction(tid)\n        if needs_barrier:\n            yield from self.issue_flush(\"fsync\")",
      "        pass"),
    M("fsync-flush", "ext4_sync_file -> blkdev_issue_flush", "ext4/fsync.py",
      "        if needs_barrier:\n            yield from self.issue_flush(\"fsync\")", "        pass"),
    M("wb-sync-all-waits", "folio_prepare_writeback (WB_SYNC_ALL waits for writeback)", "mm/page_writeback.py",
      "        yield from mapping.wait_writeback(folio)\n        if not folio.dirty:", "        if not folio.dirty:"),
    M("truncate-waits-writeback", "truncate_inode_pages_range waits for folio writeback", "mm/truncate.py",
      "        yield from mapping.lock(f)\n        yield from mapping.wait_writeback(f)\n        mapping.unlock(f)\n    mapping.remove_from(size)",
      "    mapping.remove_from(size)"),
    M("pagecache-isize-extended", "pagecache_isize_extended (folio_mkclean of the EOF folio)", "mm/truncate.py",
      "    yield from folio_mkclean(mapping, start >> mapping.shift)", "    return\n    yield"),
    M("clear-dirty-for-io-wrprotect", "folio_clear_dirty_for_io write-protects the PTEs", "mm/filemap.py",
      "        folio.mkwrite = False\n        if folio.dirty:\n            folio.dirty = False", "        if folio.dirty:\n            folio.dirty = False"),
    M("ioend-finish-last-bio", "iomap_finish_ioends: writeback ends after the folio's last bio",
      "iomap/buffered_io.py", "            if f.wb_pending == 0 and f.writeback:", "            if f.writeback:"),
    M("endio-convert-only-same-pblk", "ext4_convert_unwritten_extents over the ioend's blocks",
      "ext4/page_io.py", "if e is not None and e[0] == UNWRITTEN and e[1] == ioend.pblk_of[lblk]:",
      "if e is not None and e[0] == UNWRITTEN:",
      equivalent="a block's pblk changes only through punch + reallocation, and the allocator never "
                 "reuses blocks during a scenario (ext4_mb_new_blocks assumption), so a converted "
                 "unwritten block always has the ioend's pblk"),
    M("read-past-eof-zero", "ext4_mpage_readpages: blocks wholly past EOF read as zeroes",
      "ext4/inode.py", "if e is not None and e[0] == WRITTEN and lblk < eof_blk:", "if e is not None and e[0] == WRITTEN:",
      equivalent="the model never holds a written block wholly past i_size when a folio is read: "
                 "ext4_truncate frees them in the truncate that shrinks the size before the syscall "
                 "returns (only a journal wait separates the two, and no read of a folio past the new "
                 "EOF can be started by the same thread), writeback never writes past i_size, and "
                 "blocks allocated past EOF are unwritten; a racing mread in that window is the only "
                 "way, not reached by the fast tests"),
    M("mmap-sigbus", "filemap_fault: SIGBUS past the EOF page", "ext4/file.py",
      "        if off + length > limit:\n            if off < limit:", "        if False:\n            if off < limit:"),
    M("page-mkwrite", "ext4_page_mkwrite maps blocks inside i_size", "ext4/file.py",
      "            if not folio.mkwrite:\n                yield from self.page_mkwrite(inode, folio)", "            pass"),
    M("datasync-tid-on-size", "ext4_do_update_inode: i_datasync_tid moves on a size/map change",
      "ext4/inode.py", "        elif last.size != inode.i_disksize or (last.extents is not ext and last.extents != ext):\n"
      "            inode.i_datasync_tid = tid",
      "        elif last.size != inode.i_disksize or (last.extents is not ext and last.extents != ext):\n"
      "            pass"),
    M("jbd2-ordered-wait", "journal_finish_inode_data_buffers", "jbd2.py",
      "            if flags & JI_WAIT_DATA:", "            if False:"),
    M("jbd2-ordered-submit", "journal_submit_data_buffers", "jbd2.py",
      "            if flags & JI_WRITE_DATA:", "            if False:"),
    # --- issue 12: long unwritten extents as runs (ext4/extents.ExtentMap) ---------------
    M("ext-remove-space-runs", "ext4_ext_remove_space over unwritten runs (truncate, punch hole, evict)",
      "ext4/extents.py", "        freed = m.cut(lo, hi)\n", "        freed = []\n"),
    M("alloc-run-freed-first", "ext4_mb_new_blocks: runs take freed blocks first, as one-block allocations do",
      "ext4/extents.py", "            if self.freed:\n                p, c = heappop(self.freed)\n                take",
      "            if False:\n                p, c = heappop(self.freed)\n                take"),
    M("extents-runs-on-disk", "ext4_fill_raw_inode: the journalled extent tree carries the unwritten runs",
      "ext4/inode.py", "                ext.extend(self.map.extent_runs())", "                pass"),
    # --- issue 12: happens-before relative to the durable frontier -------------------------
    M("hb-frontier-min-base", "happens-before knowledge (hb.py): combining keeps every bit at or above the lower base",
      "hb.py", "            m = self.mask | (o.mask << (b2 - b1))\n            b = b1",
      "            m = (self.mask >> (b2 - b1)) | o.mask\n            b = b2"),
    M("settle-flush-covers-hb", "blk-flush: a flush makes durable the completed writes its issuer knew (online durable_times)",
      "block.py", "                dur[i] = now\n                st[i] = 1", "                pass"),
    # --- syncfs / sync (issues 10 and 11) ------------------------------------------------------
    M("syncfs-nowait-commit", "sync_filesystem -> ->sync_fs(sb, 0) (ext4_sync_fs: "
      "jbd2_journal_start_commit before sync_inodes_sb)", "fs/sync.py",
      "    yield from writeback_inodes_sb(_mappings(sb))\n    yield from sb.sync_fs(wait=False)",
      "    yield from writeback_inodes_sb(_mappings(sb))"),
    M("syncfs-writeback-inodes-sb", "sync_filesystem -> writeback_inodes_sb (WB_SYNC_NONE pass)",
      "fs/sync.py",
      "    yield from writeback_inodes_sb(_mappings(sb))\n    yield from sb.sync_fs(wait=False)",
      "    yield from sb.sync_fs(wait=False)"),
    M("sync-inodes-sb-wait", "sync_inodes_sb -> wait_sb_inodes", "fs/fs_writeback.py",
      "        yield from filemap_fdatawait_range(m, 0, (1 << 63) - 1)", "        pass"),
    M("flush-rsv-conversion-wq", "flush_workqueue(rsv_conversion_wq)", "ext4/page_io.py",
      "        while any(s <= target for s in self.endio_unfinished.values()):", "        while False:"),
    M("ext4-sync-fs-flush-rsv-wq", "ext4_sync_fs -> flush_workqueue(rsv_conversion_wq)",
      "ext4/fsync.py", "        yield from self.flush_endio_workqueue()\n", "",
      equivalent="no model schedule has a conversion still queued when ext4_sync_fs runs: on "
                 "the buffer_head path the end-I/O worker converts at the instant its bio "
                 "completes (its reserved handle joins even a locked transaction: "
                 "start_this_handle with h_reserved; the model has no scheduling latency), and "
                 "on the iomap path only a design's before_end_io wait could delay it, which no "
                 "sync scenario reaches; flush_workqueue itself is killed by "
                 "flush-rsv-conversion-wq"),
    M("sync-fs-wait-commit", "ext4_sync_fs(wait=1) -> jbd2_log_wait_commit", "ext4/fsync.py",
      "        if tid is not None and wait:\n            yield from j.log_wait_commit(tid)",
      "        pass"),
    M("xfs-falloc-newsize", "xfs_falloc_newsize: XFS grows only when offset + len > i_size",
      "policies/xfs.py", "    falloc_grows_inside_size = False\n", ""),
    M("xfs-flush-unmap-range", "xfs_free_file_space -> xfs_flush_unmap_range: write back and wait "
      "the page-rounded range before punch hole / zero range", "policies/xfs.py",
      "        yield from ctx.write_and_wait_range(inode, s, e - 1, WbReason.XFS_FLUSH_UNMAP)\n", ""),
    M("kernel-check-final-syncfs", "kernel-check's final syncfs(2) (run_scenario) run in the model",
      "cli.py", "    if final_syncfs_after_ns is None:\n        return scenario", "    return scenario"),
    # --- the streaming check (crash/stream.py): what it may check when, what it forgets ---
    M("stream-horizon-inflight-bio", "crash/stream: no crash time before an incomplete write's submission",
      "crash/stream.py", "            if b.complete_ns is None and not final:\n                horizon = b.submit_ns\n                break",
      "            if b.complete_ns is None and not final:\n                break", tests=STREAM_TESTS),
    M("stream-horizon-running-op", "crash/stream: no crash time at or after a running op's start",
      "crash/stream.py", "            self._check_before(min(hb, ho, self.run.eng.now + 1))",
      "            self._check_before(min(hb, self.run.eng.now + 1))", tests=STREAM_TESTS),
    M("stream-durable-later", "crash/stream: a durable time the device settles after the bio was taken",
      "crash/stream.py", "        for bid in [bid for bid in self.pending if dev.durable_ns[bid] is not None]:",
      "        for bid in []:", tests=STREAM_TESTS),
    M("stream-counterexample-next-write", "crash/stream: a block's next write named after the crash",
      "crash/stream.py", "            if self.fut is not None:\n                self.fut.saw_write(b)", "            pass",
      tests=STREAM_TESTS),
    M("stream-drop-old-versions", "crash/stream: versions older than the durable one dropped",
      "crash/states.py", "        k = lo - base\n        if k <= 0:\n            return",
      "        k = lo - base\n        if True:\n            return", tests=STREAM_TESTS),
    M("stream-drop-freed-blocks", "crash/stream: freed blocks (never reallocated) dropped",
      "crash/stream.py", "            for pb in dead:\n                disk.drop_block(pb)", "            for pb in ():\n                pass",
      tests=STREAM_TESTS),
    M("stream-journal-forget", "crash/stream: transactions below the certain prefix dropped",
      "crash/recover.py", "        if self.stream and k > 1:\n            self._forget(k)", "        pass",
      tests=STREAM_TESTS),
    M("stream-history-forget", "crash/stream: file-history entries no later context reads dropped",
      "crash/checkers.py", "            if not self._np & 15:\n                self._prune_stream(t, x, nd, low, c_low)",
      "            pass", tests=STREAM_TESTS),
    M("stream-op-records", "crash/stream: op records no kept version, snapshot or entry names dropped",
      "crash/stream.py", "            for k in [k for k in ops if k not in refs]:\n                del ops[k]",
      "            pass", tests=STREAM_TESTS),
    M("stream-run-forget", "sim.Run.forget: committed transactions dropped (jbd2_log_wait_commit on them returns)",
      "crash/stream.py", "        self.run.forget()\n", "", tests=STREAM_TESTS),
    M("stream-release-bios", "block.BlockDevice.release: bios taken and settled dropped",
      "crash/stream.py", "        self.run.dev.release(self.next_bio)\n", "", tests=STREAM_TESTS),
    M("extents-changed-blocks", "ext4_fill_raw_inode's extent tree: Inode.extents patches the "
      "blocks set_state changed (a speed representation; the raw inode must stay exact)",
      "ext4/extents.py", "            inode.disk_changed.add(lblk)\n", ""),
    # --- the engine's current-instant FIFO (a speed mechanism that must keep the heap's order)
    M("now-fifo-after-instant-heap-events", "engine: an instant's heap events run before its FIFO",
      "engine.py", "                if now_q and (not q or q[0][0] > self.now):",
      "                if now_q:", tests=ENGINE_TESTS),
    M("now-fifo-push-order", "engine: the FIFO keeps push (sequence) order", "engine.py",
      "            self._now_q.append(e)", "            self._now_q.appendleft(e)", tests=ENGINE_TESTS),
    M("now-fifo-time-goes-back", "engine: an event in the past sends the instant's FIFO back to the heap",
      "engine.py", "                    if now_q and t < self.now:", "                    if False:",
      tests=ENGINE_TESTS),
    M("now-fifo-handed-back", "engine: run() hands the FIFO's events back to the heap when it returns",
      "engine.py", "            self._now_q = outer\n            if now_q:\n                for e in now_q:\n"
      "                    heapq.heappush(q, e)", "            self._now_q = outer", tests=ENGINE_TESTS),
]


def apply(tree: Path, m: Mutant):
    p = tree / "eofsim" / m.path
    s = p.read_text()
    n = s.count(m.old)
    if n != 1:
        raise SystemExit(f"mutant {m.name}: the text to replace occurs {n} times in {m.path} (expected 1)")
    p.write_text(s.replace(m.old, m.new))


def run(m: Mutant, tests, timeout) -> tuple[str, str]:
    with tempfile.TemporaryDirectory(prefix=f"mutant-{m.name}-") as tmp:
        tree = Path(tmp) / "src"
        shutil.copytree(ROOT / "src", tree, ignore=shutil.ignore_patterns("__pycache__"))
        apply(tree, m)
        env = dict(os.environ, PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1")
        cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-m", "not kernel",
               "-W", "ignore", *(m.tests or tests)]
        try:
            r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return "killed", "timeout"
        if r.returncode == 0:
            return ("equivalent" if m.equivalent else "SURVIVED"), m.equivalent
        failed = [ln.split(" ")[1] for ln in r.stdout.splitlines() if ln.startswith("FAILED ")]
        if r.returncode not in (1,):
            return "killed", f"pytest exit {r.returncode}"
        return "killed", failed[0] if failed else "failed"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--only", action="append", default=[])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=int, default=900)
    a = ap.parse_args(argv)
    chosen = [m for m in MUTANTS if not a.only or m.name in a.only]
    if a.list:
        for m in chosen:
            print(f"{m.name:36s} {m.kernel}")
        return 0
    tests = [t for t in FAST_TESTS if (ROOT / t).exists()]
    # validate every edit before running anything
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "src"
        shutil.copytree(ROOT / "src", tree, ignore=shutil.ignore_patterns("__pycache__"))
        for m in chosen:
            p = tree / "eofsim" / m.path
            n = p.read_text().count(m.old)
            if n != 1:
                print(f"scripts/mutants.py: mutant {m.name}: text occurs {n} times in src/eofsim/{m.path}",
                      file=sys.stderr)
                return 2
    with ThreadPoolExecutor(max_workers=max(1, a.jobs)) as ex:
        results = list(ex.map(lambda m: run(m, tests, a.timeout), chosen))
    counts = {}
    for m, (verdict, why) in zip(chosen, results):
        counts[verdict] = counts.get(verdict, 0) + 1
        print(f"{verdict:10s} {m.name:36s} {why}")
    print(f"{len(chosen)} mutants: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 1 if counts.get("SURVIVED") else 0


if __name__ == "__main__":
    sys.exit(main())
