"""The model's self-checks (src/eofsim/selfcheck.py) run after every event in every test,
and in the subprocesses and campaign workers the tests start (they inherit the variable)."""

import os

os.environ.setdefault("EOFSIM_SELF_CHECK", "1")
