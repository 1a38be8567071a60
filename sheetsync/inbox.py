"""Which inbox files a run may take, and where a taken file goes afterwards.

Submitters save straight onto a share, often over a slow line, and Excel or WPS leave lock and
temporary files beside their work. A run must therefore take only files that have stopped
changing, leave the rest for the next night, and never lose a file it took: every move here is
copy → verify the hash → remove the original, so a crash at any point leaves at least one good
copy, and a file replaced while the run read it is left in the inbox for the next run.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sheetsync.drive import Drive
from sheetsync.drive import _ignored as is_ignored_name  # one rule for what is never a submission
from sheetsync.read import file_hash

ARCHIVE_DIR = "archive"
REJECTED_DIR = "rejected"
MANIFEST_NAME = "manifest.jsonl"
REASON_SUFFIX = ".原因.txt"
HASH_PREFIX_LENGTH = 12

Look = tuple[int, float]


def stat_look(path: Path) -> Look:
    """Size and modification time: what changes while a file is still being written."""
    info = path.stat()
    return info.st_size, info.st_mtime


@dataclass
class SettleResult:
    taken: list[tuple[str, Path]] = field(default_factory=list)  # (submitter folder, file), upload order
    unsettled: list[Path] = field(default_factory=list)  # still changing: taken by a later run
    ignored: list[Path] = field(default_factory=list)  # lock, hidden and temporary files
    stray: list[Path] = field(default_factory=list)  # files lying in inbox/ outside any submitter folder


def settled_files(
    drive: Drive,
    *,
    looks: Callable[[Path], Look] = stat_look,
    sleep: Callable[[float], None] = time.sleep,
    settle_seconds: float,
) -> SettleResult:
    """The inbox files that did not change between two looks ``settle_seconds`` apart.

    One wait for the whole inbox, not one per file, so a night with hundreds of files still
    takes seconds. A file that disappears between the looks was renamed or withdrawn: it is
    neither taken nor reported, and its new name is seen next run.
    """
    result = SettleResult()
    candidates: list[tuple[str, Path]] = []
    if not drive.inbox.is_dir():
        return result
    for entry in sorted(drive.inbox.iterdir()):
        if entry.is_file():
            (result.ignored if is_ignored_name(entry.name) else result.stray).append(entry)
        elif entry.is_dir() and not is_ignored_name(entry.name):
            for path in sorted(entry.iterdir()):
                if not path.is_file():
                    continue
                if is_ignored_name(path.name):
                    result.ignored.append(path)
                else:
                    candidates.append((entry.name, path))
    first = {path: _look(looks, path) for _, path in candidates}
    if not candidates:
        return result
    sleep(settle_seconds)
    settled: list[tuple[float, str, str, Path]] = []
    for submitter, path in candidates:
        before, after = first[path], _look(looks, path)
        if before is _GONE or after is _GONE:
            continue
        if before is _BUSY or after is _BUSY or before != after:
            result.unsettled.append(path)
            continue
        assert isinstance(after, tuple)
        settled.append((after[1], submitter, path.name, path))
    # the order Drive.submissions() uses: oldest upload first, ties by folder then name
    settled.sort(key=lambda item: item[:3])
    result.taken = [(submitter, path) for _, submitter, _, path in settled]
    return result


_GONE = object()  # vanished between listing and look
_BUSY = object()  # exists but cannot be looked at (held open exclusively on Windows)


def _look(looks: Callable[[Path], Look], path: Path) -> Look | object:
    try:
        return looks(path)
    except FileNotFoundError:
        return _GONE
    except OSError:
        return _BUSY


# ---------------------------------------------------------------------------- archive / reject


class ArchiveError(OSError):
    """A taken file could not be moved out of the inbox; the message is Chinese for the run record.

    ``kept`` says where a good copy is (the archive or the inbox): nothing is ever lost.
    """

    def __init__(self, message: str, *, kept: Path) -> None:
        super().__init__(message)
        self.kept = kept


def archive_path(drive: Drive, submitter: str, name: str, file_hash_hex: str, processed_at: datetime) -> Path:
    """Where a taken file is kept: by submitter and month, its hash in front so names never clash."""
    folder = drive.root / ARCHIVE_DIR / submitter / f"{processed_at:%Y-%m}"
    return folder / f"{file_hash_hex[:HASH_PREFIX_LENGTH]}_{name}"


def archive_file(drive: Drive, submitter: str, path: Path, file_hash: str, processed_at: datetime) -> Path:
    """Move a consolidated file, bytes unchanged, into ``archive/``; call only after the register commit.

    ``file_hash`` is the hash the run consolidated. If the inbox file no longer has it (the
    submitter replaced it while the run was reading), it is left where it is for the next run and
    :class:`ArchiveError` is raised. Archiving the same bytes again (an earlier run copied them
    but could not remove the inbox copy) only removes the inbox copy.
    """
    target = archive_path(drive, submitter, path.name, file_hash, processed_at)
    target = _free_name(target, file_hash)
    before = _identity(path)
    if target.exists():  # these very bytes may be archived already
        if _hash_or_none(path) != file_hash:
            raise ArchiveError(_CHANGED.format(name=path.name), kept=path)
        _remove_original(path, kept=target, identity=before)
        return target
    _copy_verified(path, target, file_hash)
    _append_manifest(
        target.parent / MANIFEST_NAME,
        {
            "archived": target.name,
            "original": drive.display_name(path),
            "submitter": submitter,
            "sha256": file_hash,
            "size": target.stat().st_size,
            "processed_at": processed_at.isoformat(timespec="seconds"),
        },
    )
    _remove_original(path, kept=target, identity=before)
    return target


def reject_file(drive: Drive, submitter: str, path: Path, reason: str, processed_at: datetime) -> Path:
    """Move a file that must not be consolidated into ``rejected/<submitter>/`` with the reason beside it.

    The reason file is what the submitter's officer reads, so it says in Chinese what was wrong
    and what to do.
    """
    folder = drive.root / REJECTED_DIR / submitter
    target = folder / path.name
    if target.exists() or _reason_path(target).exists():
        target = folder / f"{path.stem}_{processed_at:%Y%m%d-%H%M%S}{path.suffix}"
        counter = 2
        while target.exists() or _reason_path(target).exists():
            target = folder / f"{path.stem}_{processed_at:%Y%m%d-%H%M%S}_{counter}{path.suffix}"
            counter += 1
    before = _identity(path)
    digest = file_hash(path)
    _copy_verified(path, target, digest)
    _reason_path(target).write_text(
        "\n".join(
            (
                f"文件:{path.name}",
                f"原位置:{drive.display_name(path)}",
                f"处理时间:{processed_at:%Y-%m-%d %H:%M:%S}",
                f"未汇总的原因:{reason}",
                f"处理办法:请更正后重新放入 inbox/{submitter}/ 文件夹,下次汇总时将重新处理。",
                f"文件校验值(SHA-256):{digest}",
                "",
            )
        ),
        encoding="utf-8-sig",  # Notepad on older Windows guesses the encoding from the BOM
    )
    _remove_original(path, kept=target, identity=before)
    return target


def _reason_path(target: Path) -> Path:
    return target.with_name(target.name + REASON_SUFFIX)


def _free_name(target: Path, file_hash_hex: str) -> Path:
    """``target`` if free or holding these bytes already; else the first free numbered name."""
    candidate, counter = target, 2
    while candidate.exists() and file_hash(candidate) != file_hash_hex:
        candidate = target.with_name(f"{target.stem}_{counter}{target.suffix}")
        counter += 1
    return candidate


def _copy_verified(source: Path, target: Path, expected_hash: str) -> None:
    """Copy under a temporary name, check the copy's hash, then give it its name (never overwriting)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        shutil.copy2(source, temporary)
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        if file_hash(temporary) != expected_hash:
            raise ArchiveError(_CHANGED.format(name=source.name), kept=source)
        if target.exists():
            raise ArchiveError(f"目标文件“{target}”已存在,未覆盖", kept=source)
        os.rename(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


_CHANGED = "文件“{name}”在汇总过程中被修改或替换(校验值不符),已保留在收件箱,下次汇总时处理"


def _identity(path: Path) -> tuple[int, int, int]:
    info = path.stat()
    return info.st_size, info.st_mtime_ns, info.st_ino


def _hash_or_none(path: Path) -> str | None:
    try:
        return file_hash(path)
    except OSError:
        return None


def _remove_original(path: Path, *, kept: Path, identity: tuple[int, int, int]) -> None:
    """Remove the inbox copy unless it was replaced after it was copied: a new upload is never lost."""
    try:
        current = _identity(path)
    except FileNotFoundError:
        return
    if current != identity:
        raise ArchiveError(_CHANGED.format(name=path.name), kept=path)
    try:
        path.unlink()
    except FileNotFoundError:
        return
    except OSError as error:  # open in Excel on a Windows share: the copy is safe, retry next run
        raise ArchiveError(
            f"文件“{path.name}”已复制到“{kept}”,但无法从收件箱移除({error.strerror or error});"
            "下次汇总时将再次移除",
            kept=kept,
        ) from error


def _append_manifest(manifest: Path, entry: dict[str, object]) -> None:
    """One JSON line per archived file: the full hash survives even if the file is renamed."""
    line = json.dumps(entry, ensure_ascii=False) + "\n"
    with open(manifest, "a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())
