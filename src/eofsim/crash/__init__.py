"""Crash exploration: possible disk states after a power cut, jbd2 recovery, checkers."""

from .checkers import KINDS, Violation
from .explore import CheckReport, check, check_schedules

__all__ = ["check", "check_schedules", "CheckReport", "Violation", "KINDS"]
