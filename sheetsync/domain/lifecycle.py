"""Where each audit stands under its profile: stage, next deadline, overdue flags, certificates, re-audits.

Every function takes ``as_of`` and ignores dates after it, so the same records replayed at an
earlier day (a quarter's end, say) give the picture as it was then. Deadlines come from the
profile only; the reasons an officer reads are built from the same rule that raised the flag,
so a city that changes '2 months' to '3 months' in its TOML also changes the text.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from sheetsync.profile import AuditCycles, Deadline, Profile, Relative, Stage, add_months
from sheetsync.schemas.audit import AUDIT_FULL, Audit
from sheetsync.schemas.enterprise import (
    AUDIT_MANDATORY,
    HEAVY_METAL_INDUSTRIES,
    OTHER_KEY_INDUSTRY,
    OVERCAPACITY_INDUSTRIES,
    Enterprise,
)

FAILED_GRADE = "不合格"

# the record field that dates each stage; LISTED comes from the enterprise, PUBLISHED from nowhere
STAGE_FIELDS: dict[Stage, str] = {
    Stage.STARTED: "started_on",
    Stage.CONTRACT_FILED: "contract_filed_on",
    Stage.REPORTED: "report_on",
    Stage.EVALUATED: "evaluated_on",
    Stage.ACCEPTED: "accepted_on",
    Stage.CERTIFIED: "certified_on",
}
# a later stage on record proves an earlier one happened even when its date was left blank
_IMPLIED_BY: dict[Stage, tuple[Stage, ...]] = {
    Stage.STARTED: (Stage.CONTRACT_FILED, Stage.REPORTED, Stage.EVALUATED, Stage.ACCEPTED, Stage.CERTIFIED),
    Stage.CONTRACT_FILED: (Stage.REPORTED, Stage.EVALUATED, Stage.ACCEPTED, Stage.CERTIFIED),
    Stage.REPORTED: (Stage.EVALUATED, Stage.ACCEPTED, Stage.CERTIFIED),
    Stage.EVALUATED: (Stage.ACCEPTED, Stage.CERTIFIED),
    Stage.ACCEPTED: (Stage.CERTIFIED,),
    Stage.CERTIFIED: (),
}
# how a stage reads as the event a period counts from, and as the thing not yet done
_EVENT: dict[Stage, str] = {
    Stage.LISTED: "列入强制名单",
    Stage.STARTED: "启动审核",
    Stage.CONTRACT_FILED: "合同备案",
    Stage.REPORTED: "提交审核报告",
    Stage.EVALUATED: "评估",
    Stage.ACCEPTED: "验收",
    Stage.CERTIFIED: "发证",
}
_ACTION: dict[Stage, str] = {
    Stage.PUBLISHED: "公布排放信息",
    Stage.STARTED: "启动审核",
    Stage.CONTRACT_FILED: "备案咨询合同和审核登记表",
    Stage.REPORTED: "提交审核报告",
    Stage.EVALUATED: "完成评估",
    Stage.ACCEPTED: "完成验收",
    Stage.CERTIFIED: "发证",
}


def cn_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def months_text(months: int) -> str:
    return f"{months // 12}年" if months % 12 == 0 else f"{months}个月"


def span_text(relative: Relative) -> str:
    """'2个月', '1年', '30日': the period as the notices write it."""
    parts = []
    if relative.months:
        parts.append(months_text(relative.months))
    if relative.days:
        parts.append(f"{relative.days}日")
    return "".join(parts)


def known(day: date | None, as_of: date) -> date | None:
    """A recorded date counts only once it has happened."""
    return day if day is not None and day <= as_of else None


@dataclass(frozen=True, slots=True)
class OverdueFlag:
    stage: Stage
    deadline: date
    done_on: date | None  # None: still not reached; a date: reached after the deadline
    days_over: int
    reason: str

    @property
    def is_open(self) -> bool:
        return self.done_on is None


@dataclass(frozen=True, slots=True)
class AuditStatus:
    uscc: str
    round: int
    method: str | None
    agency: str | None
    stage: Stage
    stage_on: date | None
    stage_text: str
    next_stage: Stage | None  # the stage the next deadline is for
    next_deadline: date | None
    days_left: int | None  # negative once the deadline has passed
    flags: tuple[OverdueFlag, ...]

    @property
    def overdue(self) -> bool:
        return any(flag.is_open for flag in self.flags)

    @property
    def late(self) -> bool:
        return any(not flag.is_open for flag in self.flags)


class _Dates:
    """One audit's stage dates as of a day, with stages implied by later ones."""

    def __init__(self, audit: Audit, enterprise: Enterprise | None, as_of: date) -> None:
        self.own: dict[Stage, date | None] = {
            stage: known(getattr(audit, name), as_of) for stage, name in STAGE_FIELDS.items()
        }
        if self.own[Stage.STARTED] is None:  # filing the contract is how a start is evidenced
            self.own[Stage.STARTED] = self.own[Stage.CONTRACT_FILED]
        listed = enterprise.mandatory_listed_on if enterprise is not None else None
        self.own[Stage.LISTED] = known(listed, as_of)

    def on(self, stage: Stage) -> date | None:
        return self.own.get(stage)

    def reached(self, stage: Stage) -> bool:
        if self.on(stage) is not None:
            return True
        return any(self.on(later) is not None for later in _IMPLIED_BY.get(stage, ()))


