"""概览, the sheet the master opens on: what the office reads first thing in the morning.

Its numbers are formulas over the other sheets (进度, 逾期预警, 证书到期, 审核进度), each with the
value sheetsync computed, so the overview always agrees with the sheets it summarises, and
changing 基准日期 on it moves every date-relative figure of the workbook. Each count of 今日要处理
links to the sheet that lists it (冲突待处理 among them). When the register is split into
per-submitter workbooks, what would count over the register sheets (the audit funnel, overdue
rounds) is written as sheetsync's value instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sheetsync.domain import CertificateState, ScopeKind
from sheetsync.master.formulas import Formula, array, cached, equals, quote_sheet, text
from sheetsync.master.layout import Layout
from sheetsync.master.progress import DONE_COL, RATIO_COL, TARGET_COL, ProgressRow
from sheetsync.master.registers import OVERDUE, OVERDUE_MARK, STAGE
from sheetsync.profile import Profile, Stage
from sheetsync.programme import ProgrammeView, WarningKind
from sheetsync.schemas import Audit

OVERVIEW_SHEET = "概览"
OVERVIEW_SUBTITLE = "清洁生产总台账 · 概览"

# 进度 metrics shown per submitter on 概览, the first few of these the programme has
KEY_METRICS: tuple[str, ...] = ("覆盖企业数", "启动审核企业数", "通过验收企业数", "技改项目数", "培训人次")
KEY_METRIC_COUNT = 3

# the audit funnel: how many audit rounds have reached each stage (or gone past it)
_REACHED_ORDER: tuple[Stage, ...] = (
    Stage.LISTED,
    Stage.STARTED,
    Stage.REPORTED,
    Stage.EVALUATED,
    Stage.IMPLEMENTING,
    Stage.ACCEPTED,
    Stage.CERTIFIED,
)
FUNNEL: tuple[tuple[str, tuple[Stage, ...]], ...] = tuple(
    (str(stage), _REACHED_ORDER[index:]) for index, stage in enumerate(_REACHED_ORDER)
)

MISSING_MARK = "未报送"


@dataclass(frozen=True)
class Sources:
    """Where 概览 reads from: the computed sheets' names and headers."""

    overdue_sheet: str
    overdue_owner: str
    overdue_state: str
    certificate_sheet: str
    certificate_owner: str
    certificate_state: str
    progress_sheet: str
    conflict_sheet: str
    conflict_state: str  # a column every row of the conflict sheet fills


@dataclass(frozen=True)
class Count:
    """One number of 今日要处理, and the sheet that lists what it counts (None: nowhere to go)."""

    label: str
    value: Formula | int
    sheet: str | None


@dataclass(frozen=True)
class MetricCells:
    done: Formula
    target: Formula
    ratio: Formula


@dataclass(frozen=True)
class CityLine:
    metric: str
    unit: str
    cells: MetricCells


@dataclass(frozen=True)
class SubmitterLine:
    name: str
    missing: bool
    metrics: tuple[MetricCells | None, ...]  # None: the metric has no 进度 line for this submitter
    overdue: Formula
    renewal_due: Formula
    expired: Formula


