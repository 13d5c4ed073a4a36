"""fs/iomap/buffered-io.c: iomap_writepages and the ioend layer.

The generic layer walks the dirty folios (writeback_iter), zeroes the EOF folio past
i_size, maps each dirty block through the filesystem's ops (`map_blocks`), adds it to the
current ioend (a new one when the type or logical/physical contiguity changes, the batch
is full, or its bio is: iomap_can_add_to_ioend, bio_add_folio), cuts the ioend at the EOF
sampled at submission, and at completion calls the filesystem's `end_io` (which may defer
to a worker, which sorts and merges adjacent completed ioends before `finish` ends
writeback on the folios, as xfs_end_io and iomap_finish_ioends do).

`IoEnd`/`IoEndBuilder` also serve ext4's buffer_head writeback (ext4_io_end,
io_submit_add_bh), whose io_end spans every bio of one mapped extent: bios are what the
device (and the crash explorer) sees, ioends what end-I/O and the designs' hooks see.
"""

from typing import Protocol

from ..block import Bio, WRITE
from ..mm.page_writeback import WbReason, write_cache_pages
from ..hb import join
from . import UNWRITTEN


class IomapWritebackOps(Protocol):
    """struct iomap_writeback_ops, as a filesystem supplies it."""

    def map_blocks(self, inode, lblk: int):
        """->map_blocks (6.17+: ->writeback_range) for one dirty block: make it mapped (a
        generator; may start a handle). The block map then holds its state and pblk."""

    def end_io(self, ioend: "IoEnd") -> None:
        """The ioend's completion (its bio's, in interrupt context): finish it now, or queue
        it to a worker (->prepare_ioend / ->submit_ioend routing, xfs_prepare_ioend's rule)."""


class BioPart:
    """One struct bio of an ioend: the folios and blocks it carries (its pages are read when
    it is submitted) and the device's Bio once submitted."""

    __slots__ = ("bio", "folios", "lblks", "blocks", "keys")

    def __init__(self):
        self.bio = None
        self.folios = []
        self.lblks = []
        self.blocks = []
        """[(pblk, folio, block index in folio)] in the order added."""
        self.keys = []


class IoEnd:
    """One ioend, the completion unit: the bios (BioPart) it was built from and what its
    completion needs. Its end-I/O (`end_io`) runs when its last reference goes: the
    submitter's (dropped when the ioend is cut) and one per bio (dropped at that bio's
    completion), as ext4_io_end's refcount does (ext4_init_io_end, io_submit_init_bio ->
    ext4_get_io_end, ext4_end_bio / ext4_do_writepages -> ext4_put_io_end_defer). 6.12.117
    iomap ioends hold exactly one bio (struct iomap_ioend embeds io_bio; iomap_add_to_ioend
    starts a new ioend when bio_add_folio fails), and several are merged at completion
    (iomap_ioend_try_merge): `merge`."""

    __slots__ = ("inode", "parts", "lblks", "pblk_of", "unwritten", "iomap", "start", "end",
                 "reason", "hb", "view", "refs", "end_io", "held", "nr_folios")

    def __init__(self, inode, iomap, reason, end_io):
        self.inode = inode
        self.parts = []
        self.lblks = []
        self.pblk_of = {}
        self.unwritten = False
        """ext4: EXT4_IO_END_UNWRITTEN (ext4_set_io_unwritten_flag: any block of it was
        unwritten); iomap: io_type == IOMAP_UNWRITTEN."""
        self.iomap = iomap
        """Completion takes the iomap series' end-I/O path (size update at completion)."""
        self.start = None
        self.end = 0
        """Byte offset where the I/O ends, cut at the EOF sampled at submission."""
        self.reason = reason
        self.hb = 0
        """Knowledge of every completed bio of the ioend, handed to the end-I/O worker."""
        self.view = None
        self.refs = 1
        """The submitter's reference plus one per submitted bio not yet completed."""
        self.end_io = end_io
        self.held = []
        """Completed bios whose folios wait for the ioend's end-I/O (ext4: io_end->bio list
        of an unwritten io_end; iomap: the ioend's bio until iomap_finish_ioends)."""
        self.nr_folios = 0
        """wpc->nr_folios (iomap_can_add_to_ioend's IOEND_BATCH_SIZE limit)."""

    @property
    def folios(self):
        """The folios still under writeback for this ioend: those of its held bios (a bio
        finished early, before an ext4 io_end turned unwritten, ended its own)."""
        return [f for part in self.held for f in part.folios]

    def finish_part(self, sb, part):
        """ext4_finish_bio / iomap_finish_ioend for one bio: end writeback on each folio
        once its last bio completed. Every completion of a folio's bios is part of what its
        writeback ending means (happens-before)."""
        m = self.inode.mapping
        cur = sb.engine.current
        h = cur.hb if cur is not None else None
        for f in part.folios:
            if cur is not None:
                f.wb_hb = join(f.wb_hb, h)
            f.wb_pending -= 1
            if f.wb_pending == 0 and f.writeback:
                m.end_writeback(f)
                if sb.trace:
                    sb.event("cache", f"{m.host.name}: folio {f.index} writeback ends")

    def finish(self, sb):
        """iomap_finish_ioends / ext4_release_io_end: finish every bio held for the ioend."""
        held, self.held = self.held, []
        for part in held:
            self.finish_part(sb, part)

    def bio_completed(self, sb, part):
        """A bio of this ioend completed (ext4_end_bio, iomap_writepage_end_bio/xfs_end_bio):
        its folios end writeback now unless the ioend's end-I/O must run first, then the
        bio's reference goes."""
        cur = sb.engine.current
        if cur is not None:
            self.hb = join(self.hb, cur.hb)
        sb.bio_done(part)
        self.held.append(part)
        if not (self.iomap or self.unwritten):
            # ext4_end_bio, written io_end: ext4_finish_bio at once, per bio
            self.finish(sb)
        self.put()

    def put(self):
        """ext4_put_io_end_defer: the last reference runs the ioend's end-I/O."""
        self.refs -= 1
        if self.refs == 0:
            self.end_io(self)

    def can_merge(self, nxt) -> bool:
        """iomap_ioend_can_merge: same type, logically adjacent (io_offset + io_size ==
        next->io_offset, so an ioend cut at EOF merges with nothing after it) and
        physically contiguous."""
        return (self.unwritten == nxt.unwritten and self.end == nxt.start
                and self.pblk_of[self.lblks[-1]] + 1 == nxt.pblk_of[nxt.lblks[0]])

    def merge(self, nxt):
        """iomap_ioend_try_merge: `nxt` joins this ioend (io_size += next->io_size; its bios
        are finished with this one's by iomap_finish_ioends)."""
        self.end = nxt.end
        self.lblks.extend(nxt.lblks)
        self.pblk_of.update(nxt.pblk_of)
        self.parts.extend(nxt.parts)
        self.held.extend(nxt.held)
        self.hb |= nxt.hb
        self.view = None


