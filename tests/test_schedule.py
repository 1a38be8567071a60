"""Whole nights of ``sheetsync run`` on a fake clock: once a night at run_at, missed nights caught up.

The fake ``sleep`` moves the fake clock, and :func:`sheetsync.nightly.serve` makes ``schedule``
read that clock too, so a week passes in milliseconds and every run time is exact.
"""

from __future__ import annotations

import datetime as real_datetime
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import schedule

from sheetsync.drive import Drive
from sheetsync.job import JobConfig
from sheetsync.nightly import NightLog, schedule_clock, serve
from sheetsync.runlog import EXIT_FAILED, EXIT_FILES_REJECTED, RunRecord, append_run_record, recorded_run
from sheetsync.schedule_plan import due_now, latest_scheduled, next_run_time

MON = datetime(2014, 11, 24)  # a Monday


def at(day: int, hh_mm: str) -> datetime:
    hour, minute = map(int, hh_mm.split(":"))
    return MON + timedelta(days=day, hours=hour, minutes=minute)


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start
        self.naps: list[float] = []
        self.on_wake: list[Callable[[], None]] = []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.naps.append(seconds)
        self.now += timedelta(seconds=seconds)
        for hook in self.on_wake:
            hook()

    def until(self, end: datetime) -> Callable[[], bool]:
        return lambda: self.now >= end


def _job(tmp_path: Path, run_at: str = "02:30") -> JobConfig:
    return JobConfig(name="夜间汇总", drive=tmp_path, profile="guangzhou-2013", run_at=run_at)


def _night_runner(
    job: JobConfig, clock: FakeClock, *, codes: list[int] | None = None, minutes: int = 7
) -> Callable[[], int]:
    """A consolidation that takes ``minutes`` of fake time and leaves a real run record."""
    planned = list(codes or [])

    def run_once() -> int:
        with recorded_run(job.layout, job=job.name, clock=clock) as run:
            clock.now += timedelta(minutes=minutes)
            if planned:
                code = planned.pop(0)
                if code == EXIT_FAILED:
                    raise OSError("share unreachable")
                run.counts["rejected"] = 1 if code == EXIT_FILES_REJECTED else 0
        return run.exit_code

    return run_once


def _record(drive: Drive, started: datetime, status: str = "ok") -> None:
    append_run_record(
        drive,
        RunRecord(started=started, finished=started, status=status, exit_code={"ok": 0, "failed": 2}[status]),  # type: ignore[arg-type]
    )


def test_runs_exactly_once_per_night_at_run_at(tmp_path: Path) -> None:
    job = _job(tmp_path)
    _record(job.layout, at(0, "02:30"))  # Monday's night is done already
    clock = FakeClock(at(0, "10:00"))
    nights = NightLog()
    code = serve(
        job,
        run_once=_night_runner(job, clock),
        clock=clock,
        sleep=clock.sleep,
        stop=clock.until(at(4, "12:00")),
        nights=nights,
    )
    assert code == 0
    assert [started for started, _ in nights.runs] == [
        at(1, "02:30"),
        at(2, "02:30"),
        at(3, "02:30"),
        at(4, "02:30"),
    ]
    assert nights.skipped == []
    assert max(clock.naps) <= 60  # a stop request is noticed within a minute


def test_a_missed_night_runs_at_start_and_only_once(tmp_path: Path) -> None:
    job = _job(tmp_path)
    _record(job.layout, at(-3, "02:30"))  # last run Friday night; the machine was off all weekend
    clock = FakeClock(at(0, "09:15"))
    nights = NightLog()
    serve(
        job,
        run_once=_night_runner(job, clock),
        clock=clock,
        sleep=clock.sleep,
        stop=clock.until(at(2, "00:00")),
        nights=nights,
    )
    assert [started for started, _ in nights.runs] == [at(0, "09:15"), at(1, "02:30")]


def test_first_start_ever_runs_at_once(tmp_path: Path) -> None:
    job = _job(tmp_path, "23:00")
    clock = FakeClock(at(0, "14:00"))
    nights = NightLog()
    serve(
        job,
        run_once=_night_runner(job, clock),
        clock=clock,
        sleep=clock.sleep,
        stop=clock.until(at(1, "23:30")),
        nights=nights,
    )
    assert [started for started, _ in nights.runs] == [at(0, "14:00"), at(0, "23:00"), at(1, "23:00")]


def test_restarting_the_same_night_does_not_run_twice(tmp_path: Path) -> None:
    job = _job(tmp_path)
    clock = FakeClock(at(0, "02:00"))
    nights = NightLog()
    serve(
        job,
        run_once=_night_runner(job, clock),
        clock=clock,
        sleep=clock.sleep,
        stop=clock.until(at(0, "04:00")),
        nights=nights,
    )
    # started 02:00 (first ever), then Monday's 02:30 night
    assert [started for started, _ in nights.runs] == [at(0, "02:00"), at(0, "02:30")]

    # the service is restarted at 05:00 the same night: nothing owed until Tuesday 02:30
    clock.now = at(0, "05:00")
    again = NightLog()
    serve(
        job,
        run_once=_night_runner(job, clock),
        clock=clock,
        sleep=clock.sleep,
        stop=clock.until(at(1, "03:00")),
        nights=again,
    )
    assert [started for started, _ in again.runs] == [at(1, "02:30")]


