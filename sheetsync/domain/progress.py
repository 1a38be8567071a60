"""Progress against the programme's targets: per submitter, city-wide and per sector.

Counts are cumulative to ``as_of`` (the seeds' targets are programme-to-date), so a 年度目标 row
is read as the cumulative target by the end of its year. A submitter's figures are what it
reported (the records it owns); city-wide figures count each enterprise once, however many
submitters listed it. Metric names and units come from :data:`sheetsync.schemas.target.METRICS`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sheetsync.domain.lifecycle import known, reached
from sheetsync.profile import Profile, Stage
from sheetsync.schemas.audit import ACCEPTANCE_PASSED, AUDIT_FULL, AUDIT_ONSITE, Audit
from sheetsync.schemas.enterprise import AUDIT_MANDATORY, ENTERPRISE_CATEGORIES, Enterprise
from sheetsync.schemas.project import PROJECT_STATUSES, Project
from sheetsync.schemas.target import CITY_WIDE, METRIC_NAMES, METRICS, METRICS_BY_NAME, Target
from sheetsync.schemas.training import YES, Attendee, Training

R = TypeVar("R")

WITHDRAWN = "已撤销"
HOTEL = "星级酒店"
FARM = "农业生产"
INDUSTRY = "规模以上工业"
if not {HOTEL, FARM, INDUSTRY} <= set(ENTERPRISE_CATEGORIES) or WITHDRAWN not in PROJECT_STATUSES:
    raise RuntimeError("progress names a 企业类别 or 项目状态 the contract no longer has")  # pragma: no cover
RATIO_STEP = Decimal("0.0001")
RATE_STEP = Decimal("0.1")


@dataclass(frozen=True, slots=True)
class Owned(Generic[R]):
    """A record and the submitter the register holds it for."""

    record: R
    submitter: str


@dataclass(frozen=True)
class ProgrammeRecords:
    enterprises: Sequence[Owned[Enterprise]] = ()
    audits: Sequence[Owned[Audit]] = ()
    projects: Sequence[Owned[Project]] = ()
    trainings: Sequence[Owned[Training]] = ()
    attendees: Sequence[Owned[Attendee]] = ()


class ScopeKind(StrEnum):
    SUBMITTER = "submitter"
    CITY = "city"
    SECTOR = "sector"


@dataclass(frozen=True)
class MetricProgress:
    metric: str
    unit: str
    done: Decimal | None  # None: the metric does not apply to this scope (training events per sector)
    target: Decimal | None
    ratio: Decimal | None  # done / target, 4 decimals
    split_total: Decimal | None = None  # city scope: the sum of the submitters' own targets


@dataclass(frozen=True)
class ScopeProgress:
    scope: str
    kind: ScopeKind
    metrics: tuple[MetricProgress, ...]

    def get(self, metric: str) -> MetricProgress:
        for item in self.metrics:
            if item.metric == metric:
                return item
        raise KeyError(metric)


@dataclass(frozen=True)
class ProgressReport:
    as_of: date
    year: int
    city: ScopeProgress
    submitters: tuple[ScopeProgress, ...]
    sectors: tuple[ScopeProgress, ...]


@dataclass
class _View:
    """The records one scope counts, already cut to ``as_of``."""

    enterprises: list[Enterprise] = field(default_factory=list)
    audits: list[Audit] = field(default_factory=list)
    projects: list[Project] = field(default_factory=list)
    trainings: list[Training] | None = field(default_factory=list)  # None: not attributable
    attendees: list[Attendee] = field(default_factory=list)


class _Facts:
    """Lookups every scope shares: an enterprise's category and type, who started a full audit."""

    def __init__(self, data: ProgrammeRecords, as_of: date) -> None:
        self.as_of = as_of
        self.category: dict[str, str | None] = {}
        self.audit_type: dict[str, str | None] = {}
        for owned in data.enterprises:
            uscc = owned.record.uscc or ""
            self.category.setdefault(uscc, owned.record.category)
            self.audit_type.setdefault(uscc, owned.record.audit_type)
        self.started_full = {
            owned.record.uscc for owned in data.audits if self.started(owned.record) and owned.record.uscc
        }
        # 培训编号 is unique city-wide (contract), so an attendee finds its training by the id alone
        held = {owned.record.training_id for owned in data.trainings if known(owned.record.held_on, as_of)}
        self.attended = [owned for owned in data.attendees if owned.record.training_id in held]

    def started(self, audit: Audit) -> bool:
        return audit.method == AUDIT_FULL and reached(audit, Stage.STARTED, self.as_of)

    def passed(self, audit: Audit) -> bool:
        return audit.acceptance == ACCEPTANCE_PASSED and known(audit.accepted_on, self.as_of) is not None


