"""User-facing input errors: reported as one line, exit status 2, never a traceback.

Exit-status convention of every command (see cli.py):
  0  ran, found nothing
  1  ran, found something (a violation, a disagreement with the kernel)
  2  bad input, or the environment refused (unreadable input, unwritable output, disk full)
  130 / 143  interrupted by SIGINT / SIGTERM (128 + the signal number, as a shell reports
     a process the signal killed), after a one-line message
"""

import re

_CTRL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """`text` with every control character (newlines included) shown escaped, so that a
    message built from user input stays one line on the terminal."""
    return _CTRL.sub(lambda m: repr(m.group())[1:-1], str(text))


class InputError(Exception):
    """Bad input from a user: a scenario, an op log, a --set value, a CLI argument.

    `where` is "file:line" (or just a name) and is prefixed to the message.
    """

    def __init__(self, message: str, where: str | None = None):
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class Interrupted(KeyboardInterrupt):
    """SIGTERM delivered as an exception, so that the code that handles Ctrl-C (campaigns
    keep their stored rows, kernel runs clean up their mounts) handles it too."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(signum)
