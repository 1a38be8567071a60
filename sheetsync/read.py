"""Stage 1 of the pipeline: get the raw cells out of a submitted file, whatever its format.

Spreadsheets (.xlsx, .xlsm, .xls, .ods) are read with python-calamine, which is fast and
never evaluates anything; .csv files (UTF-8 or GBK, as Excel on a Chinese Windows saves them)
with the csv module. Nothing is interpreted here: cell values stay as the reader gives them,
each sheet keeps the position of its first cell so every later message can name a real cell.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import python_calamine

SPREADSHEET_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xls", ".ods"})
CSV_SUFFIXES = frozenset({".csv"})
SUPPORTED_SUFFIXES = SPREADSHEET_SUFFIXES | CSV_SUFFIXES
CSV_ENCODINGS = ("utf-8-sig", "gb18030")


class UnreadableFile(Exception):
    """The file cannot be read at all; ``code`` and ``context`` feed the error catalogue."""

    def __init__(self, code: str, **context: Any) -> None:
        super().__init__(code, context)
        self.code = code
        self.context = context


@dataclass(frozen=True)
class RawSheet:
    name: str
    rows: list[list[Any]]
    first_row: int  # 0-based worksheet row of rows[0]
    first_col: int  # 0-based worksheet column of rows[i][0]
    visible: bool = True


@dataclass(frozen=True)
class RawWorkbook:
    path: Path
    sheets: tuple[RawSheet, ...]

    def sheet(self, name: str) -> RawSheet | None:
        return next((sheet for sheet in self.sheets if sheet.name == name), None)


def file_hash(path: Path) -> str:
    """SHA-256 of the file's bytes: identifies a submission independent of its name."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_workbook(path: Path) -> RawWorkbook:
    """Every sheet of ``path`` as raw cells, or :class:`UnreadableFile` saying why not."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnreadableFile("unsupported-file", suffix=path.suffix or "(无扩展名)")
    try:
        if path.stat().st_size == 0:
            raise UnreadableFile("unreadable-file", reason="文件是空的,大小为0字节")
    except OSError as exc:
        raise UnreadableFile("unreadable-file", reason=f"无法访问文件:{exc.strerror or exc}") from exc
    if suffix in CSV_SUFFIXES:
        return RawWorkbook(path, (_read_csv(path),))
    return RawWorkbook(path, _read_spreadsheet(path))


def _read_spreadsheet(path: Path) -> tuple[RawSheet, ...]:
    try:
        book = python_calamine.CalamineWorkbook.from_path(str(path))
    except python_calamine.PasswordError as exc:
        raise UnreadableFile("unreadable-file", reason="文件设置了打开密码,请取消密码后重新提交") from exc
    except Exception as exc:  # calamine raises several unrelated types for damaged files
        raise UnreadableFile("unreadable-file", reason=_damage_reason(path, exc)) from exc
    sheets: list[RawSheet] = []
    try:
        for meta in book.sheets_metadata:
            if meta.typ != python_calamine.SheetTypeEnum.WorkSheet:
                continue
            sheet = book.get_sheet_by_name(meta.name)
            start = sheet.start or (0, 0)
            sheets.append(
                RawSheet(
                    name=meta.name,
                    rows=sheet.to_python(skip_empty_area=True),
                    first_row=start[0],
                    first_col=start[1],
                    visible=meta.visible == python_calamine.SheetVisibleEnum.Visible,
                )
            )
    except Exception as exc:
        raise UnreadableFile("unreadable-file", reason=_damage_reason(path, exc)) from exc
    finally:
        book.close()
    return tuple(sheets)


def _damage_reason(path: Path, exc: Exception) -> str:
    head = path.read_bytes()[:8] if path.exists() else b""
    if path.suffix.lower() in (".xlsx", ".xlsm", ".ods") and not head.startswith(b"PK"):
        return "文件内容不是 Excel 工作簿,可能是改了扩展名的其他文件"
    return f"文件已损坏或格式不正确:{type(exc).__name__}"


def _read_csv(path: Path) -> RawSheet:
    data = path.read_bytes()
    for encoding in CSV_ENCODINGS:
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise UnreadableFile("unreadable-file", reason="无法识别 CSV 文件的编码,请另存为 UTF-8 或 GBK 编码")
    if "\x00" in text:
        raise UnreadableFile("unreadable-file", reason="CSV 文件中含有二进制内容,可能不是文本文件")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    rows = [list(row) for row in csv.reader(io.StringIO(text), dialect)]
    return RawSheet(name=path.stem, rows=rows, first_row=0, first_col=0)