def _count(values: Iterable[object]) -> Decimal:
    return Decimal(len(set(values)))


def _sum(projects: Iterable[Project], name: str) -> Decimal:
    return sum((getattr(project, name) or Decimal(0) for project in projects), Decimal(0))


def _park_rate(view: _View, facts: _Facts) -> Decimal | None:
    in_parks = {e.uscc for e in view.enterprises if e.category == INDUSTRY and e.park}
    if not in_parks:
        return None
    audited = in_parks & facts.started_full
    return (Decimal(100) * len(audited) / len(in_parks)).quantize(RATE_STEP)


def _trainings(view: _View, measure: Callable[[list[Training]], Decimal]) -> Decimal | None:
    return None if view.trainings is None else measure(view.trainings)


_Measure = Callable[[_View, _Facts], Decimal | None]


def _live(view: _View) -> list[Project]:
    return [project for project in view.projects if project.status != WITHDRAWN]


# how each metric of the catalogue is counted; checked against METRICS below so none is missed
_MEASURES: dict[str, _Measure] = {
    "覆盖企业数": lambda v, f: _count(e.uscc for e in v.enterprises),
    "启动审核企业数": lambda v, f: _count(a.uscc for a in v.audits if f.started(a)),
    "通过验收企业数": lambda v, f: _count(a.uscc for a in v.audits if f.passed(a)),
    "实地评估企业数": lambda v, f: _count(
        a.uscc for a in v.audits if a.method == AUDIT_ONSITE and reached(a, Stage.EVALUATED, f.as_of)
    ),
    "强制审核完成数": lambda v, f: _count(
        a.uscc for a in v.audits if f.passed(a) and f.audit_type.get(a.uscc or "") == AUDIT_MANDATORY
    ),
    "星级酒店审核数": lambda v, f: _count(
        a.uscc for a in v.audits if f.started(a) and f.category.get(a.uscc or "") == HOTEL
    ),
    "农业示范企业数": lambda v, f: _count(
        a.uscc for a in v.audits if f.passed(a) and f.category.get(a.uscc or "") == FARM
    ),
    "技改项目数": lambda v, f: Decimal(len(_live(v))),
    "年节能量": lambda v, f: _sum(_live(v), "energy_saved_tce"),
    "年减排二氧化碳": lambda v, f: _sum(_live(v), "co2_cut_t"),
    "年削减化学需氧量": lambda v, f: _sum(_live(v), "cod_cut_t"),
    "年削减二氧化硫": lambda v, f: _sum(_live(v), "so2_cut_t"),
    "培训期数": lambda v, f: _trainings(v, lambda ts: Decimal(len(ts))),
    "培训人次": lambda v, f: _trainings(v, lambda ts: Decimal(sum(t.attendance or 0 for t in ts))),
    "参训企业数": lambda v, f: _count(a.uscc for a in v.attendees),
    "正职参训企业数": lambda v, f: _count(a.uscc for a in v.attendees if a.is_head == YES),
    "园区审核率": _park_rate,
}
if set(_MEASURES) != set(METRIC_NAMES):  # pragma: no cover - fails at import when the catalogue changes
    raise RuntimeError(f"progress has no measure for: {sorted(set(METRIC_NAMES) ^ set(_MEASURES))}")


def _partition(
    data: ProgrammeRecords, facts: _Facts, scope_of: Callable[[Owned[Any]], str | None], trainings: bool
) -> dict[str, _View]:
    """Each scope's records in one pass over the data, whatever the number of submitters."""
    views: dict[str, _View] = defaultdict(lambda: _View(trainings=[] if trainings else None))
    for part, name in (
        (data.enterprises, "enterprises"),
        (data.audits, "audits"),
        (data.projects, "projects"),
    ):
        for owned in part:
            scope = scope_of(owned)
            if scope is not None:
                getattr(views[scope], name).append(owned.record)
    for owned in facts.attended:
        scope = scope_of(owned)
        if scope is not None:
            views[scope].attendees.append(owned.record)
    if trainings:
        for owned in data.trainings:
            scope = scope_of(owned)
            if scope is not None and known(owned.record.held_on, facts.as_of) is not None:
                views[scope].trainings.append(owned.record)  # type: ignore[union-attr]
    return views


