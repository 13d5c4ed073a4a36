"""Page-cache side of size changes (mm/truncate.c): dropping folios past a new size or in
a punched range, and write-protecting the EOF folio when the size grows."""


def truncate_pagecache(mapping, size):
    """truncate_pagecache: drop folios past the new size (waiting for their writeback) and
    zero the partial folio's tail in memory without dirtying it."""
    fsize = mapping.fsize
    first = (size + fsize - 1) >> mapping.shift
    for idx in sorted(i for i in mapping.folios if i >= first):
        f = mapping.folios.get(idx)
        if f is None:
            continue
        yield from mapping.lock(f)
        yield from mapping.wait_writeback(f)
        mapping.unlock(f)
    mapping.remove_from(size)
    if size & (fsize - 1):
        mapping.zero_range_cached(size, first << mapping.shift)


def truncate_pagecache_range(mapping, start, end):
    """truncate_pagecache_range over bytes [start, end): whole folios go (after their
    writeback), partial ones are zeroed in memory."""
    fsize = mapping.fsize
    for idx in mapping.indices(start, end - 1):
        f = mapping.folios.get(idx)
        if f is None:
            continue
        yield from mapping.lock(f)
        yield from mapping.wait_writeback(f)
        base = idx << mapping.shift
        if start <= base and base + fsize <= end:
            mapping.delete(f)
            mapping.unlock(f)
        else:
            mapping.unlock(f)
            mapping.zero_range_cached(max(start, base), min(end, base + fsize))


def pagecache_isize_extended(mapping, start, end):
    """pagecache_isize_extended: when blocks are smaller than a page and the size grew past
    the EOF folio's last mapped block, write-protect that folio (folio_mkclean) so the next
    mmap store faults into page_mkwrite and maps the blocks. Linux 6.12 does not zero the
    folio past the EOF block here (fixed upstream later; an xfail test documents it)."""
    bs, fsize = mapping.bs, mapping.fsize
    if start >= end or bs >= fsize:
        return
    rounded = (start + bs - 1) & ~(bs - 1)
    if end <= rounded or not rounded & (fsize - 1):
        return
    folio = mapping.lookup(start >> mapping.shift)
    if folio is None:
        return
    yield from mapping.lock(folio)
    if folio.mkwrite:
        folio.mkwrite = False
        mapping.mark_dirty(folio, 0)
    mapping.unlock(folio)
