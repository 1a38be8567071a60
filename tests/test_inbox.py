"""Which inbox files a run takes, and that archiving and rejecting never lose a byte."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import pytest

from sheetsync.drive import Drive
from sheetsync.inbox import ArchiveError, archive_file, reject_file, settled_files, stat_look
from sheetsync.read import file_hash

NOW = datetime(2014, 11, 30, 2, 30, 0)


def _drop(
    drive: Drive, submitter: str, name: str, data: bytes = b"PK workbook", mtime: float = 1_000.0
) -> Path:
    folder = drive.submitter_folder(submitter)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


class FakeLooks:
    """Two looks a few seconds apart, without waiting: ``growing`` files change between them."""

    def __init__(self, growing: set[Path] = frozenset()) -> None:  # type: ignore[assignment]
        self.growing = growing
        self.after_sleep = False
        self.sleeps: list[float] = []

    def look(self, path: Path) -> tuple[int, float]:
        size, mtime = stat_look(path)
        if self.after_sleep and path in self.growing:
            return size + 4096, mtime + 3
        return size, mtime

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.after_sleep = True


def test_lock_hidden_temp_and_growing_files_are_not_taken(tmp_path: Path) -> None:
    drive = Drive(tmp_path)
    good = _drop(drive, "越秀区", "越秀区-2014-11.xlsx")
    lock = _drop(drive, "越秀区", "~$越秀区-2014-11.xlsx")
    hidden = _drop(drive, "越秀区", ".~lock.越秀区.xlsx#")
    temp = _drop(drive, "海珠区", "海珠区.xlsx.tmp")
    part = _drop(drive, "海珠区", "海珠区.xlsx.part")
    tilde = _drop(drive, "海珠区", "~WRL0001.tmp")
    growing = _drop(drive, "海珠区", "海珠区-2014-11.xlsx")
    stray = drive.inbox / "放错位置.xlsx"
    stray.write_bytes(b"x")
    fake = FakeLooks(growing={growing})

    result = settled_files(drive, looks=fake.look, sleep=fake.sleep, settle_seconds=5)

    assert result.taken == [("越秀区", good)]
    assert result.unsettled == [growing]
    assert set(result.ignored) == {lock, hidden, temp, part, tilde}
    assert result.stray == [stray]
    assert fake.sleeps == [5]  # one wait for the whole inbox

    # the next night the upload has finished: it is taken then
    fake = FakeLooks()
    assert ("海珠区", growing) in settled_files(
        drive, looks=fake.look, sleep=fake.sleep, settle_seconds=5
    ).taken


def test_a_file_really_being_written_between_looks(tmp_path: Path) -> None:
    drive = Drive(tmp_path)
    writing = _drop(drive, "天河区", "天河区.xlsx", b"PK first half")

    def sleep_while_uploading(seconds: float) -> None:
        with writing.open("ab") as handle:
            handle.write(b" and the second half")

    result = settled_files(drive, sleep=sleep_while_uploading, settle_seconds=3)
    assert result.taken == [] and result.unsettled == [writing]


def test_files_vanishing_or_locked_between_looks(tmp_path: Path) -> None:
    drive = Drive(tmp_path)
    renamed = _drop(drive, "白云区", "白云区.xlsx")
    busy = _drop(drive, "白云区", "白云区-2.xlsx", mtime=2_000)
    fake = FakeLooks()

    def look(path: Path) -> tuple[int, float]:
        if fake.after_sleep and path == busy:
            raise PermissionError(13, "in use")
        return fake.look(path)

    def sleep(seconds: float) -> None:
        fake.sleep(seconds)
        renamed.unlink()

    result = settled_files(drive, looks=look, sleep=sleep, settle_seconds=5)
    assert result.taken == [] and result.unsettled == [busy]


def test_empty_inbox_does_not_wait(tmp_path: Path) -> None:
    drive = Drive(tmp_path)
    fake = FakeLooks()
    assert settled_files(drive, looks=fake.look, sleep=fake.sleep, settle_seconds=5).taken == []
    drive.inbox.mkdir()
    _drop(drive, "越秀区", "~$lock.xlsx")
    assert settled_files(drive, looks=fake.look, sleep=fake.sleep, settle_seconds=5).taken == []
    assert fake.sleeps == []


def test_upload_order_is_kept(tmp_path: Path) -> None:
    drive = Drive(tmp_path)
    later = _drop(drive, "越秀区", "a-更正.xlsx", mtime=3_000)
    first = _drop(drive, "越秀区", "z-首次.xlsx", mtime=1_000)
    other = _drop(drive, "海珠区", "海珠区.xlsx", mtime=2_000)
    tie_b = _drop(drive, "越秀区", "b.xlsx", mtime=4_000)
    tie_a = _drop(drive, "越秀区", "a.xlsx", mtime=4_000)
    fake = FakeLooks()
    result = settled_files(drive, looks=fake.look, sleep=fake.sleep, settle_seconds=1)
    assert [path for _, path in result.taken] == [first, other, later, tie_a, tie_b]
    assert [path for _, path in result.taken] == [path for _, path in drive.submissions()]


def test_archive_keeps_bytes_and_hash_and_removes_the_inbox_copy(tmp_path: Path) -> None:
    drive = Drive(tmp_path)
    data = os.urandom(200_000)
    path = _drop(drive, "越秀区", "越秀区-2014-11.xlsx", data)
    digest = file_hash(path)

    archived = archive_file(drive, "越秀区", path, digest, NOW)

    assert archived == tmp_path / "archive" / "越秀区" / "2014-11" / f"{digest[:12]}_越秀区-2014-11.xlsx"
    assert archived.read_bytes() == data
    assert not path.exists()
    manifest = [
        json.loads(line) for line in (archived.parent / "manifest.jsonl").read_text("utf-8").splitlines()
    ]
    assert manifest == [
        {
            "archived": archived.name,
            "original": "inbox/越秀区/越秀区-2014-11.xlsx",
            "submitter": "越秀区",
            "sha256": digest,
            "size": len(data),
            "processed_at": "2014-11-30T02:30:00",
        }
    ]
    assert not [p for p in archived.parent.iterdir() if p.name.endswith(".tmp")]


def test_archive_never_overwrites_and_is_idempotent(tmp_path: Path) -> None:
    drive = Drive(tmp_path)
    first = _drop(drive, "越秀区", "同名.xlsx", b"version one")
    one = archive_file(drive, "越秀区", first, file_hash(first), NOW)
    again = _drop(drive, "越秀区", "同名.xlsx", b"version one")  # the same bytes sent twice
    assert archive_file(drive, "越秀区", again, file_hash(again), NOW) == one
    assert not again.exists()
    other = _drop(drive, "越秀区", "同名.xlsx", b"version two")
    two = archive_file(drive, "越秀区", other, file_hash(other), NOW)
    assert two != one and one.read_bytes() == b"version one" and two.read_bytes() == b"version two"


def test_a_file_replaced_during_the_run_stays_in_the_inbox(tmp_path: Path) -> None:
    drive = Drive(tmp_path)
    path = _drop(drive, "越秀区", "越秀区.xlsx", b"what the run read")
    digest = file_hash(path)
    path.write_bytes(b"a newer upload under the same name")
    with pytest.raises(ArchiveError) as caught:
        archive_file(drive, "越秀区", path, digest, NOW)
    assert caught.value.kept == path
    assert "校验值不符" in str(caught.value)
    assert path.read_bytes() == b"a newer upload under the same name"
    archive = tmp_path / "archive" / "越秀区" / "2014-11"
    assert not archive.exists() or not [p for p in archive.iterdir() if p.suffix == ".xlsx"]


def test_archive_that_cannot_remove_the_inbox_copy_keeps_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drive = Drive(tmp_path)
    path = _drop(drive, "越秀区", "越秀区.xlsx", b"open in Excel on the share")
    digest = file_hash(path)
    real_unlink = Path.unlink

    def refuse(self: Path, missing_ok: bool = False) -> None:
        if self == path:
            raise PermissionError(13, "the file is in use")
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", refuse)
    with pytest.raises(ArchiveError) as caught:
        archive_file(drive, "越秀区", path, digest, NOW)
    assert caught.value.kept.read_bytes() == path.read_bytes()
    monkeypatch.undo()
    # next night: already archived, so only the inbox copy goes
    assert archive_file(drive, "越秀区", path, digest, NOW) == caught.value.kept
    assert not path.exists()


def test_a_copy_that_does_not_verify_is_discarded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    drive = Drive(tmp_path)
    path = _drop(drive, "越秀区", "越秀区.xlsx", b"bytes")
    digest = file_hash(path)

    def corrupt_copy(source: Path, target: Path) -> None:
        Path(target).write_bytes(b"bit rot on the way")

    monkeypatch.setattr("sheetsync.inbox.shutil.copy2", corrupt_copy)
    with pytest.raises(ArchiveError):
        archive_file(drive, "越秀区", path, digest, NOW)
    assert path.read_bytes() == b"bytes"
    assert [p.name for p in (tmp_path / "archive" / "越秀区" / "2014-11").iterdir()] == []


def test_wrong_folder_file_is_rejected_with_the_reason(tmp_path: Path) -> None:
    drive = Drive(tmp_path)
    path = _drop(drive, "海珠区", "越秀区-2014-11.xlsx", "stamped 越秀区".encode())
    reason = "工作簿填报信息中的填报单位为“越秀区”,但文件放在“海珠区”的文件夹中"

    rejected = reject_file(drive, "海珠区", path, reason, NOW)

    assert rejected == tmp_path / "rejected" / "海珠区" / "越秀区-2014-11.xlsx"
    assert rejected.read_bytes() == "stamped 越秀区".encode()
    assert not path.exists()
    note = (rejected.parent / "越秀区-2014-11.xlsx.原因.txt").read_text(encoding="utf-8-sig")
    assert reason in note and "inbox/海珠区/" in note and "2014-11-30 02:30:00" in note

    # the same name rejected again the next night keeps the first one and its reason
    again = _drop(drive, "海珠区", "越秀区-2014-11.xlsx", b"still wrong")
    second = reject_file(drive, "海珠区", again, "第二次", datetime(2014, 12, 1, 2, 30))
    assert second.name == "越秀区-2014-11_20141201-023000.xlsx"
    assert rejected.read_bytes() == "stamped 越秀区".encode()
    assert (second.parent / (second.name + ".原因.txt")).is_file()