def reached(audit: Audit, stage: Stage, as_of: date) -> bool:
    """Whether the audit had reached a stage by the day, counting stages implied by later ones."""
    return _Dates(audit, None, as_of).reached(stage)


def _deadline_of(rule: Deadline, dates: _Dates, profile: Profile) -> date | None:
    if rule.fixed is not None:
        assert profile.plan_year is not None  # the profile refuses fixed dates without it
        return rule.fixed.resolve(profile.plan_year)
    assert rule.relative is not None
    anchor = dates.on(rule.relative.after)
    return rule.relative.resolve(anchor) if anchor is not None else None


def _open_reason(rule: Deadline, deadline: date) -> str:
    action = _ACTION[rule.stage]
    if rule.relative is not None:
        return f"{_EVENT[rule.relative.after]}已满{span_text(rule.relative)}仍未{action}"
    return f"已过{cn_date(deadline)}仍未{action}"


def _late_reason(rule: Deadline, deadline: date, done: date) -> str:
    days = (done - deadline).days
    if rule.relative is not None:
        limit = f"{_EVENT[rule.relative.after]}后{span_text(rule.relative)}内,即{cn_date(deadline)}前"
    else:
        limit = f"{cn_date(deadline)}前"
    return f"{cn_date(done)}才{_ACTION[rule.stage]},应于{limit},晚了{days}天"


def _stage_now(audit: Audit, dates: _Dates) -> tuple[Stage, date | None, str]:
    if dates.on(Stage.CERTIFIED):
        return Stage.CERTIFIED, dates.on(Stage.CERTIFIED), f"{Stage.CERTIFIED}({audit.certificate or '证书'})"
    if dates.on(Stage.ACCEPTED):
        detail = f"({audit.acceptance})" if audit.acceptance else ""
        return Stage.ACCEPTED, dates.on(Stage.ACCEPTED), f"{Stage.ACCEPTED}{detail}"
    if dates.on(Stage.EVALUATED):
        if audit.method == AUDIT_FULL and audit.grade != FAILED_GRADE:
            grade = f"(评估{audit.grade})" if audit.grade else ""
            return Stage.IMPLEMENTING, dates.on(Stage.EVALUATED), f"{Stage.IMPLEMENTING}{grade}"
        detail = f"({audit.grade})" if audit.grade else ""
        return Stage.EVALUATED, dates.on(Stage.EVALUATED), f"{Stage.EVALUATED}{detail}"
    for stage in (Stage.REPORTED, Stage.STARTED):
        if dates.on(stage):
            return stage, dates.on(stage), str(stage)
    return Stage.LISTED, dates.on(Stage.LISTED), str(Stage.LISTED)


def _urgency(item: tuple[date, Stage]) -> tuple[date, int]:
    """Soonest first; on the same day, the earlier stage of the lifecycle first."""
    return item[0], list(Stage).index(item[1])


def audit_status(audit: Audit, enterprise: Enterprise | None, profile: Profile, as_of: date) -> AuditStatus:
    """The audit's stage and every deadline of the profile that applies to it, as of a day."""
    dates = _Dates(audit, enterprise, as_of)
    audit_type = enterprise.audit_type if enterprise is not None else None
    flags: list[OverdueFlag] = []
    pending: list[tuple[date, Stage]] = []
    for rule in profile.deadlines:
        if not rule.applies_to(audit_type, audit.method, audit.round):
            continue
        deadline = _deadline_of(rule, dates, profile)
        if deadline is None:
            continue
        if rule.stage is Stage.PUBLISHED:  # unrecorded: remind while it lies ahead, never flag
            if deadline >= as_of and not dates.reached(Stage.STARTED):
                pending.append((deadline, rule.stage))
            continue
        done = dates.on(rule.stage)
        if done is not None:
            if done > deadline:
                reason = _late_reason(rule, deadline, done)
                flags.append(OverdueFlag(rule.stage, deadline, done, (done - deadline).days, reason))
            continue
        if dates.reached(rule.stage):
            continue
        pending.append((deadline, rule.stage))
        if as_of > deadline:
            reason = _open_reason(rule, deadline)
            flags.append(OverdueFlag(rule.stage, deadline, None, (as_of - deadline).days, reason))
    stage, stage_on, stage_text = _stage_now(audit, dates)
    next_deadline, next_stage = min(pending, key=_urgency) if pending else (None, None)
    return AuditStatus(
        uscc=audit.uscc or "",
        round=audit.round or 1,
        method=audit.method,
        agency=audit.agency,
        stage=stage,
        stage_on=stage_on,
        stage_text=stage_text,
        next_stage=next_stage,
        next_deadline=next_deadline,
        days_left=(next_deadline - as_of).days if next_deadline is not None else None,
        flags=tuple(sorted(flags, key=lambda flag: _urgency((flag.deadline, flag.stage)))),
    )


