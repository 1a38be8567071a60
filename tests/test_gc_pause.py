"""The collector pause around the domain's view: paused inside, as the caller had it after."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

import sheetsync.consolidate as consolidation
from sheetsync.gc_pause import gc_paused
from tests.test_pipeline import AS_OF, PROFILE, make_drive


@pytest.fixture(autouse=True)
def _collector_enabled_again():
    yield
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


def test_a_night_builds_the_domains_view_with_the_collector_paused(tmp_path: Path, monkeypatch) -> None:
    seen: list[bool] = []
    real = consolidation.evaluate

    def evaluate(*args, **kwargs):
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(consolidation, "evaluate", evaluate)
    gc.enable()
    drive, _ = make_drive(tmp_path)
    report = consolidation.consolidate(drive, PROFILE, as_of=AS_OF)
    assert seen == [False]
    assert gc.isenabled()
    assert report.view is not None and report.master_path.is_file()
