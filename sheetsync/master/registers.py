"""The columns a register sheet carries after its contract and provenance columns.

Two kinds, both after the columns other code reads back by header, so the round trip is untouched:

* **Officer columns** on 审核进度: where each audit stands (当前阶段, 下一截止日期, from the domain
  engine: the profile's deadline rules are data and are not re-encoded in Excel), and formulas over
  those dates and 基准日期: 剩余天数, 逾期, and for the enterprise's current certificate its expiry,
  days left and 证书状态.
* **Helper columns** (headed ``辅助·…``, grouped and collapsed) that let 进度 count with COUNTIFS and
  SUMIFS: a 0/1 flag per record for "counts as of 基准日期", the enterprise's 企业类别 looked up from
  企业名录, and for metrics that count enterprises rather than records, a key per record
  (credit code, or credit code and submitter) and a 0/1 "first record with this key" found with
  MATCH over the whole column, so a distinct count is a plain COUNTIFS over those flags and stays
  right whichever way an officer sorts the sheet.

A record the current contract no longer accepts (:class:`~sheetsync.programme.SkippedRecord`) is
left out of every verdict; its helper flags are written as plain 0 and its keys left empty, so the
formulas leave it out too. Every formula's cached value is computed here in Python, row by row in
sheet order, with the domain engine's own predicates (:func:`~sheetsync.domain.lifecycle.reached`,
:func:`~sheetsync.domain.lifecycle.known`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from sheetsync.domain import AuditStatus, CertificateState, CertificateStatus, Owned
from sheetsync.domain.lifecycle import known, reached
from sheetsync.domain.progress import INDUSTRY, WITHDRAWN
from sheetsync.master.formulas import AS_OF_NAME, Formula, cached, col, date_known, text
from sheetsync.master.layout import OWNER_HEADER, Layout
from sheetsync.profile import Profile, Stage
from sheetsync.programme import ProgrammeView
from sheetsync.records import Identity, StoredRecord
from sheetsync.schemas import Attendee, Audit, Enterprise, Project, SheetModel, Training
from sheetsync.schemas.audit import ACCEPTANCE_PASSED, AUDIT_FULL, AUDIT_ONSITE
from sheetsync.schemas.training import YES

OVERDUE_MARK = "逾期"
HELPER_PREFIX = "辅助·"


class Shape(StrEnum):
    """How an extra column's cells are shown."""

    TEXT = "text"
    INTEGER = "integer"
    DATE = "date"


@dataclass(frozen=True)
class ExtraColumn:
    header: str
    width: int
    shape: Shape = Shape.TEXT

    @property
    def helper(self) -> bool:
        return self.header.startswith(HELPER_PREFIX)


def _helper(name: str, width: int = 8) -> ExtraColumn:
    return ExtraColumn(HELPER_PREFIX + name, width)


# --- officer columns of 审核进度 ---------------------------------------------------------------
STAGE = "当前阶段"
STAGE_TEXT = "阶段说明"
NEXT_STAGE = "下一截止事项"
NEXT_DEADLINE = "下一截止日期"
DAYS_LEFT = "剩余天数"
OVERDUE = "逾期"
CERT_EXPIRY = "证书到期日"
CERT_DAYS_LEFT = "证书剩余天数"
CERT_STATE = "证书状态"

# --- helper columns -------------------------------------------------------------------------
COUNTED = HELPER_PREFIX + "计入"
PARK = HELPER_PREFIX + "园区规上企业"
PARK_AUDITED = HELPER_PREFIX + "园区已审核"
ENTERPRISE_ROW = HELPER_PREFIX + "企业行"
CATEGORY = HELPER_PREFIX + "企业类别"
AUDIT_TYPE = HELPER_PREFIX + "审核类型"
HELD = HELPER_PREFIX + "已举办"
HELD_KEY = HELPER_PREFIX + "举办键"


class Distinct(StrEnum):
    """Records counted by enterprise: each has a key and a first-record flag, city-wide and per submitter."""

    STARTED = "启动审核"
    PASSED = "通过验收"
    ONSITE = "实地评估"
    ATTENDED = "参训"
    HEAD = "正职参训"


def key_header(kind: Distinct, *, per_submitter: bool = False) -> str:
    return f"{HELPER_PREFIX}{kind}{'单位' if per_submitter else ''}键"


