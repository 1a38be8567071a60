"""Putting a freshly written master in place, even when yesterday's is open in Excel on the share.

On a Windows share an open workbook cannot be replaced. Failing the night for that would punish
the officer who left it open, so the new master goes beside it under a dated name and the run
record says so. Every published master is also copied to ``history/``, of which the last
``keep`` are kept, so a bad night can be compared with or rolled back to a good one.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

HISTORY_DIR = "history"


@dataclass(frozen=True)
class PublishResult:
    path: Path  # where the new master now is
    target: Path  # where it was meant to go
    written_beside: bool  # the target was locked, so ``path`` is a dated file beside it
    history_copy: Path | None
    removed: list[Path] = field(default_factory=list)  # old history and stale beside copies deleted

    def describe(self) -> str:
        """Chinese, for the officer and the run record."""
        if self.written_beside:
            return f"原总台账“{self.target.name}”正被打开(占用),新总台账已另存为“{self.path.name}”"
        return f"总台账已更新:{self.path}"


def dated_name(target: Path, now: datetime) -> Path:
    """``总台账.xlsx`` → ``总台账_20141130-0230.xlsx``: sorts by time, says when at a glance."""
    return target.with_name(f"{target.stem}_{now:%Y%m%d-%H%M}{target.suffix}")


def publish_master(tmp_written: Path, target: Path, *, now: datetime, keep: int) -> PublishResult:
    """Move ``tmp_written`` (same folder, complete, flushed) to ``target``; beside it if locked."""
    if keep < 1:
        raise ValueError("keep must be at least 1")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(tmp_written, target)
        path, beside = target, False
    except OSError:
        if not target.exists() or not tmp_written.exists():
            raise  # not a locked master: a real failure the run must report
        path, beside = _free(dated_name(target, now)), True
        os.replace(tmp_written, path)
    history = _copy_to_history(path, target, now)
    removed = _prune_history(target, keep)
    removed += _remove_stale_beside(target, current=path if beside else None)
    return PublishResult(
        path=path, target=target, written_beside=beside, history_copy=history, removed=removed
    )


def history_dir(target: Path) -> Path:
    return target.parent / HISTORY_DIR


def _copy_to_history(published: Path, target: Path, now: datetime) -> Path:
    folder = history_dir(target)
    folder.mkdir(parents=True, exist_ok=True)
    copy = _free(folder / dated_name(target, now).name)
    temporary = copy.with_name(f".{copy.name}.{os.getpid()}.tmp")
    try:
        shutil.copy2(published, temporary)
        os.replace(temporary, copy)
    finally:
        temporary.unlink(missing_ok=True)
    return copy


def _dated(target: Path, folder: Path) -> list[Path]:
    """Dated copies of ``target`` in ``folder``, oldest first."""
    pattern = re.compile(
        rf"^{re.escape(target.stem)}_(\d{{8}}-\d{{4}})(?:-(\d+))?{re.escape(target.suffix)}$"
    )
    found: list[tuple[str, int, Path]] = []
    if folder.is_dir():
        for path in folder.iterdir():
            match = pattern.match(path.name)
            if match and path.is_file():
                found.append((match[1], int(match[2] or 1), path))
    return [path for *_, path in sorted(found)]


def _prune_history(target: Path, keep: int) -> list[Path]:
    return _remove_quietly(_dated(target, history_dir(target))[:-keep])


def _remove_stale_beside(target: Path, *, current: Path | None) -> list[Path]:
    """Beside copies are only for the nights the master was locked; history keeps them all."""
    return _remove_quietly([path for path in _dated(target, target.parent) if path != current])


def _remove_quietly(paths: list[Path]) -> list[Path]:
    """Delete what can be deleted; a copy someone has open stays until a later night."""
    removed: list[Path] = []
    for path in paths:
        try:
            path.unlink()
        except OSError:
            continue
        removed.append(path)
    return removed


def _free(path: Path) -> Path:
    candidate, counter = path, 2
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{counter}{path.suffix}")
        counter += 1
    return candidate
