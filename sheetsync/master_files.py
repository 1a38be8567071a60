"""Putting a freshly written master in place, even when yesterday's is open in Excel on the share.

On a Windows share an open workbook cannot be replaced. Failing the night for that would punish
the officer who left it open, so the new master goes beside it under a dated name and the run
record says so. Every published master is also copied to ``history/``, of which the last
``keep`` are kept, so a bad night can be compared with or rolled back to a good one; a history
copy that cannot be made (a full disk) is logged and does not undo the published master.

A master is always finished in a hidden temporary file and renamed into place, so the master
path holds yesterday's workbook or today's, never half of one. A run killed while writing
leaves its temporary file behind (nothing can clean up after SIGKILL); the next run removes
such leftovers under the drive's run lock (:func:`remove_stale_temporaries`).

When the master cannot be written at all (a full disk, a file-size limit, a read-only or
forbidden folder), :func:`write_error_message` says so in Chinese, naming the path, instead
of an ``OSError`` text.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

HISTORY_DIR = "history"
STAGING_SUFFIX = ".new.xlsx"

log = logging.getLogger(__name__)

# errno → what the officer is told; {path} is the file that could not be written
_WRITE_ERRORS: dict[int, str] = {
    errno.ENOSPC: "磁盘空间已满,无法写入“{path}”。请清理该磁盘(或换一个有空间的位置)后重新运行。",
    errno.EFBIG: "文件超过了系统允许的大小上限,无法写入“{path}”。请联系管理员放宽文件大小限制后重新运行。",
    errno.EROFS: "“{path}”所在的磁盘是只读的,无法写入。请改为可写的位置,或请管理员恢复写权限后重新运行。",
    errno.EACCES: "没有写入“{path}”的权限。请检查该文件夹的权限设置后重新运行。",
    errno.EPERM: "没有写入“{path}”的权限。请检查该文件夹的权限设置后重新运行。",
}
if hasattr(errno, "EDQUOT"):  # not on Windows
    _WRITE_ERRORS[errno.EDQUOT] = "磁盘配额已用完,无法写入“{path}”。请清理或申请更多配额后重新运行。"


def os_error_in(error: BaseException) -> OSError | None:
    """The OSError behind ``error``: itself, what it wraps, or what it was raised from.

    XlsxWriter turns the OSError of a failed write into ``FileCreateError(error)``, so the
    errno is found in its arguments rather than in the exception itself.
    """
    for cause in _causes(error):
        if isinstance(cause, OSError) and cause.errno is not None:
            return cause
    return None


def _causes(error: BaseException) -> Iterator[BaseException]:
    """``error``, what it wraps in its arguments, and what it was raised from, breadth first."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.extend(arg for arg in current.args if isinstance(arg, BaseException))
        pending.extend((current.__cause__, current.__context__))


def write_error_message(
    error: BaseException, path: Path | str | None = None, *, register: str | None = None
) -> str | None:
    """A Chinese sentence for a failed write (full disk, size limit, read-only, no permission).

    ``path`` is the file the officer knows (the master, not its hidden temporary file); without
    it the path in the error is named.  A SQLite register that could not be written (its
    "database or disk is full" or "disk I/O error") is named by ``register``: SQLite rolled the
    transaction back, so the register is as it was.  None when ``error`` is not such a failure.
    """
    found = os_error_in(error)
    if found is not None and found.errno in _WRITE_ERRORS:
        named = path if path is not None else (found.filename or "(未知文件)")
        return _WRITE_ERRORS[found.errno].format(path=named)
    for cause in _causes(error):
        if isinstance(cause, sqlite3.Error):
            code = getattr(cause, "sqlite_errorcode", None)
            where = f"“{register}”" if register else ""
            if code == sqlite3.SQLITE_FULL:
                reason = "磁盘空间已满"
            elif code is not None and code & 0xFF == sqlite3.SQLITE_IOERR:
                reason = "磁盘出错、已满或文件大小受限"
            else:
                return None
            return (
                f"台账数据库{where}无法写入({reason}),本次汇总没有写入任何数据,台账保持运行前的样子。"
                "请清理或检查该磁盘后重新运行。"
            )
    return None


def staging_path(folder: Path, target: Path) -> Path:
    """Where a master to be published is written first: hidden, in the master folder."""
    return folder / f".{target.stem}{STAGING_SUFFIX}"


def stale_temporaries(target: Path, staging_folder: Path | None = None) -> list[Path]:
    """Temporary files a killed run may have left for the master ``target``, its staging copy and history.

    The names are the ones :func:`sheetsync.render_master.write_master` (``.<name>.<random>.tmp``),
    the staging copy (``.<stem>.new.xlsx``) and :func:`_copy_to_history` (``.<name>.<pid>.tmp``)
    use: hidden, so an officer never mistakes one for a master.
    """
    folders = {target.parent, history_dir(target)}
    if staging_folder is not None:
        folders.add(staging_folder)
    staged = staging_path(staging_folder or target.parent, target).name
    prefixes = (f".{target.name}.", f".{staged}.", f".{target.stem}_")
    found: list[Path] = []
    for folder in sorted(folders):
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            name = path.name
            temporary = name.endswith(".tmp") and name.startswith(prefixes)
            if (temporary or name == staged) and path.is_file():
                found.append(path)
    return sorted(found)


def remove_stale_temporaries(target: Path, staging_folder: Path | None = None) -> list[Path]:
    """Delete what :func:`stale_temporaries` finds; call only under the drive's run lock.

    Under the lock no other run of this drive is writing the master, so every such file is a
    leftover of a run that was killed.
    """
    removed = _remove_quietly(stale_temporaries(target, staging_folder))
    for path in removed:
        log.info("removed a temporary file left by an interrupted run: %s", path)
    return removed


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
    try:
        history: Path | None = _copy_to_history(path, target, now)
    except OSError as error:  # the new master is in place; a missing history copy must not fail the night
        log.warning("could not copy the master to %s: %s", history_dir(target), error)
        history = None
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
