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

from dataclasses import dataclass

from .iomap_v4_nowait import IomapV4Nowait


@dataclass(slots=True)
class ZeroIoState:
    zero_io: tuple | None = None
    """(start, end) of the zeroed range whose I/O was submitted and not yet waited for."""


class IomapV4(IomapV4Nowait):
    name = "iomap-v4"
    summary = "v4 17+18/23: submit the zeroed EOF block at once; size updates wait for it"
    InodeState = ZeroIoState

    def zeroed_eof(self, ctx, handle, inode, start, length, written):
        if written:
            submitted = yield from self.submit_zero_block(ctx, inode, start, start + length)
            if submitted:
                ctx.state(inode).zero_io = (start, start + length)

    @staticmethod
    def wait_zero_io(ctx, inode):
        st = ctx.state(inode)
        rng = st.zero_io
        if rng is not None:
            yield from ctx.wait_range(inode, rng[0], rng[1] - 1)
            if st.zero_io == rng:
                st.zero_io = None

    def before_grow(self, ctx, inode, new_size, reason, zeroed):
        yield from self.wait_zero_io(ctx, inode)

    def before_end_io(self, ctx, inode, ioend):
        rng = ctx.state(inode).zero_io
        if rng is not None and ioend.end > rng[0] and not (ioend.start <= rng[0] < ioend.end):
            yield from self.wait_zero_io(ctx, inode)

    def truncated(self, ctx, inode, size):
        st = ctx.state(inode)
        if st.zero_io is not None and st.zero_io[0] >= size:
            st.zero_io = None
