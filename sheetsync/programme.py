"""The edge between the register and the domain engine: stored rows in, every verdict the master shows out.

:mod:`sheetsync.domain` judges typed records and knows nothing of the register; the register keeps
JSON rows with provenance and knows nothing of deadlines. This module turns the rows the caller
has already loaded into typed records with their owners, asks the domain everything the master
workbook needs in one go, and hands back a :class:`ProgrammeView`. It does no I/O of its own, so
the nightly run, a test and a re-check of last quarter all get the same view from the same rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import TypeVar

from pydantic import ValidationError

from sheetsync.domain import (
    AgencyScore,
    ApplicationWindow,
    AuditStatus,
    CertificateState,
    CertificateStatus,
    IssueSeverity,
    Owned,
    ProgrammeRecords,
    ProgressReport,
    ProjectStatus,
    ReauditStatus,
    ScopeProgress,
    Suspension,
    application_windows,
    audit_statuses,
    below_threshold,
    certificate_statuses,
    progress,
    project_statuses,
    rate_agencies,
    reaudit_statuses,
)
from sheetsync.profile import Profile
from sheetsync.records import StoredRecord, each_record
from sheetsync.schemas import (
    Attendee,
    Audit,
    Column,
    ConsultingAgency,
    Enterprise,
    Project,
    SheetModel,
    Target,
    Training,
)
from sheetsync.schemas.base import CellFailure, NeedsModelValidation

M = TypeVar("M", bound=SheetModel)
R = TypeVar("R")

# certificates an officer has to act on; a count of them goes into the run's JSON
DUE_STATES: frozenset[CertificateState] = frozenset({CertificateState.RENEWAL_DUE, CertificateState.EXPIRED})


class WarningKind(StrEnum):
    """Why a row is on 逾期预警; the text is what the officer filters on."""

    OVERDUE = "逾期未完成"
    LATE = "逾期后完成"
    PAYMENT_ERROR = "拨付错误"


@dataclass(frozen=True, slots=True)
class OverdueItem:
    """One row of 逾期预警: an audit stage, a re-audit or a project payment that needs a look."""

    kind: WarningKind
    submitter: str
    uscc: str
    enterprise: str  # 企业名称 from 企业名录; empty when the enterprise is not registered
    subject: str  # 事项/阶段, e.g. "第1轮全面审核:启动审核"
    deadline: date | None  # None: a payment error has no deadline
    days_over: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class SkippedRecord:
    """A register row the current contract no longer accepts (an older register, say).

    It is left out of every verdict rather than stopping the night's run; the master's register
    sheets still show it, and the view names it so the office can find it.
    """

    sheet_name: str
    key: tuple[object, ...]
    submitter: str
    error: str


@dataclass(frozen=True)
class ProgrammeView:
    """Every domain result the master workbook shows, for one day, with each record's owner."""

    as_of: date
    quarter: str  # the quarter of as_of, "2014-Q4": the agencies are rated on it
    records: ProgrammeRecords
    targets: tuple[Target, ...]
    enterprise_names: Mapping[str, str]  # 统一社会信用代码 → 企业名称
    audits: tuple[Owned[AuditStatus], ...]
    certificates: tuple[Owned[CertificateStatus], ...]
    reaudits: tuple[Owned[ReauditStatus], ...]
    projects: tuple[Owned[ProjectStatus], ...]
    application_windows: tuple[Owned[ApplicationWindow], ...]
    progress: ProgressReport
    agency_scores: tuple[AgencyScore, ...]
    agencies_below: tuple[AgencyScore, ...]
    skipped: tuple[SkippedRecord, ...] = ()
    # the rules the verdicts were reached under: the master writes its formulas from the same ones
    profile: Profile | None = None

    def overdue_items(self) -> list[OverdueItem]:
        """The rows of 逾期预警, worst first.

        What still has to be done comes before what was merely done late: open overdue items by
        days overdue, then payment errors (no deadline, but money paid in the wrong order is
        to be put right now), then stages reached after their deadline, again by days.
        """
        items = [*self._audit_items(), *self._reaudit_items(), *self._project_items()]
        rank = {WarningKind.OVERDUE: 0, WarningKind.PAYMENT_ERROR: 1, WarningKind.LATE: 2}
        # stable: on a tie one enterprise's items keep the lifecycle order they were made in
        return sorted(items, key=lambda item: (rank[item.kind], -(item.days_over or 0), item.uscc))

    @property
    def open_overdue(self) -> int:
        """Audit stages and re-audit rounds past their deadline and still not done."""
        open_flags = sum(1 for owned in self.audits for flag in owned.record.flags if flag.is_open)
        return open_flags + sum(1 for owned in self.reaudits if owned.record.overdue)

    @property
    def certificates_due(self) -> int:
        """Certificates in their renewal window or already expired."""
        return sum(1 for owned in self.certificates if owned.record.state in DUE_STATES)

    def certificates_by_days_left(self) -> list[Owned[CertificateStatus]]:
        """Soonest expiry first (expired ones lead); certificates that never expire last."""

        def key(owned: Owned[CertificateStatus]) -> tuple[bool, int, str, int]:
            status = owned.record
            days = status.days_left
            return (days is None, days if days is not None else 0, status.uscc, status.round)

        return sorted(self.certificates, key=key)

    def progress_scopes(self) -> list[ScopeProgress]:
        """全市 first, then each submitter in the profile's order, then the profile's sectors."""
        report = self.progress
        return [report.city, *report.submitters, *report.sectors]

    # --- 逾期预警 rows ---------------------------------------------------------------------

    def _name(self, uscc: str) -> str:
        return self.enterprise_names.get(uscc, "")

    def _audit_items(self) -> Iterable[OverdueItem]:
        for owned in sorted(self.audits, key=lambda owned: (owned.record.uscc, owned.record.round)):
            status = owned.record
            for flag in status.flags:  # the domain lists them in the order they fell due
                yield OverdueItem(
                    kind=WarningKind.OVERDUE if flag.is_open else WarningKind.LATE,
                    submitter=owned.submitter,
                    uscc=status.uscc,
                    enterprise=self._name(status.uscc),
                    subject=f"第{status.round}轮{status.method or '审核'}:{flag.stage}",
                    deadline=flag.deadline,
                    days_over=flag.days_over,
                    reason=flag.reason,
                )

    def _reaudit_items(self) -> Iterable[OverdueItem]:
        for owned in self.reaudits:
            status = owned.record
            if not status.overdue:
                continue
            yield OverdueItem(
                kind=WarningKind.OVERDUE,
                submitter=owned.submitter,
                uscc=status.uscc,
                enterprise=self._name(status.uscc),
                subject=f"第{status.last_round + 1}轮审核(每{status.cycle_years}年一轮)",
                deadline=status.due_on,
                days_over=-status.days_left,
                reason=status.reason,
            )

    def _project_items(self) -> Iterable[OverdueItem]:
        for owned in sorted(self.projects, key=lambda owned: owned.record.project_id):
            status = owned.record
            for issue in status.issues:
                if issue.severity is not IssueSeverity.ERROR:
                    continue
                yield OverdueItem(
                    kind=WarningKind.PAYMENT_ERROR,
                    submitter=owned.submitter,
                    uscc=status.uscc,
                    enterprise=self._name(status.uscc),
                    subject=f"技改项目{status.project_id}",
                    deadline=None,
                    days_over=None,
                    reason=issue.reason,
                )


