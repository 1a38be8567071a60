"""The master's rows as sheet XML, the same bytes XlsxWriter writes, built a row at a time.

In constant-memory mode XlsxWriter flushes each finished row through ``_write_cell``: per cell a
list of attribute pairs, a regular-expression test per attribute, two regular-expression
substitutions and a whitespace search per string, and one write to the temporary file per cell.
Over a register of a few hundred thousand cells that was most of the time spent writing the
master. :class:`RowStreamingSheet` writes the same XML with a cheaper test per cell (one search
that tells a plain string from one needing escapes) and one write per row; any cell of a kind
it does not know, or any string that does need escaping, goes through XlsxWriter's own code, so
the output stays XlsxWriter's byte for byte (tests/test_master_rows.py compares the two).
"""

from __future__ import annotations

import re
from typing import Any

from xlsxwriter.format import Format
from xlsxwriter.utility import _preserve_whitespace, xl_col_to_name
from xlsxwriter.worksheet import (
    CellBlankTuple,
    CellDatetimeTuple,
    CellFormulaTuple,
    CellNumberTuple,
    CellRichStringTuple,
    CellStringTuple,
    Worksheet,
)

# Anything that makes XlsxWriter change a string on its way into the XML: the characters it
# escapes (or searches for before escaping), control characters and non-characters it writes as
# _xHHHH_, and text already shaped like such an escape. A string without any is written as is.
_NEEDS_ESCAPING = re.compile('[\x00-\x08\x0b-\x1f"&<>\n\ufffe\uffff]|_x[0-9a-fA-F]{4}_')
# A formula's cached text that XlsxWriter marks as an error value rather than a string.
_ERROR_CODES = frozenset(("#DIV/0!", "#N/A", "#NAME?", "#NULL!", "#NUM!", "#REF!", "#VALUE!"))
# The cells written here; XlsxWriter writes the others (booleans, errors, array formulas).
_KNOWN = frozenset(
    (
        CellNumberTuple,
        CellDatetimeTuple,
        CellStringTuple,
        CellRichStringTuple,
        CellFormulaTuple,
        CellBlankTuple,
    )
)


def _escape_data(data: str) -> str:
    """XlsxWriter's ``_escape_data`` for text: only ``&``, ``<`` and ``>`` are replaced."""
    if "&" in data or "<" in data or ">" in data:
        return data.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return data


class RowStreamingSheet(Worksheet):
    """A constant-memory worksheet that serialises each finished row in one go.

    Only :meth:`_write_single_row` differs from XlsxWriter's; rows without cells (formatting or
    comments only) and unusual cells (booleans, errors, array formulas) are left to XlsxWriter.
    """

    def __init__(self) -> None:
        super().__init__()
        # column letters and format attributes, worked out once per sheet instead of once per cell
        self._letters: dict[int, str] = {}
        self._styles: dict[Format, str] = {}

    def _write_single_row(self, current_row_num: int = 0) -> None:
        row_num = self.previous_row
        cells = self.table.get(row_num)
        if not cells or self.excel_version == 2010 or self.default_row_height != self.original_row_height:
            super()._write_single_row(current_row_num)
            return
        self.previous_row = current_row_num
        row_info = self.row_info.get(row_num)
        parts: list[str] = []
        if row_info is None:
            parts.append(f'<row r="{row_num + 1}">')
            row_format = None
        else:
            self._write_row(row_num, None, row_info)
            row_format = row_info.row_format
        number = str(row_num + 1)
        letters = self._letters
        for col in sorted(cells):
            cell = cells[col]
            kind = cell.__class__
            if kind not in _KNOWN:
                self.fh.write("".join(parts))
                parts.clear()
                self._write_cell(row_num, col, cell)
                continue
            letter = letters.get(col)
            if letter is None:
                letter = letters[col] = xl_col_to_name(col)
            # the style XlsxWriter picks: the cell's format, else the row's, else the column's
            cell_format = cell.format
            if cell_format:
                style = self._style(cell_format)
            elif row_format:
                style = self._style(row_format)
            elif col in self.col_info and self.col_info[col].column_format is not None:
                style = self._style(self.col_info[col].column_format)
            else:
                style = ""
            if kind is CellNumberTuple or kind is CellDatetimeTuple:
                parts.append(f'<c r="{letter}{number}"{style}><v>{cell.number:.16G}</v></c>')
            elif kind is CellFormulaTuple:
                parts.append(_formula(f'<c r="{letter}{number}"{style}', cell))
            elif kind is CellBlankTuple:
                parts.append(f'<c r="{letter}{number}"{style}/>')
            else:
                parts.append(self._string(f'<c r="{letter}{number}"{style}', cell.string))
        parts.append("</row>")
        self.fh.write("".join(parts))
        self.table.clear()

    def _style(self, cell_format: Format) -> str:
        """`` s="n"`` for a format, asked of it in the same order XlsxWriter would ask.

        A format's index is settled the first time it is asked for and never changes after, so
        remembering it per format object gives the index XlsxWriter writes.
        """
        style = self._styles.get(cell_format)
        if style is None:
            style = self._styles[cell_format] = f' s="{cell_format._get_xf_index()}"'
        return style

    def _string(self, start: str, string: str) -> str:
        """An in-line string cell, as XlsxWriter's constant-memory path writes it."""
        if _NEEDS_ESCAPING.search(string) is None:
            # nothing to escape: XlsxWriter's substitutions would all leave the text as it is
            space = ' xml:space="preserve"' if string[:1].isspace() or string[-1:].isspace() else ""
            return f'{start} t="inlineStr"><is><t{space}>{string}</t></is></c>'
        string = self._escape_control_characters(string)
        if string.startswith("<r>") and string.endswith("</r>"):
            return f'{start} t="inlineStr"><is>{string}</is></c>'
        space = ' xml:space="preserve"' if _preserve_whitespace(string) else ""
        return f'{start} t="inlineStr"><is><t{space}>{self._escape_data(string)}</t></is></c>'


def _formula(start: str, cell: Any) -> str:
    """A formula cell with its cached value, typed the way XlsxWriter types it."""
    value = cell.value
    kind = ""
    if isinstance(value, bool):
        kind = ' t="b"'
        value = 1 if value else 0
    elif isinstance(value, str):
        if value in _ERROR_CODES:
            kind = ' t="e"'
        elif value:
            kind = ' t="str"'
        value = _escape_data(value)
    return f"{start}{kind}><f>{_escape_data(cell.formula)}</f><v>{value}</v></c>"
