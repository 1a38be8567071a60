"""Stage 2 of the pipeline: check every cell of a submission against the contract.

Reads a :class:`~sheetsync.read.RawWorkbook`, finds each contract sheet (by name, or by its
headers when a submitter renamed it), matches headers tolerantly, turns each row into a schema
model and reports every problem with its cell.  A row with any error is kept out; the rest of
the file still counts.  Nothing here touches the register: what is already known (keys of other
files and of the register) comes in as a :class:`References` value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sheetsync.errors import CATALOGUE, Problem, Severity
from sheetsync.normalize import canonical, clean_text, display_text, is_blank
from sheetsync.profile import Profile
from sheetsync.read import RawSheet, RawWorkbook, UnreadableFile, file_hash, read_workbook
from sheetsync.records import FileResult, SheetResult, ValidRow
from sheetsync.schemas import SHEETS, SheetModel, Stamp, SubmitterKind
from sheetsync.schemas.audit import Audit
from sheetsync.schemas.base import SUBMITTER_KIND_LABELS, CellFailure, NeedsModelValidation
from sheetsync.schemas.enterprise import Enterprise
from sheetsync.schemas.project import Project
from sheetsync.schemas.stamp import HELPER_SHEETS, STAMP_LABELS, STAMP_SHEET, is_period
from sheetsync.schemas.training import Attendee, Training

HEADER_SCAN_ROWS = 10  # a title or a note may stand above the header row

# (sheet, field) → (sheet whose key it must name).  Enterprise references are only checked when
# the caller knows the register (References.enterprises is not None).
REFERENCES: tuple[tuple[type[SheetModel], str, type[SheetModel]], ...] = (
    (Attendee, "training_id", Training),
    (Audit, "uscc", Enterprise),
    (Project, "uscc", Enterprise),
    (Attendee, "uscc", Enterprise),
)


@dataclass
class References:
    """Keys already known outside the file being checked: the register's and other files'.

    ``None`` for a sheet means "not known here": references to it are not checked (used by
    ``sheetsync validate`` on a lone file, where the register is not at hand).
    """

    keys: dict[str, set[tuple[Any, ...]] | None] = field(default_factory=dict)

    def known(self, sheet_name: str) -> set[tuple[Any, ...]] | None:
        return self.keys.get(sheet_name)


def column_letter(index: int) -> str:
    """0-based column index → Excel letters (0 → A, 26 → AA)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def cell_ref(row: int, col: int) -> str:
    """0-based row and column → A1 reference."""
    return f"{column_letter(col)}{row + 1}"


_HEADER_DECORATION = re.compile(r"^[*＊※]+|[*＊※]+$|[(（]必填[)）]$|必填$")


def header_key(text: Any) -> str:
    """A header cell folded so that spaces, line breaks, widths and a ``*`` marker do not matter."""
    cleaned = display_text(text) if not isinstance(text, str) else text
    if not cleaned:
        return ""
    folded = canonical(cleaned)
    return _HEADER_DECORATION.sub("", folded)


def _header_index(model: type[SheetModel]) -> dict[str, str]:
    index: dict[str, str] = {}
    for name, column in model.columns().items():
        for label in (column.header, *column.aliases):
            index.setdefault(header_key(label), name)
    return index


_HEADER_INDEXES: dict[str, dict[str, str]] = {model.sheet_name: _header_index(model) for model in SHEETS}


