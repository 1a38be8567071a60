"""Quarterly rating of consulting agencies from their reports' grades and their overdue audits.

The seeds grade reports 优秀/良好/合格/不合格 and rate agencies on them every quarter; the
points, the penalty per overdue audit and the threshold are the profile's. Overdue counts are
taken as of the quarter's end (or ``as_of`` if earlier), so a past quarter rates the same however
late it is recomputed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sheetsync.domain.lifecycle import audit_status, by_uscc, known
from sheetsync.normalize import canonical
from sheetsync.profile import Profile
from sheetsync.schemas.agency import AGENCY_ACTIVE, ConsultingAgency
from sheetsync.schemas.audit import REPORT_GRADES, Audit
from sheetsync.schemas.enterprise import Enterprise

SCORE_STEP = Decimal("0.1")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")


@dataclass(frozen=True)
class AgencyScore:
    agency: str
    quarter: str  # "2014-Q2", as the quarterly stamps write it
    graded: int  # reports evaluated in the quarter
    grade_counts: tuple[tuple[str, int], ...]  # in 优秀…不合格 order
    mean_points: Decimal | None
    overdue: int  # its audits overdue at the quarter's end, on a stage the agency answers for
    score: Decimal | None  # None: no report evaluated in the quarter
    below_threshold: bool
    reason: str


def quarter_bounds(quarter: str) -> tuple[date, date]:
    found = _QUARTER.match(quarter)
    if found is None:
        raise ValueError(f"季度应写成“2014-Q2”的形式,收到“{quarter}”")
    year, number = int(found.group(1)), int(found.group(2))
    start = date(year, 3 * number - 2, 1)
    end = date(year + 1, 1, 1) if number == 4 else date(year, 3 * number + 1, 1)
    return start, date.fromordinal(end.toordinal() - 1)


def _fmt(value: Decimal) -> str:
    return f"{value.quantize(SCORE_STEP).normalize():f}"


def _overdue(audit: Audit, enterprise: Enterprise | None, profile: Profile, cutoff: date) -> bool:
    stages = profile.agency_rating.overdue_stages
    flags = audit_status(audit, enterprise, profile, cutoff).flags
    return any(flag.is_open and flag.stage in stages for flag in flags)


def rate_agencies(
    audits: Iterable[Audit],
    enterprises: Iterable[Enterprise] | Mapping[str, Enterprise],
    profile: Profile,
    quarter: str,
    as_of: date,
    agencies: Iterable[ConsultingAgency] = (),
) -> tuple[AgencyScore, ...]:
    """Every agency named on an audit or registered as 在册, by name."""
    start, end = quarter_bounds(quarter)
    cutoff = min(end, as_of)
    rules = profile.agency_rating
    index = enterprises if isinstance(enterprises, Mapping) else by_uscc(enterprises)

    names: dict[str, str] = {}  # canonical → display name; the register's spelling wins
    for agency in agencies:
        if agency.name and agency.status == AGENCY_ACTIVE:
            names[canonical(agency.name)] = agency.name
    mine: dict[str, list[Audit]] = {key: [] for key in names}
    for audit in audits:
        if not audit.agency:
            continue
        key = canonical(audit.agency)
        names.setdefault(key, audit.agency)
        mine.setdefault(key, []).append(audit)

    scores = []
    for key, own in mine.items():
        grades = [
            audit.grade
            for audit in own
            if audit.grade and (day := known(audit.evaluated_on, cutoff)) is not None and day >= start
        ]
        overdue = sum(1 for audit in own if _overdue(audit, index.get(audit.uscc or ""), profile, cutoff))
        counts = tuple((grade, grades.count(grade)) for grade in REPORT_GRADES)
        penalty = rules.overdue_penalty * overdue
        late = f";逾期未完成的审核{overdue}项" + (f",扣{_fmt(penalty)}分" if overdue else "")
        if grades:
            mean = (sum(rules.grade_points[grade] for grade in grades) / len(grades)).quantize(SCORE_STEP)
            score = (mean - penalty).quantize(SCORE_STEP)
            below = score < rules.threshold
            listed = "、".join(f"{grade}{count}份" for grade, count in counts if count)
            reason = f"本季度评估报告{len(grades)}份({listed}),平均{_fmt(mean)}分{late};得分{_fmt(score)}"
            if below:
                reason += f",低于{_fmt(rules.threshold)}分"
        else:
            mean = score = None
            below = False
            reason = f"本季度无评估报告,不评分{late}"
        scores.append(
            AgencyScore(names[key], quarter, len(grades), counts, mean, overdue, score, below, reason)
        )
    return tuple(sorted(scores, key=lambda score: score.agency))


def below_threshold(scores: Iterable[AgencyScore]) -> tuple[AgencyScore, ...]:
    """The agencies to warn or suspend, lowest score first."""
    low = [score for score in scores if score.below_threshold]
    return tuple(sorted(low, key=lambda score: (score.score, score.agency)))
