"""Who has and who has not submitted for a reporting period: pure functions over submissions.

A submitter counts as having reported when at least one of its files for the period got rows
into the register (全部接收 or 部分接收).  A file's period is the one stamped in its template;
a file without a stamp (a CSV, a home-made workbook) counts for the period it arrived in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sheetsync.profile import Profile
from sheetsync.records import FileStatus
from sheetsync.schemas.stamp import period_of

COUNTED = frozenset({FileStatus.ACCEPTED, FileStatus.PARTLY_ACCEPTED})


@dataclass(frozen=True)
class SubmitterStatus:
    submitter: str
    period: str
    reported: bool
    files: int  # files received for the period, whatever became of them
    last_received: datetime | None
    last_file: str | None
    last_status: FileStatus | None


def submission_period(submission: Mapping[str, Any], frequency: str) -> str:
    stamped = submission.get("period")
    if stamped:
        return str(stamped)
    return period_of(submission["received_at"].date(), frequency)


def period_status(
    submissions: Iterable[Mapping[str, Any]], profile: Profile, period: str, *, frequency: str | None = None
) -> list[SubmitterStatus]:
    """One line per submitter of the profile, in the profile's order."""
    how_often = frequency or profile.reporting
    mine: dict[str, list[Mapping[str, Any]]] = {}
    for submission in submissions:
        if submission_period(submission, how_often) == period:
            mine.setdefault(submission["submitter"], []).append(submission)
    lines: list[SubmitterStatus] = []
    for submitter in profile.submitters:
        received = sorted(mine.get(submitter.name, []), key=lambda s: s["received_at"])
        last = received[-1] if received else None
        lines.append(
            SubmitterStatus(
                submitter=submitter.name,
                period=period,
                reported=any(FileStatus(s["status"]) in COUNTED for s in received),
                files=len(received),
                last_received=last["received_at"] if last else None,
                last_file=last["file_name"] if last else None,
                last_status=FileStatus(last["status"]) if last else None,
            )
        )
    return lines


def missing_submitters(
    submissions: Iterable[Mapping[str, Any]], profile: Profile, period: str, *, frequency: str | None = None
) -> list[str]:
    return [
        line.submitter
        for line in period_status(submissions, profile, period, frequency=frequency)
        if not line.reported
    ]
