"""Sparing CPython's cyclic garbage collector the objects a night builds to keep.

The collector's full pass runs whenever the objects that survived earlier passes have grown by
a quarter, and each pass goes over every one of them. Building the domain's view of a register
keeps nearly everything it makes (about two million objects at province scale), so the heap
crosses that line again and again: 13 full passes took 4.5 of evaluate's 24.6 s on a province
night. Only pausing the collector moves the bill to just after: its next passes go over all
that was built, 1-2 s at province, paid while the night writes its run record. Freezing what
is alive once it is built (``gc.freeze``, which only relinks lists) leaves it out of every
pass until the night is over, the passes while the master is written included.

Nothing in those builds makes cyclic garbage worth collecting early: the peak memory stays the
same (measured). Reference counting frees whatever is let go, frozen or not.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType


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


class SparedFromCollection:
    """A scope (a night) whose long-lived objects are frozen once built and unfrozen at its end.

    A process that had frozen objects of its own before (a server that forks, say) keeps them
    frozen: the scope then only pauses collection while it builds, since unfreezing at the end
    would unfreeze the process's objects too.
    """

    def __enter__(self) -> SparedFromCollection:
        self._owns_freezing = gc.get_freeze_count() == 0
        return self

    @contextmanager
    def building(self) -> Iterator[None]:
        """Collection paused while the block builds; on success, everything alive frozen."""
        with gc_paused():
            yield
            if self._owns_freezing:
                gc.freeze()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._owns_freezing:
            gc.unfreeze()
