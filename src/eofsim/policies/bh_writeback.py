"""bh-writeback: the buffer_head path with data=writeback (Linux 6.12).

No ordered list (`ext4_should_order_data` is false): nothing orders the zeroed EOF tail,
or newly allocated written blocks under nodelalloc, before the commit that makes them part
of the file. ext4 documents that stale data may appear after a crash in this mode.
"""

from .base import DataMode, Policy


class BhWriteback(Policy):
    name = "bh-writeback"
    data_mode = DataMode.WRITEBACK
    summary = "buffer_head path, data=writeback: no ordering between data and the size"
