"""进度 as formulas: each scope's done, target and ratio computed from the register sheets.

The semantics are those of :mod:`sheetsync.domain.progress`, metric by metric:

* a submitter counts the records it holds (填报单位); 全市 counts everything, each enterprise once;
  a sector counts the records whose enterprise's 企业类别 falls in it (looked up in 企业名录);
* metrics that count enterprises count the "first record of this credit code" flags the register
  sheets carry (:mod:`sheetsync.master.registers`), city-wide or per submitter;
* a target comes from 年度目标 (SUMIFS over the year of 基准日期) where the domain took it from there,
  from the profile (a value: the rule is data) where it took it from there, and a 全市 target made
  of the submitters' targets is the SUMIFS of those rows of 进度 itself;
* ratio and 园区审核率 round half to even, as :class:`~decimal.Decimal` does.

Every formula carries the :class:`~sheetsync.domain.ProgressReport` number as its cached value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from sheetsync.domain import MetricProgress, ScopeKind
from sheetsync.domain.progress import FARM, HOTEL
from sheetsync.master.formulas import (
    AS_OF_NAME,
    Categories,
    Formula,
    cached,
    count,
    equals,
    half_even,
    text,
    total,
)
from sheetsync.master.layout import OWNER_HEADER, Layout
from sheetsync.master.registers import (
    AUDIT_TYPE,
    CATEGORY,
    COUNTED,
    HELD,
    PARK,
    PARK_AUDITED,
    Distinct,
    Extra,
    first_header,
)
from sheetsync.profile import Profile
from sheetsync.programme import ProgrammeView
from sheetsync.schemas import Attendee, Audit, Enterprise, Project, Target, Training
from sheetsync.schemas.enterprise import AUDIT_MANDATORY
from sheetsync.schemas.target import CITY_WIDE, METRIC_NAMES, METRICS_BY_NAME

PROGRESS_HEADERS: tuple[str, ...] = (
    "范围",
    "范围类型",
    "指标",
    "单位",
    "完成",
    "目标",
    "完成率",
    "各单位目标之和",
)
SCOPE_COL, KIND_COL, METRIC_COL, UNIT_COL, DONE_COL, TARGET_COL, RATIO_COL, SPLIT_COL = range(8)

SCOPE_KIND_LABELS: dict[ScopeKind, str] = {
    ScopeKind.CITY: "全市",
    ScopeKind.SUBMITTER: "填报单位",
    ScopeKind.SECTOR: "行业领域",
}

# metrics of training events: a sector has none (an event is not one enterprise's)
EVENT_METRICS = frozenset({"培训期数", "培训人次"})
PROJECT_SUMS: dict[str, str] = {
    "年节能量": "energy_saved_tce",
    "年减排二氧化碳": "co2_cut_t",
    "年削减化学需氧量": "cod_cut_t",
    "年削减二氧化硫": "so2_cut_t",
}


@dataclass(frozen=True)
class ProgressRow:
    """One scope and metric of 进度; the whole sheet is a list of these, in the order shown."""

    scope: str
    kind: ScopeKind
    metric: MetricProgress


def progress_rows(view: ProgrammeView) -> list[ProgressRow]:
    """全市 first, then each submitter in the profile's order, then the sectors; metrics in catalogue order."""
    return [
        ProgressRow(scope.scope, scope.kind, metric)
        for scope in view.progress_scopes()
        for metric in scope.metrics
    ]


@dataclass(frozen=True)
class ProgressCells:
    done: Extra
    target: Extra
    ratio: Formula
    split: Extra


@dataclass(frozen=True)
class _Scope:
    """Which records a 进度 row counts: criteria added to every COUNTIFS/SUMIFS of the row."""

    kind: ScopeKind
    row: int  # Excel row of the 进度 line
    categories: tuple[str, ...]  # a sector's 企业类别

    def criteria(self, layout: Layout, sheet: str) -> list[tuple[str, str]]:
        if self.kind is ScopeKind.SUBMITTER:
            return [(layout.span(sheet, OWNER_HEADER), equals(f"$A{self.row}"))]
        return []

    def sector(self, layout: Layout, sheet: str) -> Categories | None:
        if self.kind is not ScopeKind.SECTOR:
            return None
        header = Enterprise.header("category") if sheet == Enterprise.sheet_name else CATEGORY
        return (layout.span(sheet, header), self.categories)


