"""Replace via rename: which outcomes a crash allows for the replaced name (issue 11).

For a name N that a rename replaced (write N.tmp, rename N.tmp over N), each recovered
state of N is one of:
  old          N still holds the inode it held before the rename;
  new          N holds the renamed inode with all its data;
  zero-length  N holds the renamed inode at size 0 (the 2009 "zero-length files" outcome);
  zero-filled  N holds the renamed inode, and some byte reads zero where its data belongs;
  partial      N holds the renamed inode at a size between 0 and its full size;
  garbage      N holds the renamed inode with pre-scenario device contents inside it;
  absent       N does not exist.
"""

CLASSES = ("old", "new", "zero-length", "zero-filled", "partial", "garbage", "absent")


def replaced_inodes(result, name):
    """(old ino, new ino) around the last rename over `name`, or None if none replaced it."""
    links = result.name_history.get(name, [])
    ops = {r.index: r for r in result.ops}
    for i in range(len(links) - 1, 0, -1):
        t, op, ino = links[i]
        rec = ops.get(op)
        if rec is not None and rec.op.kind == "rename" and rec.op.new == name and ino is not None:
            return links[i - 1][2], ino
    return None


def classify(result, report, name):
    """The set of CLASSES a crash allows for `name` (report: an exact-mode CheckReport)."""
    pair = replaced_inodes(result, name)
    if pair is None:
        raise ValueError(f"{name} was not replaced by a rename")
    old, new = pair
    full = result.ino_history[new][-1][2] if result.ino_history.get(new) else 0
    out = set()
    for n, ino, size, garbage, zeros in report.name_outcomes:
        if n != name:
            continue
        if ino == old:
            out.add("old")
        elif ino == new:
            out.add("garbage" if garbage else "zero-length" if size == 0 else
                    "zero-filled" if zeros else "new" if size == full else "partial")
    if any(o.file == name and o.absent for o in report.outcomes):
        out.add("absent")
    return out
