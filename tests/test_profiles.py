"""The shipped profiles load, carry the seeds' rules, and a city's edited copy changes them without code."""

from __future__ import annotations

from datetime import date
from importlib import resources
from pathlib import Path

import pytest
from pydantic import ValidationError

from sheetsync.domain import audit_status
from sheetsync.profile import Profile, Stage, load_profile, shipped_profiles
from sheetsync.schemas import Audit, Enterprise
from sheetsync.uscc import check_character

SHIPPED = ("beijing-2014", "guangzhou-2013", "national-2016")


def code(n: int) -> str:
    first17 = f"91440101{n:09d}"
    return first17 + check_character(first17)


def shipped_text(name: str) -> str:
    return (resources.files("sheetsync") / "profiles" / f"{name}.toml").read_text(encoding="utf-8")


def write_copy(tmp_path: Path, name: str, *edits: tuple[str, str]) -> Path:
    text = shipped_text(name)
    for old, new in edits:
        assert text.count(old) >= 1, old
        text = text.replace(old, new, 1)
    path = tmp_path / "my-city.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_profile_loads(name: str) -> None:
    assert name in shipped_profiles()
    profile = load_profile(name)
    assert profile.name == name
    assert hash(profile) == hash(load_profile(name))


def test_guangzhou_keeps_its_submitters_and_adds_the_seed_rules() -> None:
    profile = load_profile("guangzhou-2013")
    assert profile.office == "市经贸委"
    assert len(profile.districts) == 12 and profile.districts[-2:] == ("增城市", "从化市")
    assert [a.name for a in profile.agencies] == ["市城乡建委", "市交委", "市农业局", "市旅游局", "市环保局"]
    assert profile.certificates.validity_months == {"清洁生产(优秀)企业": 24}
    assert profile.certificates.renewal_window_days == 30
    assert profile.targets["通过验收企业数"] == 1200
    assert profile.targets["强制审核完成数"] == 300
    assert profile.targets["年节能量"] == 2_500_000
    started = next(rule for rule in profile.deadlines if rule.stage is Stage.STARTED)
    assert started.relative is not None and started.relative.months == 2


def test_beijing_has_sixteen_districts_fixed_dates_and_sector_targets() -> None:
    profile = load_profile("beijing-2014")
    assert profile.office == "市发展改革委"
    assert (
        len(profile.districts) == 16
        and profile.districts[0] == "东城区"
        and profile.districts[-1] == "延庆区"
    )
    assert profile.plan_year == 2014
    fixed = {rule.stage: rule.fixed.resolve(2014) for rule in profile.deadlines if rule.fixed is not None}
    assert fixed[Stage.STARTED] == date(2014, 2, 28)
    assert fixed[Stage.CONTRACT_FILED] == date(2014, 2, 28)
    assert fixed[Stage.REPORTED] == date(2014, 5, 31)
    assert fixed[Stage.EVALUATED] == date(2014, 6, 30)
    assert profile.subsidy.first_share + profile.subsidy.second_share == 1
    assert str(profile.subsidy.first_share) == "0.7"
    sectors = {sector.name: sector for sector in profile.sectors}
    assert {name: s.targets["启动审核企业数"] for name, s in sectors.items()} == {
        "服务业": 141,
        "工业": 79,
        "农业": 29,
    }
    assert (
        sum(s.targets["启动审核企业数"] for s in sectors.values()) == profile.targets["启动审核企业数"] == 249
    )
    assert (
        sum(s.targets.get("技改项目数", 0) for s in sectors.values()) == profile.targets["技改项目数"] == 60
    )
    covered = {category for agency in profile.agencies for category in agency.sector}
    assert covered <= {category for sector in profile.sectors for category in sector.categories}


def test_national_rules_count_from_the_published_list() -> None:
    profile = load_profile("national-2016")
    months = {rule.stage: rule.relative.months for rule in profile.deadlines if rule.relative is not None}
    assert months == {Stage.PUBLISHED: 1, Stage.STARTED: 2, Stage.REPORTED: 12}
    assert all(rule.audit_types == ("强制",) for rule in profile.deadlines)
    cycles = profile.audit_cycles
    assert (cycles.heavy_metal, cycles.overcapacity, cycles.other_key) == (2, 3, 5)


