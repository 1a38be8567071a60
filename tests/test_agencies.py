"""Quarterly agency ratings from report grades and overdue audits (Beijing 2014 dates)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from sheetsync.domain import below_threshold, quarter_bounds, rate_agencies
from sheetsync.profile import load_profile
from sheetsync.schemas import Audit, ConsultingAgency
from sheetsync.uscc import check_character

BEIJING = load_profile("beijing-2014")
D = date
JUNE_15, JULY_15 = D(2014, 6, 15), D(2014, 7, 15)
ON_TIME = {"started_on": D(2014, 2, 10), "contract_filed_on": D(2014, 2, 10), "report_on": D(2014, 5, 20)}


def code(n: int) -> str:
    first17 = f"91110101{n:09d}"
    return first17 + check_character(first17)


def audit(n: int, agency: str, **fields: Any) -> Audit:
    return Audit(**{"uscc": code(n), "round": 1, "method": "全面审核", "agency": agency, **fields})


def graded(n: int, agency: str, grade: str, on: date = JUNE_15) -> Audit:
    return audit(n, agency, **ON_TIME, evaluated_on=on, grade=grade)


AUDITS = [
    graded(1, "甲咨询公司", "优秀"),
    graded(2, "甲咨询公司", "良好"),
    audit(
        3, "甲咨询公司", started_on=D(2014, 2, 10), contract_filed_on=D(2014, 2, 10)
    ),  # no report by 31 May
    graded(4, "乙咨询公司", "不合格"),
    graded(5, "乙咨询公司", "合格"),
    graded(6, " 乙咨询公司 ", "优秀", on=D(2014, 3, 20)),  # last quarter; same agency, stray spaces
    audit(7, "丙咨询公司", **ON_TIME),
]
REGISTER = [
    ConsultingAgency(name="丁咨询公司", uscc=code(90), status="在册"),
    ConsultingAgency(name="戊咨询公司", uscc=code(91), status="退出"),
]


def scores(quarter: str = "2014-Q2", as_of: date = JULY_15) -> dict[str, Any]:
    return {s.agency: s for s in rate_agencies(AUDITS, {}, BEIJING, quarter, as_of, REGISTER)}


RATING_CASES = [
    # (agency, graded, mean, overdue, score, below)
    ("甲咨询公司", 2, Decimal("90.0"), 1, Decimal("85.0"), False),
    ("乙咨询公司", 2, Decimal("30.0"), 0, Decimal("30.0"), True),
    ("丙咨询公司", 0, None, 0, None, False),
    ("丁咨询公司", 0, None, 0, None, False),
]


@pytest.mark.parametrize(("agency", "count", "mean", "overdue", "score", "below"), RATING_CASES)
def test_second_quarter_2014(
    agency: str, count: int, mean: Decimal | None, overdue: int, score: Decimal | None, below: bool
) -> None:
    found = scores()[agency]
    assert (found.graded, found.mean_points, found.overdue, found.score, found.below_threshold) == (
        count,
        mean,
        overdue,
        score,
        below,
    )


def test_the_reason_shows_the_sum() -> None:
    assert scores()["甲咨询公司"].reason == (
        "本季度评估报告2份(优秀1份、良好1份),平均90分;逾期未完成的审核1项,扣5分;得分85"
    )
    assert scores()["乙咨询公司"].reason.endswith("得分30,低于60分")
    assert scores()["丙咨询公司"].reason == "本季度无评估报告,不评分;逾期未完成的审核0项"


def test_a_late_evaluation_is_the_office_s_not_the_agency_s() -> None:
    waiting = [audit(8, "己咨询公司", **ON_TIME)]  # report in, the office has not evaluated by 30 Jun
    (score,) = rate_agencies(waiting, {}, BEIJING, "2014-Q3", D(2014, 7, 15))
    assert score.overdue == 0


def test_withdrawn_agencies_without_audits_are_not_rated() -> None:
    assert "戊咨询公司" not in scores()


def test_below_threshold_lists_the_weakest_first() -> None:
    assert [s.agency for s in below_threshold(scores().values())] == ["乙咨询公司"]


def test_the_first_quarter_counts_its_own_reports_and_overdue_as_of_its_end() -> None:
    first = scores("2014-Q1", D(2014, 12, 31))
    assert (first["乙咨询公司"].graded, first["乙咨询公司"].score) == (1, Decimal("100.0"))
    # on 31 Mar no report was due yet (31 May), so nothing counts as overdue then
    assert first["甲咨询公司"].overdue == 0


def test_a_quarter_in_progress_stops_at_as_of() -> None:
    partial = scores("2014-Q2", D(2014, 6, 10))
    assert partial["甲咨询公司"].graded == 0 and partial["甲咨询公司"].overdue == 1


QUARTERS = [
    ("2014-Q1", D(2014, 1, 1), D(2014, 3, 31)),
    ("2014-Q2", D(2014, 4, 1), D(2014, 6, 30)),
    ("2016-Q4", D(2016, 10, 1), D(2016, 12, 31)),
]


@pytest.mark.parametrize(("quarter", "start", "end"), QUARTERS)
def test_quarter_bounds(quarter: str, start: date, end: date) -> None:
    assert quarter_bounds(quarter) == (start, end)


def test_a_malformed_quarter_is_refused() -> None:
    with pytest.raises(ValueError, match="2014-Q2"):
        quarter_bounds("2014Q5")
