"""defer-sync-grow: a design that is not built in (docs/new-design.md writes it step by step).

Defer the zeroed EOF block to writeback, as Jan Kara and Ojaswin Mujoo proposed in the
review of v4 17/23 (eofsim's built-in `iomap-deferred`), but let truncate up and fallocate
write and wait that one block before they grow i_disksize, so their new size commits with
the next transaction (~5 s) instead of after the 30 s dirty expiry (~35-40 s).

Assumption: the synchronous write is filemap_write_and_wait_range over the pending block,
issued from the truncate/fallocate task before the size's handle starts (no handle is held
across the wait, so jbd2 cannot wait on us).
"""

from eofsim.policies import GrowReason, WbReason
from eofsim.policies.iomap_deferred import IomapDeferred


class DeferSyncGrow(IomapDeferred):
    name = "defer-sync-grow"
    summary = "deferred EOF block, but truncate up / fallocate write and wait it first"

    def before_grow(self, ctx, inode, new_size, reason, zeroed):
        if reason not in (GrowReason.SETATTR, GrowReason.FALLOCATE):
            return
        lblk = self.pending(ctx, inode)
        if lblk is None:
            return
        start = ctx.block_start(lblk)
        yield from ctx.write_and_wait_range(inode, start, ctx.block_start(lblk + 1) - 1,
                                            WbReason.ZERO_EOF)
