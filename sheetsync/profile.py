"""Rule profiles: a programme's submitters, deadlines, targets and panel rules, kept as data.

A profile is a TOML file. The shipped ones live in ``sheetsync/profiles/``; a city copies one,
edits it and points its job file at the copy: no code changes. Every deadline, period, share and
threshold the domain engine (:mod:`sheetsync.domain`) applies is read from here, so a number
appears in exactly one place; the models reject unknown keys so that a typo in a city's copy is
an error rather than a silently ignored rule.
"""

from __future__ import annotations

import calendar
import tomllib
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from sheetsync.schemas import SubmitterKind
from sheetsync.schemas.audit import AUDIT_METHODS, CERTIFICATE_TYPES, REPORT_GRADES
from sheetsync.schemas.enterprise import AUDIT_TYPES, ENTERPRISE_CATEGORIES
from sheetsync.schemas.expert import SPECIALTIES, SPECIALTY_ENERGY, SPECIALTY_ENVIRONMENT, SPECIALTY_PROCESS
from sheetsync.schemas.target import CITY_WIDE, METRIC_NAMES


class _Rules(BaseModel):
    """Frozen and strict like every profile part; hashable although some parts hold tables."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.model_dump_json()))


def _subset(where: str, values: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    unknown = [value for value in values if value not in allowed]
    if unknown:
        raise ValueError(f"{where} 中有未知的取值:{'、'.join(unknown)};可选:{'、'.join(allowed)}")


class Submitter(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: SubmitterKind
    # an agency's sector: the 企业类别 it covers (empty for districts and the office)
    sector: tuple[str, ...] = ()
    # an agency may instead (or also) cover the mandatory-audit list
    mandatory: bool = False


class Stage(StrEnum):
    """The audit lifecycle's milestones under the names officers use; profiles name stages so."""

    LISTED = "列入名单"
    PUBLISHED = "公布排放信息"  # the contract has no column for it: a reminder, never a flag
    STARTED = "启动审核"
    CONTRACT_FILED = "合同备案"
    REPORTED = "提交报告"
    EVALUATED = "评估"
    IMPLEMENTING = "方案实施"  # between evaluation and acceptance; has no date of its own
    ACCEPTED = "验收"
    CERTIFIED = "发证"


# stages a deadline can be set for, and stages a relative deadline can count from
DEADLINE_STAGES: tuple[Stage, ...] = (
    Stage.PUBLISHED,
    Stage.STARTED,
    Stage.CONTRACT_FILED,
    Stage.REPORTED,
    Stage.EVALUATED,
    Stage.ACCEPTED,
    Stage.CERTIFIED,
)
ANCHOR_STAGES: tuple[Stage, ...] = (
    Stage.LISTED,
    Stage.STARTED,
    Stage.CONTRACT_FILED,
    Stage.REPORTED,
    Stage.EVALUATED,
    Stage.ACCEPTED,
    Stage.CERTIFIED,
)


