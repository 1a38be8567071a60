"""Submitter isolation: a submitter's file may create or change only the records it owns.

A district owns the enterprises located in it, their audits and projects, and the trainings it
registered (with their attendees); an agency owns the enterprises of its sector (or, for the
environment bureau, the mandatory-audit list) and what hangs off them; the office owns
everything.  A row that touches someone else's record is kept out, reported as ``not-owner``
and listed for the office on the master's 冲突待处理 sheet: never silently merged, never lost.
Pure functions of a file's rows and facts from the register.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sheetsync.errors import Problem
from sheetsync.profile import Submitter
from sheetsync.records import FileResult, SheetResult, StoredRecord, ValidRow
from sheetsync.schemas import SheetModel, SubmitterKind
from sheetsync.schemas.audit import Audit
from sheetsync.schemas.enterprise import AUDIT_MANDATORY, Enterprise
from sheetsync.schemas.project import Project
from sheetsync.schemas.training import Attendee, Training
from sheetsync.validate import cell_ref

_Value = TypeVar("_Value")


@dataclass(frozen=True)
class EnterpriseFacts:
    """What ownership depends on: where an enterprise is and what kind it is."""

    district: str | None
    category: str | None
    audit_type: str | None

    @classmethod
    def of_row(cls, row: ValidRow) -> EnterpriseFacts:
        """From a valid 企业名录 row, without building its record."""
        return cls(*row.pick("district", "category", "audit_type"))

    @classmethod
    def of_data(cls, data: Mapping[str, Any]) -> EnterpriseFacts:
        """From a register record's stored fields."""
        return cls(data.get("district"), data.get("category"), data.get("audit_type"))


@dataclass(frozen=True)
class Ownership:
    """Facts from the register: enterprises by credit code, trainings by id with their owner."""

    enterprises: Mapping[str, EnterpriseFacts]
    trainings: Mapping[str, str]


def covers(submitter: Submitter, facts: EnterpriseFacts) -> bool:
    """Whether ``submitter`` is responsible for an enterprise with these facts."""
    if submitter.kind is SubmitterKind.OFFICE:
        return True
    if submitter.kind is SubmitterKind.DISTRICT:
        return facts.district == submitter.name
    in_sector = facts.category is not None and facts.category in submitter.sector
    return in_sector or (submitter.mandatory and facts.audit_type == AUDIT_MANDATORY)


def _scope_text(submitter: Submitter) -> str:
    if submitter.kind is SubmitterKind.DISTRICT:
        return f"本单位只能填报所属区县为“{submitter.name}”的企业"
    parts = []
    if submitter.sector:
        parts.append("企业类别为" + "、".join(f"“{c}”" for c in submitter.sector))
    if submitter.mandatory:
        parts.append("审核类型为“强制”")
    return "本单位只能填报" + ("或".join(parts) or "本部门负责") + "的企业"


class _Overlay(Generic[_Value]):
    """A file's own additions over the register's facts, which it never changes.

    What ``collections.ChainMap`` does for two maps, for the two calls a night makes once per
    row: ChainMap's ``get`` is written in Python and walks its maps twice.
    """

    __slots__ = ("own", "base")

    def __init__(self, base: Mapping[str, _Value]) -> None:
        self.own: dict[str, _Value] = {}
        self.base = base

    def get(self, key: str) -> _Value | None:
        found = self.own.get(key)
        return self.base.get(key) if found is None else found

    def __setitem__(self, key: str, value: _Value) -> None:
        self.own[key] = value

    def setdefault(self, key: str, value: _Value) -> _Value:
        found = self.get(key)
        if found is None:
            self.own[key] = found = value
        return found


