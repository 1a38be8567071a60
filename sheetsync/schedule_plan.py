"""When the nightly run is due: pure arithmetic on wall-clock times, the clock always passed in.

A night is the span from one scheduled time to the next. Each night owes exactly one run; a run
that started at or after the night's scheduled time pays it, whoever started it (the ``run``
service, cron, a timer or an officer by hand). A machine that was off at the scheduled time
therefore runs as soon as it starts, and a run that just happened is never repeated.

Times are naive local wall-clock times, as ``schedule`` and officers use them; the programme's
cities keep no daylight-saving time.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta


def parse_run_at(run_at: str | time) -> time:
    """``"02:30"`` → 02:30; the job file has already checked the form."""
    if isinstance(run_at, time):
        return run_at.replace(second=0, microsecond=0)
    hour, minute = run_at.split(":")
    return time(int(hour), int(minute))


def latest_scheduled(run_at: str | time, now: datetime) -> datetime:
    """The most recent scheduled time at or before ``now``: the start of the current night."""
    at = datetime.combine(now.date(), parse_run_at(run_at))
    return at if at <= now else at - timedelta(days=1)


def due_now(run_at: str | time, last_run: datetime | None, now: datetime) -> bool:
    """Whether the current night still owes its run.

    Never having run counts as owing, so a newly set-up service produces its first master at
    once instead of after a day of silence.
    """
    return last_run is None or last_run < latest_scheduled(run_at, now)


def next_run_time(run_at: str | time, last_run: datetime | None, now: datetime) -> datetime:
    """When the next run starts: ``now`` if one is owed, else the next scheduled time."""
    if due_now(run_at, last_run, now):
        return now
    return latest_scheduled(run_at, now) + timedelta(days=1)
