"""The data handed along the pipeline read → validate → merge → render.

Plain dataclasses with no behaviour of their own, so that every stage can be written and
tested against them without importing the stage before it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sheetsync.errors import Problem
from sheetsync.schemas import SheetModel, Stamp
from sheetsync.schemas.base import assembled_in_order, shared_fields_set


class ValidRow:
    """One row that passed every check: the typed record and where it came from.

    A row unpickled from a validation worker holds its record's field values and builds the
    record only when something asks for it (:attr:`record`).  Consolidation's one merging
    process reads just a few fields of most rows (the credit code, the training, where an
    enterprise is: :meth:`value`, :meth:`key`) and merges the JSON the worker encoded, so
    building a pydantic record for each of a night's 300,000 rows there was mostly waste.
    """

    __slots__ = ("_record", "_model", "_values", "_fields_set", "row", "present_fields", "stored")

    def __init__(
        self,
        record: SheetModel,
        row: int,  # 1-based worksheet row number, as Excel shows it
        present_fields: frozenset[str],  # fields whose column the file had; others keep the register's
        # (key text, data JSON, content hash) as the register stores the record, worked out where the
        # file was validated (:func:`sheetsync.merge.prepare`); None: merging works them out itself
        stored: tuple[str, str, str] | None = None,
    ) -> None:
        self._record: SheetModel | None = record
        self._model: type[SheetModel] = type(record)
        self._values: tuple[Any, ...] | None = None
        self._fields_set: frozenset[str] | None = None
        self.row = row
        self.present_fields = present_fields
        self.stored = stored

    @classmethod
    def packed(
        cls,
        model: type[SheetModel],
        values: tuple[Any, ...],
        fields_set: frozenset[str],
        row: int,
        present_fields: frozenset[str],
        stored: tuple[str, str, str] | None,
    ) -> ValidRow:
        """A row whose record (``values``: every field, in the model's order) is built on demand."""
        self = cls.__new__(cls)
        self._record = None
        self._model = model
        self._values = values
        self._fields_set = fields_set
        self.row = row
        self.present_fields = present_fields
        self.stored = stored
        return self

    @property
    def model(self) -> type[SheetModel]:
        return self._model

    @property
    def record(self) -> SheetModel:
        record = self._record
        if record is None:
            assert self._values is not None and self._fields_set is not None
            record = self._record = assembled_in_order(self._model, self._values, _filled(self._fields_set))
            self._values = None
        return record

    def value(self, name: str) -> Any:
        """One field's value, read without building the record."""
        if self._record is not None:
            return getattr(self._record, name)
        assert self._values is not None
        return self._values[_field_positions(self._model)[name]]

    def pick(self, *names: str) -> tuple[Any, ...]:
        """Several fields' values at once, read without building the record."""
        if self._record is not None:
            record = self._record
            return tuple(getattr(record, name) for name in names)
        assert self._values is not None
        values = self._values
        positions = _field_positions(self._model)
        return tuple(values[positions[name]] for name in names)

    def key(self) -> tuple[Any, ...]:
        """The record's key (:meth:`SheetModel.key`), read without building the record."""
        return self.pick(*self._model.key_fields)

    def field_values(self) -> tuple[tuple[Any, ...], frozenset[str]]:
        """Every field's value in the model's order, and the fields set: what a pickle carries."""
        if self._record is None:
            assert self._values is not None and self._fields_set is not None
            return self._values, self._fields_set
        record = self._record
        return tuple(record.__dict__.values()), frozenset(record.__pydantic_fields_set__)

    def _identity(self) -> tuple[Any, ...]:
        return (self.record, self.row, self.present_fields, self.stored)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ValidRow):
            return NotImplemented
        return self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash((self.row, self.present_fields, self.stored))

    def __repr__(self) -> str:
        return f"ValidRow(record={self.record!r}, row={self.row}, present_fields={self.present_fields!r})"


_FIELD_NAMES: dict[type[SheetModel], tuple[str, ...]] = {}
_FILLED: dict[frozenset[str], set[str]] = {}


def _filled(fields_set: frozenset[str]) -> set[str]:
    found = _FILLED.get(fields_set)
    if found is None:
        found = _FILLED[fields_set] = shared_fields_set(sorted(fields_set))
    return found


_FIELD_POSITIONS: dict[type[SheetModel], dict[str, int]] = {}


def _field_names(model: type[SheetModel]) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(model)
    if names is None:
        names = _FIELD_NAMES[model] = tuple(model.model_fields)
    return names


