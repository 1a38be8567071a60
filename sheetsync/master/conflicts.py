"""冲突待处理: the rows a submitter sent for records it does not own, until the office settles them.

Submitter isolation (:mod:`sheetsync.ownership`) keeps such a row out of the register and tells
the submitter it is "listed for the office on 冲突待处理". The office needs the list for as long
as the conflict stands, not just on the morning after the file came in: settling one means
talking to two units and often correcting an enterprise's 所属区县 or 企业类别, which takes days.
So the sheet lists

* tonight's ``not-owner`` problems, and
* the ``not-owner`` problems of each submitter's latest earlier submission (the register keeps
  every submission's problems), for submitters that sent nothing readable tonight.

A submitter's newer readable file replaces its earlier conflicts: it either no longer carries the
row (the submitter dropped it) or carries it again, and then tonight's check lists it afresh.
Resubmitting is therefore how a conflict leaves the sheet; nothing is settled silently. When the
register shows that the submitter may now write the record (the office corrected the enterprise),
the suggested action says to ask for the row again, since the rejected row itself never reached
the register.

Who owns a record is read from the register as it is now, with the profile's rules
(:func:`sheetsync.ownership.covers`), so the sheet names today's owner, not the one of the night
the conflict came in. Pure functions of the run's problems, earlier submissions and records.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sheetsync.errors import Problem
from sheetsync.ownership import EnterpriseFacts, covers
from sheetsync.profile import Profile, Submitter
from sheetsync.records import FileStatus, FileSummary, StoredRecord, each_record
from sheetsync.schemas import Enterprise, SubmitterKind, Training

CONFLICT_SHEET = "冲突待处理"
NOT_OWNER = "not-owner"
NEW_TONIGHT = "本次新增"
CARRIED = "此前未处理"
OFFICE_LABEL = "市工作组办公室"
LIST_SEPARATOR = "、"

_USCC = Enterprise.header("uscc")
_DISTRICT = Enterprise.header("district")
_CATEGORY = Enterprise.header("category")
_TRAINING = Training.header("training_id")


@dataclass(frozen=True)
class Conflict:
    """One row of 冲突待处理: what was sent, whose record it touches, what the office should do."""

    state: str  # NEW_TONIGHT or CARRIED
    submitter: str
    file: str
    sheet: str | None
    cell: str | None
    record: str
    owner: str
    message: str
    action: str
    received_at: datetime | None


def pending_conflicts(
    problems: Iterable[Problem],
    files: Sequence[FileSummary],
    submissions: Iterable[Mapping[str, Any]],
    records: Mapping[str, Sequence[StoredRecord]],
    profile: Profile | None,
    started_at: datetime,
) -> list[Conflict]:
    """Tonight's conflicts (in the order of the run's files), then the earlier ones still standing.

    ``submissions`` are the register's submissions as :meth:`sheetsync.store.Register.submissions`
    gives them (newest first, each with its ``problems``); tonight's own are told apart by
    ``received_at`` (the run's start) and left to ``problems``.
    """
    started = _naive_utc(started_at)
    replaced = {summary.submitter for summary in files if summary.status is not FileStatus.UNREADABLE}
    earlier, first_seen = _earlier(submissions, replaced, started)
    by_file = {summary.file_name: summary for summary in files}
    tonight: list[tuple[Problem, str, datetime | None, str]] = []
    for problem in problems:
        if problem.code != NOT_OWNER:
            continue
        summary = by_file.get(problem.file)
        submitter = summary.submitter if summary is not None else ""
        if summary is not None and summary.skipped_unchanged:
            # the same bytes sent again: the conflict listed since that file first came in
            seen = first_seen.get((submitter, problem.file), started_at)
            tonight.append((problem, submitter, seen, CARRIED))
        else:
            tonight.append((problem, submitter, started_at, NEW_TONIGHT))
    earlier.sort(key=lambda item: item[2] or started)  # waiting longest first
    pending = [*tonight, *((problem, who, at, CARRIED) for problem, who, at in earlier)]
    owners = _Owners(records, profile, [item[0] for item in pending])
    return [
        _conflict(problem, submitter, received_at, state, owners)
        for problem, submitter, received_at, state in pending
    ]


def _earlier(
    submissions: Iterable[Mapping[str, Any]], replaced: set[str], started: datetime
) -> tuple[list[tuple[Problem, str, datetime | None]], dict[tuple[str, str], datetime]]:
    """The ``not-owner`` problems of each submitter's latest night before this run, unless replaced;
    and when each (submitter, file) first came in."""
    latest: dict[str, Any] = {}
    found: list[tuple[Problem, str, datetime | None]] = []
    first_seen: dict[tuple[str, str], datetime] = {}
    for submission in submissions:  # newest first
        submitter = str(submission.get("submitter") or "")
        received_at = submission.get("received_at")
        if received_at is not None:
            first_seen[(submitter, str(submission.get("file_path") or ""))] = received_at
        if submitter in replaced or (received_at is not None and received_at >= started):
            continue
        night = latest.setdefault(submitter, received_at)
        if received_at != night:
            continue  # an older submission: its conflicts were replaced by the newer one
        for problem in submission.get("problems", ()):
            if problem.code == NOT_OWNER:
                found.append((problem, submitter, received_at))
    return found, first_seen


def _naive_utc(moment: datetime) -> datetime:
    """As the register keeps times (:class:`sheetsync.store.Timestamp`): naive, aware ones in UTC."""
    return moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)


class _Owners:
    """Who owns a record today, looked up only for the records the conflicts name."""

    def __init__(
        self, records: Mapping[str, Sequence[StoredRecord]], profile: Profile | None, problems: list[Problem]
    ) -> None:
        self.profile = profile
        # Profile.submitters builds its tuple on every call: taken once, looked up by name
        self.units: tuple[Submitter, ...] = profile.submitters if profile is not None else ()
        self.by_name = {unit.name: unit for unit in self.units}
        codes = {p.value for p in problems if p.header == _USCC and p.value}
        trainings = {p.value for p in problems if p.header == _TRAINING and p.value}
        self.enterprises: dict[str, EnterpriseFacts] = {}
        if codes:
            for stored in each_record(records, Enterprise.sheet_name):  # streamed, never held
                code = str(stored.data.get("uscc"))
                if code in codes:
                    data = stored.data
                    self.enterprises[code] = EnterpriseFacts(
                        data.get("district"), data.get("category"), data.get("audit_type")
                    )
        self.trainings: dict[str, str] = {}
        if trainings:
            for stored in each_record(records, Training.sheet_name):
                training_id = str(stored.data.get("training_id"))
                if training_id in trainings:
                    self.trainings[training_id] = stored.submitter

    def submitter(self, name: str) -> Submitter | None:
        return self.by_name.get(name)

    def covering(self, facts: EnterpriseFacts) -> str:
        """The units responsible for an enterprise with these facts; the office when nobody else is."""
        if self.profile is None:
            return facts.district or facts.category or ""
        names = [
            submitter.name
            for submitter in self.units
            if submitter.kind is not SubmitterKind.OFFICE and covers(submitter, facts)
        ]
        return LIST_SEPARATOR.join(names) or OFFICE_LABEL

    def owner(self, problem: Problem, submitter: str) -> tuple[str, bool]:
        """(today's owner, whether ``submitter`` may now write the record itself)."""
        value = problem.value or ""
        unit = self.submitter(submitter)
        if problem.header == _TRAINING:
            owner = self.trainings.get(value, "")
            return owner, bool(owner) and owner == submitter
        if problem.header == _USCC:
            facts = self.enterprises.get(value)
            if facts is None:
                return "", False
            return self.covering(facts), unit is not None and covers(unit, facts)
        if problem.header == _DISTRICT:
            return self.covering(EnterpriseFacts(value, None, None)), False
        if problem.header == _CATEGORY:
            return self.covering(EnterpriseFacts(None, value, None)), False
        return "", False


def _conflict(
    problem: Problem, submitter: str, received_at: datetime | None, state: str, owners: _Owners
) -> Conflict:
    owner, now_allowed = owners.owner(problem, submitter)
    record = problem.record_key or (f"{problem.header}:{problem.value}" if problem.value else "")
    return Conflict(
        state=state,
        submitter=submitter,
        file=problem.file,
        sheet=problem.sheet,
        cell=problem.cell,
        record=record,
        owner=owner,
        message=problem.message,
        action=_action(problem, submitter, owner, now_allowed),
        received_at=received_at,
    )


def _action(problem: Problem, submitter: str, owner: str, now_allowed: bool) -> str:
    """What the office does next, in the office's words."""
    who = submitter or "该单位"
    if now_allowed:
        return f"该记录现已可由{who}填报(归属已更正):请通知{who}重新提交本行。"
    other = owner or "归属单位"
    if problem.header == _TRAINING:
        return (
            f"该期培训由{other}登记:请通知{who}删除本行,参训人员由{other}填报;"
            f"如培训确由{who}举办,请更正后通知其重新提交。"
        )
    return (
        f"请核实该企业归属:如确属{who},在企业名录中更正其所属区县或企业类别后通知其重新提交本行;"
        f"如不属于,请通知{who}删除本行,由{other}填报。"
    )