class FileValidator:
    """Validates one file; holds the per-file state so the steps stay small."""

    def __init__(
        self,
        path: Path,
        *,
        display_name: str,
        expected_submitter: str | None,
        profile: Profile | None,
        references: References,
    ) -> None:
        self.path = path
        self.display_name = display_name
        self.expected_submitter = expected_submitter
        self.profile = profile
        self.references = references
        self.problems: list[Problem] = []
        self.stamp_cells: dict[str, str] = {}

    def problem(self, code: str, **kwargs: Any) -> None:
        self.problems.append(Problem.make(code, file=self.display_name, **kwargs))

    # ------------------------------------------------------------------ the whole file

    def run(self) -> FileResult:
        digest = file_hash(self.path) if self.path.is_file() else ""
        try:
            book = read_workbook(self.path)
        except UnreadableFile as unreadable:
            result = FileResult(
                path=self.display_name, file_hash=digest, submitter=self.expected_submitter, stamp=None
            )
            self.problem(unreadable.code, **unreadable.context)
            result.problems = self.problems
            return result
        return self.run_book(book, digest)

    def run_book(self, book: RawWorkbook, digest: str) -> FileResult:
        """Validate cells already read, from a file or from another source such as a Google Sheet."""
        result = FileResult(
            path=self.display_name, file_hash=digest, submitter=self.expected_submitter, stamp=None
        )
        result.stamp = self._read_stamp(book)
        submitter, kind = self._identify_submitter(book, result.stamp)
        result.submitter = submitter
        if not any(
            p.is_error and p.code in ("submitter-mismatch", "unknown-submitter") for p in self.problems
        ):
            result.sheets = self._validate_sheets(book, submitter, kind)
        result.problems = self.problems
        check_references(result, self.references)
        return result

    def _read_stamp(self, book: RawWorkbook) -> Stamp | None:
        sheet = book.sheet(STAMP_SHEET)
        if sheet is None:
            return None
        values: dict[str, Any] = {}
        self.stamp_cells: dict[str, str] = {}
        for offset, row in enumerate(sheet.rows):
            if len(row) >= 2 and isinstance(row[0], str) and row[0].strip() in STAMP_LABELS:
                name = STAMP_LABELS[row[0].strip()]
                values[name] = display_text(row[1])
                self.stamp_cells[name] = cell_ref(sheet.first_row + offset, sheet.first_col + 1)
        period = values.get("period")
        if period is not None and not is_period(period):
            self.problem(
                "not-a-period",
                sheet=STAMP_SHEET,
                cell=self.stamp_cells["period"],
                header="填报期间",
                value=period,
                severity=Severity.WARNING,
            )
            values.pop("period")
        try:
            return Stamp.model_validate({k: v for k, v in values.items() if v is not None})
        except ValidationError:
            return None

    def _identify_submitter(
        self, book: RawWorkbook, stamp: Stamp | None
    ) -> tuple[str | None, SubmitterKind | None]:
        expected = self.expected_submitter
        if stamp is None:
            if expected is not None and book.path.suffix.lower() != ".csv":
                self.problem("missing-stamp", expected=expected)
            submitter = expected
        else:
            submitter = stamp.submitter
            if expected is not None and stamp.submitter != expected:
                self.problem(
                    "submitter-mismatch",
                    sheet=STAMP_SHEET,
                    cell="B1",
                    value=stamp.submitter,
                    stamped=stamp.submitter,
                    expected=expected,
                )
                return expected, None
        if submitter is None:
            return None, stamp.kind if stamp else None
        if self.profile is not None:
            known = self.profile.submitter(submitter)
            if known is None:
                self.problem("unknown-submitter", submitter=submitter)
                return submitter, None
            return submitter, known.kind
        return submitter, stamp.kind if stamp else None

    # ------------------------------------------------------------------ sheets

    def _validate_sheets(
        self, book: RawWorkbook, submitter: str | None, kind: SubmitterKind | None
    ) -> list[SheetResult]:
        results: list[SheetResult] = []
        seen: set[str] = set()
        for raw in book.sheets:
            if raw.name in HELPER_SHEETS:
                continue
            model = identify_sheet(raw)
            if model is None:
                if any(not is_blank(cell) for row in raw.rows for cell in row):
                    self.problem("unknown-sheet", sheet=raw.name)
                continue
            if model.sheet_name in seen:
                self.problem("unknown-sheet", sheet=raw.name)
                continue
            seen.add(model.sheet_name)
            if kind is not None and kind not in model.filled_by:
                owners = "、".join(SUBMITTER_KIND_LABELS[k] for k in sorted(model.filled_by))
                self.problem(
                    "sheet-not-allowed",
                    sheet=raw.name,
                    submitter=submitter,
                    kind=SUBMITTER_KIND_LABELS[kind],
                    owners=owners,
                )
                continue
            results.append(SheetChecker(self, raw, model).run())
        if not results and not any(p.code == "sheet-not-allowed" for p in self.problems):
            self.problem("no-contract-sheet", expected="、".join(model.sheet_name for model in SHEETS))
        return results


def identify_sheet(raw: RawSheet) -> type[SheetModel] | None:
    """The contract sheet a worksheet holds: by its name first, else by its header row."""
    name = canonical(raw.name)
    for model in SHEETS:
        if canonical(model.sheet_name) == name:
            return model
    for model in SHEETS:
        if canonical(model.sheet_name) in name:
            return model
    best: tuple[int, type[SheetModel]] | None = None
    for model in SHEETS:
        _, matched = _find_header_row(raw, model)
        required = {n for n, c in model.columns().items() if c.required}
        if matched and required <= set(matched.values()) and (best is None or len(matched) > best[0]):
            best = (len(matched), model)
    return best[1] if best else None


