# Shared set-up of the standalone real-XFS repro scripts (examples/xfs-*/repro.sh), sourced
# by them: root and tool checks, a work directory, and clean-up on any exit (unmount, detach
# the loop device the script attached, remove the directory). Does not use eofsim.
# Usage: . "$(dirname "$0")/../xfs-repro-lib.sh"; xfs_repro_init NAME TOOL...
xfs_repro_init() {
  local name=$1 t
  shift
  [ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 2; }
  for t in "$@"; do
    command -v "$t" >/dev/null || { echo "$t missing (apt-get install xfsprogs util-linux)" >&2; exit 2; }
  done
  W=$(mktemp -d "/tmp/$name-XXXXXX")
  DEV=
  trap xfs_repro_cleanup EXIT INT TERM
}
xfs_repro_cleanup() {
  mountpoint -q "$W/m" && umount "$W/m" || true
  [ -n "$DEV" ] && losetup -d "$DEV" || true
  rm -rf "$W"
}
