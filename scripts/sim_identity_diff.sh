#!/bin/sh
# Compare a dump of scripts/sim_identity.py (AFTER) with an earlier one (BEFORE): every file
# AFTER has must be byte-identical in BEFORE. Usage: sim_identity_diff.sh BEFORE AFTER
before=$1; after=$2; bad=0
for f in "$after"/*; do
    n=$(basename "$f")
    if ! cmp -s "$f" "$before/$n"; then echo "DIFFERS: $n"; bad=1; fi
done
[ $bad = 0 ] && echo "identical: $(ls "$after" | wc -l) outputs"
exit $bad