def _find_header_row(raw: RawSheet, model: type[SheetModel]) -> tuple[int, dict[int, str]]:
    """Index (into raw.rows) of the row that looks most like this sheet's header, and its matches."""
    index = _HEADER_INDEXES[model.sheet_name]
    best_row = 0
    best: dict[int, str] = {}
    for position, row in enumerate(raw.rows[:HEADER_SCAN_ROWS]):
        matched = {col: index[key] for col, cell in enumerate(row) if (key := header_key(cell)) in index}
        if len(set(matched.values())) > len(set(best.values())):
            best_row, best = position, matched
    return best_row, best


class SheetChecker:
    """Checks one worksheet against one contract sheet model."""

    def __init__(self, owner: FileValidator, raw: RawSheet, model: type[SheetModel]) -> None:
        self.owner = owner
        self.raw = raw
        self.model = model
        self.result = SheetResult(sheet_name=model.sheet_name, source_sheet=raw.name)

    def problem(self, code: str, **kwargs: Any) -> None:
        self.owner.problem(code, sheet=self.raw.name, **kwargs)

    def run(self) -> SheetResult:
        header_pos, columns = self._read_header()
        self.result.columns = {name: self.raw.first_col + col for col, name in columns.items()}
        required_missing = [
            name
            for name, column in self.model.columns().items()
            if column.required and name not in columns.values()
        ]
        if required_missing:
            return self.result
        rows: list[tuple[int, list[Any]]] = []
        for offset, row in enumerate(self.raw.rows[header_pos + 1 :], start=header_pos + 1):
            if all(is_blank(cell) for cell in row):
                continue
            rows.append((self.raw.first_row + offset + 1, row))
        self.result.rows_seen = len(rows)
        if not self._check_rows_by_column(rows, columns):
            keys_seen: dict[tuple[Any, ...], int] = {}
            for excel_row, row in rows:
                self._check_row(row, excel_row, columns, keys_seen)
        return self.result

    def _check_rows_by_column(self, rows: list[tuple[int, list[Any]]], columns: dict[int, str]) -> bool:
        """Check the rows a column at a time; False, having reported nothing, if it cannot.

        The same problems, in the same order, and the same records as :meth:`_check_row` row by
        row, which stays the reference: each column's cells go through :meth:`Column.outcome`
        (parsed once per distinct value), then each row's record is assembled with
        :meth:`SheetModel.from_parsed` where ``model_validate`` would only have handed the parsed
        values back.  A sheet whose model is declared in a way that shortcut cannot vouch for,
        or a cell whose parsing fails unexpectedly, goes through the reference path instead.
        """
        model = self.model
        if not model.can_build_from_parsed():
            return False
        cols_by_name = {name: col for col, name in columns.items()}
        # fields in the model's order: pydantic reports a row's errors in that order
        present = [name for name in model.columns() if name in cols_by_name]
        parsed: list[list[Any]] = []
        try:
            for name in present:
                col = cols_by_name[name]
                outcome = model.columns()[name].outcome
                parsed.append([outcome(row[col] if col < len(row) else None) for _, row in rows])
        except NeedsModelValidation:
            return False
        present_fields = frozenset(columns.values())
        keys_seen: dict[tuple[Any, ...], int] = {}
        build = model.builder(present)
        # the rows with a cell that failed, found a column at a time; the rest go straight through
        failing = {
            index
            for column_values in parsed
            for index, value in enumerate(column_values)
            if value.__class__ is CellFailure
        }
        for index, ((excel_row, row), values) in enumerate(
            zip(rows, zip(*parsed, strict=True) if parsed else [()] * len(rows), strict=True)
        ):
            if index in failing:
                failures = [
                    (name, value)
                    for name, value in zip(present, values, strict=True)
                    if value.__class__ is CellFailure
                ]
                for name, failure in failures:
                    col = cols_by_name[name]
                    self._cell_problem(
                        failure.code,
                        name,
                        row[col] if col < len(row) else None,
                        dict(failure.context),
                        excel_row,
                        cols_by_name,
                        failure.code,
                    )
                self.result.rejected_rows.add(excel_row)
                continue
            record = build(values)
            raw_cells = _RawCells(row, cols_by_name)
            self._accept(record, raw_cells, excel_row, present_fields, cols_by_name, keys_seen)
        return True

    def _read_header(self) -> tuple[int, dict[int, str]]:
        header_pos, matched = _find_header_row(self.raw, self.model)
        header_row = self.raw.rows[header_pos] if self.raw.rows else []
        excel_header_row = self.raw.first_row + header_pos
        columns: dict[int, str] = {}
        first_at: dict[str, int] = {}
        for col, cell in enumerate(header_row):
            ref = cell_ref(excel_header_row, self.raw.first_col + col)
            if col in matched:
                name = matched[col]
                if name in first_at:
                    other = cell_ref(excel_header_row, self.raw.first_col + first_at[name])
                    self.problem(
                        "duplicate-header",
                        cell=ref,
                        header=self.model.header(name),
                        value=display_text(cell),
                        other_cell=other,
                    )
                    continue
                first_at[name] = col
                columns[col] = name
            elif not is_blank(cell):
                self.problem("unknown-header", cell=ref, value=display_text(cell))
        for name, column in self.model.columns().items():
            if name in first_at:
                continue
            code = "missing-header" if column.required else "missing-optional-header"
            self.problem(code, header=column.header, header_row=excel_header_row + 1)
        return header_pos, columns

    def _check_row(
        self, row: list[Any], excel_row: int, columns: dict[int, str], keys_seen: dict[tuple[Any, ...], int]
    ) -> None:
        data = {name: (row[col] if col < len(row) else None) for col, name in columns.items()}
        cols_by_name = {name: col for col, name in columns.items()}
        try:
            record = self.model.model_validate(data)
        except ValidationError as invalid:
            for error in invalid.errors(include_url=False):
                name = str(error["loc"][0]) if error["loc"] else ""
                self._cell_problem(
                    error["type"],
                    name,
                    data.get(name),
                    dict(error.get("ctx") or {}),
                    excel_row,
                    cols_by_name,
                    error.get("msg", ""),
                )
            self.result.rejected_rows.add(excel_row)
            return
        self._accept(record, data, excel_row, frozenset(columns.values()), cols_by_name, keys_seen)

    def _accept(
        self,
        record: SheetModel,
        data: Mapping[str, Any],
        excel_row: int,
        present_fields: frozenset[str],
        cols_by_name: dict[str, int],
        keys_seen: dict[tuple[Any, ...], int],
    ) -> None:
        """A row whose every cell parsed: its cross-field rules and key decide whether it is kept."""
        before = len(self.owner.problems)
        for broken in record.rule_problems():
            self._cell_problem(
                broken.code,
                broken.field,
                data.get(broken.field),
                dict(broken.context),
                excel_row,
                cols_by_name,
                "",
            )
        key = record.key()
        if key in keys_seen:
            key_text = "、".join(
                f"{self.model.header(n)}“{v}”" for n, v in zip(self.model.key_fields, key, strict=True)
            )
            first_key_field = self.model.key_fields[0]
            self._cell_problem(
                "duplicate-key",
                first_key_field,
                data.get(first_key_field),
                {"other_row": keys_seen[key], "key": key_text},
                excel_row,
                cols_by_name,
                "",
            )
        if len(self.owner.problems) > before and any(p.is_error for p in self.owner.problems[before:]):
            self.result.rejected_rows.add(excel_row)
            return
        keys_seen[key] = excel_row
        self.result.valid_rows.append(ValidRow(record, excel_row, present_fields))

    def _cell_problem(
        self,
        code: str,
        name: str,
        raw: Any,
        context: dict[str, Any],
        excel_row: int,
        cols_by_name: dict[str, int],
        detail: str,
    ) -> None:
        if code not in CATALOGUE:
            context = {"detail": detail}
            code = "invalid-value"
        col = cols_by_name.get(name)
        header = self.model.header(name) if name in self.model.columns() else None
        value = context.pop("value", None)
        if value is None:
            value = clean_text(raw) if not isinstance(raw, str) else raw.strip() or None
        self.problem(
            code,
            cell=cell_ref(excel_row - 1, self.raw.first_col + col) if col is not None else None,
            row=excel_row,
            header=header,
            value=value,
            **context,
        )