def _field_positions(model: type[SheetModel]) -> dict[str, int]:
    positions = _FIELD_POSITIONS.get(model)
    if positions is None:
        positions = _FIELD_POSITIONS[model] = {name: i for i, name in enumerate(_field_names(model))}
    return positions


@dataclass
class SheetResult:
    sheet_name: str  # contract sheet name
    source_sheet: str  # the sheet's name in the file (may differ: renamed, csv)
    rows_seen: int = 0
    columns: dict[str, int] = field(default_factory=dict)  # field name → 0-based worksheet column
    valid_rows: list[ValidRow] = field(default_factory=list)
    rejected_rows: set[int] = field(default_factory=set)
    released: int | None = None  # rows accepted, once the merged rows were let go (release_rows)

    @property
    def rows_accepted(self) -> int:
        return self.released if self.released is not None else len(self.valid_rows)

    def release_rows(self) -> None:
        """Let the merged rows go, keeping their count.

        Once a night's rows are in the register, holding them as well as the register's current
        records (which the master is written from) doubled a big night's memory.
        """
        if self.released is None:
            self.released = len(self.valid_rows)
            self.valid_rows = []

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled compactly: a file validated in a worker process comes back to consolidation.

        Pickling each record as a pydantic model costs several times more than validating it
        did; its field values as a tuple, rebuilt with :func:`~sheetsync.schemas.base.assembled_in_order`,
        cost little (the rows are valid records already).
        """
        state = {name: value for name, value in self.__dict__.items() if name != "valid_rows"}
        interned: dict[frozenset[str], frozenset[str]] = {}
        packed: list[tuple[Any, ...]] = []
        for valid in self.valid_rows:
            values, fields_set = valid.field_values()
            packed.append(
                (
                    valid.model,
                    valid.row,
                    values,
                    interned.setdefault(fields_set, fields_set),
                    interned.setdefault(valid.present_fields, valid.present_fields),
                    valid.stored,
                )
            )
        return (_rebuild_sheet, (state, packed))


def _rebuild_sheet(state: dict[str, Any], packed: list[tuple[Any, ...]]) -> SheetResult:
    """A pickled sheet back, each row holding its record's values (:meth:`ValidRow.packed`).

    Consolidation unpacks every row of the night one file at a time, in the one process that
    merges: the records are built only for the few rows that need one (see :class:`ValidRow`).
    """
    sheet = SheetResult.__new__(SheetResult)
    sheet.__dict__.update(state)
    make = ValidRow.packed
    sheet.valid_rows = [
        make(model, values, fields_set, row, present_fields, stored)
        for model, row, values, fields_set, present_fields, stored in packed
    ]
    return sheet


class FileStatus(StrEnum):
    ACCEPTED = "accepted"
    PARTLY_ACCEPTED = "partly-accepted"
    REJECTED = "rejected"
    UNREADABLE = "unreadable"


FILE_STATUS_LABELS: dict[FileStatus, str] = {
    FileStatus.ACCEPTED: "全部接收",
    FileStatus.PARTLY_ACCEPTED: "部分接收",
    FileStatus.REJECTED: "退回",
    FileStatus.UNREADABLE: "无法读取",
}


@dataclass(frozen=True)
class RegisteredFile:
    """What the register recorded for a file whose very bytes it already holds.

    Such a file is not validated again (see :func:`sheetsync.validate_parallel.registered_results`):
    its result carries the status, counts and problems recorded the first time instead.
    """

    submission_id: int
    status: FileStatus
    rows_accepted: int
    rows_rejected: int


@dataclass
class FileResult:
    """Everything validation learnt about one submitted file."""

    path: str
    file_hash: str
    submitter: str | None
    stamp: Stamp | None
    sheets: list[SheetResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # set for a file skipped as already registered: its sheets stay empty, the counts are these
    registered: RegisteredFile | None = None

    @property
    def readable(self) -> bool:
        return not any(p.code in ("unreadable-file", "unsupported-file") for p in self.problems)

    @property
    def not_processed(self) -> bool:
        """Validating or merging it failed this night: nothing of it is registered, it is tried again."""
        return any(p.code == "not-processed" for p in self.problems)

    @property
    def rows_accepted(self) -> int:
        if self.registered is not None:
            return self.registered.rows_accepted
        return sum(sheet.rows_accepted for sheet in self.sheets)

    @property
    def rows_rejected(self) -> int:
        if self.registered is not None:
            return self.registered.rows_rejected
        return sum(len(sheet.rejected_rows) for sheet in self.sheets)

    @property
    def has_errors(self) -> bool:
        return any(problem.is_error for problem in self.problems)

    @property
    def status(self) -> FileStatus:
        if self.registered is not None:
            return self.registered.status
        if not self.readable:
            return FileStatus.UNREADABLE
        if self.rows_accepted == 0 and self.has_errors:
            return FileStatus.REJECTED
        if self.has_errors:
            return FileStatus.PARTLY_ACCEPTED
        return FileStatus.ACCEPTED


@dataclass(frozen=True, slots=True)  # a million of them at national scale
class StoredRecord:
    """The current version of one record in the register, with its provenance."""

    sheet_name: str
    key: tuple[Any, ...]
    data: dict[str, Any]  # field name → JSON-mode value (dates ISO, decimals as text, lists)
    version: int
    submitter: str
    file_name: str
    source_sheet: str
    source_row: int
    file_hash: str
    recorded_at: datetime


class RecordSource(Mapping[str, Sequence[StoredRecord]], ABC):
    """Each sheet's current records, read afresh at every look-up and never held.

    A night's master needs every register sheet, but one at a time: the domain types each sheet
    and lets its records go, and the master writes one register sheet before reading the next.
    Holding them all at once beside the domain's typed view was a national night's peak.
    """

    @abstractmethod
    def count(self, sheet_name: str) -> int:
        """How many current records ``sheet_name`` has, without reading them."""

    @abstractmethod
    def each(self, sheet_name: str) -> Iterator[StoredRecord]:
        """The sheet's records one at a time, in the order a look-up gives them, none held."""

    @abstractmethod
    def sorted_sheet(self, sheet_name: str, sort_key: Callable[[tuple[Any, ...]], Any]) -> SortedSheet:
        """The sheet's records ordered by ``sort_key`` of their keys, read as they are gone through."""