def quarter_of(day: date) -> str:
    """The quarter as the quarterly stamps and :func:`sheetsync.domain.quarter_bounds` write it."""
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def evaluate(
    register_records: Mapping[str, Sequence[StoredRecord]],
    profile: Profile,
    as_of: date,
    *,
    suspensions: Iterable[Suspension] = (),
) -> ProgrammeView:
    """Everything the domain says about the register's current records as of a day.

    ``register_records`` maps a contract sheet name to its current records, as
    :meth:`sheetsync.store.Register.current` returns them; a sheet left out counts as empty.
    Each sheet is gone through once and its records are not kept (only their typed copies), so a
    :class:`~sheetsync.records.RecordSource` is streamed one sheet at a time.
    The contract has no column for suspended titles, so the office's suspensions come in apart.
    """
    skipped: list[SkippedRecord] = []

    def typed(model: type[M]) -> tuple[Owned[M], ...]:
        return _typed(model, each_record(register_records, model.sheet_name), skipped)

    records = ProgrammeRecords(
        enterprises=typed(Enterprise),
        audits=typed(Audit),
        projects=typed(Project),
        trainings=typed(Training),
        attendees=typed(Attendee),
    )
    targets = tuple(owned.record for owned in typed(Target))
    agencies = tuple(owned.record for owned in typed(ConsultingAgency))
    enterprises = _by_uscc(records.enterprises)
    audits = [owned.record for owned in records.audits]
    projects = [owned.record for owned in records.projects]
    audit_owner = _audit_owners(records.audits)

    def by_round(uscc: str, round_no: int) -> str:
        return audit_owner.get((uscc, round_no), "")

    quarter = quarter_of(as_of)
    scores = rate_agencies(audits, enterprises, profile, quarter, as_of, agencies)
    return ProgrammeView(
        as_of=as_of,
        quarter=quarter,
        records=records,
        targets=targets,
        enterprise_names={uscc: enterprise.name or "" for uscc, enterprise in enterprises.items()},
        audits=_paired(audit_statuses(audits, enterprises, profile, as_of), records.audits),
        certificates=tuple(
            Owned(status, by_round(status.uscc, status.round))
            for status in certificate_statuses(audits, profile, as_of, suspensions)
        ),
        reaudits=tuple(
            Owned(status, by_round(status.uscc, status.last_round))
            for status in reaudit_statuses(audits, enterprises, profile, as_of)
        ),
        projects=_paired(project_statuses(projects, profile, as_of), records.projects),
        application_windows=tuple(
            Owned(window, by_round(window.uscc, window.round))
            for window in application_windows(audits, projects, profile, as_of)
        ),
        progress=progress(records, profile, as_of, targets),
        agency_scores=scores,
        agencies_below=below_threshold(scores),
        skipped=tuple(skipped),
        profile=profile,
    )