def _mandatory(listed: date) -> Enterprise:
    return Enterprise(uscc=code(1), name="甲公司", audit_type="强制", mandatory_listed_on=listed)


def test_a_copied_profile_changes_a_deadline_without_code(tmp_path: Path) -> None:
    enterprise = _mandatory(date(2014, 1, 10))
    audit = Audit(uscc=code(1), round=1, method="全面审核")
    shipped = load_profile("guangzhou-2013")
    before = audit_status(audit, enterprise, shipped, date(2014, 3, 20))
    assert [flag.reason for flag in before.flags] == ["列入强制名单已满2个月仍未启动审核"]

    old = 'stage = "启动审核"\nrelative = { after = "列入名单", months = 2 }'
    new = 'stage = "启动审核"\nrelative = { after = "列入名单", months = 3 }'
    city = load_profile(write_copy(tmp_path, "guangzhou-2013", (old, new)))
    after = audit_status(audit, enterprise, city, date(2014, 3, 20))
    assert after.flags == ()
    assert (after.next_stage, after.next_deadline, after.days_left) == (Stage.STARTED, date(2014, 4, 10), 21)
    later = audit_status(audit, enterprise, city, date(2014, 4, 11))
    assert [flag.reason for flag in later.flags] == ["列入强制名单已满3个月仍未启动审核"]


def test_a_next_year_copy_moves_every_fixed_date(tmp_path: Path) -> None:
    city = load_profile(write_copy(tmp_path, "beijing-2014", ("plan_year = 2014", "plan_year = 2015")))
    audit = Audit(uscc=code(2), round=1, method="全面审核")
    status = audit_status(audit, None, city, date(2015, 3, 1))
    assert [flag.reason for flag in status.flags][0] == "已过2015年2月28日仍未启动审核"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("cooldown_days = 30", "cooldown_dayz = 30", "cooldown_dayz"),
        ("[targets]", "[target]", "target"),
        ('"技改项目数" = 4000', '"技改项目总数" = 4000', "技改项目总数"),
        ('stage = "启动审核"', 'stage = "开始审核"', "stage"),
        ('specialty = "节能"', 'specialty = "能源"', "能源"),
        ("renewal_window_days = 30", "renewal_window_days = -1", "renewal_window_days"),
        ("max_size = 7", "max_size = 4", "max_size"),
        ('categories = ["交通运输"]', 'categories = ["规模以上工业"]', "规模以上工业"),
    ],
)
def test_a_typo_in_a_city_copy_is_an_error(tmp_path: Path, old: str, new: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        load_profile(write_copy(tmp_path, "guangzhou-2013", (old, new)))


def test_fixed_dates_need_a_plan_year(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="plan_year"):
        load_profile(write_copy(tmp_path, "beijing-2014", ("plan_year = 2014", "")))


def test_a_deadline_is_either_relative_or_fixed() -> None:
    base = {"name": "x", "title": "x", "office": "办", "districts": [], "plan_year": 2014}
    both = {
        "stage": "启动审核",
        "fixed": {"month": 2, "day": 28},
        "relative": {"after": "列入名单", "months": 2},
    }
    with pytest.raises(ValidationError, match="relative 或 fixed"):
        Profile.model_validate({**base, "deadlines": [both]})
    with pytest.raises(ValidationError, match="2 月没有 30 日"):
        Profile.model_validate(
            {**base, "deadlines": [{"stage": "启动审核", "fixed": {"month": 2, "day": 30}}]}
        )


def test_a_minimal_profile_still_loads_with_defaults() -> None:
    profile = Profile(name="x", title="x", office="办", districts=("甲区",))
    assert profile.deadlines == ()
    assert profile.panel.size == 5 and len(profile.panel.seats) == 3
    assert profile.certificates.renewal_window_days == 30
    assert profile.audit_cycles.heavy_metal == 2
