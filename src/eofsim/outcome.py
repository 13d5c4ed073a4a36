"""Outcome classes: what a user can observe about one file after a crash and remount.

Shared by the model's crash exploration and the real-kernel harness, so the two can be
compared class by class (issue 5)."""

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Outcome:
    file: str
    size: int
    """Recovered size (stat st_size after journal replay)."""
    garbage: bool
    """Some byte inside the size holds pre-scenario device contents (fill byte / sentinel)."""
    zeros_instead_of_data: bool
    """Some byte inside the size reads zero where a write completed before the crash put data."""
    absent: bool = False
    """The name does not exist after recovery (a create not committed, an unlink that was)."""

    def text(self) -> str:
        if self.absent:
            return f"{self.file}: absent"
        flags = [n for n, v in (("garbage", self.garbage), ("zeros-instead-of-data",
                                                          self.zeros_instead_of_data)) if v]
        return f"{self.file}: size={self.size}" + (f" [{', '.join(flags)}]" if flags else "")