Measure = Callable[[Layout, _Scope], str]


def _filtered(sheet: str, flag: str, *extra: tuple[str, str]) -> Measure:
    """How many records of ``sheet`` have ``flag`` = 1 (and the extra criteria), in the scope."""

    def measure(layout: Layout, scope: _Scope) -> str:
        criteria = [(layout.span(sheet, flag), "1")]
        criteria += [(layout.span(sheet, header), value) for header, value in extra]
        return count(criteria + scope.criteria(layout, sheet), scope.sector(layout, sheet))

    return measure


def _enterprises(sheet: str, kind: Distinct, *extra: tuple[str, str]) -> Measure:
    """How many enterprises have a record of ``kind``: first-record flags, per submitter or city-wide."""

    def measure(layout: Layout, scope: _Scope) -> str:
        flag = first_header(kind, per_submitter=scope.kind is ScopeKind.SUBMITTER)
        return _filtered(sheet, flag, *extra)(layout, scope)

    return measure


def _summed(sheet: str, header: str, flag: str) -> Measure:
    def measure(layout: Layout, scope: _Scope) -> str:
        criteria = [(layout.span(sheet, flag), "1"), *scope.criteria(layout, sheet)]
        return total(layout.span(sheet, header), criteria, scope.sector(layout, sheet))

    return measure


def _park_rate(layout: Layout, scope: _Scope) -> str:
    parks = _filtered(Enterprise.sheet_name, PARK)(layout, scope)
    audited = _filtered(Enterprise.sheet_name, PARK_AUDITED)(layout, scope)
    return f'IF({parks}=0,"",{half_even(f"1000*{audited}/{parks}")}/10)'


_AUDITS = Audit.sheet_name
_MANDATORY = (AUDIT_TYPE, text(AUDIT_MANDATORY))

MEASURES: dict[str, Measure] = {
    "覆盖企业数": _filtered(Enterprise.sheet_name, COUNTED),
    "启动审核企业数": _enterprises(_AUDITS, Distinct.STARTED),
    "通过验收企业数": _enterprises(_AUDITS, Distinct.PASSED),
    "实地评估企业数": _enterprises(_AUDITS, Distinct.ONSITE),
    "强制审核完成数": _enterprises(_AUDITS, Distinct.PASSED, _MANDATORY),
    "星级酒店审核数": _enterprises(_AUDITS, Distinct.STARTED, (CATEGORY, text(HOTEL))),
    "农业示范企业数": _enterprises(_AUDITS, Distinct.PASSED, (CATEGORY, text(FARM))),
    "技改项目数": _filtered(Project.sheet_name, COUNTED),
    **{
        metric: _summed(Project.sheet_name, Project.header(name), COUNTED)
        for metric, name in PROJECT_SUMS.items()
    },
    "培训期数": _filtered(Training.sheet_name, HELD),
    "培训人次": _summed(Training.sheet_name, Training.header("attendance"), HELD),
    "参训企业数": _enterprises(Attendee.sheet_name, Distinct.ATTENDED),
    "正职参训企业数": _enterprises(Attendee.sheet_name, Distinct.HEAD),
    "园区审核率": _park_rate,
}
if set(MEASURES) != set(METRIC_NAMES):  # pragma: no cover - fails at import when the catalogue changes
    raise RuntimeError(f"进度 has no formula for: {sorted(set(METRIC_NAMES) ^ set(MEASURES))}")


def ratio_formula(done: str, target: str) -> str:
    """done / target to 4 decimals, ties to even; "" without both or with a target of 0."""
    rounded = half_even(f"{done}*10000/{target}")
    return f'=IF(AND(ISNUMBER({done}),ISNUMBER({target})),IF({target}>0,{rounded}/10000,""),"")'