def first_header(kind: Distinct, *, per_submitter: bool = False) -> str:
    return f"{HELPER_PREFIX}{kind}{'单位' if per_submitter else ''}首次"


def _distinct_columns(kind: Distinct) -> tuple[ExtraColumn, ...]:
    return (
        ExtraColumn(key_header(kind), 20),
        ExtraColumn(key_header(kind, per_submitter=True), 28),
        ExtraColumn(first_header(kind), 8),
        ExtraColumn(first_header(kind, per_submitter=True), 8),
    )


_LOOKUP = (_helper("企业行"), _helper("企业类别", 12))

EXTRA_COLUMNS: dict[str, tuple[ExtraColumn, ...]] = {
    Enterprise.sheet_name: (_helper("计入"), _helper("园区规上企业"), _helper("园区已审核")),
    Audit.sheet_name: (
        ExtraColumn(STAGE, 10),
        ExtraColumn(STAGE_TEXT, 24),
        ExtraColumn(NEXT_STAGE, 12),
        ExtraColumn(NEXT_DEADLINE, 12, Shape.DATE),
        ExtraColumn(DAYS_LEFT, 9, Shape.INTEGER),
        ExtraColumn(OVERDUE, 6),
        ExtraColumn(CERT_EXPIRY, 12, Shape.DATE),
        ExtraColumn(CERT_DAYS_LEFT, 9, Shape.INTEGER),
        ExtraColumn(CERT_STATE, 9),
        *_LOOKUP,
        _helper("审核类型"),
        *_distinct_columns(Distinct.STARTED),
        *_distinct_columns(Distinct.PASSED),
        *_distinct_columns(Distinct.ONSITE),
    ),
    Project.sheet_name: (_helper("计入"), *_LOOKUP),
    Training.sheet_name: (_helper("已举办"), _helper("举办键", 14)),
    Attendee.sheet_name: (
        _helper("计入"),
        *_LOOKUP,
        *_distinct_columns(Distinct.ATTENDED),
        *_distinct_columns(Distinct.HEAD),
    ),
}
for _extras in EXTRA_COLUMNS.values():  # helper headers are told apart from officer columns by prefix
    assert all(column.helper == column.header.startswith(HELPER_PREFIX) for column in _extras)


def extra_columns(model: type[SheetModel]) -> tuple[ExtraColumn, ...]:
    return EXTRA_COLUMNS.get(model.sheet_name, ())


# What one extra cell holds: nothing, a plain value, or a formula with its cached value.
Extra = Formula | str | int | float | date | None
# (Excel row, record, the record's position in the register's order) → the row's extra cells
RowExtras = Callable[[int, StoredRecord, int], list[Extra]]


@dataclass(frozen=True, slots=True)
class _EnterpriseRow:
    counted: bool
    category: str
    audit_type: str