def add_months(day: date, months: int) -> date:
    """Calendar months, clamped to the month's end, as officers count '2个月' on a calendar."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


class FixedDate(_Rules):
    """A day of a year counted from the plan year, e.g. 28 Feb of the plan year."""

    month: int = Field(ge=1, le=12)
    day: int | Literal["end"] = Field(description="1–31, or 'end' for the month's last day")
    year_offset: int = 0

    @model_validator(mode="after")
    def _day_exists(self) -> FixedDate:
        if self.day != "end" and not 1 <= self.day <= calendar.monthrange(2000, self.month)[1]:
            raise ValueError(f"{self.month} 月没有 {self.day} 日")
        return self

    def resolve(self, plan_year: int) -> date:
        year = plan_year + self.year_offset
        last = calendar.monthrange(year, self.month)[1]
        return date(year, self.month, last if self.day == "end" else min(self.day, last))


class Relative(_Rules):
    """A period counted from an earlier stage, e.g. 2 months after listing."""

    after: Stage
    months: int = Field(default=0, ge=0)
    days: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _has_length(self) -> Relative:
        if self.after not in ANCHOR_STAGES:
            raise ValueError(f"期限不能从“{self.after}”起算")
        if self.months == 0 and self.days == 0:
            raise ValueError("相对期限须给出 months 或 days")
        return self

    def resolve(self, anchor: date) -> date:
        return add_months(anchor, self.months) + timedelta(days=self.days)


class Deadline(_Rules):
    """When a stage must be reached, for which audits."""

    stage: Stage
    relative: Relative | None = None
    fixed: FixedDate | None = None
    audit_types: tuple[str, ...] = AUDIT_TYPES
    methods: tuple[str, ...] = AUDIT_METHODS
    rounds: Literal["first", "later", "all"] = "all"

    @model_validator(mode="after")
    def _one_kind(self) -> Deadline:
        if (self.relative is None) == (self.fixed is None):
            raise ValueError("每条期限须且只须给出 relative 或 fixed 之一")
        if self.stage not in DEADLINE_STAGES:
            raise ValueError(f"不能为“{self.stage}”设期限")
        if self.relative is not None and self.relative.after == self.stage:
            raise ValueError("期限不能从本阶段自身起算")
        _subset("audit_types", self.audit_types, AUDIT_TYPES)
        _subset("methods", self.methods, AUDIT_METHODS)
        return self

    def applies_to(self, audit_type: str | None, method: str | None, round_no: int | None) -> bool:
        """Unknown values match only rules that cover every value, so gaps never raise false flags."""
        if audit_type not in self.audit_types and set(self.audit_types) != set(AUDIT_TYPES):
            return False
        if method not in self.methods and set(self.methods) != set(AUDIT_METHODS):
            return False
        first = round_no is None or round_no <= 1
        return self.rounds == "all" or (self.rounds == "first") == first


class Certificates(_Rules):
    """How long each certificate type is valid; a type not listed never expires."""

    validity_months: dict[str, int] = {}
    renewal_window_days: int = Field(default=30, ge=0)

    @field_validator("validity_months")
    @classmethod
    def _known_types(cls, value: dict[str, int]) -> dict[str, int]:
        _subset("certificates.validity_months", tuple(value), CERTIFICATE_TYPES)
        if any(months <= 0 for months in value.values()):
            raise ValueError("证书有效期须为正整数(月)")
        return value


class Subsidy(_Rules):
    """Two instalments: the first before performance acceptance, the rest after it."""

    first_share: Decimal = Field(default=Decimal("0.7"), gt=0, le=1)
    # amounts are compared after rounding to this step (万元), so cents of rounding are no error
    amount_tolerance: Decimal = Field(default=Decimal("0.01"), ge=0)

    @property
    def second_share(self) -> Decimal:
        return Decimal(1) - self.first_share


class AuditCycles(_Rules):
    """Years between two audit rounds by key-industry group; a group left empty has no cycle."""

    heavy_metal: int | None = Field(default=2, gt=0)
    overcapacity: int | None = Field(default=3, gt=0)
    other_key: int | None = Field(default=5, gt=0)
    mandatory: int | None = Field(default=5, gt=0)


class ApplicationDeadline(_Rules):
    """Project applications of units evaluated in ``plan year + evaluated_year_offset`` are due on ``due``."""

    evaluated_year_offset: int
    due: FixedDate


class ProjectRules(_Rules):
    max_duration_months: int | None = Field(default=12, gt=0)
    start_by: FixedDate | None = None
    application_deadlines: tuple[ApplicationDeadline, ...] = ()


class Seat(_Rules):
    """A chair the panel must fill with an expert of this specialty."""

    specialty: str
    match_industry: bool = False  # the expert's 专业领域 must include the enterprise's 行业门类

    @field_validator("specialty")
    @classmethod
    def _known(cls, value: str) -> str:
        _subset("panel.seats.specialty", (value,), SPECIALTIES)
        return value


class PanelRules(_Rules):
    size: int = Field(default=5, gt=0)
    min_size: int = Field(default=3, gt=0)
    max_size: int = Field(default=7, gt=0)
    reserves: int = Field(default=2, ge=0)
    cooldown_days: int = Field(default=30, ge=0)
    seats: tuple[Seat, ...] = (
        Seat(specialty=SPECIALTY_PROCESS, match_industry=True),
        Seat(specialty=SPECIALTY_ENERGY),
        Seat(specialty=SPECIALTY_ENVIRONMENT),
    )

    @model_validator(mode="after")
    def _sizes(self) -> PanelRules:
        if not self.min_size <= self.size <= self.max_size:
            raise ValueError("须满足 min_size ≤ size ≤ max_size")
        if len(self.seats) > self.min_size:
            raise ValueError("必需专长席位数不能多于 min_size")
        return self


class AgencyRating(_Rules):
    """Quarterly score: mean report-grade points, less a penalty per overdue audit."""

    grade_points: dict[str, Decimal] = dict(zip(REPORT_GRADES, map(Decimal, (100, 80, 60, 0)), strict=True))
    overdue_penalty: Decimal = Field(default=Decimal(5), ge=0)
    threshold: Decimal = Decimal(60)
    # the stages an agency answers for; evaluation and acceptance are the office's to schedule
    overdue_stages: tuple[Stage, ...] = (Stage.STARTED, Stage.CONTRACT_FILED, Stage.REPORTED)

    @field_validator("grade_points")
    @classmethod
    def _every_grade(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        _subset("agency_rating.grade_points", tuple(value), REPORT_GRADES)
        missing = [grade for grade in REPORT_GRADES if grade not in value]
        if missing:
            raise ValueError(f"grade_points 缺少等级:{'、'.join(missing)}")
        return value


def _check_targets(where: str, value: dict[str, Decimal]) -> dict[str, Decimal]:
    _subset(where, tuple(value), METRIC_NAMES)
    if any(target < 0 for target in value.values()):
        raise ValueError(f"{where} 的目标值不能为负")
    return value


class Sector(_Rules):
    """A group of 企业类别 reported together, with its own targets."""

    name: str
    categories: tuple[str, ...]
    targets: dict[str, Decimal] = {}

    @field_validator("categories")
    @classmethod
    def _known_categories(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        _subset("sectors.categories", value, ENTERPRISE_CATEGORIES)
        return value

    @field_validator("targets")
    @classmethod
    def _known_metrics(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        return _check_targets("sectors.targets", value)


class Profile(_Rules):
    name: str
    title: str
    notice: str = ""
    office: str
    districts: tuple[str, ...]
    agencies: tuple[Submitter, ...] = ()
    reporting: str = Field(default="monthly", pattern="^(monthly|quarterly)$")
    # the year fixed deadlines ("28 Feb") fall in; needed only when a fixed date is used
    plan_year: int | None = None
    deadlines: tuple[Deadline, ...] = ()
    certificates: Certificates = Certificates()
    subsidy: Subsidy = Subsidy()
    audit_cycles: AuditCycles = AuditCycles()
    projects: ProjectRules = ProjectRules()
    # programme-wide (全市) targets by metric name; the office's 年度目标 sheet overrides them
    targets: dict[str, Decimal] = {}
    sectors: tuple[Sector, ...] = ()
    panel: PanelRules = PanelRules()
    agency_rating: AgencyRating = AgencyRating()
    # worked out once: a night asks for a submitter per file, and building every submitter for
    # each ask made a 1,000-submitter night build a million of them
    _submitters: tuple[Submitter, ...] | None = PrivateAttr(default=None)
    _by_name: dict[str, Submitter] | None = PrivateAttr(default=None)

    @field_validator("targets")
    @classmethod
    def _known_metrics(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        return _check_targets("targets", value)

    @model_validator(mode="after")
    def _consistent(self) -> Profile:
        fixed = [rule.fixed for rule in self.deadlines if rule.fixed is not None]
        fixed += [rule.due for rule in self.projects.application_deadlines]
        if self.projects.start_by is not None:
            fixed.append(self.projects.start_by)
        if fixed and self.plan_year is None:
            raise ValueError("使用固定日期期限(fixed)时须设置 plan_year")
        seen: dict[str, str] = {}
        for sector in self.sectors:
            if sector.name in (CITY_WIDE, *seen.values()):
                raise ValueError(f"行业领域名称重复:{sector.name}")
            for category in sector.categories:
                if category in seen:
                    raise ValueError(f"企业类别“{category}”同时属于“{seen[category]}”和“{sector.name}”")
                seen[category] = sector.name
        return self

    @property
    def submitters(self) -> tuple[Submitter, ...]:
        found = self._submitters
        if found is None:
            office = Submitter(name=self.office, kind=SubmitterKind.OFFICE)
            districts = tuple(Submitter(name=name, kind=SubmitterKind.DISTRICT) for name in self.districts)
            found = self._submitters = (*districts, *self.agencies, office)
        return found

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Profile:
        """A copy that works its submitters out afresh: ``update`` may change who they are."""
        copy = super().model_copy(update=update, deep=deep)
        copy._submitters = None
        copy._by_name = None
        return copy

    def submitter(self, name: str) -> Submitter | None:
        """The submitter of that name; the first one listed if a name stood twice."""
        by_name = self._by_name
        if by_name is None:
            by_name = {}
            for submitter in self.submitters:
                by_name.setdefault(submitter.name, submitter)
            self._by_name = by_name
        return by_name.get(name)

    def sector_of(self, category: str | None) -> Sector | None:
        return next((sector for sector in self.sectors if category in sector.categories), None)


def shipped_profiles() -> list[str]:
    folder = resources.files("sheetsync") / "profiles"
    return sorted(
        entry.name.removesuffix(".toml") for entry in folder.iterdir() if entry.name.endswith(".toml")
    )


@cache
def _load_shipped(name: str) -> Profile:
    text = (resources.files("sheetsync") / "profiles" / f"{name}.toml").read_text(encoding="utf-8")
    return Profile.model_validate(tomllib.loads(text))


def load_profile(name_or_path: str | Path) -> Profile:
    """A shipped profile by name (``guangzhou-2013``) or a city's own copy by path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.exists():
        return Profile.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    if str(name_or_path) not in shipped_profiles():
        raise KeyError(f"unknown profile {name_or_path!r}; shipped: {', '.join(shipped_profiles())}")
    return _load_shipped(str(name_or_path))