def _ratio(done: Decimal | None, target: Decimal | None) -> Decimal | None:
    if done is None or target is None or target <= 0:
        return None
    return (done / target).quantize(RATIO_STEP)


def _metrics_of(profile: Profile, rows: Sequence[Target]) -> tuple[str, ...]:
    wanted = set(profile.targets) | {row.metric for row in rows if row.metric}
    for sector in profile.sectors:
        wanted |= set(sector.targets)
    return tuple(m.name for m in METRICS if m.name in wanted) or METRIC_NAMES


def _scope(
    name: str,
    kind: ScopeKind,
    view: _View,
    facts: _Facts,
    metrics: Sequence[str],
    target_of: Callable[[str], Decimal | None],
    split_of: Callable[[str], Decimal | None] = lambda metric: None,
) -> ScopeProgress:
    items = []
    for metric in metrics:
        done = _MEASURES[metric](view, facts)
        target = target_of(metric)
        items.append(
            MetricProgress(
                metric, METRICS_BY_NAME[metric].unit, done, target, _ratio(done, target), split_of(metric)
            )
        )
    return ScopeProgress(name, kind, tuple(items))


def progress(
    data: ProgrammeRecords,
    profile: Profile,
    as_of: date,
    targets: Iterable[Target] = (),
    *,
    year: int | None = None,
    metrics: Sequence[str] | None = None,
) -> ProgressReport:
    """Done, target and ratio for each metric; 年度目标 rows of ``year`` (default: as_of's) override.

    A 全市 row replaces the profile's city-wide target; rows naming submitters split it, and when
    neither the profile nor a 全市 row sets one, the city target is their sum (counts only).
    Rows naming a sector of the profile replace that sector's target.
    """
    year = as_of.year if year is None else year
    rows = [row for row in targets if row.year == year and row.metric and row.value is not None]
    table: dict[tuple[str, str], Decimal] = {
        (row.district or "", row.metric or ""): row.value for row in rows if row.value is not None
    }
    metrics = tuple(metrics) if metrics is not None else _metrics_of(profile, rows)
    unknown = [metric for metric in metrics if metric not in _MEASURES]
    if unknown:
        raise KeyError(f"未知的指标:{'、'.join(unknown)}")
    facts = _Facts(data, as_of)

    names = [s.name for s in profile.submitters]
    owners = {
        o.submitter for part in (data.enterprises, data.audits, data.projects, data.trainings) for o in part
    }
    names += sorted(owners - set(names))

    def split(metric: str) -> Decimal | None:
        parts = [value for (scope, m), value in table.items() if m == metric and scope in names]
        return sum(parts, Decimal(0)) if parts else None

    def city_target(metric: str) -> Decimal | None:
        if (CITY_WIDE, metric) in table:
            return table[(CITY_WIDE, metric)]
        if metric in profile.targets:
            return profile.targets[metric]
        return None if METRICS_BY_NAME[metric].is_rate else split(metric)

    everything = _partition(data, facts, lambda owned: CITY_WIDE, True)[CITY_WIDE]
    city = _scope(CITY_WIDE, ScopeKind.CITY, everything, facts, metrics, city_target, split)
    by_owner = _partition(data, facts, lambda owned: owned.submitter, True)
    submitters = tuple(
        _scope(
            name,
            ScopeKind.SUBMITTER,
            by_owner[name],
            facts,
            metrics,
            lambda metric, name=name: table.get((name, metric)),
        )
        for name in names
    )
    sector_of = {category: sector.name for sector in profile.sectors for category in sector.categories}
    by_sector = _partition(
        data, facts, lambda owned: sector_of.get(facts.category.get(owned.record.uscc or "") or ""), False
    )
    sectors = tuple(
        _scope(
            sector.name,
            ScopeKind.SECTOR,
            by_sector[sector.name],
            facts,
            metrics,
            lambda metric, sector=sector: table.get((sector.name, metric), sector.targets.get(metric)),
        )
        for sector in profile.sectors
    )
    return ProgressReport(as_of, year, city, submitters, sectors)
