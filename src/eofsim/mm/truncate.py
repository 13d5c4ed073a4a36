"""Page-cache side of size changes (mm/truncate.c): dropping folios past a new size or in
a punched range, and write-protecting the EOF folio when the size grows."""


def truncate_pagecache(mapping, size):
    """truncate_pagecache: drop folios past the new size (waiting for their writeback) and
    zero the partial folio's tail in memory without dirtying it."""
    fsize = mapping.fsize
    first = (size + fsize - 1) >> mapping.shift
    for idx in sorted([i for i in mapping.folios if i >= first]):
        f = mapping.folios.get(idx)
        if f is None:
            continue
        if folio_idle(mapping, f):
            continue
        yield from mapping.lock(f)
        yield from mapping.wait_writeback(f)
        mapping.unlock(f)
    mapping.remove_from(size)
    if size & (fsize - 1):
        mapping.zero_range_cached(size, first << mapping.shift)
        f = mapping.lookup(size >> mapping.shift)
        if f is not None:
            discard_buffers(mapping, f, size, first << mapping.shift)


def truncate_pagecache_range(mapping, start, end):
    """truncate_pagecache_range over bytes [start, end): whole folios go (after their
    writeback), partial ones are zeroed in memory."""
    fsize = mapping.fsize
    for idx in mapping.indices(start, end - 1):
        f = mapping.folios.get(idx)
        if f is None:
            continue
        if not folio_idle(mapping, f):      # (its unlock below is then a no-op)
            yield from mapping.lock(f)
            yield from mapping.wait_writeback(f)
        base = idx << mapping.shift
        if start <= base and base + fsize <= end:
            mapping.delete(f)
            mapping.unlock(f)
        else:
            mapping.unlock(f)
            mapping.zero_range_cached(max(start, base), min(end, base + fsize))
            discard_buffers(mapping, f, start, end)


def folio_idle(mapping, folio):
    """folio_lock + folio_wait_writeback + folio_unlock on a folio nobody holds, under no
    writeback and with nobody waiting for its lock: nothing blocks and nobody is woken, so
    of the three only the wait's effect remains (the caller learns what the folio's ended
    writeback made known). Returns False, doing nothing, for any other folio."""
    if folio.locker is not None or folio.writeback or (folio.lock_wq is not None
                                                       and folio.lock_wq.waiters):
        return False
    cur = mapping.engine.current
    if cur is not None:
        cur.hb |= folio.wb_hb
    return True


def discard_buffers(mapping, folio, start, end):
    """truncate_inode_partial_folio -> folio_invalidate -> block_invalidate_folio ->
    discard_buffer: buffers wholly inside [start, end) lose BH_Mapped."""
    base = folio.index << mapping.shift
    for b in range(mapping.bpf):
        b0 = base + b * mapping.bs
        if start <= b0 and b0 + mapping.bs <= end:
            folio.bh_mapped &= ~(1 << b)


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
    yield from folio_mkclean(mapping, start >> mapping.shift)


def folio_mkclean(mapping, index):
    """folio_mkclean (mm/rmap.c) on the cached folio at `index`, under its lock: write-protect
    its PTEs so the next mmap store faults into ->page_mkwrite; a PTE that was dirty
    redirties the folio. No folio cached: nothing to do."""
    folio = mapping.lookup(index)
    if folio is None:
        return
    yield from mapping.lock(folio)
    if folio.mkwrite:
        folio.mkwrite = False
        mapping.mark_dirty(folio, 0)
    mapping.unlock(folio)
