"""``sheetsync run``: stay up and consolidate once a night at the job's ``run_at``.

The timing is the ``schedule`` library's (``every().day.at(run_at)``); on top of it, the night's
run is checked against the run records before it starts (:mod:`sheetsync.schedule_plan`), so
a night missed while the machine was off runs at start-up and a night already paid by cron or
by hand is not run twice.

Testability: ``schedule`` reads the time itself through ``datetime.datetime.now()`` of the
``datetime`` module it imported. For as long as :func:`serve` runs, ``schedule.datetime`` is
pointed at a copy of that module whose ``datetime.now()`` is the injected ``clock``, and put
back afterwards. In production the clock is ``datetime.now`` and nothing changes; in tests a
fake clock advanced by a fake ``sleep`` drives ``schedule`` through whole nights without
sleeping and without the tests patching anything. Only one :func:`serve` may run per process.
"""

from __future__ import annotations

import logging
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

import schedule

from sheetsync.job import JobConfig
from sheetsync.runlog import EXIT_FAILED, EXIT_FILES_REJECTED, EXIT_OK, last_successful_run
from sheetsync.schedule_plan import due_now, next_run_time

log = logging.getLogger(__name__)

# Longest single nap: stop requests and wall-clock jumps (suspend, clock sync) are noticed
# within this many seconds even when the next run is hours away.
POLL_SECONDS = 60.0


@dataclass
class NightLog:
    """What :func:`serve` did, for tests and for the service's own log."""

    runs: list[tuple[datetime, int]] = field(default_factory=list)  # (started, exit code)
    skipped: list[datetime] = field(default_factory=list)  # scheduled, but the night was already run


def serve(
    job: JobConfig,
    *,
    run_once: Callable[[], int],
    clock: Callable[[], datetime] = datetime.now,
    sleep: Callable[[float], None] = time.sleep,
    stop: Callable[[], bool] = lambda: False,
    last_run: Callable[[], datetime | None] | None = None,
    poll_seconds: float = POLL_SECONDS,
    nights: NightLog | None = None,
) -> int:
    """Run ``run_once`` every night at ``job.run_at`` until ``stop()``; returns 0 when stopped.

    ``run_once`` is one whole consolidation (lock, inbox, register, master, run record) and
    returns its exit code. It may raise: the error is logged and the service lives on to the
    next night, since one bad night must not end all later ones. ``last_run`` says when the
    latest successful run started; by default it is read from the drive's run records, so runs
    started by cron or by hand count too.
    """
    records = last_run or (lambda: last_successful_run(job.layout))
    done = nights if nights is not None else NightLog()
    ran_here: list[datetime] = []

    def latest_success() -> datetime | None:
        try:
            recorded = records()
        except OSError as error:  # the share is away for a moment: trust what this process ran
            log.warning("cannot read the run records: %s", error)
            recorded = None
        known = [moment for moment in (recorded, *ran_here[-1:]) if moment is not None]
        return max(known) if known else None

    def night() -> None:
        started = clock()
        if not due_now(job.run_at, latest_success(), started):
            log.info("night already consolidated; skipping the run due at %s", job.run_at)
            done.skipped.append(started)
            return
        log.info("starting the nightly consolidation of job %s", job.name)
        try:
            code = run_once()
        except Exception:
            log.exception("nightly consolidation raised; waiting for the next night")
            code = EXIT_FAILED
        done.runs.append((started, code))
        if code in (EXIT_OK, EXIT_FILES_REJECTED):
            ran_here.append(started)
        log.info("nightly consolidation ended with exit code %s", code)

    with schedule_clock(clock):
        scheduler = schedule.Scheduler()
        scheduler.every().day.at(job.run_at).do(night)
        if due_now(job.run_at, latest_success(), clock()):
            log.info("a scheduled run was missed (or none has run yet): running now")
            night()
        log.info("next run at %s", next_run_time(job.run_at, latest_success(), clock()))
        while not stop():
            scheduler.run_pending()
            if stop():
                break
            idle = scheduler.idle_seconds
            sleep(poll_seconds if idle is None else min(max(idle, 0.0), poll_seconds))
    return EXIT_OK


@contextmanager
def schedule_clock(clock: Callable[[], datetime]) -> Iterator[None]:
    """Make ``schedule`` read the time from ``clock`` inside the block (see the module docstring)."""
    real = schedule.datetime

    class _Clocked(real.datetime):  # type: ignore[misc,name-defined]
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
            moment = clock()
            return moment if tz is None else moment.astimezone(tz)

    shim = types.ModuleType(real.__name__)
    shim.__dict__.update(vars(real))
    shim.datetime = _Clocked  # type: ignore[attr-defined]
    schedule.datetime = shim  # type: ignore[attr-defined]
    try:
        yield
    finally:
        schedule.datetime = real  # type: ignore[attr-defined]
