"""iomap-v4: patches v4 17/23 and 18/23 ("ext4: wait for ordered I/O in the iomap buffered
I/O path"): submit the zeroed EOF block at once, and make every later advance of
i_disksize wait for that I/O first (17/23's TODO: append write end-I/O past the zeroed
boundary, truncate up, append fallocate).

Assumptions the sources do not settle (18/23 is known by title only):
- "wait for the I/O" is filemap_fdatawait_range over the zeroed range, the primitive jbd2's
  ordered mode uses (journal_finish_inode_data_buffers); on the iomap path that means
  waiting until the end-I/O processing of that block ended its folio writeback.
- The end-I/O worker waits in the same place when an ioend ends past the zeroed boundary.
"""

from ..mm import filemap_fdatawait_range
from .iomap_v4_nowait import IomapV4Nowait


class IomapV4(IomapV4Nowait):
    name = "iomap-v4"
    summary = "v4 17+18/23: submit the zeroed EOF block at once; size updates wait for it"

    def zeroed_eof(self, fs, handle, inode, start, length, written):
        if written:
            submitted = yield from self.submit_zero_block(fs, inode, start, start + length)
            if submitted:
                inode.pstate["zero_io"] = (start, start + length)

    def _wait(self, fs, inode):
        rng = inode.pstate.get("zero_io")
        if rng is not None:
            yield from filemap_fdatawait_range(inode.mapping, rng[0], rng[1] - 1)
            if inode.pstate.get("zero_io") == rng:
                del inode.pstate["zero_io"]

    def before_grow(self, fs, inode, new_size, why):
        yield from self._wait(fs, inode)

    def before_end_io(self, fs, inode, ioend):
        rng = inode.pstate.get("zero_io")
        if rng is not None and ioend.end > rng[0] and not (ioend.start <= rng[0] < ioend.end):
            yield from self._wait(fs, inode)

    def truncated(self, fs, inode, size):
        rng = inode.pstate.get("zero_io")
        if rng is not None and rng[0] >= size:
            del inode.pstate["zero_io"]
