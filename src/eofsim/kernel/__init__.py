"""Real-kernel side of issue 5: hold the model against Linux ext4 on this machine.

Modules:
  preflight     why the real-kernel checks cannot run here (or None)
  sysutil       libc calls (fallocate, sync_file_range, mmap, mount) and the cleanup stack
  fuselog       FUSE passthrough daemon that logs every block write/flush of a loop device
  image         0xE5-filled ext4 images, initial files, planted sentinels, loop + mount
  run           run a scenario's ops with real syscalls on a logged ext4
  crash         crash states from the log (issue 3 disk-order rules) -> Outcomes
  differential  op lists on tmpfs and ext4 vs the model, first divergence, shrinking

Nothing here is imported by the model core.
"""