# Records fetched per query when a sheet is streamed in an order of our own (SortedSheet).
SORTED_FETCH = 1000

Identity = tuple[tuple[Any, ...], str]  # a record's key and the submitter the register holds it for


@dataclass(frozen=True)
class SortedSheet:
    """A sheet's records to go through once in a chosen order, fetched a thousand at a time.

    ``identities`` are the records' keys and submitters in the register's order (what
    :meth:`RecordSource.__getitem__` gives, and the order the domain's view follows);
    ``order`` the positions in that list in the order wanted; ``fetch`` gives the records at
    some positions, in the order asked. Iterating yields ``(position, record)``.
    """

    identities: list[Identity]
    order: list[int]
    fetch: Callable[[Sequence[int]], list[StoredRecord]]

    def __len__(self) -> int:
        return len(self.order)

    def __iter__(self) -> Iterator[tuple[int, StoredRecord]]:
        for start in range(0, len(self.order), SORTED_FETCH):
            positions = self.order[start : start + SORTED_FETCH]
            yield from zip(positions, self.fetch(positions), strict=True)


def sorted_sheet(
    records: Mapping[str, Sequence[StoredRecord]],
    sheet_name: str,
    sort_key: Callable[[tuple[Any, ...]], Any],
) -> SortedSheet:
    """A sheet's records ordered by ``sort_key`` of their keys: streamed where ``records`` can."""
    if isinstance(records, RecordSource):
        return records.sorted_sheet(sheet_name, sort_key)
    held = records.get(sheet_name, ())
    identities = [(record.key, record.submitter) for record in held]
    order = sorted(range(len(held)), key=lambda position: sort_key(held[position].key))
    return SortedSheet(identities, order, lambda positions: [held[position] for position in positions])


def each_record(records: Mapping[str, Sequence[StoredRecord]], sheet_name: str) -> Iterable[StoredRecord]:
    """A sheet's records for one pass: streamed where ``records`` can, as held otherwise."""
    if isinstance(records, RecordSource):
        return records.each(sheet_name)
    return records.get(sheet_name, ())


def record_count(records: Mapping[str, Sequence[StoredRecord]], sheet_name: str) -> int:
    """How many records ``records`` has for a sheet, counted where it can be without reading them."""
    if isinstance(records, RecordSource):
        return records.count(sheet_name)
    return len(records.get(sheet_name, ()))


@dataclass(frozen=True)
class FileSummary:
    """One line of a run's summary: what became of one submitted file."""

    submitter: str
    file_name: str
    status: FileStatus
    rows_accepted: int
    rows_rejected: int
    errors: int
    warnings: int
    skipped_unchanged: bool = False  # the same file (by content hash) was already consolidated


@dataclass(frozen=True)
class RunInfo:
    """When and for what a consolidation ran; shown on the master's summary sheet."""

    as_of: date
    started_at: datetime
    profile_name: str
    profile_title: str
    drive: str