class RegisterFormulas:
    """The extra cells of every register row, computed lazily in sheet order while the sheet is written.

    ``records`` are the register's records as handed to the master (a plain mapping, or a
    :class:`~sheetsync.records.RecordSource` that reads a sheet each time it is asked); ``ordered``
    gives a sheet's records in the order the sheet shows them. Each sheet's records are paired
    with their typed counterparts in the view when the sheet is written (:meth:`rows`), so no
    sheet's records need to be held beyond its own. Cross-sheet facts (which enterprises started
    a full audit, which trainings were held) come from the view up front; where each enterprise
    sits in 企业名录 is worked out once, from the records 企业名录 is written from.
    """

    def __init__(
        self,
        view: ProgrammeView,
        profile: Profile,
        layout: Layout,
        records: Mapping[str, Sequence[StoredRecord]],
        ordered: Callable[[Sequence[StoredRecord]], list[StoredRecord]],
    ) -> None:
        self.view = view
        self.as_of = view.as_of
        self.window = profile.certificates.renewal_window_days
        self.layout = layout
        self.records = records
        self.ordered = ordered
        self.skipped = {(item.sheet_name, tuple(item.key), item.submitter) for item in view.skipped}
        self.typed: dict[str, Sequence[Owned[Any]]] = {
            Enterprise.sheet_name: view.records.enterprises,
            Audit.sheet_name: view.records.audits,
            Project.sheet_name: view.records.projects,
            Training.sheet_name: view.records.trainings,
            Attendee.sheet_name: view.records.attendees,
        }
        self.certificates: dict[tuple[str, int], CertificateStatus] = {
            (owned.record.uscc, owned.record.round): owned.record for owned in view.certificates
        }
        # 企业名录 as the sheet shows it (MATCH finds the first row of a code); see _enterprise_index
        self._enterprise_rows: list[_EnterpriseRow] | None = None
        self._enterprise_position: dict[str, int] = {}
        self.started_full = {
            _fold(owned.record.uscc)
            for owned in view.records.audits
            if owned.record.uscc and self._started(owned.record)
        }
        self.held = {
            _fold(owned.record.training_id)
            for owned in view.records.trainings
            if owned.record.training_id and known(owned.record.held_on, self.as_of) is not None
        }

    def _aligned(self, sheet: str, identities: Sequence[Identity], typed: Sequence[Owned[Any]]) -> list[Any]:
        return _aligned(sheet, identities, typed, self.skipped)

    def _index_row(
        self, rows: list[_EnterpriseRow], position_of: dict[str, int], record: StoredRecord, counted: bool
    ) -> None:
        """One more 企业名录 row, in the order the sheet shows them."""
        position_of.setdefault(_fold(record.data.get("uscc")), len(rows) + 1)
        rows.append(
            _EnterpriseRow(counted, _text(record.data.get("category")), _text(record.data.get("audit_type")))
        )

    def _enterprise_index(self) -> tuple[list[_EnterpriseRow], dict[str, int]]:
        """Each 企业名录 row's facts and each code's first row.

        Built as the master's 企业名录 is written (:meth:`rows` with ``index=True``); otherwise
        (a split master, whose records are all in memory anyway) from the records themselves.
        """
        if self._enterprise_rows is None:
            sheet = Enterprise.sheet_name
            stored = self.records.get(sheet, ())
            typed_at = self._aligned(
                sheet, [(record.key, record.submitter) for record in stored], self.typed[sheet]
            )
            position = {id(record): index for index, record in enumerate(stored)}
            rows: list[_EnterpriseRow] = []
            position_of: dict[str, int] = {}
            for record in self.ordered(stored):
                self._index_row(rows, position_of, record, typed_at[position[id(record)]] is not None)
            self._enterprise_rows, self._enterprise_position = rows, position_of
        return self._enterprise_rows, self._enterprise_position

    # --- the domain's predicates, on one typed record ---------------------------------------

    def _started(self, audit: Audit) -> bool:
        return audit.method == AUDIT_FULL and reached(audit, Stage.STARTED, self.as_of)

    def _passed(self, audit: Audit) -> bool:
        return audit.acceptance == ACCEPTANCE_PASSED and known(audit.accepted_on, self.as_of) is not None

    def _onsite(self, audit: Audit) -> bool:
        return audit.method == AUDIT_ONSITE and reached(audit, Stage.EVALUATED, self.as_of)

    # --- per sheet ----------------------------------------------------------------------------

    def rows(
        self, model: type[SheetModel], identities: Sequence[Identity], *, index: bool = False
    ) -> RowExtras | None:
        """A function giving one row's extra cells, or None for a sheet without extras.

        ``identities`` are the sheet's records (key, submitter) in the order the view was
        computed from them, as the register gives them; a row is then asked for with its
        record's position in that list. ``index``: the rows of 企业名录 will be asked for, every
        one, in the order the sheet shows them, so where each enterprise sits is noted on the way.
        """
        sheet = model.sheet_name
        typed = self.typed.get(sheet)
        if typed is None:
            return None
        typed_at = self._aligned(sheet, identities, typed)
        if model is Enterprise:
            extras = self._enterprise_rows_of(typed_at)
            if not index or self._enterprise_rows is not None:
                return extras
            return self._indexing(extras, typed_at)
        if model is Audit:
            return self._audit_rows(typed_at, self._aligned(sheet, identities, self.view.audits))
        makers: dict[str, Callable[[list[Any]], RowExtras]] = {
            Project.sheet_name: self._project_rows,
            Training.sheet_name: self._training_rows,
            Attendee.sheet_name: self._attendee_rows,
        }
        return makers[sheet](typed_at)

    def _indexing(self, extras: RowExtras, typed_at: list[Any]) -> RowExtras:
        """``extras``, noting each 企业名录 row as it goes; the index stands once every row is seen."""
        rows: list[_EnterpriseRow] = []
        position_of: dict[str, int] = {}
        if not typed_at:
            self._enterprise_rows, self._enterprise_position = rows, position_of

        def noting(row: int, record: StoredRecord, position: int) -> list[Extra]:
            self._index_row(rows, position_of, record, typed_at[position] is not None)
            if len(rows) == len(typed_at):
                self._enterprise_rows, self._enterprise_position = rows, position_of
            return extras(row, record, position)

        return noting

    def _refs(self, model: type[SheetModel]) -> Callable[[str, int], str]:
        """``ref(field name or header, excel_row)`` → ``C5`` on the sheet itself."""
        sheet = model.sheet_name
        letters = {
            header: col(self.layout.col(sheet, header))
            for header in (*(column.header for column in model.columns().values()), OWNER_HEADER)
        }
        letters.update(
            (extra.header, col(self.layout.col(sheet, extra.header))) for extra in extra_columns(model)
        )
        letters.update((name, letters[column.header]) for name, column in model.columns().items())

        def ref(name: str, excel_row: int) -> str:
            return f"{letters[name]}{excel_row}"

        return ref

    def _enterprise_rows_of(self, enterprises: list[Enterprise | None]) -> RowExtras:
        ref = self._refs(Enterprise)
        started_keys = self.layout.span(Audit.sheet_name, key_header(Distinct.STARTED))

        def extras(row: int, record: StoredRecord, position: int) -> list[Extra]:
            enterprise: Enterprise | None = enterprises[position]
            if enterprise is None:
                return [0, 0, 0]
            in_park = enterprise.category == INDUSTRY and bool(enterprise.park)
            audited = in_park and _fold(enterprise.uscc) in self.started_full
            park = ref(PARK, row)
            return [
                1,
                Formula(
                    f'=IF(AND({ref("category", row)}={text(INDUSTRY)},{ref("park", row)}<>""),1,0)',
                    int(in_park),
                ),
                Formula(
                    f"=IF({park}=1,IF(ISNUMBER(MATCH({ref('uscc', row)},{started_keys},0)),1,0),0)",
                    int(audited),
                ),
            ]

        return extras

    def _lookup(self, ref: Callable[[str, int], str], row: int, uscc: Any) -> tuple[Formula, Formula, int]:
        """企业行 and 企业类别 of the enterprise a record names; the row number for more lookups."""
        enterprises = Enterprise.sheet_name
        codes = self.layout.span(enterprises, Enterprise.header("uscc"))
        position = self._enterprise_index()[1].get(_fold(uscc), 0)
        found = ref(ENTERPRISE_ROW, row)
        where = Formula(f"=IFERROR(MATCH({ref('uscc', row)},{codes},0),0)", position)
        category = Formula(
            self._indexed(found, Enterprise.header("category")),
            self._enterprise_value(position, "category"),
        )
        return where, category, position

    def _indexed(self, found: str, header: str) -> str:
        """The enterprise row's value in a column, or "" when it is missing or left out of the verdicts."""
        sheet = Enterprise.sheet_name
        counted = self.layout.span(sheet, COUNTED)
        values = self.layout.span(sheet, header)
        return f'=IF({found}>0,IF(INDEX({counted},{found})=1,INDEX({values},{found})&"",""),"")'

    def _enterprise_value(self, position: int, name: str) -> str:
        if position == 0:
            return ""
        row = self._enterprise_index()[0][position - 1]
        if not row.counted:
            return ""
        return row.category if name == "category" else row.audit_type

    def _audit_rows(self, audits: list[Audit | None], statuses: list[AuditStatus | None]) -> RowExtras:
        ref = self._refs(Audit)
        distinct = _DistinctKeys(self.layout, Audit.sheet_name, ref, "uscc")

        def conditions(row: int) -> dict[Distinct, str]:
            def k(name: str) -> str:
                return date_known(ref(name, row))

            method = ref("method", row)
            started = ",".join(
                k(name)
                for name in (
                    "started_on",
                    "contract_filed_on",
                    "report_on",
                    "evaluated_on",
                    "accepted_on",
                    "certified_on",
                )
            )
            evaluated = ",".join(k(name) for name in ("evaluated_on", "accepted_on", "certified_on"))
            accepted = ref("accepted_on", row)
            return {
                Distinct.STARTED: f"AND({method}={text(AUDIT_FULL)},OR({started}))",
                Distinct.PASSED: (
                    f"AND({ref('acceptance', row)}={text(ACCEPTANCE_PASSED)},"
                    f"ISNUMBER({accepted}),{accepted}<={AS_OF_NAME})"
                ),
                Distinct.ONSITE: f"AND({method}={text(AUDIT_ONSITE)},OR({evaluated}))",
            }

        def extras(row: int, record: StoredRecord, position: int) -> list[Extra]:
            audit: Audit | None = audits[position]
            status = statuses[position]
            if audit is None or status is None:
                return [None] * 9 + [0, "", ""] + distinct.skipped(3)
            deadline = ref(NEXT_DEADLINE, row)
            cells: list[Extra] = [
                str(status.stage),
                status.stage_text,
                str(status.next_stage) if status.next_stage is not None else None,
                status.next_deadline,
                Formula(f'=IF(ISNUMBER({deadline}),{deadline}-{AS_OF_NAME},"")', cached(status.days_left)),
                Formula(
                    f'=IF(ISNUMBER({deadline}),IF({AS_OF_NAME}>{deadline},{text(OVERDUE_MARK)},""),"")',
                    OVERDUE_MARK if status.overdue else "",
                ),
                *self._certificate_cells(ref, row, audit),
            ]
            where, category, position = self._lookup(ref, row, record.data.get("uscc"))
            found = ref(ENTERPRISE_ROW, row)
            audit_type = Formula(
                self._indexed(found, Enterprise.header("audit_type")),
                self._enterprise_value(position, "audit_type"),
            )
            cells += [where, category, audit_type]
            formulas = conditions(row)
            owner = record.submitter
            for kind, holds in (
                (Distinct.STARTED, self._started(audit)),
                (Distinct.PASSED, self._passed(audit)),
                (Distinct.ONSITE, self._onsite(audit)),
            ):
                cells += distinct.cells(kind, row, formulas[kind], holds, audit.uscc or "", owner)
            return cells

        return extras

    def _certificate_cells(self, ref: Callable[[str, int], str], row: int, audit: Audit) -> list[Extra]:
        """Expiry, days left and state of the enterprise's current certificate, on the round that holds it."""
        status = self.certificates.get((audit.uscc or "", audit.round or 1))
        if status is None:
            return [None, None, None]
        expiry = ref(CERT_EXPIRY, row)
        days = Formula(f'=IF(ISNUMBER({expiry}),{expiry}-{AS_OF_NAME},"")', cached(status.days_left))
        if status.state is CertificateState.SUSPENDED:  # the register has no column for it: a value
            return [status.expires_on, days, str(status.state)]
        return [status.expires_on, days, Formula(certificate_state(expiry, self.window), str(status.state))]

    def _project_rows(self, projects: list[Project | None]) -> RowExtras:
        ref = self._refs(Project)

        def extras(row: int, record: StoredRecord, position: int) -> list[Extra]:
            project: Project | None = projects[position]
            if project is None:
                return [0, None, None]
            live = Formula(
                f"=IF({ref('status', row)}<>{text(WITHDRAWN)},1,0)", int(project.status != WITHDRAWN)
            )
            where, category, _ = self._lookup(ref, row, record.data.get("uscc"))
            return [live, where, category]

        return extras

    def _training_rows(self, trainings: list[Training | None]) -> RowExtras:
        ref = self._refs(Training)

        def extras(row: int, record: StoredRecord, position: int) -> list[Extra]:
            training: Training | None = trainings[position]
            if training is None:
                return [0, None]
            held = known(training.held_on, self.as_of) is not None
            flag = ref(HELD, row)
            return [
                Formula(f"=IF({date_known(ref('held_on', row))},1,0)", int(held)),
                Formula(
                    f'=IF({flag}=1,{ref("training_id", row)},"")',
                    _text(record.data.get("training_id")) if held else "",
                ),
            ]

        return extras

    def _attendee_rows(self, attendees: list[Attendee | None]) -> RowExtras:
        ref = self._refs(Attendee)
        distinct = _DistinctKeys(self.layout, Attendee.sheet_name, ref, "uscc")
        held_keys = self.layout.span(Training.sheet_name, HELD_KEY)

        def extras(row: int, record: StoredRecord, position: int) -> list[Extra]:
            attendee: Attendee | None = attendees[position]
            if attendee is None:
                return [0, None, None, *distinct.skipped(2)]
            counted = _fold(attendee.training_id) in self.held
            flag = ref(COUNTED, row)
            where, category, _ = self._lookup(ref, row, record.data.get("uscc"))
            cells: list[Extra] = [
                Formula(f"=IF(ISNUMBER(MATCH({ref('training_id', row)},{held_keys},0)),1,0)", int(counted)),
                where,
                category,
            ]
            head = f"AND({flag}=1,{ref('is_head', row)}={text(YES)})"
            owner = record.submitter
            uscc = attendee.uscc or ""
            cells += distinct.cells(Distinct.ATTENDED, row, f"{flag}=1", counted, uscc, owner)
            cells += distinct.cells(
                Distinct.HEAD, row, head, counted and attendee.is_head == YES, uscc, owner
            )
            return cells

        return extras