def iomap_sort_and_merge(ioends):
    """xfs_end_io: iomap_sort_ioends (by io_offset), then iomap_ioend_try_merge from each
    ioend over the ones that follow. Returns the merged ioends in offset order."""
    out = []
    for io in sorted(ioends, key=lambda x: x.start):
        if out and out[-1].can_merge(io):
            out[-1].merge(io)
        else:
            out.append(io)
    return out


class IoEndBuilder:
    """Builds ioends and their bios as a writeback pass adds blocks, and submits each bio
    when it is full or the next block cannot join it.

    - iomap (iomap_add_to_ioend, 6.12.117): a new ioend, and with it a new bio, when the
      type, logical or physical contiguity changes, the ioend holds IOEND_BATCH_SIZE folios
      (iomap_can_add_to_ioend), or the bio is full (bio_add_folio fails: BIO_MAX_VECS,
      `max_bio_blocks`); the full ioend is submitted at once (iomap_submit_ioend).
    - ext4 buffer_head (io_submit_add_bh): a new bio of the same io_end when the block is
      not physically contiguous with the bio (b_blocknr != io_next_block) or the bio is
      full; the io_end ends only when the caller cuts it (`cut`: ext4_do_writepages drops
      its reference after each mapped extent's ext4_io_submit), so it spans every bio of
      the pass. Model simplification: a logical gap starts a new bio too (the kernel would
      let physically contiguous blocks of one pass share a bio across it), so that a Bio is
      one run from `lblk` on; what reaches which pblk, and the io_end, are unchanged."""

    def __init__(self, sb, inode, reason, end_io, iomap=False):
        self.sb = sb
        self.inode = inode
        self.reason = reason
        self.end_io = end_io
        """The ioend's end-I/O, run when its last reference goes."""
        self.iomap = iomap
        self.cur = None
        self.part = None

    def add(self, folio, b, eof=None):
        sb = self.sb
        inode = self.inode
        lblk = folio.index * sb.bpf + b
        state, pblk = inode.map[lblk]
        unwritten = state == UNWRITTEN
        cur, part = self.cur, self.part
        if part is not None:
            full = len(part.lblks) >= sb.max_bio_blocks
            if self.iomap:
                if (full or cur.unwritten != unwritten or cur.lblks[-1] + 1 != lblk
                        or cur.pblk_of[cur.lblks[-1]] + 1 != pblk
                        or (cur.nr_folios >= sb.tun.ioend_batch_folios and part.folios[-1] is not folio)):
                    self.cut()
                    cur = part = None
            elif full or part.blocks[-1][0] + 1 != pblk or part.lblks[-1] + 1 != lblk:
                self.submit_bio()
                part = None
        if cur is None:
            cur = self.cur = IoEnd(inode, self.iomap, self.reason, self.end_io)
            cur.unwritten = unwritten
            cur.start = lblk << sb.bshift
        if part is None:
            part = self.part = BioPart()
            cur.parts.append(part)
        if unwritten:
            cur.unwritten = True
        cur.lblks.append(lblk)
        cur.pblk_of[lblk] = pblk
        bshift = sb.bshift
        start = lblk << bshift
        if start < cur.start:
            cur.start = start
        part.lblks.append(lblk)
        folios = part.folios
        if not folios or folios[-1] is not folio:
            folios.append(folio)
            folio.wb_pending += 1
            cur.nr_folios += 1
        end = (lblk + 1) << bshift
        if eof is not None and eof < end:
            end = eof
        if end > cur.end:
            cur.end = end
        part.blocks.append((pblk, folio, b))

    def submit_bio(self):
        """ext4_io_submit / submit_bio of the bio under construction; the ioend takes a
        reference for it (io_submit_init_bio -> ext4_get_io_end)."""
        part = self.part
        if part is None:
            return
        self.part = None
        cur = self.cur
        sb = self.sb
        inode = self.inode
        why = str(self.reason)
        # The bio's pages are read when it is submitted (and, without stable pages, up to
        # its completion: racing_store), not when a block joins the ioend: a store between
        # the two is in the bio.
        blocks = tuple([(pblk, folio.blocks[b]) for pblk, folio, b in part.blocks])
        bio = Bio(0, WRITE, blocks)      # kind "data"; the fields stored, not passed by keyword
        bio.why = why
        bio.ino = inode.ino
        bio.lblk = part.lblks[0]
        bio.end_io = lambda b, ioend=cur, p=part: ioend.bio_completed(sb, p)
        part.bio = bio
        cur.refs += 1
        for f in part.folios:
            f.wb_owner = None          # the device has it now
        zero_io = False
        ino = inode.ino
        inflight = sb.inflight
        zeroed = sb.zeroed
        keys = part.keys
        for lblk in part.lblks:
            key = (ino, lblk)
            inflight[key] = bio
            keys.append(key)
            if key in zeroed:
                zeroed.discard(key)
                zero_io = True
        if zero_io:
            bio.why = why if self.reason == WbReason.ZERO_EOF else f"{why}, zeroed EOF block"
        sb.dev.submit(bio)
        if zero_io:
            sb.dev.stats.zero_block_writes += 1
        if sb.trace:
            sb.event("io", f"{inode.name}: submit bio {bio.id} ({why}) blocks "
                           f"{part.lblks[0]}-{part.lblks[-1]} -> pblk {part.blocks[0][0]}"
                           f"{' unwritten' if cur.unwritten else ''}"
                           f"{f' (ioend of {len(cur.parts)} bios)' if len(cur.parts) > 1 else ''}")

    def cut(self):
        """End the ioend under construction: submit its last bio and drop the submitter's
        reference (iomap_submit_ioend; ext4_io_submit + ext4_put_io_end_defer)."""
        cur = self.cur
        if cur is None:
            return
        self.submit_bio()
        self.cur = None
        cur.put()


def iomap_writepages(sb, mapping, wbc, ops: IomapWritebackOps):
    """iomap_writepages -> iomap_writepage_map: per folio, zero past EOF, map each dirty
    block through `ops.map_blocks`, and add it to an ioend cut at the EOF sampled now."""
    inode = mapping.host
    sb.count_writeback(wbc)
    io = IoEndBuilder(sb, inode, wbc.reason, ops.end_io, iomap=True)

    def write_folio(folio, inside):
        blocks = []
        first = folio.index * sb.bpf
        for b in range(sb.bpf):
            if (folio.dirty_mask >> b) & 1 and b * sb.bs < inside and first + b in inode.map:
                yield from ops.map_blocks(inode, first + b)
                blocks.append(b)
        folio.dirty_mask = 0
        if blocks:
            mapping.start_writeback(folio)
            for b in blocks:
                io.add(folio, b, eof=inode.i_size)
        mapping.unlock(folio)
        return bool(blocks)

    try:
        yield from write_cache_pages(mapping, wbc, write_folio)
    finally:
        io.cut()