class Overview:
    """The formulas of 概览, given where everything else sits."""

    def __init__(
        self,
        view: ProgrammeView | None,
        profile: Profile | None,
        layout: Layout,
        sources: Sources,
        rows: Sequence[ProgressRow],
        missing: Sequence[str],
        conflicts: int = 0,
        split: bool = False,
    ) -> None:
        self.view = view
        self.conflicts = conflicts
        # the register sheets are in per-submitter workbooks: what counts over them is a value
        self.split = split
        self.layout = layout
        self.sources = sources
        self.rows = rows
        self.missing = tuple(missing)
        self.lines: dict[tuple[ScopeKind, str, str], int] = {
            (row.kind, row.scope, row.metric.metric): index + 2 for index, row in enumerate(rows)
        }
        metrics = [row.metric.metric for row in rows if row.kind is ScopeKind.CITY]
        self.key_metrics = tuple(m for m in KEY_METRICS if m in metrics)[:KEY_METRIC_COUNT]
        names = [submitter.name for submitter in profile.submitters] if profile is not None else []
        names += [row.scope for row in rows if row.kind is ScopeKind.SUBMITTER and row.scope not in names]
        self.submitters = tuple(dict.fromkeys(names))
        # what the verdict sheets list, counted once: (submitter, or None for all; state) → rows
        self.tally: Counter[tuple[str | None, str]] = Counter()
        if view is not None:
            for item in view.overdue_items():
                for who in (None, item.submitter):
                    self.tally[(who, str(item.kind))] += 1
            for owned in view.certificates:
                for who in (None, owned.submitter):
                    self.tally[(who, str(owned.record.state))] += 1

    # --- 进度 cells -----------------------------------------------------------------------------

    def _progress(self, line: int, column: int, value: object) -> Formula:
        ref = f"{quote_sheet(self.sources.progress_sheet)}!{'ABCDEFGH'[column]}{line}"
        return Formula(f'=IF(ISNUMBER({ref}),{ref},"")', cached(value))

    def _metric(self, kind: ScopeKind, scope: str, metric: str) -> MetricCells | None:
        line = self.lines.get((kind, scope, metric))
        if line is None:
            return None
        progress = self.rows[line - 2].metric
        return MetricCells(
            self._progress(line, DONE_COL, progress.done),
            self._progress(line, TARGET_COL, progress.target),
            self._progress(line, RATIO_COL, progress.ratio),
        )

    def city_lines(self) -> list[CityLine]:
        found = []
        for row in self.rows:
            if row.kind is ScopeKind.CITY:
                cells = self._metric(ScopeKind.CITY, row.scope, row.metric.metric)
                assert cells is not None
                found.append(CityLine(row.metric.metric, row.metric.unit, cells))
        return found

    # --- counts over the verdict sheets ---------------------------------------------------------

    def _count_by(self, sheet: str, owner: str, state: str, name_ref: str | None, value: str) -> str:
        criteria = [(self.layout.span(sheet, state), text(value))]
        if name_ref is not None:
            criteria.insert(0, (self.layout.span(sheet, owner), name_ref))
        return "=COUNTIFS(" + ",".join(f"{range_},{criterion}" for range_, criterion in criteria) + ")"

    def _overdue(self, name_ref: str | None, name: str | None) -> Formula:
        s = self.sources
        formula = self._count_by(
            s.overdue_sheet, s.overdue_owner, s.overdue_state, name_ref, WarningKind.OVERDUE
        )
        return Formula(formula, self.tally[(name, str(WarningKind.OVERDUE))])

    def _certificates(self, name_ref: str | None, name: str | None, state: CertificateState) -> Formula:
        s = self.sources
        formula = self._count_by(
            s.certificate_sheet, s.certificate_owner, s.certificate_state, name_ref, state
        )
        return Formula(formula, self.tally[(name, str(state))])

    def _overdue_audits(self) -> Formula | int:
        value = 0 if self.view is None else sum(1 for owned in self.view.audits if owned.record.overdue)
        if self.split:
            return value
        column = self.layout.span(Audit.sheet_name, OVERDUE)
        return Formula(f"=COUNTIF({column},{text(OVERDUE_MARK)})", value)

    def _conflicts(self) -> Formula:
        """Rows on 冲突待处理, counted over a column every row fills."""
        column = self.layout.span(self.sources.conflict_sheet, self.sources.conflict_state)
        return Formula(f"=COUNTA({column})", self.conflicts)

    def counts(self) -> list[Count]:
        """The numbers an officer acts on today, with short labels and the sheet each one lists."""
        s = self.sources
        return [
            Count("逾期未完成事项", self._overdue(None, None), s.overdue_sheet),
            Count("逾期审核(轮次)", self._overdue_audits(), None if self.split else Audit.sheet_name),
            Count(
                "待换证证书",
                self._certificates(None, None, CertificateState.RENEWAL_DUE),
                s.certificate_sheet,
            ),
            Count(
                "已过期证书", self._certificates(None, None, CertificateState.EXPIRED), s.certificate_sheet
            ),
            Count("冲突待处理", self._conflicts(), s.conflict_sheet),
            Count("本期未报送单位数", len(self.missing), None),
        ]

    def submitter_lines(self, first_row: int) -> list[SubmitterLine]:
        """One line per submitter on Excel rows from ``first_row``; names are read from column A."""
        missing = set(self.missing)
        lines = []
        for index, name in enumerate(self.submitters):
            name_ref = equals(f"$A{first_row + index}")
            lines.append(
                SubmitterLine(
                    name=name,
                    missing=name in missing,
                    metrics=tuple(self._metric(ScopeKind.SUBMITTER, name, m) for m in self.key_metrics),
                    overdue=self._overdue(name_ref, name),
                    renewal_due=self._certificates(name_ref, name, CertificateState.RENEWAL_DUE),
                    expired=self._certificates(name_ref, name, CertificateState.EXPIRED),
                )
            )
        return lines

    def funnel(self) -> list[tuple[str, Formula | int]]:
        """Audit rounds that have reached each stage, counted over 审核进度's 当前阶段."""
        column = self.layout.span(Audit.sheet_name, STAGE)
        stages = [] if self.view is None else [owned.record.stage for owned in self.view.audits]
        found: list[tuple[str, Formula | int]] = []
        for label, reached in FUNNEL:
            value = sum(1 for stage in stages if stage in reached)
            if self.split:
                found.append((label, value))
                continue
            names = [str(stage) for stage in reached]
            if len(names) == 1:
                formula = f"=COUNTIF({column},{text(names[0])})"
            else:
                formula = f"=SUMPRODUCT(COUNTIF({column},{array(names)}))"
            found.append((label, Formula(formula, value)))
        return found
