"""Designs as plug-ins: one module per design, registered here by name."""

from ..errors import InputError
from .bh_ordered import BhOrdered
from .bh_writeback import BhWriteback
from .iomap_deferred import IomapDeferred
from .iomap_pending import IomapPending
from .iomap_v4 import IomapV4
from .iomap_v4_nowait import IomapV4Nowait
from .xfs import Xfs
from .zero_in_memory import ZeroInMemory

POLICIES = {p.name: p for p in (BhOrdered, BhWriteback, IomapV4Nowait, IomapV4, IomapDeferred,
                                IomapPending, Xfs, ZeroInMemory)}


def get_policy(name: str):
    try:
        return POLICIES[name]()
    except KeyError:
        raise InputError(f"unknown policy {name!r} (known: {', '.join(POLICIES)})") from None
