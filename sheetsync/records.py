"""The data handed along the pipeline read → validate → merge → render.

Plain dataclasses with no behaviour of their own, so that every stage can be written and
tested against them without importing the stage before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sheetsync.errors import Problem
from sheetsync.schemas import SheetModel, Stamp


@dataclass(frozen=True)
class ValidRow:
    """One row that passed every check: the typed record and where it came from."""

    record: SheetModel
    row: int  # 1-based worksheet row number, as Excel shows it
    present_fields: frozenset[str]  # fields whose column the file had; others keep the register's value


@dataclass
class SheetResult:
    sheet_name: str  # contract sheet name
    source_sheet: str  # the sheet's name in the file (may differ: renamed, csv)
    rows_seen: int = 0
    columns: dict[str, int] = field(default_factory=dict)  # field name → 0-based worksheet column
    valid_rows: list[ValidRow] = field(default_factory=list)
    rejected_rows: set[int] = field(default_factory=set)


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


@dataclass
class FileResult:
    """Everything validation learnt about one submitted file."""

    path: str
    file_hash: str
    submitter: str | None
    stamp: Stamp | None
    sheets: list[SheetResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def readable(self) -> bool:
        return not any(p.code in ("unreadable-file", "unsupported-file") for p in self.problems)

    @property
    def rows_accepted(self) -> int:
        return sum(len(sheet.valid_rows) for sheet in self.sheets)

    @property
    def rows_rejected(self) -> int:
        return sum(len(sheet.rejected_rows) for sheet in self.sheets)

    @property
    def has_errors(self) -> bool:
        return any(problem.is_error for problem in self.problems)

    @property
    def status(self) -> FileStatus:
        if not self.readable:
            return FileStatus.UNREADABLE
        if self.rows_accepted == 0 and self.has_errors:
            return FileStatus.REJECTED
        if self.has_errors:
            return FileStatus.PARTLY_ACCEPTED
        return FileStatus.ACCEPTED


@dataclass(frozen=True)
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
