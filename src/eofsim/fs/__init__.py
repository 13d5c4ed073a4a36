"""Generic VFS-level code the model needs (fs/sync.c, fs/fs-writeback.c)."""
