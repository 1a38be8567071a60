"""Retrofit projects: instalments paid in the profile's order, implementation time, application deadlines.

The profile says how the subsidy is split and when the second part may be paid (after the
performance acceptance); paying it before is an error an auditor would raise, so it is one here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from sheetsync.domain.lifecycle import FAILED_GRADE, cn_date, known, months_text
from sheetsync.profile import Profile, add_months
from sheetsync.schemas.audit import Audit
from sheetsync.schemas.project import PROJECT_STATUSES, Project

WITHDRAWN = "已撤销"
FINISHED_STATUSES: frozenset[str] = frozenset({"已完工", "已验收"})
APPROVED_STATUSES: frozenset[str] = frozenset({"已批准", "实施中", "已完工", "已验收", "已变更"})
if not APPROVED_STATUSES | {WITHDRAWN} <= set(PROJECT_STATUSES):
    raise RuntimeError("projects names a 项目状态 the contract no longer has")  # pragma: no cover


class InstalmentState(StrEnum):
    NOT_DUE = "未到期"
    DUE = "待拨付"
    PAID = "已拨付"
    OUT_OF_ORDER = "顺序错误"


class IssueSeverity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Instalment:
    number: int  # 1 or 2
    share: Decimal
    expected: Decimal | None  # 核定补助 × share, rounded to the profile's tolerance step
    paid: Decimal | None
    paid_on: date | None
    state: InstalmentState


@dataclass(frozen=True, slots=True)
class ProjectIssue:
    code: str  # stable: first-after-acceptance, second-before-acceptance, second-before-first,
    # first-over-share, paid-over-approved, paid-without-approval, over-duration, not-started
    severity: IssueSeverity
    reason: str


@dataclass(frozen=True, slots=True)
class ProjectStatus:
    project_id: str
    uscc: str
    status: str | None
    first: Instalment
    second: Instalment
    duration_days: int | None  # start to finish, or to as_of while running
    issues: tuple[ProjectIssue, ...]

    @property
    def has_errors(self) -> bool:
        return any(issue.severity is IssueSeverity.ERROR for issue in self.issues)


def _wan(amount: Decimal) -> str:
    return f"{amount.normalize():f}万元"


def _round(amount: Decimal, step: Decimal) -> Decimal:
    if step <= 0:
        return amount
    return (amount / step).quantize(Decimal(1), rounding=ROUND_HALF_UP) * step


def _approved(project: Project) -> bool:
    return project.status in APPROVED_STATUSES or project.subsidy_approved is not None


def _instalments(
    project: Project, profile: Profile, as_of: date
) -> tuple[Instalment, Instalment, list[ProjectIssue]]:
    subsidy = profile.subsidy
    issues: list[ProjectIssue] = []
    accepted_on = known(project.performance_accepted_on, as_of)
    first_on = known(project.first_paid_on, as_of)
    second_on = known(project.second_paid_on, as_of)
    approved = project.subsidy_approved
    expected = [
        _round(approved * share, subsidy.amount_tolerance) if approved is not None else None
        for share in (subsidy.first_share, subsidy.second_share)
    ]
    first_pct, second_pct = (f"{share * 100:.0f}%" for share in (subsidy.first_share, subsidy.second_share))

    if first_on is not None:
        first_state = InstalmentState.PAID
        if accepted_on is not None and first_on > accepted_on:
            issues.append(
                ProjectIssue(
                    "first-after-acceptance",
                    IssueSeverity.WARNING,
                    f"一期({first_pct})补助应在绩效验收前拨付,实际于{cn_date(first_on)}拨付,"
                    f"晚于绩效验收({cn_date(accepted_on)})",
                )
            )
    elif project.status != WITHDRAWN and _approved(project):
        first_state = InstalmentState.DUE
    else:
        first_state = InstalmentState.NOT_DUE

    if second_on is not None:
        second_state = InstalmentState.PAID
        if accepted_on is None or second_on < accepted_on:
            second_state = InstalmentState.OUT_OF_ORDER
            when = "项目尚未通过绩效验收" if accepted_on is None else f"早于绩效验收({cn_date(accepted_on)})"
            issues.append(
                ProjectIssue(
                    "second-before-acceptance",
                    IssueSeverity.ERROR,
                    f"二期({second_pct})补助于{cn_date(second_on)}拨付,{when};应在通过绩效验收后拨付",
                )
            )
        if first_on is None or first_on > second_on:
            second_state = InstalmentState.OUT_OF_ORDER
            issues.append(
                ProjectIssue(
                    "second-before-first",
                    IssueSeverity.ERROR,
                    f"二期补助于{cn_date(second_on)}拨付,先于一期补助;应先拨付一期({first_pct})",
                )
            )
    elif accepted_on is not None and project.status != WITHDRAWN and _approved(project):
        second_state = InstalmentState.DUE
    else:
        second_state = InstalmentState.NOT_DUE

    first_paid = project.first_paid if first_on is not None else None
    second_paid = project.second_paid if second_on is not None else None
    tolerance = subsidy.amount_tolerance
    if approved is None and (first_paid or second_paid):
        issues.append(
            ProjectIssue("paid-without-approval", IssueSeverity.WARNING, "已拨付补助,但未填写核定补助")
        )
    if approved is not None and first_paid is not None and expected[0] is not None:
        if first_paid > expected[0] + tolerance:
            issues.append(
                ProjectIssue(
                    "first-over-share",
                    IssueSeverity.WARNING,
                    f"一期拨付{_wan(first_paid)},超过核定补助{_wan(approved)}的{first_pct}({_wan(expected[0])})",
                )
            )
    total = (first_paid or Decimal(0)) + (second_paid or Decimal(0))
    if approved is not None and total > approved + tolerance:
        issues.append(
            ProjectIssue(
                "paid-over-approved",
                IssueSeverity.ERROR,
                f"两期拨付合计{_wan(total)},超过核定补助{_wan(approved)}",
            )
        )
    return (
        Instalment(1, subsidy.first_share, expected[0], first_paid, first_on, first_state),
        Instalment(2, subsidy.second_share, expected[1], second_paid, second_on, second_state),
        issues,
    )


def _timing(project: Project, profile: Profile, as_of: date) -> tuple[int | None, list[ProjectIssue]]:
    rules = profile.projects
    issues: list[ProjectIssue] = []
    if project.status == WITHDRAWN:
        return None, issues
    started = known(project.started_on, as_of)
    finished = known(project.finished_on, as_of)
    duration: int | None = None
    if started is not None and (finished is not None or project.status not in FINISHED_STATUSES):
        end = finished or as_of
        duration = (end - started).days
        limit_months = rules.max_duration_months
        if limit_months is not None and end > add_months(started, limit_months):
            span = months_text(limit_months)
            reason = (
                f"项目于{cn_date(started)}开工、{cn_date(finished)}完工,实施周期超过{span}"
                if finished is not None
                else f"项目于{cn_date(started)}开工,已超过{span}仍未完工"
            )
            issues.append(ProjectIssue("over-duration", IssueSeverity.WARNING, reason))
    if rules.start_by is not None and profile.plan_year is not None and _approved(project):
        deadline = rules.start_by.resolve(profile.plan_year)
        if started is None and project.started_on is None and as_of > deadline:
            issues.append(
                ProjectIssue(
                    "not-started", IssueSeverity.WARNING, f"项目应于{cn_date(deadline)}前开工,至今未开工"
                )
            )
        elif started is not None and started > deadline:
            issues.append(
                ProjectIssue(
                    "not-started",
                    IssueSeverity.WARNING,
                    f"项目应于{cn_date(deadline)}前开工,实际于{cn_date(started)}开工",
                )
            )
    return duration, issues


def project_status(project: Project, profile: Profile, as_of: date) -> ProjectStatus:
    first, second, money = _instalments(project, profile, as_of)
    duration, timing = _timing(project, profile, as_of)
    return ProjectStatus(
        project_id=project.project_id or "",
        uscc=project.uscc or "",
        status=project.status,
        first=first,
        second=second,
        duration_days=duration,
        issues=tuple(money + timing),
    )


def project_statuses(projects: Iterable[Project], profile: Profile, as_of: date) -> tuple[ProjectStatus, ...]:
    return tuple(project_status(project, profile, as_of) for project in projects)


# ---- application deadlines ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApplicationWindow:
    """When an evaluated unit must apply for its project; informational, as not every unit must."""

    uscc: str
    round: int
    evaluated_on: date
    due_on: date
    days_left: int
    applied: bool
    reason: str

    @property
    def closed(self) -> bool:
        return self.days_left < 0


def application_windows(
    audits: Iterable[Audit], projects: Iterable[Project], profile: Profile, as_of: date
) -> tuple[ApplicationWindow, ...]:
    """Evaluated (and not failed) audits whose evaluation year has an application deadline."""
    if profile.plan_year is None or not profile.projects.application_deadlines:
        return ()
    applied = {project.uscc for project in projects if project.status != WITHDRAWN}
    found: list[ApplicationWindow] = []
    for audit in audits:
        evaluated = known(audit.evaluated_on, as_of)
        if evaluated is None or audit.grade == FAILED_GRADE or audit.uscc is None:
            continue
        rule = next(
            (
                rule
                for rule in profile.projects.application_deadlines
                if evaluated.year == profile.plan_year + rule.evaluated_year_offset
            ),
            None,
        )
        if rule is None:
            continue
        due = rule.due.resolve(profile.plan_year)
        days_left = (due - as_of).days
        has_project = audit.uscc in applied
        if has_project:
            reason = "已申报项目"
        elif days_left >= 0:
            reason = f"{cn_date(evaluated)}评估的单位须于{cn_date(due)}前提出项目申请,还剩{days_left}天"
        else:
            reason = f"项目申请截止日期{cn_date(due)}已过,未见项目申报"
        found.append(
            ApplicationWindow(audit.uscc, audit.round or 1, evaluated, due, days_left, has_project, reason)
        )
    return tuple(sorted(found, key=lambda window: (window.due_on, window.uscc)))