class _RawCells(Mapping[str, Any]):
    """A row's raw cells by field name, looked up only for the few cells a problem quotes."""

    __slots__ = ("_row", "_cols")

    def __init__(self, row: list[Any], cols_by_name: dict[str, int]) -> None:
        self._row = row
        self._cols = cols_by_name

    def __getitem__(self, name: str) -> Any:
        col = self._cols[name]
        return self._row[col] if col < len(self._row) else None

    def __iter__(self) -> Iterator[str]:
        return iter(self._cols)

    def __len__(self) -> int:
        return len(self._cols)


def check_references(
    result: FileResult, references: References, *, targets: Iterable[type[SheetModel]] | None = None
) -> None:
    """Reject rows naming a record that neither the file nor ``references`` knows.

    A target sheet is checked only when something is known about it: the caller's keys, or for
    trainings the file's own filled 培训活动 sheet (a lone file cannot say whether a 培训编号 from
    last month exists).  Enterprise references need the caller's keys: consolidation checks them
    in a second pass, once every file of the run has been read.
    """
    wanted = None if targets is None else {target.sheet_name for target in targets}
    by_name = {sheet.sheet_name: sheet for sheet in result.sheets}
    for model, field_name, target in REFERENCES:
        sheet = by_name.get(model.sheet_name)
        if sheet is None or (wanted is not None and target.sheet_name not in wanted):
            continue
        outside = references.known(target.sheet_name)
        own = by_name.get(target.sheet_name)
        if own is not None and own.rows_seen == 0:
            own = None  # an empty sheet of the template says nothing about what exists
        if outside is None and (own is None or target is Enterprise):
            # enterprises are often registered by another submitter: only the register knows
            continue
        # the caller's keys are looked up where they are, not copied: consolidation hands every
        # file the night's whole set of enterprise keys
        own_keys = {row.key() for row in own.valid_rows} if own is not None else set()
        _reject_unknown(result, sheet, model, field_name, target, (outside or set(), own_keys))


