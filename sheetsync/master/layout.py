"""Where every column of the master sits and how many rows each sheet has, known before writing.

Formulas on one sheet reach into others (进度 counts over 审核进度, 概览 reads 进度), and the master is
streamed sheet by sheet, so the whole shape is settled first: each sheet's headers in order and
its number of data rows. Ranges are bounded by that row count (``$A$2:$A$186``), which keeps
recalculation fast where a whole-column reference would scan a million rows.
"""

from __future__ import annotations

from collections.abc import Sequence

from sheetsync.master.formulas import FIRST_DATA_ROW, span

# Header and width of the provenance columns that follow a register sheet's contract columns.
PROVENANCE_COLUMNS: tuple[tuple[str, int], ...] = (
    ("填报单位", 12),
    ("来源文件", 30),
    ("来源行", 8),
    ("版本", 6),
    ("更新时间", 19),
)
OWNER_HEADER = PROVENANCE_COLUMNS[0][0]


class Layout:
    """Each sheet's headers and row count; looks up a column by its header."""

    def __init__(self) -> None:
        self._columns: dict[str, dict[str, int]] = {}
        self._rows: dict[str, int] = {}
        self._spans: dict[tuple[str, str], str] = {}

    def add(self, sheet: str, headers: Sequence[str], rows: int) -> None:
        index: dict[str, int] = {}
        for position, header in enumerate(headers):
            if header in index:
                raise ValueError(f"{sheet} has the header {header!r} twice")
            index[header] = position
        self._columns[sheet] = index
        self._rows[sheet] = rows
        self._spans = {key: text for key, text in self._spans.items() if key[0] != sheet}

    def col(self, sheet: str, header: str) -> int:
        return self._columns[sheet][header]

    def rows(self, sheet: str) -> int:
        return self._rows[sheet]

    def span(self, sheet: str, header: str) -> str:
        """The bounded data range of a column: ``'审核进度'!$A$2:$A$186``."""
        key = (sheet, header)
        found = self._spans.get(key)
        if found is None:  # asked for on every row of a register sheet: worked out once
            found = self._spans[key] = span(sheet, self.col(sheet, header), self._rows[sheet])
        return found

    def last_row(self, sheet: str) -> int:
        """The Excel row of the last data row (the first one when the sheet has none)."""
        return FIRST_DATA_ROW + max(self._rows[sheet], 1) - 1
