"""One consolidation at a time per drive: an exclusive lock on ``logs/.sheetsync.lock``.

Two overlapping runs would both take the same inbox files and race on the master. The lock is
an operating-system lock (``flock`` on POSIX, ``msvcrt.locking`` on Windows), not the mere
existence of a file, so a run that crashes or is killed releases it with its process and no
stale lock ever blocks the next night. The file also says who holds it, so the refused run can
tell the officer which machine and process is busy.

``flock`` locks are seen by every process on the machine; across machines they hold where the
share passes locks through (NFSv4, SMB from Windows clients). Run the nightly job from one
machine per drive.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sheetsync.drive import Drive

LOCK_NAME = ".sheetsync.lock"
# Windows locks are mandatory: lock a byte far past the holder text so others can still read it
_WINDOWS_LOCK_OFFSET = 1 << 20
_BINARY = getattr(os, "O_BINARY", 0)  # no newline translation on Windows


def lock_path(drive: Drive) -> Path:
    return drive.root / "logs" / LOCK_NAME


@dataclass(frozen=True)
class LockHolder:
    pid: int | None
    host: str | None
    started: datetime | None

    def describe(self) -> str:
        parts = []
        if self.host:
            parts.append(f"主机 {self.host}")
        if self.pid is not None:
            parts.append(f"进程 {self.pid}")
        if self.started is not None:
            parts.append(f"开始于 {self.started:%Y-%m-%d %H:%M:%S}")
        return ",".join(parts) or "未知"


_UNKNOWN = LockHolder(pid=None, host=None, started=None)


class RunInProgress(RuntimeError):
    """Another run holds the drive's lock; the message is Chinese for the officer."""

    def __init__(self, path: Path, holder: LockHolder) -> None:
        super().__init__(f"另一次汇总正在运行({holder.describe()}),本次未运行。锁文件:{path}")
        self.path = path
        self.holder = holder


@contextmanager
def run_lock(drive: Drive, *, now: Callable[[], datetime] = datetime.now) -> Iterator[LockHolder]:
    """Hold the drive's run lock for the ``with`` block, or raise :class:`RunInProgress` at once."""
    path = lock_path(drive)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | _BINARY, 0o666)
    try:
        if not _try_lock(fd):
            raise RunInProgress(path, _wait_for_holder(fd))
        holder = LockHolder(pid=os.getpid(), host=socket.gethostname(), started=now().replace(microsecond=0))
        _write_holder(fd, holder)
        try:
            yield holder
        finally:
            _write_holder(fd, None)  # before unlocking, so the next holder's text is never cut
            _unlock(fd)
    finally:
        os.close(fd)


def current_holder(drive: Drive) -> LockHolder | None:
    """Who runs now, or None; for ``status``. Takes the lock for a moment when it is free."""
    path = lock_path(drive)
    if not path.is_file():
        return None
    fd = os.open(path, os.O_RDWR | _BINARY)
    try:
        if _try_lock(fd):
            _unlock(fd)
            return None
        return _read_holder(fd)
    finally:
        os.close(fd)


def _write_holder(fd: int, holder: LockHolder | None) -> None:
    text = ""
    if holder is not None:
        started = holder.started.isoformat() if holder.started else None
        text = json.dumps({"pid": holder.pid, "host": holder.host, "started": started}) + "\n"
    os.lseek(fd, 0, os.SEEK_SET)
    os.ftruncate(fd, 0)
    os.write(fd, text.encode("utf-8"))
    os.fsync(fd)


def _wait_for_holder(fd: int, *, seconds: float = 2.0) -> LockHolder:
    """The holder's name, giving a holder that has only just taken the lock a moment to write it.

    The refused run tells the officer who is busy; an empty name right after the other run's
    ``flock`` would say "未知" for no reason.
    """
    end = time.monotonic() + seconds
    holder = _read_holder(fd)
    while holder == _UNKNOWN and time.monotonic() < end:
        time.sleep(0.02)
        holder = _read_holder(fd)
    return holder


def _read_holder(fd: int) -> LockHolder:
    """Best effort: the holder may be between taking the lock and writing its name."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = json.loads(os.read(fd, 4096).decode("utf-8") or "{}")
        started = data.get("started")
        return LockHolder(
            pid=int(data["pid"]) if data.get("pid") is not None else None,
            host=data.get("host"),
            started=datetime.fromisoformat(started) if started else None,
        )
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return _UNKNOWN


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