def by_uscc(enterprises: Iterable[Enterprise]) -> dict[str, Enterprise]:
    """Enterprises by credit code; the first record of a code wins, as the register keeps one."""
    found: dict[str, Enterprise] = {}
    for enterprise in enterprises:
        if enterprise.uscc is not None:
            found.setdefault(enterprise.uscc, enterprise)
    return found


def audit_statuses(
    audits: Iterable[Audit],
    enterprises: Iterable[Enterprise] | Mapping[str, Enterprise],
    profile: Profile,
    as_of: date,
) -> tuple[AuditStatus, ...]:
    index = enterprises if isinstance(enterprises, Mapping) else by_uscc(enterprises)
    return tuple(audit_status(audit, index.get(audit.uscc or ""), profile, as_of) for audit in audits)


# ---- certificates --------------------------------------------------------------------------


class CertificateState(StrEnum):
    VALID = "有效"
    RENEWAL_DUE = "待换证"
    EXPIRED = "已过期"
    SUSPENDED = "暂停"


DEFAULT_SUSPENSION_REASON = "污染物超标排放或能耗、水耗等指标严重超标"


@dataclass(frozen=True)
class Suspension:
    """A title suspended until rectified; the contract has no column for it, the office records it."""

    uscc: str
    since: date
    restored_on: date | None = None
    reason: str = DEFAULT_SUSPENSION_REASON

    def covers(self, day: date) -> bool:
        return self.since <= day and (self.restored_on is None or day < self.restored_on)


@dataclass(frozen=True, slots=True)
class CertificateStatus:
    uscc: str
    round: int
    certificate: str
    certified_on: date
    expires_on: date | None  # the last valid day; None: the type does not expire
    renewal_from: date | None  # first day of the renewal window
    state: CertificateState
    days_left: int | None  # to expiry
    renewal_started: bool  # a later audit round has started
    reason: str


def expiry_of(audit: Audit, profile: Profile) -> date | None:
    """The recorded 有效期至 wins; otherwise the issue date plus the type's validity."""
    if audit.valid_until is not None:
        return audit.valid_until
    months = profile.certificates.validity_months.get(audit.certificate or "")
    if months is None or audit.certified_on is None:
        return None
    return add_months(audit.certified_on, months)


def certificate_status(
    audit: Audit,
    profile: Profile,
    as_of: date,
    *,
    suspensions: Iterable[Suspension] = (),
    renewal_started: bool = False,
) -> CertificateStatus | None:
    """None when the round has no certificate yet (as of the day)."""
    certified_on = known(audit.certified_on, as_of)
    if certified_on is None or audit.certificate is None:
        return None
    expires_on = expiry_of(audit, profile)
    window = profile.certificates.renewal_window_days
    renewal_from = expires_on - timedelta(days=window) if expires_on is not None else None
    days_left = (expires_on - as_of).days if expires_on is not None else None
    suspension = next(
        (s for s in suspensions if s.uscc == audit.uscc and s.since >= certified_on and s.covers(as_of)), None
    )
    renewing = ",已启动新一轮审核" if renewal_started else ""
    if suspension is not None:
        state = CertificateState.SUSPENDED
        reason = f"因{suspension.reason},自{cn_date(suspension.since)}起暂停,整改达标后恢复并公告"
    elif expires_on is not None and as_of > expires_on:
        state = CertificateState.EXPIRED
        reason = f"有效期至{cn_date(expires_on)},已过期{-days_left if days_left else 0}天{renewing}"
    elif renewal_from is not None and as_of >= renewal_from:
        state = CertificateState.RENEWAL_DUE
        reason = f"有效期至{cn_date(expires_on)},须在届满前{window}日内申请换证,还剩{days_left}天{renewing}"
    else:
        state = CertificateState.VALID
        reason = f"有效期至{cn_date(expires_on)}" if expires_on is not None else "长期有效"
    return CertificateStatus(
        uscc=audit.uscc or "",
        round=audit.round or 1,
        certificate=audit.certificate,
        certified_on=certified_on,
        expires_on=expires_on,
        renewal_from=renewal_from,
        state=state,
        days_left=days_left,
        renewal_started=renewal_started,
        reason=reason,
    )


