"""Done, target and ratio per submitter, city-wide and per sector."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from sheetsync.domain import Owned, ProgrammeRecords, ScopeKind, progress
from sheetsync.profile import load_profile
from sheetsync.schemas import Attendee, Audit, Enterprise, Project, Target, Training
from sheetsync.schemas.target import METRIC_NAMES, METRICS_BY_NAME
from sheetsync.uscc import check_character

GUANGZHOU = load_profile("guangzhou-2013")
BEIJING = load_profile("beijing-2014")
D = date
AS_OF = D(2014, 12, 31)
YX, HZ, EPB = "越秀区", "海珠区", "市环保局"


def code(n: int) -> str:
    first17 = f"91440104{n:09d}"
    return first17 + check_character(first17)


def enterprise(n: int, category: str = "规模以上工业", **fields: Any) -> Enterprise:
    return Enterprise(uscc=code(n), name=f"企业{n}", category=category, audit_type="自愿", **fields)


def audit(n: int, **fields: Any) -> Audit:
    return Audit(**{"uscc": code(n), "round": 1, "method": "全面审核", **fields})


PASSED = {"started_on": D(2014, 2, 1), "accepted_on": D(2014, 9, 1), "acceptance": "通过"}


def records() -> ProgrammeRecords:
    return ProgrammeRecords(
        enterprises=(
            Owned(enterprise(1, park="广州开发区"), YX),
            Owned(enterprise(2, park="广州开发区"), YX),
            Owned(enterprise(3, "星级酒店"), YX),
            Owned(enterprise(4, "农业生产"), HZ),
            Owned(Enterprise(uscc=code(5), name="企业5", category="规模以上工业", audit_type="强制"), HZ),
            # the mandatory enterprise is on the environment bureau's list too
            Owned(Enterprise(uscc=code(5), name="企业5", category="规模以上工业", audit_type="强制"), EPB),
        ),
        audits=(
            Owned(audit(1, **PASSED), YX),
            Owned(audit(3, started_on=D(2014, 3, 1)), YX),
            Owned(audit(2, started_on=D(2015, 2, 1)), YX),  # after as_of: not started yet
            Owned(audit(4, **PASSED), HZ),
            Owned(audit(5, **PASSED), HZ),
            Owned(audit(5, **PASSED), EPB),
            Owned(audit(6, method="实地评估", started_on=D(2014, 4, 1), evaluated_on=D(2014, 5, 1)), HZ),
        ),
        projects=(
            Owned(
                Project(project_id="P1", uscc=code(1), status="实施中", energy_saved_tce=Decimal("120.5")), YX
            ),
            Owned(Project(project_id="P2", uscc=code(4), status="已完工", energy_saved_tce=Decimal(30)), HZ),
            Owned(Project(project_id="P3", uscc=code(1), status="已撤销", energy_saved_tce=Decimal(999)), YX),
        ),
        trainings=(
            Owned(Training(training_id="YX-01", held_on=D(2014, 4, 1), topic="认知", attendance=40), YX),
            Owned(Training(training_id="HZ-01", held_on=D(2014, 5, 1), topic="认知", attendance=25), HZ),
            Owned(Training(training_id="HZ-02", held_on=D(2015, 5, 1), topic="认知", attendance=99), HZ),
        ),
        attendees=(
            Owned(Attendee(training_id="YX-01", uscc=code(1), name="张三", is_head="是"), YX),
            Owned(Attendee(training_id="YX-01", uscc=code(2), name="李四", is_head="否"), YX),
            Owned(Attendee(training_id="HZ-01", uscc=code(4), name="王五", is_head="是"), HZ),
            Owned(Attendee(training_id="HZ-02", uscc=code(5), name="赵六", is_head="是"), HZ),
        ),
    )


CITY_CASES = [
    ("覆盖企业数", 5),  # enterprise 5 counted once although two submitters list it
    ("启动审核企业数", 4),
    ("通过验收企业数", 3),
    ("实地评估企业数", 1),
    ("强制审核完成数", 1),
    ("星级酒店审核数", 1),
    ("农业示范企业数", 1),
    ("技改项目数", 2),
    ("年节能量", Decimal("150.5")),
    ("培训期数", 1 + 1),
    ("培训人次", 65),
    ("参训企业数", 3),
    ("正职参训企业数", 2),
    ("园区审核率", Decimal("50.0")),
]


@pytest.mark.parametrize(("metric", "done"), CITY_CASES)
def test_city_wide_done(metric: str, done: Decimal | int) -> None:
    report = progress(records(), GUANGZHOU, AS_OF, metrics=METRIC_NAMES)
    assert report.city.get(metric).done == done


def test_every_metric_keeps_the_catalogue_unit() -> None:
    report = progress(records(), GUANGZHOU, AS_OF, metrics=METRIC_NAMES)
    assert [m.metric for m in report.city.metrics] == list(METRIC_NAMES)
    assert all(m.unit == METRICS_BY_NAME[m.metric].unit for m in report.city.metrics)


def test_submitters_count_what_they_reported() -> None:
    report = progress(records(), GUANGZHOU, AS_OF, metrics=METRIC_NAMES)
    by_name = {scope.scope: scope for scope in report.submitters}
    assert by_name[YX].get("覆盖企业数").done == 3
    assert by_name[YX].get("启动审核企业数").done == 2
    assert by_name[HZ].get("强制审核完成数").done == 1
    assert by_name[EPB].get("强制审核完成数").done == 1
    assert by_name["天河区"].get("覆盖企业数").done == 0
    assert [scope.kind for scope in report.submitters] == [ScopeKind.SUBMITTER] * len(report.submitters)
    assert [scope.scope for scope in report.submitters] == [s.name for s in GUANGZHOU.submitters]


def test_profile_targets_and_ratios() -> None:
    report = progress(records(), GUANGZHOU, AS_OF)
    passed = report.city.get("通过验收企业数")
    assert (passed.done, passed.target, passed.ratio) == (3, 1200, Decimal("0.0025"))
    assert [m.metric for m in report.city.metrics] == [m for m in METRIC_NAMES if m in GUANGZHOU.targets]
    assert report.city.get("园区审核率").ratio == Decimal("0.5556")  # 50% of the 90% target


def test_the_yearly_targets_sheet_overrides_and_splits() -> None:
    rows = [
        Target(year=2014, district="全市", metric="通过验收企业数", value=Decimal(300)),
        Target(year=2014, district=YX, metric="通过验收企业数", value=Decimal(20)),
        Target(year=2014, district=HZ, metric="通过验收企业数", value=Decimal(10)),
        Target(year=2014, district=YX, metric="年减排二氧化碳", value=Decimal(5000)),
        Target(year=2013, district="全市", metric="技改项目数", value=Decimal(1)),
    ]
    report = progress(records(), GUANGZHOU, AS_OF, rows)
    city = report.city.get("通过验收企业数")
    assert (city.target, city.split_total) == (300, 30)
    yuexiu = next(s for s in report.submitters if s.scope == YX)
    assert (yuexiu.get("通过验收企业数").target, yuexiu.get("通过验收企业数").ratio) == (
        20,
        Decimal("0.0500"),
    )
    assert report.city.get("技改项目数").target == 4000  # the 2013 row belongs to another year
    assert report.city.get("年减排二氧化碳").target == 6_000_000  # the profile's city target stands
    bare = progress(records(), BEIJING, AS_OF, [rows[1], rows[2]], year=2014)
    assert bare.city.get("通过验收企业数").target == 30  # no city target anywhere: the split adds up


def test_beijing_sectors() -> None:
    report = progress(records(), BEIJING, AS_OF)
    sectors = {scope.scope: scope for scope in report.sectors}
    assert set(sectors) == {"服务业", "工业", "农业"}
    industry = sectors["工业"].get("启动审核企业数")
    assert (industry.done, industry.target) == (2, 79)  # enterprises 1 and 5
    assert sectors["服务业"].get("启动审核企业数").done == 1  # the hotel
    assert sectors["农业"].get("启动审核企业数").target == 29
    assert sectors["农业"].get("技改项目数").target is None
    full = progress(records(), BEIJING, AS_OF, metrics=METRIC_NAMES)
    farming = {scope.scope: scope for scope in full.sectors}["农业"]
    assert farming.get("培训期数").done is None  # a training event has no sector
    assert farming.get("参训企业数").done == 1


def test_as_of_cuts_the_record() -> None:
    early = progress(records(), GUANGZHOU, D(2014, 3, 31), metrics=METRIC_NAMES)
    assert early.city.get("通过验收企业数").done == 0
    assert early.city.get("培训期数").done == 0
    assert early.year == 2014