class _Checker:
    def __init__(self, result: FileResult, submitter: Submitter, ownership: Ownership) -> None:
        self.result = result
        self.submitter = submitter
        self.ownership = ownership
        sheets = {sheet.sheet_name: sheet for sheet in result.sheets}
        self.sheets = sheets
        # the file's own enterprise rows speak for themselves once they pass; an overlay, not a
        # copy: copying the register's every enterprise for each file of a night was quadratic
        self.enterprises: _Overlay[EnterpriseFacts] = _Overlay(ownership.enterprises)
        self.trainings: _Overlay[str] = _Overlay(ownership.trainings)

    def run(self) -> None:
        self._sheet(Enterprise.sheet_name, self._enterprise)
        for row in self._valid(Enterprise.sheet_name):
            uscc = row.value("uscc")
            assert uscc is not None
            self.enterprises[uscc] = EnterpriseFacts.of_row(row)
        self._sheet(Audit.sheet_name, self._by_enterprise)
        self._sheet(Project.sheet_name, self._by_enterprise)
        self._sheet(Training.sheet_name, self._training)
        for row in self._valid(Training.sheet_name):
            self.trainings.setdefault(str(row.value("training_id")), self.submitter.name)
        self._sheet(Attendee.sheet_name, self._attendee)

    def _valid(self, name: str) -> list[ValidRow]:
        sheet = self.sheets.get(name)
        return sheet.valid_rows if sheet else []

    def _sheet(self, name: str, reason_for: Callable[[ValidRow], tuple[str, str] | None]) -> None:
        sheet = self.sheets.get(name)
        if sheet is None:
            return
        kept: list[ValidRow] = []
        for row in sheet.valid_rows:
            found = reason_for(row)
            if found is None:
                kept.append(row)
            else:
                field_name, reason = found
                self._reject(sheet, row, field_name, reason)
        sheet.valid_rows = kept

    def _reject(self, sheet: SheetResult, row: ValidRow, field_name: str, reason: str) -> None:
        model = type(row.record)
        col = sheet.columns.get(field_name)
        self.result.problems.append(
            Problem.make(
                "not-owner",
                file=self.result.path,
                sheet=sheet.source_sheet,
                cell=cell_ref(row.row - 1, col) if col is not None else None,
                row=row.row,
                header=model.header(field_name),
                value=getattr(row.record, field_name),
                record_key=record_key_text(row.record),
                reason=reason,
            )
        )
        sheet.rejected_rows.add(row.row)

    def _enterprise(self, row: ValidRow) -> tuple[str, str] | None:
        uscc = row.value("uscc")
        assert uscc is not None
        if not covers(self.submitter, EnterpriseFacts.of_row(row)):
            field_name = "district" if self.submitter.kind is SubmitterKind.DISTRICT else "category"
            return field_name, _scope_text(self.submitter)
        known = self.ownership.enterprises.get(uscc)
        if known is not None and not covers(self.submitter, known):
            return (
                "uscc",
                f"该企业在台账中登记为“{known.district or ''}”“{known.category or ''}”,不属于本单位",
            )
        return None

    def _by_enterprise(self, row: ValidRow) -> tuple[str, str] | None:
        code = str(row.value("uscc"))
        facts = self.enterprises.get(code)
        if facts is None or covers(self.submitter, facts):
            return None  # an unknown enterprise is the reference check's business
        return "uscc", f"该企业属于“{facts.district or facts.category or ''}”,不属于本单位"

    def _training(self, row: ValidRow) -> tuple[str, str] | None:
        owner = self.ownership.trainings.get(str(row.value("training_id")))
        if owner is None or owner == self.submitter.name:
            return None
        return "training_id", f"培训编号已由“{owner}”登记"

    def _attendee(self, row: ValidRow) -> tuple[str, str] | None:
        owner = self.trainings.get(str(row.value("training_id")))
        if owner is None or owner == self.submitter.name:
            return None
        return "training_id", f"该期培训由“{owner}”登记,其参训人员只能由该单位填报"


def record_key_text(record: SheetModel) -> str:
    """The record's key as the office reads it: ``统一社会信用代码:…;审核轮次:1``."""
    return ";".join(f"{record.header(name)}:{_key_part(getattr(record, name))}" for name in record.key_fields)


def _key_part(value: object) -> str:
    return "" if value is None else str(value)


def ownership_from_register(
    enterprises: Iterable[StoredRecord], trainings: Iterable[StoredRecord]
) -> Ownership:
    """The facts ownership needs, from the register's current 企业名录 and 培训活动 records."""
    facts = {str(stored.data["uscc"]): EnterpriseFacts.of_data(stored.data) for stored in enterprises}
    owners = {str(stored.data["training_id"]): stored.submitter for stored in trainings}
    return Ownership(enterprises=facts, trainings=owners)


def check_ownership(result: FileResult, submitter: Submitter, ownership: Ownership) -> None:
    """Move every row ``submitter`` may not write from valid to rejected, with a ``not-owner`` problem."""
    if submitter.kind is SubmitterKind.OFFICE:
        return
    _Checker(result, submitter, ownership).run()
