"""What every run leaves behind: a log file for people and a line in ``logs/runs.jsonl`` for programs.

The run record is the one place that says whether last night worked, so the scheduler
(missed-run catch-up), ``status`` and any monitoring read it instead of parsing logs. Lines are
appended whole, so a crash costs at most its own line, and readers skip a broken line.

Exit codes (the same for ``consolidate`` and each night of ``run``), so that cron, systemd and
Task Scheduler can tell an expected outcome from an outage:

====  ======================  ===============================================================
code  status                  meaning
====  ======================  ===============================================================
0     ``ok``                  ran; every file taken was consolidated
1     ``files-rejected``      ran; some files were rejected (see ``rejected/`` and the log)
2     ``failed``              could not run (job file, drive or register unusable, crash)
3     ``busy``                did not run: another run holds the drive's lock
====  ======================  ===============================================================
"""

from __future__ import annotations

import logging
import os
import socket
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from sheetsync.drive import Drive
from sheetsync.runlock import RunInProgress

EXIT_OK = 0
EXIT_FILES_REJECTED = 1
EXIT_FAILED = 2
EXIT_BUSY = 3

RunStatus = Literal["ok", "files-rejected", "failed", "busy"]
EXIT_CODES: dict[str, int] = {
    "ok": EXIT_OK,
    "files-rejected": EXIT_FILES_REJECTED,
    "failed": EXIT_FAILED,
    "busy": EXIT_BUSY,
}
# runs that consolidated; a night with only these statuses needs no catch-up
SUCCESSFUL: frozenset[str] = frozenset({"ok", "files-rejected"})

LOGS_DIR = "logs"
RECORDS_NAME = "runs.jsonl"
LOGGER_NAME = "sheetsync"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def logs_dir(drive: Drive) -> Path:
    return drive.root / LOGS_DIR


def records_path(drive: Drive) -> Path:
    return logs_dir(drive) / RECORDS_NAME


class RunRecord(BaseModel):
    """One line of ``runs.jsonl``; unknown keys are kept so older readers survive newer writers."""

    model_config = ConfigDict(extra="allow")

    job: str | None = None
    started: datetime
    finished: datetime
    as_of: date | None = None
    status: RunStatus
    exit_code: int
    counts: dict[str, int] = {}
    master: str | None = None
    master_written_beside: bool = False
    master_beside_path: str | None = None
    log: str | None = None
    host: str | None = None
    pid: int | None = None
    error: str | None = None
    files: list[dict[str, Any]] = []


def outcome_of(files_rejected: int) -> tuple[RunStatus, int]:
    """Status and exit code of a run that got to the end."""
    return ("files-rejected", EXIT_FILES_REJECTED) if files_rejected else ("ok", EXIT_OK)


# ---------------------------------------------------------------------------- log file


@contextmanager
def run_log(drive: Drive, started: datetime) -> Iterator[tuple[Path, logging.Logger]]:
    """Send the ``sheetsync`` loggers to ``logs/<yyyymmdd-HHMMSS>.log`` for the ``with`` block."""
    folder = logs_dir(drive)
    folder.mkdir(parents=True, exist_ok=True)
    path = _free(folder / f"{started:%Y%m%d-%H%M%S}.log")
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.setLevel(logging.INFO)
    logger = logging.getLogger(LOGGER_NAME)
    level = logger.level
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield path, logger
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        handler.close()


def _free(path: Path) -> Path:
    """Two runs in one second (the second refused as busy) must not share a log file.

    The name is claimed by creating the file exclusively: two processes that both saw it free
    cannot both create it, so the loser takes the next number.
    """
    candidate, counter = path, 2
    while True:
        try:
            with candidate.open("x", encoding="utf-8"):
                return candidate
        except FileExistsError:
            candidate = path.with_name(f"{path.stem}-{counter}{path.suffix}")
            counter += 1


# ---------------------------------------------------------------------------- records


def append_run_record(drive: Drive, record: RunRecord) -> Path:
    """Append one line in a single write, so concurrent writers never interleave within a line."""
    path = records_path(drive)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (record.model_dump_json(exclude_none=False) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0), 0o666)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def read_run_records(drive: Drive) -> list[RunRecord]:
    """Every readable record, oldest first; a line cut short by a crash is skipped."""
    path = records_path(drive)
    if not path.is_file():
        return []
    records: list[RunRecord] = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            records.append(RunRecord.model_validate_json(line))
        except ValidationError:
            continue
    return records


