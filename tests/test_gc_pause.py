"""The collector spared the domain's view: paused while it is built, frozen until the night ends."""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path

import pytest

import sheetsync.consolidate as consolidation
from sheetsync.gc_pause import SparedFromCollection, gc_paused
from tests.test_pipeline import AS_OF, PROFILE, make_drive


@pytest.fixture(autouse=True)
def _collector_as_usual():
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.enable()


def test_collection_is_paused_inside_and_enabled_again_after() -> None:
    gc.enable()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():  # nested: the outer block's pause holds
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_an_error_inside_still_enables_collection_again() -> None:
    gc.enable()
    with pytest.raises(ZeroDivisionError), gc_paused():
        1 / 0  # noqa: B018
    assert gc.isenabled()


def test_a_caller_that_disabled_collection_finds_it_disabled_after() -> None:
    gc.disable()
    with gc_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_no_automatic_collection_runs_inside_and_they_run_again_after() -> None:
    passes: list[int] = []

    def count(phase: str, info: dict) -> None:
        if phase == "start":
            passes.append(info["generation"])

    gc.enable()
    gc.collect()  # the young generation's count starts again from nothing
    gc.callbacks.append(count)
    try:
        with gc_paused():
            kept = [[] for _ in range(50_000)]  # containers: each counts towards a collection
            inside = len(passes)
        kept += [[] for _ in range(50_000)]
        after = len(passes)
    finally:
        gc.callbacks.remove(count)
    assert inside == 0
    assert after > 0


def test_what_is_built_stays_frozen_until_the_scope_ends() -> None:
    gc.enable()
    with SparedFromCollection() as spared:
        with spared.building():
            assert not gc.isenabled()
            kept = [[] for _ in range(1000)]
        assert gc.isenabled()
        frozen = gc.get_freeze_count()
        assert frozen >= len(kept)
        assert not any(found is kept for found in gc.get_objects())  # in no generation a pass goes over
    assert gc.get_freeze_count() == 0
    assert gc.isenabled()


def test_a_failed_build_freezes_nothing_and_enables_collection_again() -> None:
    gc.enable()
    with SparedFromCollection() as spared:
        with pytest.raises(ZeroDivisionError), spared.building():
            1 / 0  # noqa: B018
        assert gc.get_freeze_count() == 0
        assert gc.isenabled()


def test_objects_the_process_froze_itself_stay_frozen() -> None:
    gc.enable()
    gc.freeze()  # a server that forks might do this before the night
    before = gc.get_freeze_count()
    with SparedFromCollection() as spared:
        with spared.building():
            assert not gc.isenabled()
            kept = [[] for _ in range(1000)]
        assert gc.get_freeze_count() == before  # nothing of the night's is frozen then
    assert gc.get_freeze_count() == before
    assert kept


def _observe(monkeypatch, name: str, look: Callable[[], object]) -> list[object]:
    """What ``look()`` says each time the night calls ``consolidate.<name>``, which still runs."""
    seen: list[object] = []
    real = getattr(consolidation, name)

    def observed(*args, **kwargs):
        seen.append(look())
        return real(*args, **kwargs)

    monkeypatch.setattr(consolidation, name, observed)
    return seen


def test_a_night_builds_its_view_paused_and_keeps_it_frozen_while_the_master_is_written(
    tmp_path: Path, monkeypatch
) -> None:
    enabled = _observe(monkeypatch, "evaluate", gc.isenabled)
    frozen = _observe(monkeypatch, "write_master", gc.get_freeze_count)
    gc.enable()
    drive, _ = make_drive(tmp_path)
    report = consolidation.consolidate(drive, PROFILE, as_of=AS_OF)
    assert enabled == [False]
    assert gc.isenabled()
    assert frozen and frozen[0] > 0  # the view, left out of the passes while the master is written
    assert gc.get_freeze_count() == 0  # the night's view is the collector's again
    assert report.view is not None and report.master_path.is_file()
