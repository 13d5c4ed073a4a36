"""fs/iomap/buffered-io.c: iomap_writepages and the ioend layer.

The generic layer walks the dirty folios (writeback_iter), zeroes the EOF folio past
i_size, maps each dirty block through the filesystem's ops (`map_blocks`), adds it to the
current ioend (a new one when the type or logical/physical contiguity changes, or the batch
is full: iomap_can_add_to_ioend), cuts the ioend at the EOF sampled at submission, and at
completion calls the filesystem's `end_io` (which may defer to a worker before
`finish_ioend` ends writeback on the folios, as iomap_finish_ioends does).

`IoEnd`/`IoEndBuilder` also serve ext4's buffer_head writeback (ext4_io_end,
io_submit_add_bh), which merges blocks into bios by the same rules.
"""

from typing import Protocol

from ..block import Bio, WRITE
from ..mm.page_writeback import WbReason, write_cache_pages
from . import UNWRITTEN


class IomapWritebackOps(Protocol):
    """struct iomap_writeback_ops, as a filesystem supplies it."""

    def map_blocks(self, inode, lblk: int):
        """->map_blocks (6.17+: ->writeback_range) for one dirty block: make it mapped (a
        generator; may start a handle). The block map then holds its state and pblk."""

    def end_io(self, ioend: "IoEnd") -> None:
        """The ioend's completion in interrupt context: finish it now, or queue it to a
        worker (->prepare_ioend / ->submit_ioend routing, xfs_prepare_ioend's rule)."""


class IoEnd:
    """One ioend: the folios and blocks of one bio, and what completion needs."""

    __slots__ = ("inode", "bio", "folios", "lblks", "pblk_of", "unwritten", "iomap", "start",
                 "end", "keys", "reason", "hb", "view")

    def __init__(self, inode, iomap, reason):
        self.inode = inode
        self.bio = None
        self.folios = []
        self.lblks = []
        self.pblk_of = {}
        self.unwritten = False
        self.iomap = iomap
        """Completion takes the iomap series' end-I/O path (size update at completion)."""
        self.start = None
        self.end = 0
        """Byte offset where the I/O ends, cut at the EOF sampled at submission."""
        self.keys = []
        self.reason = reason
        self.hb = 0
        """Knowledge handed from the completing interrupt to the end-I/O worker."""
        self.view = None

    def finish(self, sb):
        """iomap_finish_ioends / ext4_finish_bio: end writeback on each folio once its last
        bio completed. Every completion of a folio's bios is part of what its writeback
        ending means (happens-before)."""
        m = self.inode.mapping
        cur = sb.engine.current
        for f in self.folios:
            if cur is not None:
                f.wb_hb |= cur.hb
            f.wb_pending -= 1
            if f.wb_pending == 0 and f.writeback:
                m.end_writeback(f)
                if sb.trace:
                    sb.event("cache", f"{m.host.name}: folio {f.index} writeback ends")


class IoEndBuilder:
    """Merges blocks that are logically and physically contiguous and of one kind into one
    bio (iomap_can_add_to_ioend / io_submit_add_bh), and submits it with `end_io` as its
    completion."""

    def __init__(self, sb, inode, reason, end_io, iomap=False):
        self.sb = sb
        self.inode = inode
        self.reason = reason
        self.end_io = end_io
        self.iomap = iomap
        self.cur = None
        self.blocks = []

    def add(self, folio, b, eof=None):
        sb = self.sb
        inode = self.inode
        lblk = folio.index * sb.bpf + b
        state, pblk = inode.map[lblk]
        unwritten = state == UNWRITTEN
        cur = self.cur
        if cur is not None and (cur.unwritten != unwritten or cur.lblks[-1] + 1 != lblk
                                or cur.pblk_of[cur.lblks[-1]] + 1 != pblk
                                or len(cur.folios) >= sb.tun.ioend_batch_folios
                                or len(cur.lblks) >= sb.max_bio_blocks):
            self.submit()
            cur = None
        if cur is None:
            cur = self.cur = IoEnd(inode, self.iomap, self.reason)
            cur.unwritten = unwritten
            cur.start = lblk << sb.bshift
            self.blocks = []
        cur.lblks.append(lblk)
        cur.pblk_of[lblk] = pblk
        if not cur.folios or cur.folios[-1] is not folio:
            cur.folios.append(folio)
            folio.wb_pending += 1
        end = (lblk + 1) << sb.bshift
        if eof is not None:
            end = min(end, eof)
        cur.end = max(cur.end, end)
        self.blocks.append((pblk, folio, b))

    def submit(self):
        cur = self.cur
        if cur is None:
            return
        self.cur = None
        sb = self.sb
        inode = self.inode
        why = str(self.reason)
        # The bio's pages are read when it is submitted (and, without stable pages, up to
        # its completion: racing_store), not when a block joins the ioend: a store between
        # the two is in the bio.
        blocks = tuple((pblk, folio.blocks[b]) for pblk, folio, b in self.blocks)
        bio = Bio(0, WRITE, blocks, kind="data", why=why, ino=inode.ino,
                  lblk=cur.lblks[0], end_io=lambda b, ioend=cur, f=self.end_io: f(ioend))
        cur.bio = bio
        for f in cur.folios:
            f.wb_owner = None          # the device has it now
        zero_io = False
        for lblk in cur.lblks:
            key = (inode.ino, lblk)
            sb.inflight[key] = bio
            cur.keys.append(key)
            if key in sb.zeroed:
                sb.zeroed.discard(key)
                zero_io = True
        if zero_io:
            bio.why = why if self.reason == WbReason.ZERO_EOF else f"{why}, zeroed EOF block"
        sb.dev.submit(bio)
        if zero_io:
            sb.dev.stats.zero_block_writes += 1
        sb.event("io", f"{inode.name}: submit bio {bio.id} ({why}) blocks "
                       f"{cur.lblks[0]}-{cur.lblks[-1]} -> pblk {cur.pblk_of[cur.lblks[0]]}"
                       f"{' unwritten' if cur.unwritten else ''}")


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
        io.submit()
