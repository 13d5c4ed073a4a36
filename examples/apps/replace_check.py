"""--app-check for replace_workload.py: once the directory fsync after the rename has
returned (crash time past the last op), f must hold all of "old" or all of "new"; before,
f may also be absent (nothing durable yet). Prints what f holds when it rejects.

usage: python3 replace_check.py
"""

import os
import sys


def main():
    if not os.path.exists("f"):
        print("f absent")
        return 1 if os.environ.get("EOFSIM_STRICT") else 0
    data = open("f", "rb").read()
    if data in (b"old " * 1000, b"new " * 1000):
        return 0
    kind = "zero-length" if not data else "zero-filled" if not data.strip(b"\0") else \
        "mixed" if data.startswith(b"new") or data.startswith(b"old") else "other"
    print(f"f is {kind} ({len(data)} bytes)")
    return 1


if __name__ == "__main__":
    sys.exit(main())
