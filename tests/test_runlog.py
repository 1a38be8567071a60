"""Every run leaves a log file and one run record whose exit code tells what happened."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from pathlib import Path

from sheetsync.drive import Drive
from sheetsync.runlock import LockHolder, RunInProgress, lock_path
from sheetsync.runlog import (
    EXIT_BUSY,
    EXIT_FAILED,
    EXIT_FILES_REJECTED,
    EXIT_OK,
    describe_record,
    last_run,
    last_successful_run,
    read_run_records,
    recorded_run,
    records_path,
)

START = datetime(2014, 11, 30, 2, 30, 0)


class Ticking:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=30)
        return self.now


def test_a_clean_run_is_recorded_with_its_log(tmp_path: Path) -> None:
    drive = Drive(tmp_path)
    with recorded_run(drive, job="夜间汇总", clock=Ticking()) as run:
        run.as_of = date(2014, 11, 30)
        run.counts.update(taken=3, rejected=0)
        run.master = tmp_path / "master" / "总台账.xlsx"
        logging.getLogger("sheetsync.consolidate").info("consolidated %d files", 3)
    assert run.exit_code == EXIT_OK
    (record,) = read_run_records(drive)
    assert (record.status, record.exit_code, record.job) == ("ok", 0, "夜间汇总")
    assert record.started == START + timedelta(seconds=30) and record.finished > record.started
    assert record.as_of == date(2014, 11, 30) and record.counts == {"taken": 3, "rejected": 0}
    assert record.log == "logs/20141130-023030.log"
    text = (tmp_path / record.log).read_text(encoding="utf-8")
    assert "consolidated 3 files" in text and "run finished: status=ok" in text
    assert not logging.getLogger("sheetsync").handlers  # the file handler is gone after the run


def test_rejected_files_failed_and_busy_runs(tmp_path: Path) -> None:
    drive = Drive(tmp_path)
    with recorded_run(drive, clock=Ticking()) as run:
        run.counts["rejected"] = 2
        run.master_written_beside, run.master_beside_path = (
            True,
            tmp_path / "master" / "总台账_20141130-0230.xlsx",
        )
    assert run.exit_code == EXIT_FILES_REJECTED
    with recorded_run(drive, clock=Ticking()) as run:
        raise OSError("register unreachable")
    assert run.exit_code == EXIT_FAILED
    with recorded_run(drive, clock=Ticking()) as run:
        raise RunInProgress(lock_path(drive), LockHolder(pid=4242, host="office-pc", started=START))
    assert run.exit_code == EXIT_BUSY

    statuses = [(r.status, r.exit_code) for r in read_run_records(drive)]
    assert statuses == [("files-rejected", 1), ("failed", 2), ("busy", 3)]
    failed = read_run_records(drive)[1]
    assert failed.error == "OSError: register unreachable"
    assert "Traceback" in (tmp_path / (failed.log or "")).read_text(encoding="utf-8")
    beside = describe_record(read_run_records(drive)[0])
    assert "另存为" in beside and "有文件被退回" in beside
    assert "office-pc" in describe_record(read_run_records(drive)[2])


def test_last_successful_run_skips_failures_and_broken_lines(tmp_path: Path) -> None:
    drive = Drive(tmp_path)
    assert last_successful_run(drive) is None and last_run(drive) is None
    clock = Ticking()
    with recorded_run(drive, clock=clock) as run:
        run.counts["rejected"] = 1
    good = read_run_records(drive)[0].started
    with recorded_run(drive, clock=clock):
        raise ValueError("bad profile")
    with records_path(drive).open("a", encoding="utf-8") as handle:
        handle.write('{"started": "2014-12-01T02:30:00", "stat')  # a crash mid-line
    assert last_successful_run(drive) == good
    last = last_run(drive)
    assert last is not None and last.status == "failed"
