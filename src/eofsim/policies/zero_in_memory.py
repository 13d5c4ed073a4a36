"""zero-in-memory: a deliberately unsafe baseline.

The EOF block's tail is zeroed in the page cache only and the larger i_disksize is logged at
once (what ext4_block_zero_eof's TODO warns of on the iomap path without patch v4 17/23).
Nothing orders the zeroed block before the commit, so a crash can show the stale tail.
"""

from .iomap_base import IomapBase


class ZeroInMemory(IomapBase):
    name = "zero-in-memory"
    summary = "UNSAFE baseline: zero the EOF tail in the page cache only; size commits at once"
