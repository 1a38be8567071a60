"""Instalments in the 70/30 order, implementation time and application deadlines (Beijing 2014)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from sheetsync.domain import InstalmentState, application_windows, project_status, project_statuses
from sheetsync.domain.projects import IssueSeverity
from sheetsync.profile import load_profile
from sheetsync.schemas import Audit, Project
from sheetsync.uscc import check_character

BEIJING = load_profile("beijing-2014")
GUANGZHOU = load_profile("guangzhou-2013")
D = date
AS_OF = D(2014, 12, 1)


def code(n: int) -> str:
    first17 = f"91110108{n:09d}"
    return first17 + check_character(first17)


def project(**fields: Any) -> Project:
    base: dict[str, Any] = {
        "project_id": "HD-2014-001",
        "uscc": code(1),
        "name": "锅炉余热回收",
        "category": "节能",
        "status": "实施中",
        "investment": Decimal(500),
        "subsidy_approved": Decimal(100),
        "started_on": D(2014, 3, 1),
    }
    return Project(**(base | fields))


PAID_70 = {"first_paid_on": D(2014, 4, 1), "first_paid": Decimal(70)}

INSTALMENT_CASES = [
    # (case, fields, first state, second state, issue codes)
    ("approved, nothing paid yet", {}, InstalmentState.DUE, InstalmentState.NOT_DUE, []),
    (
        "only applied for",
        {"status": "申报", "subsidy_approved": None},
        InstalmentState.NOT_DUE,
        InstalmentState.NOT_DUE,
        [],
    ),
    ("70% paid, awaiting acceptance", PAID_70, InstalmentState.PAID, InstalmentState.NOT_DUE, []),
    (
        "accepted, 30% now due",
        PAID_70 | {"performance_accepted_on": D(2014, 10, 1)},
        InstalmentState.PAID,
        InstalmentState.DUE,
        [],
    ),
    (
        "paid in order",
        PAID_70
        | {
            "performance_accepted_on": D(2014, 10, 1),
            "second_paid_on": D(2014, 11, 1),
            "second_paid": Decimal(30),
        },
        InstalmentState.PAID,
        InstalmentState.PAID,
        [],
    ),
    (
        "30% before performance acceptance is an error",
        PAID_70
        | {
            "performance_accepted_on": D(2014, 10, 1),
            "second_paid_on": D(2014, 9, 1),
            "second_paid": Decimal(30),
        },
        InstalmentState.PAID,
        InstalmentState.OUT_OF_ORDER,
        ["second-before-acceptance"],
    ),
    (
        "30% with no acceptance at all",
        PAID_70 | {"second_paid_on": D(2014, 9, 1), "second_paid": Decimal(30)},
        InstalmentState.PAID,
        InstalmentState.OUT_OF_ORDER,
        ["second-before-acceptance"],
    ),
    (
        "second without the first",
        {
            "performance_accepted_on": D(2014, 10, 1),
            "second_paid_on": D(2014, 11, 1),
            "second_paid": Decimal(30),
        },
        InstalmentState.DUE,
        InstalmentState.OUT_OF_ORDER,
        ["second-before-first"],
    ),
    (
        "first paid after acceptance",
        {"performance_accepted_on": D(2014, 5, 1), "first_paid_on": D(2014, 6, 1), "first_paid": Decimal(70)},
        InstalmentState.PAID,
        InstalmentState.DUE,
        ["first-after-acceptance"],
    ),
    (
        "first over 70%",
        {"first_paid_on": D(2014, 4, 1), "first_paid": Decimal(80)},
        InstalmentState.PAID,
        InstalmentState.NOT_DUE,
        ["first-over-share"],
    ),
    (
        "a cent of rounding is no error",
        {"first_paid_on": D(2014, 4, 1), "first_paid": Decimal("70.01")},
        InstalmentState.PAID,
        InstalmentState.NOT_DUE,
        [],
    ),
    (
        "more than approved",
        PAID_70
        | {
            "performance_accepted_on": D(2014, 10, 1),
            "second_paid_on": D(2014, 11, 1),
            "second_paid": Decimal(40),
        },
        InstalmentState.PAID,
        InstalmentState.PAID,
        ["paid-over-approved"],
    ),
    (
        "a payment dated after as_of has not happened",
        {"first_paid_on": D(2015, 1, 5), "first_paid": Decimal(70)},
        InstalmentState.DUE,
        InstalmentState.NOT_DUE,
        [],
    ),
    ("withdrawn", {"status": "已撤销"}, InstalmentState.NOT_DUE, InstalmentState.NOT_DUE, []),
]


@pytest.mark.parametrize(
    ("case", "fields", "first", "second", "codes"), INSTALMENT_CASES, ids=[c[0] for c in INSTALMENT_CASES]
)
def test_instalments(
    case: str, fields: dict[str, Any], first: InstalmentState, second: InstalmentState, codes: list[str]
) -> None:
    status = project_status(project(**fields), BEIJING, AS_OF)
    assert (status.first.state, status.second.state) == (first, second)
    assert [issue.code for issue in status.issues] == codes


def test_expected_amounts_follow_the_profile_split() -> None:
    status = project_status(project(subsidy_approved=Decimal("33.33")), BEIJING, AS_OF)
    assert (status.first.expected, status.second.expected) == (Decimal("23.33"), Decimal("10.00"))
    assert (status.first.share, status.second.share) == (Decimal("0.7"), Decimal("0.3"))


def test_paying_the_30_percent_early_is_an_error_with_a_chinese_reason() -> None:
    early = project(
        **PAID_70,
        performance_accepted_on=D(2014, 10, 1),
        second_paid_on=D(2014, 9, 1),
        second_paid=Decimal(30),
    )
    status = project_status(early, BEIJING, AS_OF)
    assert status.has_errors
    (issue,) = status.issues
    assert issue.severity is IssueSeverity.ERROR
    assert (
        issue.reason == "二期(30%)补助于2014年9月1日拨付,早于绩效验收(2014年10月1日);应在通过绩效验收后拨付"
    )


DURATION_CASES = [
    ("finished within a year", {"finished_on": D(2015, 3, 1), "status": "已完工"}, D(2015, 4, 1), None),
    (
        "finished a day too late",
        {"finished_on": D(2015, 3, 2), "status": "已完工"},
        D(2015, 4, 1),
        "项目于2014年3月1日开工、2015年3月2日完工,实施周期超过1年",
    ),
    ("running, within a year", {}, D(2015, 3, 1), None),
    ("running past a year", {}, D(2015, 3, 2), "项目于2014年3月1日开工,已超过1年仍未完工"),
    ("marked finished without a date", {"status": "已完工"}, D(2016, 1, 1), None),
]


@pytest.mark.parametrize(
    ("case", "fields", "as_of", "reason"), DURATION_CASES, ids=[c[0] for c in DURATION_CASES]
)
def test_implementation_longer_than_a_year(
    case: str, fields: dict[str, Any], as_of: date, reason: str | None
) -> None:
    status = project_status(project(**fields), BEIJING, as_of)
    found = [issue.reason for issue in status.issues if issue.code == "over-duration"]
    assert found == ([reason] if reason else [])


def test_a_project_must_start_in_the_plan_year() -> None:
    waiting = project(started_on=None, status="已批准")
    assert project_status(waiting, BEIJING, D(2014, 12, 31)).issues == ()
    (issue,) = project_status(waiting, BEIJING, D(2015, 1, 1)).issues
    assert (issue.code, issue.reason) == ("not-started", "项目应于2014年12月31日前开工,至今未开工")
    assert (
        project_status(waiting, GUANGZHOU, D(2015, 1, 1)).issues == ()
    )  # the Guangzhou seed sets no such date


def test_project_statuses_keeps_input_order() -> None:
    ids = [
        s.project_id
        for s in project_statuses([project(project_id="B"), project(project_id="A")], BEIJING, AS_OF)
    ]
    assert ids == ["B", "A"]


def evaluated(n: int, on: date, grade: str = "良好") -> Audit:
    return Audit(uscc=code(n), round=1, method="全面审核", evaluated_on=on, grade=grade)


def test_application_deadlines_end_of_february_and_end_of_august() -> None:
    audits = [
        evaluated(1, D(2013, 11, 20)),  # last year's list: end of February
        evaluated(2, D(2014, 6, 20)),  # this year's: end of August
        evaluated(3, D(2014, 6, 20)),
        evaluated(4, D(2014, 6, 25), grade="不合格"),
        evaluated(5, D(2012, 6, 25)),
    ]
    projects = [project(uscc=code(3))]
    windows = application_windows(audits, projects, BEIJING, D(2014, 9, 1))
    assert [(w.uscc, w.due_on, w.applied, w.closed) for w in windows] == [
        (code(1), D(2014, 2, 28), False, True),
        (code(2), D(2014, 8, 31), False, True),
        (code(3), D(2014, 8, 31), True, True),
    ]
    assert windows[1].reason == "项目申请截止日期2014年8月31日已过,未见项目申报"
    (open_window,) = application_windows([audits[1]], [], BEIJING, D(2014, 8, 1))
    assert open_window.reason == "2014年6月20日评估的单位须于2014年8月31日前提出项目申请,还剩30天"
    assert application_windows(audits, projects, GUANGZHOU, D(2014, 9, 1)) == ()