def _reject_unknown(
    result: FileResult,
    sheet: SheetResult,
    model: type[SheetModel],
    field_name: str,
    target: type[SheetModel],
    known: tuple[set[tuple[Any, ...]], ...],
) -> None:
    col = sheet.columns.get(field_name)
    kept: list[ValidRow] = []
    for row in sheet.valid_rows:
        value = row.value(field_name)
        key = (value,)
        for keys in known:  # every row of a night is looked up here: no generator per row
            if key in keys:
                kept.append(row)
                break
        else:
            _unknown(result, sheet, model, field_name, target, row, value, col)
    sheet.valid_rows = kept


def _unknown(
    result: FileResult,
    sheet: SheetResult,
    model: type[SheetModel],
    field_name: str,
    target: type[SheetModel],
    row: ValidRow,
    value: Any,
    col: int | None,
) -> None:
    result.problems.append(
        Problem.make(
            "unknown-reference",
            file=result.path,
            sheet=sheet.source_sheet,
            cell=cell_ref(row.row - 1, col) if col is not None else None,
            row=row.row,
            header=model.header(field_name),
            value=value,
            target_sheet=target.sheet_name,
        )
    )
    sheet.rejected_rows.add(row.row)


def validate_file(
    path: Path,
    *,
    display_name: str | None = None,
    expected_submitter: str | None = None,
    profile: Profile | None = None,
    references: References | None = None,
) -> FileResult:
    """Every problem of one file, and its valid rows ready to merge."""
    return FileValidator(
        path,
        display_name=display_name or path.name,
        expected_submitter=expected_submitter,
        profile=profile,
        references=references or References(),
    ).run()


def validate_workbook(
    book: RawWorkbook,
    *,
    display_name: str,
    digest: str,
    expected_submitter: str | None = None,
    profile: Profile | None = None,
    references: References | None = None,
) -> FileResult:
    """Like :func:`validate_file` for cells read elsewhere; ``digest`` identifies the content."""
    return FileValidator(
        book.path,
        display_name=display_name,
        expected_submitter=expected_submitter,
        profile=profile,
        references=references or References(),
    ).run_book(book, digest)


def enterprise_keys(results: Iterable[FileResult]) -> set[tuple[Any, ...]]:
    """Credit codes every file of a run registers, so a file may reference another's enterprise."""
    keys: set[tuple[Any, ...]] = set()
    for result in results:
        for sheet in result.sheets:
            if sheet.sheet_name == Enterprise.sheet_name:
                keys.update(row.key() for row in sheet.valid_rows)
    return keys


def referenced_keys(results: Iterable[FileResult], target: type[SheetModel]) -> set[tuple[Any, ...]]:
    """Keys of ``target`` that the valid rows of ``results`` refer to (see ``REFERENCES``).

    Consolidation looks just these up in the register instead of loading every key it has.
    """
    fields = [(model.sheet_name, name) for model, name, to in REFERENCES if to is target]
    keys: set[tuple[Any, ...]] = set()
    for result in results:
        for sheet in result.sheets:
            for sheet_name, field_name in fields:
                if sheet.sheet_name == sheet_name:
                    values = (row.value(field_name) for row in sheet.valid_rows)
                    keys.update((value,) for value in values if value is not None)
    return keys


def known_references(register_keys: Mapping[str, set[tuple[Any, ...]]]) -> References:
    return References(keys={name: set(keys) for name, keys in register_keys.items()})
