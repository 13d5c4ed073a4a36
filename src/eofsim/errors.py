"""User-facing input errors: reported as one line, exit status 2, never a traceback."""


class InputError(Exception):
    """Bad input from a user: a scenario, an op log, a --set value, a CLI argument.

    `where` is "file:line" (or just a name) and is prefixed to the message.
    """

    def __init__(self, message: str, where: str | None = None):
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)
