"""When the register outgrows one workbook: its sheets split into one workbook per submitter.

Excel (and WPS) stop at 1,048,576 rows a sheet; a national roll-up's 企业名录 can pass that, and
an office may prefer smaller files long before (a configured limit, ``max_register_rows``). Then
every register sheet is written per submitter into ``<master stem>_<submitter>.xlsx`` beside the
master, each submitter's rows together (a submitter is who an officer calls about them), and the
master keeps the summary sheets (概览, 逾期预警, 证书到期, 冲突待处理, 进度, …) with 概览 linking
to each file. A submitter whose own sheet still passes the limit continues it on ``企业名录(2)``
and so on, in the same workbook.

Formulas cannot rely on reaching into other files (Excel shows external references as they were
last saved and asks before updating them; LibreOffice reads them only when the file is where the
link says), so in a split master what counts over the register is written as sheetsync's value;
:mod:`sheetsync.master.progress` and :mod:`sheetsync.master.overview` decide which. Pure planning:
nothing here writes a file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sheetsync.profile import Submitter
from sheetsync.records import StoredRecord

EXCEL_DATA_ROWS = 1_048_575  # Excel's 1,048,576 rows a sheet, less the header row
DEFAULT_MASTER_NAME = "总台账.xlsx"
UNKNOWN_SUBMITTER = "未知单位"
# characters Windows refuses in a file name, and control characters
_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


@dataclass
class SplitBook:
    """One submitter's workbook: its path and its records per register sheet (any order)."""

    submitter: str
    path: Path
    records: dict[str, list[StoredRecord]] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(len(rows) for rows in self.records.values())


@dataclass(frozen=True)
class SplitPlan:
    """Why the register is split and into which workbooks, in the order 概览 lists them."""

    limit: int
    books: list[SplitBook]

    @property
    def reason(self) -> str:
        if self.limit >= EXCEL_DATA_ROWS:
            return "台账记录超过 Excel 单表行数上限"
        return f"台账记录超过单表 {self.limit:,} 行的设定上限"


def plan_split(
    records: Mapping[str, Sequence[StoredRecord]],
    limit: int,
    master_path: Path | None,
    submitters: Sequence[Submitter] = (),
    *,
    row_counts: Mapping[str, int] | None = None,
) -> SplitPlan | None:
    """The split workbooks when any register sheet has more than ``limit`` rows; None otherwise.

    ``row_counts``: the rows per sheet when already counted (the master counts them once).
    """
    if limit < 1:
        raise ValueError(f"max_register_rows must be at least 1, not {limit}")
    counts = row_counts if row_counts is not None else {name: len(rows) for name, rows in records.items()}
    if all(count <= limit for count in counts.values()):
        return None
    master = master_path if master_path is not None else Path(DEFAULT_MASTER_NAME)
    books: dict[str, SplitBook] = {}
    for sheet_name, rows in records.items():
        for record in rows:
            book = books.get(record.submitter)
            if book is None:
                book = books[record.submitter] = SplitBook(record.submitter, Path())
            book.records.setdefault(sheet_name, []).append(record)
    rank = {submitter.name: index for index, submitter in enumerate(submitters)}
    ordered = sorted(books.values(), key=lambda book: (rank.get(book.submitter, len(rank)), book.submitter))
    taken: set[str] = set()
    for book in ordered:
        name = split_file_name(master.stem, book.submitter)
        stem, number = name.removesuffix(".xlsx"), 2
        while name.casefold() in taken:  # two names that only differ in unsafe characters
            name, number = f"{stem}_{number}.xlsx", number + 1
        taken.add(name.casefold())
        book.path = master.with_name(name)
    return SplitPlan(limit, ordered)


def split_file_name(master_stem: str, submitter: str) -> str:
    """``总台账_越秀区.xlsx``: the master's name and the submitter's, safe on every file system."""
    safe = _UNSAFE.sub("_", submitter).strip(" .") or UNKNOWN_SUBMITTER
    return f"{master_stem}_{safe}.xlsx"


def part_name(sheet_name: str, part: int) -> str:
    """The name of the ``part``-th sheet of one register sheet in a split workbook: 企业名录, 企业名录(2)."""
    return sheet_name if part == 1 else f"{sheet_name}({part})"
