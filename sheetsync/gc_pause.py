"""Pausing CPython's cyclic garbage collector while a night builds objects it keeps.

The collector's full pass runs whenever the objects that survived earlier passes have grown
by a quarter, and each pass goes over every one of them. Building the domain's view of a
register keeps nearly everything it makes (about two million objects at province scale), so
the heap crosses that line again and again: 13 full passes took 4.5 of evaluate's 24.6 s on a
province night. Nothing in those builds makes cyclic garbage worth collecting early (the peak
memory stays the same, measured); the collector's ordinary passes after the block go over
what was built once or twice instead of at every quarter's growth.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """No automatic cyclic collection inside the block; reference counting frees as always.

    Nested or already disabled collection is left as the caller had it.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