class ProgressFormulas:
    """The formulas of each 进度 line, which sits on Excel row ``first_row + index``."""

    def __init__(
        self,
        view: ProgrammeView,
        profile: Profile,
        layout: Layout,
        rows: Sequence[ProgressRow],
        first_row: int = 2,
        *,
        split: bool = False,
    ) -> None:
        # split: the register sheets are in per-submitter workbooks that no formula can rely on
        # reaching, so what counts over them (完成, a target from 年度目标) is the domain's value;
        # what 进度 works out from its own lines (完成率, sums of the submitters' targets) stays a formula
        self.split = split
        self.profile = profile
        self.layout = layout
        self.rows = rows
        self.first_row = first_row
        self.sectors = {sector.name: sector for sector in profile.sectors}
        year = view.progress.year
        table: dict[tuple[str, str], Decimal] = {}
        for row in view.targets:
            if row.year == year and row.metric and row.value is not None:
                table[(row.district or "", row.metric)] = row.value
        self.table = table
        submitter_rows = [
            first_row + index for index, row in enumerate(rows) if row.kind is ScopeKind.SUBMITTER
        ]
        self.submitter_block = (min(submitter_rows), max(submitter_rows)) if submitter_rows else None

    def cells(self, index: int) -> ProgressCells:
        line = self.rows[index]
        row = self.first_row + index
        metric = line.metric
        name = metric.metric
        sector = self.sectors.get(line.scope) if line.kind is ScopeKind.SECTOR else None
        scope = _Scope(line.kind, row, sector.categories if sector is not None else ())
        applies = not (line.kind is ScopeKind.SECTOR and name in EVENT_METRICS)
        done: Extra = None
        if applies and self.split:
            done = cached(metric.done)
        elif applies:
            done = Formula("=" + MEASURES[name](self.layout, scope), cached(metric.done))
        elif metric.done is not None:  # pragma: no cover - the domain changed what a sector counts
            raise AssertionError(f"{line.scope} now counts {name}")
        done_ref, target_ref = f"E{row}", f"F{row}"
        return ProgressCells(
            done=done,
            target=self._target(line, row),
            ratio=Formula(ratio_formula(done_ref, target_ref), cached(metric.ratio)),
            split=self._split(row, metric) if line.kind is ScopeKind.CITY else None,
        )

    # --- targets ----------------------------------------------------------------------------

    def _from_targets_sheet(self, row: int, value: Decimal) -> Extra:
        """The 年度目标 row of this scope, metric and the year of 基准日期 (the register keeps one)."""
        if self.split:
            return cached(value)
        sheet = Target.sheet_name
        layout = self.layout
        criteria = [
            (layout.span(sheet, Target.header("year")), f"YEAR({AS_OF_NAME})"),
            (layout.span(sheet, Target.header("district")), equals(f"$A{row}")),
            (layout.span(sheet, Target.header("metric")), equals(f"$C{row}")),
        ]
        return Formula("=" + total(layout.span(sheet, Target.header("value")), criteria), cached(value))

    def _submitters_total(self, row: int, value: Decimal) -> Formula:
        """The sum of the submitters' targets for this metric: their lines of 进度 itself."""
        assert self.submitter_block is not None
        first, last = self.submitter_block

        def column(index: int) -> str:
            letter = "ABCDEFGH"[index]
            return f"${letter}${first}:${letter}${last}"

        criteria = [
            (column(KIND_COL), text(SCOPE_KIND_LABELS[ScopeKind.SUBMITTER])),
            (column(METRIC_COL), equals(f"$C{row}")),
        ]
        return Formula("=" + total(column(TARGET_COL), criteria), cached(value))

    def _target(self, line: ProgressRow, row: int) -> Extra:
        """Where the domain took the target from decides the formula; the value is the domain's."""
        metric = line.metric
        name = metric.metric
        if metric.target is None:
            return None
        if line.kind is ScopeKind.CITY:
            if (CITY_WIDE, name) in self.table:
                return self._from_targets_sheet(row, metric.target)
            if name in self.profile.targets:
                return cached(metric.target)
            if not METRICS_BY_NAME[name].is_rate and self.submitter_block is not None:
                return self._submitters_total(row, metric.target)
            return cached(metric.target)  # pragma: no cover - the domain found another source
        if (line.scope, name) in self.table:
            return self._from_targets_sheet(row, metric.target)
        return cached(metric.target)  # a sector's target from the profile

    def _split(self, row: int, metric: MetricProgress) -> Extra:
        if metric.split_total is None or self.submitter_block is None:
            return None
        return self._submitters_total(row, metric.split_total)
