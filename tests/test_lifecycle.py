"""Stages, deadlines and overdue flags, certificates and re-audit cycles, from the seeds' own dates."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from sheetsync.domain import (
    CertificateState,
    Suspension,
    audit_status,
    audit_statuses,
    certificate_status,
    certificate_statuses,
    reaudit_statuses,
)
from sheetsync.profile import AuditCycles, Stage, load_profile
from sheetsync.schemas import Audit, Enterprise
from sheetsync.uscc import check_character

BEIJING = load_profile("beijing-2014")
GUANGZHOU = load_profile("guangzhou-2013")
NATIONAL = load_profile("national-2016")
EXCELLENT = "清洁生产(优秀)企业"
D = date
LISTED = D(2014, 1, 10)


def code(n: int) -> str:
    first17 = f"91110105{n:09d}"
    return first17 + check_character(first17)


def audit(n: int = 1, **fields: Any) -> Audit:
    return Audit(**{"uscc": code(n), "round": 1, "method": "全面审核", **fields})


def mandatory(n: int = 1, listed: date = LISTED, **fields: Any) -> Enterprise:
    return Enterprise(uscc=code(n), name=f"企业{n}", audit_type="强制", mandatory_listed_on=listed, **fields)


# ---- Beijing 2014: fixed dates of the year's list ---------------------------------------------

BEIJING_CASES = [
    # (case, audit fields, as_of, expected (stage, days_over, open?) flags)
    (
        "no start on 1 Mar is overdue",
        {},
        D(2014, 3, 1),
        [(Stage.STARTED, 1, True), (Stage.CONTRACT_FILED, 1, True)],
    ),
    ("on 28 Feb nothing is overdue yet", {}, D(2014, 2, 28), []),
    (
        "started and filed in time",
        {"started_on": D(2014, 2, 20), "contract_filed_on": D(2014, 2, 25)},
        D(2014, 3, 1),
        [],
    ),
    (
        "a start filed only by its contract counts, late",
        {"contract_filed_on": D(2014, 3, 3)},
        D(2014, 3, 10),
        [(Stage.STARTED, 3, False), (Stage.CONTRACT_FILED, 3, False)],
    ),
    (
        "a report on 1 Jun is late",
        {"started_on": D(2014, 2, 10), "contract_filed_on": D(2014, 2, 10), "report_on": D(2014, 6, 1)},
        D(2014, 6, 2),
        [(Stage.REPORTED, 1, False)],
    ),
    (
        "a report on 31 May is in time",
        {"started_on": D(2014, 2, 10), "contract_filed_on": D(2014, 2, 10), "report_on": D(2014, 5, 31)},
        D(2014, 6, 2),
        [],
    ),
    (
        "no report on 1 Jun is overdue",
        {"started_on": D(2014, 2, 10), "contract_filed_on": D(2014, 2, 10)},
        D(2014, 6, 1),
        [(Stage.REPORTED, 1, True)],
    ),
    (
        "a later stage proves a blank earlier one",
        {"evaluated_on": D(2014, 6, 20), "grade": "良好"},
        D(2014, 7, 1),
        [],
    ),
    (
        "evaluation after 30 Jun is late",
        {"started_on": D(2014, 2, 10), "contract_filed_on": D(2014, 2, 10), "report_on": D(2014, 5, 20)}
        | {"evaluated_on": D(2014, 7, 2), "grade": "合格"},
        D(2014, 7, 3),
        [(Stage.EVALUATED, 2, False)],
    ),
    (
        "a report dated after as_of has not happened yet",
        {"started_on": D(2014, 2, 10), "contract_filed_on": D(2014, 2, 10), "report_on": D(2014, 6, 1)},
        D(2014, 5, 15),
        [],
    ),
    ("an on-site assessment is not held to the audit dates", {"method": "实地评估"}, D(2014, 3, 1), []),
]


@pytest.mark.parametrize(
    ("case", "fields", "as_of", "expected"), BEIJING_CASES, ids=[c[0] for c in BEIJING_CASES]
)
def test_beijing_2014_deadlines(
    case: str, fields: dict[str, Any], as_of: date, expected: list[tuple]
) -> None:
    status = audit_status(audit(**fields), None, BEIJING, as_of)
    assert [(flag.stage, flag.days_over, flag.is_open) for flag in status.flags] == expected
    assert status.overdue == any(is_open for _, _, is_open in expected)


def test_beijing_reasons_read_as_an_officer_writes_them() -> None:
    overdue = audit_status(audit(), None, BEIJING, D(2014, 3, 1))
    assert [flag.reason for flag in overdue.flags] == [
        "已过2014年2月28日仍未启动审核",
        "已过2014年2月28日仍未备案咨询合同和审核登记表",
    ]
    late = audit_status(
        audit(started_on=D(2014, 2, 1), contract_filed_on=D(2014, 2, 1), report_on=D(2014, 6, 1)),
        None,
        BEIJING,
        D(2014, 6, 1),
    )
    assert late.flags[0].reason == "2014年6月1日才提交审核报告,应于2014年5月31日前,晚了1天"
    assert late.late and not late.overdue


def test_next_deadline_and_days_left() -> None:
    on_time = audit(started_on=D(2014, 2, 20), contract_filed_on=D(2014, 2, 25))
    status = audit_status(on_time, None, BEIJING, D(2014, 3, 1))
    assert (status.next_stage, status.next_deadline, status.days_left) == (Stage.REPORTED, D(2014, 5, 31), 91)
    overdue = audit_status(audit(), None, BEIJING, D(2014, 3, 5))
    assert (overdue.next_stage, overdue.next_deadline, overdue.days_left) == (
        Stage.STARTED,
        D(2014, 2, 28),
        -5,
    )


# ---- Guangzhou 2013 / national: periods counted from the mandatory list ----------------------

GUANGZHOU_CASES = [
    ("deadline day itself is still in time", {}, D(2014, 3, 10), []),
    ("the day after, overdue", {}, D(2014, 3, 11), ["列入强制名单已满2个月仍未启动审核"]),
    (
        "started late",
        {"started_on": D(2014, 3, 15)},
        D(2014, 4, 1),
        ["2014年3月15日才启动审核,应于列入强制名单后2个月内,即2014年3月10日前,晚了5天"],
    ),
    (
        "a year without a report",
        {"started_on": D(2014, 2, 1)},
        D(2015, 1, 11),
        ["列入强制名单已满1年仍未提交审核报告"],
    ),
    ("a later round is not held to the listing", {"round": 2}, D(2015, 1, 11), []),
]


@pytest.mark.parametrize(
    ("case", "fields", "as_of", "reasons"), GUANGZHOU_CASES, ids=[c[0] for c in GUANGZHOU_CASES]
)
def test_guangzhou_mandatory_deadlines(
    case: str, fields: dict[str, Any], as_of: date, reasons: list[str]
) -> None:
    status = audit_status(audit(**fields), mandatory(), GUANGZHOU, as_of)
    assert [flag.reason for flag in status.flags] == reasons


def test_a_voluntary_enterprise_has_no_mandatory_deadlines() -> None:
    voluntary = Enterprise(uscc=code(1), name="乙公司", audit_type="自愿")
    status = audit_status(audit(), voluntary, GUANGZHOU, D(2016, 1, 1))
    assert status.flags == () and status.next_deadline is None and status.stage is Stage.LISTED


def test_month_ends_are_clamped() -> None:
    status = audit_status(audit(), mandatory(listed=D(2013, 12, 31)), GUANGZHOU, D(2014, 3, 1))
    assert [flag.deadline for flag in status.flags] == [D(2014, 2, 28)]  # 31 Dec + 2 months → end of Feb


def test_publication_is_a_reminder_never_a_flag() -> None:
    enterprise = mandatory(listed=D(2016, 8, 1))
    early = audit_status(audit(), enterprise, NATIONAL, D(2016, 8, 10))
    assert (early.next_stage, early.next_deadline) == (Stage.PUBLISHED, D(2016, 9, 1))
    later = audit_status(audit(), enterprise, NATIONAL, D(2016, 9, 5))
    assert (later.next_stage, later.next_deadline, later.flags) == (Stage.STARTED, D(2016, 10, 1), ())


STAGE_CASES = [
    ({}, Stage.LISTED, "列入名单"),
    ({"started_on": D(2014, 2, 1)}, Stage.STARTED, "启动审核"),
    ({"report_on": D(2014, 5, 1)}, Stage.REPORTED, "提交报告"),
    ({"evaluated_on": D(2014, 6, 1), "grade": "良好"}, Stage.IMPLEMENTING, "方案实施(评估良好)"),
    ({"evaluated_on": D(2014, 6, 1), "grade": "不合格"}, Stage.EVALUATED, "评估(不合格)"),
    ({"method": "实地评估", "evaluated_on": D(2014, 6, 1)}, Stage.EVALUATED, "评估"),
    ({"accepted_on": D(2014, 9, 1), "acceptance": "限期整改"}, Stage.ACCEPTED, "验收(限期整改)"),
    (
        {
            "accepted_on": D(2014, 9, 1),
            "acceptance": "通过",
            "certificate": EXCELLENT,
            "certified_on": D(2014, 9, 9),
        },
        Stage.CERTIFIED,
        "发证(清洁生产(优秀)企业)",
    ),
]


@pytest.mark.parametrize(("fields", "stage", "text"), STAGE_CASES)
def test_current_stage(fields: dict[str, Any], stage: Stage, text: str) -> None:
    status = audit_status(audit(**fields), None, GUANGZHOU, D(2014, 12, 31))
    assert (status.stage, status.stage_text) == (stage, text)


def test_audit_statuses_join_each_audit_to_its_enterprise() -> None:
    statuses = audit_statuses([audit(1), audit(2)], [mandatory(1)], GUANGZHOU, D(2014, 4, 1))
    assert [status.overdue for status in statuses] == [True, False]


# ---- certificates: a Guangzhou title issued 2014-03-01 --------------------------------------

TITLE = audit(
    certificate=EXCELLENT, certified_on=D(2014, 3, 1), accepted_on=D(2014, 2, 20), acceptance="通过"
)

CERTIFICATE_CASES = [
    (D(2016, 1, 30), CertificateState.VALID, 31),
    (D(2016, 1, 31), CertificateState.RENEWAL_DUE, 30),
    (D(2016, 3, 1), CertificateState.RENEWAL_DUE, 0),
    (D(2016, 3, 2), CertificateState.EXPIRED, -1),
]


@pytest.mark.parametrize(("as_of", "state", "days_left"), CERTIFICATE_CASES)
def test_guangzhou_title_issued_2014_03_01(as_of: date, state: CertificateState, days_left: int) -> None:
    status = certificate_status(TITLE, GUANGZHOU, as_of)
    assert status is not None
    assert (status.expires_on, status.renewal_from) == (D(2016, 3, 1), D(2016, 1, 31))
    assert (status.state, status.days_left) == (state, days_left)


def test_certificate_reasons() -> None:
    due = certificate_status(TITLE, GUANGZHOU, D(2016, 2, 10))
    assert due is not None and due.reason == "有效期至2016年3月1日,须在届满前30日内申请换证,还剩20天"
    expired = certificate_status(TITLE, GUANGZHOU, D(2016, 3, 11))
    assert expired is not None and expired.reason == "有效期至2016年3月1日,已过期10天"


def test_a_recorded_expiry_wins_and_the_participation_certificate_never_expires() -> None:
    recorded = TITLE.model_copy(update={"valid_until": D(2016, 2, 29)})
    status = certificate_status(recorded, GUANGZHOU, D(2016, 1, 30))
    assert status is not None and (status.state, status.renewal_from) == (
        CertificateState.RENEWAL_DUE,
        D(2016, 1, 30),
    )
    participation = TITLE.model_copy(update={"certificate": "参与清洁生产行动证书"})
    status = certificate_status(participation, GUANGZHOU, D(2030, 1, 1))
    assert status is not None and (status.state, status.expires_on, status.reason) == (
        CertificateState.VALID,
        None,
        "长期有效",
    )


def test_a_suspended_title_until_rectified() -> None:
    suspension = Suspension(
        code(1), since=D(2015, 5, 1), restored_on=D(2015, 8, 1), reason="二氧化硫超标排放"
    )
    during = certificate_status(TITLE, GUANGZHOU, D(2015, 6, 1), suspensions=[suspension])
    assert during is not None and during.state is CertificateState.SUSPENDED
    assert during.reason == "因二氧化硫超标排放,自2015年5月1日起暂停,整改达标后恢复并公告"
    after = certificate_status(TITLE, GUANGZHOU, D(2015, 8, 1), suspensions=[suspension])
    assert after is not None and after.state is CertificateState.VALID


def test_no_certificate_before_it_is_issued() -> None:
    assert certificate_status(TITLE, GUANGZHOU, D(2014, 2, 28)) is None
    assert certificate_status(audit(), GUANGZHOU, D(2014, 2, 28)) is None


def test_the_newest_certificate_supersedes_and_a_started_round_is_a_renewal() -> None:
    second = audit(round=2, started_on=D(2016, 2, 1))
    (status,) = certificate_statuses([second, TITLE], GUANGZHOU, D(2016, 2, 10))
    assert (status.round, status.renewal_started) == (1, True)
    assert status.reason.endswith("已启动新一轮审核")
    renewed = second.model_copy(update={"certificate": EXCELLENT, "certified_on": D(2016, 2, 25)})
    (status,) = certificate_statuses([TITLE, renewed], GUANGZHOU, D(2016, 3, 10))
    assert (status.round, status.state, status.expires_on) == (2, CertificateState.VALID, D(2018, 2, 25))


# ---- re-audit cycles by key-industry group ----------------------------------------------------

REAUDIT_CASES = [
    ("含铅蓄电池业", "强制", 2, "重金属污染防治重点行业"),
    ("钢铁", "强制", 3, "产能过剩行业"),
    ("其他重点行业(环发〔2010〕54号)", "自愿", 5, "其他重点行业"),
    ("无", "强制", 5, "强制审核企业"),
]


@pytest.mark.parametrize(("industry", "audit_type", "years", "group"), REAUDIT_CASES)
def test_reaudit_cycle_by_key_industry(industry: str, audit_type: str, years: int, group: str) -> None:
    enterprise = Enterprise(uscc=code(1), name="甲", key_industry=industry, audit_type=audit_type)
    done = audit(report_on=D(2014, 5, 31))
    due = D(2014 + years, 5, 31)
    (status,) = reaudit_statuses([done], [enterprise], NATIONAL, due)
    assert (status.group, status.cycle_years, status.due_on, status.days_left) == (group, years, due, 0)
    assert not status.overdue
    (late,) = reaudit_statuses([done], [enterprise], NATIONAL, D(2014 + years, 6, 1))
    assert late.overdue
    assert late.reason == (
        f"{group}每{years}年须完成一轮审核,第1轮于2014年5月31日完成,下一轮应于{due.year}年5月31日前完成,已逾期1天"
    )


def test_no_cycle_for_a_voluntary_enterprise_outside_key_industries() -> None:
    enterprise = Enterprise(uscc=code(1), name="甲", key_industry="无", audit_type="自愿")
    assert reaudit_statuses([audit(report_on=D(2014, 5, 31))], [enterprise], NATIONAL, D(2030, 1, 1)) == ()


def test_a_group_without_a_cycle_falls_through_and_a_done_round_clears_it() -> None:
    enterprise = Enterprise(uscc=code(1), name="甲", key_industry="含铅蓄电池业", audit_type="强制")
    profile = NATIONAL.model_copy(update={"audit_cycles": AuditCycles(heavy_metal=None)})
    first = audit(report_on=D(2014, 5, 31))
    (status,) = reaudit_statuses([first], [enterprise], profile, D(2015, 1, 1))
    assert (status.group, status.cycle_years) == ("强制审核企业", 5)
    started = audit(round=2, started_on=D(2016, 3, 1))
    (status,) = reaudit_statuses([first, started], [enterprise], NATIONAL, D(2016, 6, 1))
    assert status.next_round_started and status.overdue
    second = started.model_copy(update={"report_on": D(2016, 5, 1)})
    (status,) = reaudit_statuses([first, second], [enterprise], NATIONAL, D(2016, 6, 1))
    assert (status.last_round, status.due_on) == (2, D(2018, 5, 1))