def rounds_by_enterprise(audits: Iterable[Audit]) -> dict[str, list[Audit]]:
    rounds: dict[str, list[Audit]] = defaultdict(list)
    for audit in audits:
        if audit.uscc is not None:
            rounds[audit.uscc].append(audit)
    for found in rounds.values():
        found.sort(key=lambda audit: audit.round or 1)
    return rounds


def certificate_statuses(
    audits: Iterable[Audit], profile: Profile, as_of: date, suspensions: Iterable[Suspension] = ()
) -> tuple[CertificateStatus, ...]:
    """The newest certificate of each enterprise; an older one is superseded by it."""
    suspensions = tuple(suspensions)
    found: list[CertificateStatus] = []
    for rounds in rounds_by_enterprise(audits).values():
        for position in range(len(rounds) - 1, -1, -1):
            later = rounds[position + 1 :]
            started = any(reached(audit, Stage.STARTED, as_of) for audit in later)
            status = certificate_status(
                rounds[position], profile, as_of, suspensions=suspensions, renewal_started=started
            )
            if status is not None:
                found.append(status)
                break
    return tuple(found)


# ---- re-audit cycles ----------------------------------------------------------------------

CYCLE_GROUPS: tuple[tuple[str, str], ...] = (
    ("heavy_metal", "重金属污染防治重点行业"),
    ("overcapacity", "产能过剩行业"),
    ("other_key", "其他重点行业"),
    ("mandatory", "强制审核企业"),
)


def cycle_of(enterprise: Enterprise, cycles: AuditCycles) -> tuple[str, int] | None:
    """The group label and years between rounds; a group with no cycle falls through to the next."""
    member = {
        "heavy_metal": enterprise.key_industry in HEAVY_METAL_INDUSTRIES,
        "overcapacity": enterprise.key_industry in OVERCAPACITY_INDUSTRIES,
        "other_key": enterprise.key_industry == OTHER_KEY_INDUSTRY,
        "mandatory": enterprise.audit_type == AUDIT_MANDATORY,
    }
    for key, label in CYCLE_GROUPS:
        years = getattr(cycles, key)
        if member[key] and years is not None:
            return label, years
    return None


def completed_on(audit: Audit, as_of: date) -> date | None:
    """A round is done once its report is in; later dates stand in when the report date is blank."""
    for name in ("report_on", "evaluated_on", "accepted_on"):
        day = known(getattr(audit, name), as_of)
        if day is not None:
            return day
    return None


@dataclass(frozen=True, slots=True)
class ReauditStatus:
    uscc: str
    group: str
    cycle_years: int
    last_round: int
    last_done_on: date
    due_on: date
    days_left: int
    next_round_started: bool
    reason: str

    @property
    def overdue(self) -> bool:
        return self.days_left < 0


def reaudit_statuses(
    audits: Iterable[Audit],
    enterprises: Iterable[Enterprise] | Mapping[str, Enterprise],
    profile: Profile,
    as_of: date,
) -> tuple[ReauditStatus, ...]:
    """Enterprises in a cycle group whose next round is not done yet, soonest due first."""
    index = enterprises if isinstance(enterprises, Mapping) else by_uscc(enterprises)
    found: list[ReauditStatus] = []
    for uscc, rounds in rounds_by_enterprise(audits).items():
        enterprise = index.get(uscc)
        cycle = cycle_of(enterprise, profile.audit_cycles) if enterprise is not None else None
        if cycle is None:
            continue
        done = [(audit, completed_on(audit, as_of)) for audit in rounds]
        done = [(audit, day) for audit, day in done if day is not None]
        if not done:
            continue
        last, last_on = done[-1]
        later = [audit for audit in rounds if (audit.round or 1) > (last.round or 1)]
        started = any(reached(audit, Stage.STARTED, as_of) for audit in later)
        group, years = cycle
        due_on = add_months(last_on, 12 * years)
        days_left = (due_on - as_of).days
        reason = (
            f"{group}每{years}年须完成一轮审核,第{last.round or 1}轮于{cn_date(last_on)}完成,"
            f"下一轮应于{cn_date(due_on)}前完成"
        )
        if days_left < 0:
            reason += f",已逾期{-days_left}天"
        if started:
            reason += ",下一轮已启动"
        found.append(
            ReauditStatus(uscc, group, years, last.round or 1, last_on, due_on, days_left, started, reason)
        )
    return tuple(sorted(found, key=lambda status: (status.due_on, status.uscc)))
