"""Publishing the master: replaced in place, or written beside it when Excel holds it; N kept in history."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from sheetsync.master_files import dated_name, publish_master

NIGHT = datetime(2014, 11, 30, 2, 30)


def _staged(folder: Path, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f".总台账.xlsx.{data.hex()[:8]}.tmp"
    path.write_bytes(data)
    return path


def _lock(monkeypatch: pytest.MonkeyPatch, target: Path) -> None:
    """Windows refuses to replace a workbook open in Excel: PermissionError on os.replace."""
    real_replace = os.replace

    def replace(source: os.PathLike[str] | str, destination: os.PathLike[str] | str) -> None:
        if Path(destination) == target:
            raise PermissionError(
                13, "The process cannot access the file because it is being used", str(target)
            )
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", replace)


def test_master_replaced_in_place_and_copied_to_history(tmp_path: Path) -> None:
    target = tmp_path / "master" / "总台账.xlsx"
    result = publish_master(_staged(target.parent, b"night 1"), target, now=NIGHT, keep=3)
    assert (result.path, result.written_beside) == (target, False)
    assert target.read_bytes() == b"night 1"
    assert result.history_copy == tmp_path / "master" / "history" / "总台账_20141130-0230.xlsx"
    assert result.history_copy.read_bytes() == b"night 1"
    assert [p.name for p in target.parent.iterdir() if p.name.endswith(".tmp")] == []
    assert "总台账已更新" in result.describe()


def test_locked_master_is_written_beside_with_its_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "master" / "总台账.xlsx"
    publish_master(_staged(target.parent, b"yesterday"), target, now=NIGHT - timedelta(days=1), keep=7)
    _lock(monkeypatch, target)

    result = publish_master(_staged(target.parent, b"tonight"), target, now=NIGHT, keep=7)

    assert result.written_beside
    assert result.path == target.parent / "总台账_20141130-0230.xlsx"
    assert result.path.read_bytes() == b"tonight"
    assert target.read_bytes() == b"yesterday"  # the open copy is untouched
    assert "另存为" in result.describe() and "总台账_20141130-0230.xlsx" in result.describe()
    assert result.history_copy is not None and result.history_copy.read_bytes() == b"tonight"

    # still locked the next night: a new dated copy, and last night's stale beside copy goes
    second = publish_master(_staged(target.parent, b"next"), target, now=NIGHT + timedelta(days=1), keep=7)
    assert second.path.name == "总台账_20141201-0230.xlsx"
    assert not result.path.exists() and result.path in second.removed

    # closed again: the master is replaced and no beside copy is left to confuse anyone
    monkeypatch.undo()
    third = publish_master(_staged(target.parent, b"after"), target, now=NIGHT + timedelta(days=2), keep=7)
    assert not third.written_beside and target.read_bytes() == b"after"
    assert sorted(p.name for p in target.parent.iterdir() if p.is_file()) == ["总台账.xlsx"]


def test_only_the_last_n_masters_are_kept(tmp_path: Path) -> None:
    target = tmp_path / "master" / "总台账.xlsx"
    for night in range(5):
        result = publish_master(
            _staged(target.parent, f"night {night}".encode()),
            target,
            now=NIGHT + timedelta(days=night),
            keep=3,
        )
    history = sorted(p.name for p in (target.parent / "history").iterdir())
    assert history == ["总台账_20141202-0230.xlsx", "总台账_20141203-0230.xlsx", "总台账_20141204-0230.xlsx"]
    assert len(result.removed) == 1
    assert (target.parent / "history" / history[-1]).read_bytes() == b"night 4"


def test_two_publishes_in_one_minute_keep_both(tmp_path: Path) -> None:
    target = tmp_path / "master" / "总台账.xlsx"
    first = publish_master(_staged(target.parent, b"first"), target, now=NIGHT, keep=5)
    second = publish_master(_staged(target.parent, b"second"), target, now=NIGHT, keep=5)
    assert first.history_copy != second.history_copy
    assert second.history_copy is not None and second.history_copy.name == "总台账_20141130-0230-2.xlsx"
    assert second.history_copy.read_bytes() == b"second"


def test_a_real_failure_is_not_hidden(tmp_path: Path) -> None:
    target = tmp_path / "master" / "总台账.xlsx"
    with pytest.raises(FileNotFoundError):
        publish_master(tmp_path / "master" / "never-written.tmp", target, now=NIGHT, keep=3)
    with pytest.raises(ValueError):
        publish_master(_staged(target.parent, b"x"), target, now=NIGHT, keep=0)


def test_dated_name() -> None:
    assert dated_name(Path("m/总台账.xlsx"), NIGHT).name == "总台账_20141130-0230.xlsx"