def certificate_state(expiry: str, window: int) -> str:
    """已过期 after the expiry day, 待换证 from ``window`` days before it, otherwise 有效 (the domain's rule)."""
    return (
        f"=IF(ISNUMBER({expiry}),IF({AS_OF_NAME}>{expiry},{text(CertificateState.EXPIRED)},"
        f"IF({AS_OF_NAME}>={expiry}-{window},{text(CertificateState.RENEWAL_DUE)},"
        f"{text(CertificateState.VALID)})),{text(CertificateState.VALID)})"
    )


class _DistinctKeys:
    """Key and first-record flag of one kind of record counted by enterprise, city-wide and per submitter.

    The city key is the credit code of a record that counts (empty otherwise); the submitter key
    adds the submitter. A record is the first of its key when MATCH over the whole key column
    finds its own row. The flags' cached values are worked out in the same order, with the same
    case-blind comparison MATCH makes.
    """

    def __init__(self, layout: Layout, sheet: str, ref: Callable[[str, int], str], code_field: str) -> None:
        self.layout = layout
        self.sheet = sheet
        self.ref = ref
        self.code_field = code_field
        self.seen: dict[str, set[str]] = {}

    @staticmethod
    def skipped(kinds: int) -> list[Extra]:
        return [None, None, 0, 0] * kinds

    def cells(
        self, kind: Distinct, row: int, condition: str, holds: bool, uscc: str, owner: str
    ) -> list[Extra]:
        ref = self.ref
        city_key, unit_key = key_header(kind), key_header(kind, per_submitter=True)
        city_value = uscc if holds else ""
        unit_value = f"{uscc}|{owner}" if holds else ""
        city = ref(city_key, row)
        unit = ref(unit_key, row)
        return [
            Formula(f'=IF({condition},{ref(self.code_field, row)},"")', city_value),
            Formula(f'=IF({city}="","",{city}&"|"&{ref(OWNER_HEADER, row)})', unit_value),
            self._first(kind, city_key, city, city_value, row),
            self._first(kind, unit_key, unit, unit_value, row),
        ]

    def _first(self, kind: Distinct, header: str, key: str, value: str, row: int) -> Formula:
        keys = self.layout.span(self.sheet, header)
        seen = self.seen.setdefault(header, set())
        folded = _fold(value)
        first = bool(value) and folded not in seen
        if value:
            seen.add(folded)
        return Formula(f'=IF({key}="",0,IF(MATCH({key},{keys},0)=ROW()-1,1,0))', int(first))


def _aligned(
    sheet: str,
    identities: Sequence[Identity],
    typed: Sequence[Owned[Any]],
    skipped: set[tuple[str, tuple[Any, ...], str]],
) -> list[Any]:
    """Each record's typed counterpart in the view, by the record's position; None where skipped.

    The view was computed from these records in this order, less the ones it skipped.
    """
    aligned: list[Any] = [None] * len(identities)
    found = iter(typed)
    for position, (key, submitter) in enumerate(identities):
        if (sheet, tuple(key), submitter) in skipped:
            continue
        owned = next(found, None)
        if owned is None:
            raise ValueError("the programme view was not computed from the records handed to the master")
        aligned[position] = owned.record
    if next(found, None) is not None:
        raise ValueError("the programme view was not computed from the records handed to the master")
    return aligned


def _fold(value: Any) -> str:
    """Text as MATCH compares it: case does not matter."""
    return value.casefold() if isinstance(value, str) else ("" if value is None else str(value).casefold())


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
