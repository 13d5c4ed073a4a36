"""Memory management: the page cache (filemap.py), the writeback iterator
(page_writeback.py) and truncation (truncate.py), as in the kernel's mm/."""

from .filemap import (AddressSpace, Folio, filemap_fdatawait_range, filemap_fdatawrite_range,
                      filemap_flush, filemap_get_folio, filemap_read, filemap_write_and_wait_range)
from .page_writeback import WB_SYNC_ALL, WB_SYNC_NONE, WbReason, WritebackControl, do_writepages

__all__ = ["AddressSpace", "Folio", "WB_SYNC_ALL", "WB_SYNC_NONE", "WbReason",
           "WritebackControl", "do_writepages", "filemap_fdatawait_range",
           "filemap_fdatawrite_range", "filemap_flush", "filemap_get_folio", "filemap_read",
           "filemap_write_and_wait_range"]