def last_run(drive: Drive) -> RunRecord | None:
    records = read_run_records(drive)
    return max(records, key=lambda record: record.started) if records else None


def last_successful_run(drive: Drive) -> datetime | None:
    """When the latest run that consolidated started: what the missed-run check compares against."""
    starts = [record.started for record in read_run_records(drive) if record.status in SUCCESSFUL]
    return max(starts) if starts else None


# ---------------------------------------------------------------------------- one recorded run


@dataclass
class RunDraft:
    """What the run fills in as it goes; written as a :class:`RunRecord` when the run ends."""

    started: datetime
    log_path: Path
    logger: logging.Logger
    job: str | None = None
    as_of: date | None = None
    counts: dict[str, int] = field(default_factory=dict)
    master: Path | None = None
    master_written_beside: bool = False
    master_beside_path: Path | None = None
    files: list[dict[str, Any]] = field(default_factory=list)
    # left None, the status follows counts["rejected"]
    status: RunStatus | None = None
    error: str | None = None
    exit_code: int = EXIT_FAILED  # until the run has ended
    record: RunRecord | None = None


@contextmanager
def recorded_run(
    drive: Drive, *, job: str | None = None, clock: Callable[[], datetime] = datetime.now
) -> Iterator[RunDraft]:
    """Log and record whatever happens in the ``with`` block; read ``exit_code`` afterwards.

    An exception in the block ends the run as ``failed`` (``busy`` for
    :class:`~sheetsync.runlock.RunInProgress`) and is not re-raised: the record and the exit
    code are how a scheduled run reports, and the traceback is in the log file.
    """
    started = clock().replace(microsecond=0)
    with run_log(drive, started) as (log_path, logger):
        draft = RunDraft(started=started, log_path=log_path, logger=logger, job=job)
        logger.info("run started: job=%s drive=%s", job, drive.root)
        try:
            yield draft
        except RunInProgress as busy:
            draft.status, draft.error = "busy", str(busy)
            logger.warning("another run holds the lock: %s", busy.holder)
        except Exception as error:
            draft.status, draft.error = "failed", f"{type(error).__name__}: {error}"
            logger.error("run failed:\n%s", traceback.format_exc())
        except BaseException:  # Ctrl-C or a service stop: still on record, then let it end the process
            draft.status, draft.error = "failed", "interrupted"
            logger.error("run interrupted")
            _finish(drive, draft, clock)
            raise
        _finish(drive, draft, clock)


def _finish(drive: Drive, draft: RunDraft, clock: Callable[[], datetime]) -> None:
    if draft.status is None:
        draft.status, _ = outcome_of(draft.counts.get("rejected", 0))
    draft.exit_code = EXIT_CODES[draft.status]
    draft.record = RunRecord(
        job=draft.job,
        started=draft.started,
        finished=clock().replace(microsecond=0),
        as_of=draft.as_of,
        status=draft.status,
        exit_code=draft.exit_code,
        counts=draft.counts,
        master=str(draft.master) if draft.master else None,
        master_written_beside=draft.master_written_beside,
        master_beside_path=str(draft.master_beside_path) if draft.master_beside_path else None,
        log=drive.display_name(draft.log_path),
        host=socket.gethostname(),
        pid=os.getpid(),
        error=draft.error,
        files=draft.files,
    )
    append_run_record(drive, draft.record)
    draft.logger.info(
        "run finished: status=%s exit=%s counts=%s", draft.status, draft.exit_code, draft.counts
    )


def describe_record(record: RunRecord) -> str:
    """A one-line Chinese summary for ``status``."""
    labels = {
        "ok": "成功",
        "files-rejected": "完成(有文件被退回)",
        "failed": "未能运行",
        "busy": "未运行(另一次汇总正在进行)",
    }
    text = f"{record.started:%Y-%m-%d %H:%M} {labels[record.status]}(退出码 {record.exit_code})"
    if record.master_written_beside and record.master_beside_path:
        text += f";原总台账被占用,新总台账另存为 {record.master_beside_path}"
    if record.error:
        text += f";{record.error}"
    return " ".join(text.split("\n"))
