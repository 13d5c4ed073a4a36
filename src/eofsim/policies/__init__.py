"""Designs as plug-ins: one module per design, registered here by name."""

from ..errors import InputError
from .bh_ordered import BhOrdered
from .bh_writeback import BhWriteback

POLICIES = {p.name: p for p in (BhOrdered, BhWriteback)}


def get_policy(name: str):
    try:
        return POLICIES[name]()
    except KeyError:
        raise InputError(f"unknown policy {name!r} (known: {', '.join(POLICIES)})") from None