def test_a_night_already_run_by_cron_is_skipped(tmp_path: Path) -> None:
    job = _job(tmp_path)
    _record(job.layout, at(0, "02:30"))
    clock = FakeClock(at(0, "12:00"))

    def cron_on_wednesday() -> None:
        if clock.now == at(2, "02:30"):
            _record(job.layout, clock.now)  # cron's `consolidate --job` got there first

    clock.on_wake.append(cron_on_wednesday)
    nights = NightLog()
    serve(
        job,
        run_once=_night_runner(job, clock),
        clock=clock,
        sleep=clock.sleep,
        stop=clock.until(at(3, "12:00")),
        nights=nights,
    )
    assert [started for started, _ in nights.runs] == [at(1, "02:30"), at(3, "02:30")]
    assert nights.skipped == [at(2, "02:30")]


def test_a_failing_night_does_not_stop_the_service_and_is_retried_at_restart(tmp_path: Path) -> None:
    job = _job(tmp_path)
    _record(job.layout, at(0, "02:30"))
    clock = FakeClock(at(0, "12:00"))
    nights = NightLog()
    runner = _night_runner(job, clock, codes=[EXIT_FAILED, EXIT_FILES_REJECTED])
    serve(
        job, run_once=runner, clock=clock, sleep=clock.sleep, stop=clock.until(at(2, "12:00")), nights=nights
    )
    assert nights.runs == [(at(1, "02:30"), EXIT_FAILED), (at(2, "02:30"), EXIT_FILES_REJECTED)]

    # had the service been restarted after the failed night, it would have run again at start
    assert due_now(job.run_at, at(0, "02:30"), at(1, "08:00"))


def test_run_once_raising_is_survived(tmp_path: Path) -> None:
    job = _job(tmp_path)
    clock = FakeClock(at(0, "03:00"))
    calls: list[datetime] = []

    def explode() -> int:
        calls.append(clock())
        raise RuntimeError("boom")

    nights = NightLog()
    serve(
        job,
        run_once=explode,
        clock=clock,
        sleep=clock.sleep,
        stop=clock.until(at(2, "03:00")),
        last_run=lambda: None,
        nights=nights,
    )
    assert calls == [at(0, "03:00"), at(1, "02:30"), at(2, "02:30")]
    assert {code for _, code in nights.runs} == {EXIT_FAILED}


def test_a_machine_asleep_for_two_nights_runs_once_on_waking(tmp_path: Path) -> None:
    job = _job(tmp_path)
    _record(job.layout, at(0, "02:30"))
    clock = FakeClock(at(0, "22:00"))

    def suspend_on_monday_night() -> None:
        if at(0, "23:00") <= clock.now < at(1, "00:00"):
            clock.now = at(2, "07:45")  # lid closed until Wednesday morning

    clock.on_wake.append(suspend_on_monday_night)
    nights = NightLog()
    serve(
        job,
        run_once=_night_runner(job, clock),
        clock=clock,
        sleep=clock.sleep,
        stop=clock.until(at(3, "03:00")),
        nights=nights,
    )
    assert [started for started, _ in nights.runs] == [at(2, "07:45"), at(3, "02:30")]


def test_schedule_reads_the_real_clock_again_after_serve(tmp_path: Path) -> None:
    job = _job(tmp_path)
    clock = FakeClock(at(0, "03:00"))
    serve(
        job,
        run_once=lambda: 0,
        clock=clock,
        sleep=clock.sleep,
        stop=clock.until(at(0, "04:00")),
        last_run=lambda: None,
    )
    assert schedule.datetime is real_datetime
    with schedule_clock(clock):
        assert schedule.datetime.datetime.now() == at(0, "04:00")
    assert schedule.datetime is real_datetime


@pytest.mark.parametrize(
    ("last", "now", "due"),
    [
        (None, at(0, "10:00"), True),
        (at(-1, "02:30"), at(0, "02:29"), False),
        (at(-1, "02:30"), at(0, "02:30"), True),  # exactly at run_at
        (at(0, "02:30"), at(0, "02:30"), False),
        (at(0, "02:29"), at(0, "09:00"), True),  # a run just before the time does not pay the night
        (at(-3, "02:30"), at(0, "01:00"), True),
    ],
)
def test_due_now(last: datetime | None, now: datetime, due: bool) -> None:
    assert due_now("02:30", last, now) is due


def test_next_run_time_and_latest_scheduled() -> None:
    assert latest_scheduled("02:30", at(0, "02:29")) == at(-1, "02:30")
    assert latest_scheduled("02:30", at(0, "02:30")) == at(0, "02:30")
    assert next_run_time("02:30", at(0, "02:30"), at(0, "09:00")) == at(1, "02:30")
    assert next_run_time("02:30", at(-2, "02:30"), at(0, "09:00")) == at(0, "09:00")
    assert next_run_time("00:00", at(0, "00:00"), at(0, "23:59")) == at(1, "00:00")
