"""The run lock between real processes: one run at a time, the refused one told who is busy."""

from __future__ import annotations

import multiprocessing
import os
import socket
import time
from datetime import datetime
from pathlib import Path

import pytest

from sheetsync.drive import Drive
from sheetsync.runlock import RunInProgress, current_holder, lock_path, run_lock
from sheetsync.runlog import EXIT_BUSY, EXIT_OK, read_run_records, recorded_run

# spawn, as on Windows: the child shares nothing with the test process but the drive
CONTEXT = multiprocessing.get_context("spawn")
TIMEOUT = 30


def _hold(root: str, locked: object, release: object) -> None:
    with run_lock(Drive(Path(root))):
        locked.set()  # type: ignore[attr-defined]
        release.wait(TIMEOUT)  # type: ignore[attr-defined]


def _hold_forever(root: str, locked: object) -> None:
    with run_lock(Drive(Path(root))):
        locked.set()  # type: ignore[attr-defined]
        time.sleep(TIMEOUT)


def _consolidate(root: str, start: object, results: object) -> None:
    """A stand-in consolidation: records its run, holds the lock while it 'works'."""
    drive = Drive(Path(root))
    start.wait(TIMEOUT)  # type: ignore[attr-defined]
    with recorded_run(drive, job="test") as run:
        with run_lock(drive):
            time.sleep(1.0)
            run.counts["taken"] = 1
    results.put((os.getpid(), run.exit_code))  # type: ignore[attr-defined]


def test_second_process_is_refused_and_told_who_holds_the_lock(tmp_path: Path) -> None:
    drive = Drive(tmp_path)
    locked, release = CONTEXT.Event(), CONTEXT.Event()
    holder = CONTEXT.Process(target=_hold, args=(str(tmp_path), locked, release))
    holder.start()
    try:
        assert locked.wait(TIMEOUT)
        with pytest.raises(RunInProgress) as caught:
            with run_lock(drive):
                pytest.fail("two runs held the lock at once")
        busy = caught.value.holder
        assert busy.pid == holder.pid
        assert busy.host == socket.gethostname()
        assert busy.started is not None and abs((datetime.now() - busy.started).total_seconds()) < TIMEOUT
        assert "另一次汇总正在运行" in str(caught.value) and str(holder.pid) in str(caught.value)
        assert current_holder(drive) == busy
    finally:
        release.set()
        holder.join(TIMEOUT)
    assert holder.exitcode == 0
    assert current_holder(drive) is None
    with run_lock(drive) as mine:
        assert mine.pid == os.getpid()
    assert lock_path(drive).read_text() == ""  # released: no stale holder shown


def test_a_killed_run_does_not_leave_a_stale_lock(tmp_path: Path) -> None:
    locked = CONTEXT.Event()
    holder = CONTEXT.Process(target=_hold_forever, args=(str(tmp_path), locked))
    holder.start()
    assert locked.wait(TIMEOUT)
    holder.kill()
    holder.join(TIMEOUT)
    with run_lock(Drive(tmp_path)):
        pass  # the operating system dropped the dead process's lock


def test_two_concurrent_consolidations_one_runs_one_is_busy(tmp_path: Path) -> None:
    start, results = CONTEXT.Event(), CONTEXT.Queue()
    runs = [CONTEXT.Process(target=_consolidate, args=(str(tmp_path), start, results)) for _ in range(2)]
    for process in runs:
        process.start()
    start.set()
    outcomes = dict(results.get(timeout=TIMEOUT) for _ in runs)
    for process in runs:
        process.join(TIMEOUT)
    assert sorted(outcomes.values()) == [EXIT_OK, EXIT_BUSY]
    records = read_run_records(Drive(tmp_path))
    assert sorted(record.status for record in records) == ["busy", "ok"]
    busy = next(record for record in records if record.status == "busy")
    ok = next(record for record in records if record.status == "ok")
    assert str(ok.pid) in (busy.error or "")  # the refused run names the one that ran
    assert ok.counts == {"taken": 1} and busy.exit_code == EXIT_BUSY
    assert ok.log != busy.log  # each run its own log file, even within one second


def test_same_process_cannot_nest_runs(tmp_path: Path) -> None:
    drive = Drive(tmp_path)
    with run_lock(drive), pytest.raises(RunInProgress):
        with run_lock(drive):
            pass
