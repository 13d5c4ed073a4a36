"""fs/ext4/super.c: the mounted filesystem (struct super_block + ext4_sb_info), its mount
options, the journal and the end-I/O workqueue."""

from ..engine import WaitQueue
from ..fs.fs_writeback import BdiWriteback
from ..jbd2 import Journal
from ..policies.base import DataMode
from ..policies.context import DesignContext
from .extents import DATA_BASE
from .iomap import Ext4IomapAops
from .page_io import Ext4Aops


class Ext4Super:
    """The super.c part of the ext4 filesystem object (see ext4/__init__.py)."""

    def __init__(self, engine, dev, tun, policy, trace=False):
        self.engine = engine
        self.dev = dev
        self.tun = tun
        self.policy = policy
        self.bs = tun.block_size
        self.fsize = tun.folio_size
        self.bpf = tun.folio_size // tun.block_size
        self.fshift = tun.folio_size.bit_length() - 1
        self.bshift = tun.block_size.bit_length() - 1
        self.trace = trace
        self.events = []
        self.inodes = {}
        """path -> Inode: regular files linked in the namespace now (namei.py keeps it)."""
        self.by_ino = {}
        """ino -> Inode: every in-core regular file (linked, or unlinked but still open)."""
        self.next_ino = 12
        """EXT4_FIRST_INO: 11 is lost+found; the scenario's inodes start at 12."""
        from .namei import Dir, ROOT_INO
        self.dirs = {ROOT_INO: Dir(ROOT_INO, "")}
        """ino -> Dir: the directories (the root, EXT4_ROOT_INO = 2, and those mkdir made)."""
        self.all_inodes = []
        """Every regular-file inode made, in creation order (evicted ones too)."""
        self.name_events = []
        """[(time_ns, op index, path, ino or None)]: each change of what a path names."""
        self.orphans = set()
        """Inos on the orphan list (ext4_orphan_add / ext4_orphan_del)."""
        self.next_pblk = DATA_BASE
        self.freed = []
        """Data blocks free for reuse at once (a heap): only under data=writeback."""
        self.reuse_freed = policy.data_mode == DataMode.WRITEBACK
        self.buffered_iomap = policy.buffered_iomap
        """Mount option buffered_iomap (the series); ext4_set_aops follows it per inode."""
        # ext4_should_order_data: data=ordered, and never on the iomap path (v4 cover letter).
        self.ordered = policy.data_mode == DataMode.ORDERED and not self.buffered_iomap
        self.delalloc = tun.delalloc
        # ext4_should_dioread_nolock: off without delalloc; the iomap path forces it on.
        self.dioread_nolock = self.buffered_iomap or (tun.dioread_nolock and tun.delalloc)
        self.bh_aops = Ext4Aops(self)
        self.iomap_aops = Ext4IomapAops(self)
        self.ctx = DesignContext(self)
        self.journal = Journal(engine, dev, tun, self.submit_inode_data, self.event,
                               tun.xfs_syncd_ns if policy.xfs_log_timing else None)
        self.journal.trace = trace
        self.wb = BdiWriteback(engine, tun)
        """The bdi's writeback state (the flusher's delayed work and dirty list)."""
        self.endio_queue = []
        self.endio_kick = WaitQueue(engine, "end-I/O worker idle", "endio_idle", idle=True)
        self.endio_workers = [engine.spawn("ext4-endio" if tun.endio_workers == 1 else f"ext4-endio/{i}",
                                           self.endio_worker(), kind="daemon")
                              for i in range(tun.endio_workers)]
        # Whoever will end a queued folio's writeback, for the wait-for graph: with several
        # workers any of them may, so no single owner is named (stalls still show at the end).
        self.endio_worker = self.endio_workers[0] if tun.endio_workers == 1 else None
        self.inflight = {}
        """(ino, lblk) -> the data bio in flight for it (for stores racing with writeback)."""
        self.max_bio_blocks = max(1, tun.max_bio_bytes // tun.block_size)
        self.writeback_calls = {}
        """->writepages invocations by reason (kupdate, fsync, zero-eof, jbd2 ordered, ...)."""
        self.zeroed = set()
        """(ino, lblk) of EOF blocks zeroed and not yet written: their next write is a
        zero-block I/O in the I/O-cost figures."""
        self.eof_zeroings = [0, 0]
        """EOF zeroings that changed the page cache: [of a block not yet written (delayed,
        unwritten), of an allocated and written block (its zeroes must reach disk)]."""

    def event(self, lane, text):
        if self.trace:
            self.events.append((self.engine.now, lane, text))