def _typed(
    model: type[M], stored: Iterable[StoredRecord], skipped: list[SkippedRecord]
) -> tuple[Owned[M], ...]:
    """The register's rows as contract models, each with the submitter the register holds it for."""
    found: list[Owned[M]] = []
    columns = model.columns() if model.can_build_from_parsed() else None
    try:
        for record in stored:
            typed = _from_register(model, columns, record.data) if columns is not None else None
            if typed is not None:
                found.append(Owned(typed, record.submitter))
                continue
            # a blank is the model's default anyway; validating it would only re-raise 'required'
            # for a row the register accepted under an older contract, and costs a call per empty cell
            data = {name: value for name, value in record.data.items() if value is not None}
            try:
                found.append(Owned(model.model_validate(data), record.submitter))
            except ValidationError as error:
                skipped.append(
                    SkippedRecord(model.sheet_name, tuple(record.key), record.submitter, _first_error(error))
                )
    finally:
        for column in model.columns().values():
            column.forget_outcomes()  # a sheet's cells repeat within it; the next sheet has its own
    return tuple(found)


def _from_register(model: type[M], columns: Mapping[str, Column], data: Mapping[str, object]) -> M | None:
    """The record ``model_validate`` gives for ``data`` less its blanks, built from each cell's cached parse; None if unsure.

    The register repeats the same dates, choices and districts on every night's 300,000 rows: each
    distinct value is parsed once (:meth:`Column.outcome`), and the record assembled without a
    pydantic validation per row.  A value the contract no longer accepts, or one only pydantic
    can judge, returns None: the caller validates that row through pydantic, which says why.
    """
    parsed: dict[str, object] = {}
    for name, value in data.items():
        if value is None:
            continue  # a blank: the field's default, as model_validate of the row without it gives
        column = columns.get(name)
        if column is None:
            return None  # a column the contract dropped: model_validate names it
        try:
            outcome = column.outcome(value)
        except NeedsModelValidation:
            return None
        if outcome.__class__ is CellFailure:
            return None
        parsed[name] = outcome
    return model.from_parsed(parsed)


def _first_error(error: ValidationError) -> str:
    first = error.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    return f"{where}: {first.get('type', '')}" if where else str(first.get("type", ""))


def _by_uscc(enterprises: Sequence[Owned[Enterprise]]) -> dict[str, Enterprise]:
    """The register keeps one row per credit code; the first wins should a caller pass two."""
    found: dict[str, Enterprise] = {}
    for owned in enterprises:
        if owned.record.uscc:
            found.setdefault(owned.record.uscc, owned.record)
    return found


def _audit_owners(audits: Sequence[Owned[Audit]]) -> dict[tuple[str, int], str]:
    """Who holds each audit round: certificates and re-audits are reported to that submitter."""
    owners: dict[tuple[str, int], str] = {}
    for owned in audits:
        owners.setdefault((owned.record.uscc or "", owned.record.round or 1), owned.submitter)
    return owners


def _paired(results: Sequence[R], owned: Sequence[Owned[object]]) -> tuple[Owned[R], ...]:
    """The domain returns one result per record in the order given; each keeps its record's owner."""
    if len(results) != len(owned):  # pragma: no cover - a domain function changed its contract
        raise AssertionError("domain results do not match the records they were computed from")
    return tuple(Owned(result, item.submitter) for result, item in zip(results, owned, strict=True))
