"""fs/iomap: the generic buffered-I/O writeback layer a filesystem plugs into.

Block mapping types (include/linux/iomap.h), which the model's block map uses for every
filesystem: IOMAP_HOLE, IOMAP_DELALLOC (delayed allocation), IOMAP_UNWRITTEN,
IOMAP_MAPPED (allocated and written)."""

HOLE, DELAYED, UNWRITTEN, WRITTEN = 0, 1, 2, 3
STATE_NAMES = ("hole", "delayed", "unwritten", "written")
