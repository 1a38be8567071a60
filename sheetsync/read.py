"""Stage 1 of the pipeline: get the raw cells out of a submitted file, whatever its format.

Spreadsheets (.xlsx, .xlsm, .xls, .ods) are read with python-calamine, which is fast and
never evaluates anything; .csv files (UTF-8 or GBK, as Excel on a Chinese Windows saves them)
with the csv module. Nothing is interpreted here: cell values stay as the reader gives them,
each sheet keeps the position of its first cell so every later message can name a real cell.

Submitted files are untrusted, and reading one must never crash or hang the nightly run.
Every read is held to :class:`~sheetsync.limits.ReadLimits` (file size, inflated size, zip
members, compression ratio, rows, columns, cells, seconds): zip-based workbooks are inspected by
:func:`sheetsync.limits.inspect_zip` before calamine sees them.  calamine is native code that a
Python timer cannot interrupt and that aborts the process when a file makes it allocate too
much, so the time and memory limits are enforced by reading in a child process (a fresh
``python -c``, killed when the file's time is up, its address space capped): for every file
that the inspection cannot vouch for as small (big .xlsx, every .xls and .ods).  A small .xlsx
that passed the inspection, which is nearly every submission, is read in process: it costs
calamine milliseconds, and the child's ~0.5 s start-up is saved where it buys nothing.

Two things python-calamine hands over wrongly are put right from the inspection: an error value
(``#N/A``, ``#DIV/0!`` ...) arrives as an empty string and gets its text back, so validation
reports it instead of taking the cell for blank; and serial 60 of the 1900 date system, the
1900-02-29 that Excel invents, arrives as 1900-02-28 and becomes the text ``1900-02-29`` (what
Excel shows; validation then rejects it as a date).  The 1904 date system is honoured by
calamine for date-formatted cells and reported as :attr:`RawWorkbook.date1904`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import pickle
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import python_calamine

from sheetsync.limits import (
    Deadline,
    FileRejected,
    ReadLimits,
    ZipScan,
    default_limits,
    inspect_zip,
    megabytes,
    time_reason,
)

log = logging.getLogger(__name__)

SPREADSHEET_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xls", ".ods"})
SPREADSHEETML_SUFFIXES = frozenset({".xlsx", ".xlsm"})
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
    date1904: bool = False  # the workbook counts dates from 1904 (calamine has applied it to dates)

    def sheet(self, name: str) -> RawSheet | None:
        return next((sheet for sheet in self.sheets if sheet.name == name), None)


def file_hash(path: Path) -> str:
    """SHA-256 of the file's bytes: identifies a submission independent of its name."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_workbook(path: Path, limits: ReadLimits | None = None) -> RawWorkbook:
    """Every sheet of ``path`` as raw cells, or :class:`UnreadableFile` saying why not.

    ``limits`` default to :func:`sheetsync.limits.default_limits`.
    """
    limits = limits or default_limits()
    deadline = Deadline(limits.max_seconds)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnreadableFile("unsupported-file", suffix=path.suffix or "(无扩展名)")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UnreadableFile("unreadable-file", reason=f"无法访问文件:{exc.strerror or exc}") from exc
    if size == 0:
        raise UnreadableFile("unreadable-file", reason="文件是空的,大小为0字节")
    if size > limits.max_file_bytes:
        raise UnreadableFile(
            "unreadable-file",
            reason=f"文件大小为 {megabytes(size)},超过上限 {megabytes(limits.max_file_bytes)};请删除多余内容或分成几个文件提交",
        )
    try:
        if suffix in CSV_SUFFIXES:
            return RawWorkbook(path, (_read_csv(path, limits, deadline),))
        return _read_spreadsheet(path, suffix, limits, deadline)
    except FileRejected as rejected:
        raise UnreadableFile("unreadable-file", reason=rejected.reason) from rejected
    except OSError as exc:
        raise UnreadableFile("unreadable-file", reason=f"无法读取文件:{exc.strerror or exc}") from exc


_ZIP_MAGIC = b"PK\x03\x04"
_CFB_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")  # OLE2 compound file: .xls, or an encrypted .xlsx


def _read_spreadsheet(path: Path, suffix: str, limits: ReadLimits, deadline: Deadline) -> RawWorkbook:
    with path.open("rb") as handle:
        head = handle.read(4096)
    scan: ZipScan | None = None
    if suffix in SPREADSHEETML_SUFFIXES or suffix == ".ods":
        if head.startswith(_CFB_MAGIC):
            if suffix != ".ods" and _is_encrypted_package(path):
                raise FileRejected("文件设置了打开密码,请取消密码后重新提交")
            raise FileRejected(
                f"文件实际是旧版 .xls(Excel 97-2003)格式,却以 {suffix} 命名;请用 Excel 或 WPS 另存为 .xlsx"
            )
        if not head.startswith(_ZIP_MAGIC):
            raise FileRejected(_not_a_workbook(head))
        scan = inspect_zip(path, limits, deadline, spreadsheetml=suffix != ".ods")
    elif head.startswith(_ZIP_MAGIC):  # .xls
        raise FileRejected("文件实际是 .xlsx 格式,却以 .xls 命名;请把扩展名改为 .xlsx 后重新提交")
    elif not head.startswith(_CFB_MAGIC):
        raise FileRejected(_not_a_workbook(head))
    if scan is not None and scan.in_process:
        sheets = _calamine_sheets(path, limits)
    else:
        sheets = _read_in_child(path, limits, deadline)
    if scan is not None:
        _restore(sheets, scan)
    return RawWorkbook(path, sheets, date1904=scan.date1904 if scan is not None else False)


def _is_encrypted_package(path: Path) -> bool:
    """An encrypted .xlsx is an OLE2 file holding ``EncryptionInfo`` and ``EncryptedPackage`` streams."""
    marks = ("EncryptedPackage".encode("utf-16-le"), "EncryptionInfo".encode("utf-16-le"))
    tail = b""
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            if any(mark in tail + block for mark in marks):
                return True
            tail = block[-32:]
    return False


def _not_a_workbook(head: bytes) -> str:
    if head.lstrip()[:1] in (b"<",) or head[:3] == b"\xef\xbb\xbf":
        return (
            "文件内容是文本或网页,不是 Excel 工作簿,可能是改了扩展名的其他文件;请用 Excel 或 WPS 另存为 .xlsx"
        )
    return "文件内容不是 Excel 工作簿,可能是改了扩展名的其他文件"


def _calamine_sheets(path: Path, limits: ReadLimits) -> tuple[RawSheet, ...]:
    """The sheets as calamine reads them, each checked against the row, column and cell limits."""
    try:
        book = python_calamine.CalamineWorkbook.from_path(str(path))
    except python_calamine.PasswordError as exc:
        raise FileRejected("文件设置了打开密码,请取消密码后重新提交") from exc
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # calamine raises several unrelated types for damaged files
        raise FileRejected(_damage_reason(exc)) from exc
    sheets: list[RawSheet] = []
    try:
        for meta in book.sheets_metadata:
            if meta.typ != python_calamine.SheetTypeEnum.WorkSheet:
                continue
            sheet = book.get_sheet_by_name(meta.name)
            _check_size(meta.name, sheet.height, sheet.width, limits)
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
    except (FileRejected, KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # a panic inside calamine arrives as a BaseException
        raise FileRejected(_damage_reason(exc)) from exc
    finally:
        book.close()
    return tuple(sheets)


def _check_size(name: str, rows: int, columns: int, limits: ReadLimits) -> None:
    if rows > limits.max_rows:
        raise FileRejected(
            f"工作表“{name}”的数据区域有 {rows:,} 行,超过上限 {limits.max_rows:,} 行;如果表格下方远处有误填的内容,请删除后重新保存"
        )
    if columns > limits.max_columns:
        raise FileRejected(f"工作表“{name}”的数据区域有 {columns:,} 列,超过上限 {limits.max_columns:,} 列")
    if rows * columns > limits.max_cells:
        raise FileRejected(
            f"工作表“{name}”的数据区域为 {rows:,} 行 × {columns:,} 列,超过上限 {limits.max_cells:,} 个单元格;"
            "如果表格右下方远处有误填的内容,请删除后重新保存"
        )


def _damage_reason(exc: BaseException) -> str:
    if "limit exceeded" in str(exc).lower():  # calamine's own cap on the cells of one sheet
        return (
            "文件中某个工作表的表格范围过大(例如整行整列重复的单元格),超过读取上限;请删除多余的行列后重新保存"
        )
    return f"文件已损坏或格式不正确:{type(exc).__name__}"


def _restore(sheets: tuple[RawSheet, ...], scan: ZipScan) -> None:
    """Put back what python-calamine loses: error values, and the 1900-02-29 that Excel invents."""
    for sheet in sheets:
        found = scan.sheets.get(sheet.name)
        if found is None:
            continue
        for (row, col), text in found.errors.items():
            _replace(sheet, row, col, text, lambda value: value == "" or value is None)
        for row, col in found.leap_days:
            _replace(sheet, row, col, "1900-02-29", _is_1900_02_28)


def _replace(sheet: RawSheet, row: int, col: int, text: str, expected: Any) -> None:
    i, j = row - sheet.first_row, col - sheet.first_col
    if 0 <= i < len(sheet.rows) and 0 <= j < len(sheet.rows[i]) and expected(sheet.rows[i][j]):
        sheet.rows[i][j] = text


def _is_1900_02_28(value: Any) -> bool:
    day = value.date() if isinstance(value, datetime) else value
    return isinstance(day, date) and day == date(1900, 2, 28)


# ------------------------------------------------------------------------- the child process

_CHILD = "from sheetsync.read import _child_main; _child_main()"


def _read_in_child(path: Path, limits: ReadLimits, deadline: Deadline) -> tuple[RawSheet, ...]:
    """Read with calamine in a fresh interpreter that is killed when the file's time is up."""
    command = [sys.executable, "-c", _CHILD, str(path), limits.model_dump_json()]
    try:
        child = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    except OSError as exc:
        raise FileRejected(f"无法启动读取进程:{exc.strerror or exc}") from exc
    try:
        out, err = child.communicate(timeout=max(deadline.remaining(), 0.1))
    except subprocess.TimeoutExpired as exc:
        child.kill()
        child.communicate()
        raise FileRejected(time_reason(limits.max_seconds)) from exc
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    try:
        status, payload = pickle.loads(out)
    except Exception:
        log.warning("reading %s in a child process failed (exit %s): %s", path, child.returncode, err[-2000:])
        if child.returncode and child.returncode < 0 or b"memory allocation" in err:
            raise FileRejected(
                "读取时内存超过上限而中止;文件声明的表格范围极大(例如表格右下方远处有误填的单元格),"
                "请删除多余的行列后重新保存"
            ) from None
        raise FileRejected("读取文件时出错,文件可能已损坏;请用 Excel 或 WPS 重新保存后提交") from None
    if status == "rejected":
        raise FileRejected(payload)
    return payload


def _child_main() -> None:  # pragma: no cover - runs in the child process
    """Entry point of the child: read argv[1] within the limits in argv[2], pickle the outcome to stdout."""
    path, limits = Path(sys.argv[1]), ReadLimits.model_validate(json.loads(sys.argv[2]))
    _cap_memory(limits.child_memory_bytes)
    try:
        outcome: tuple[str, Any] = ("ok", _calamine_sheets(path, limits))
    except FileRejected as rejected:
        outcome = ("rejected", rejected.reason)
    except MemoryError:
        outcome = ("rejected", "读取时内存超过上限而中止;文件的表格范围过大,请删除多余的行列后重新保存")
    except BaseException as exc:  # a panic inside calamine arrives as a BaseException
        outcome = ("rejected", _damage_reason(exc))
    sys.stdout.buffer.write(pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL))
    sys.stdout.flush()


def _cap_memory(limit: int | None) -> None:  # pragma: no cover - runs in the child process
    if limit is None:
        return
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):  # not on this platform: the time limit still holds
        pass


# ------------------------------------------------------------------------------------- csv


def _read_csv(path: Path, limits: ReadLimits, deadline: Deadline) -> RawSheet:
    data = path.read_bytes()
    for encoding in CSV_ENCODINGS:
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise FileRejected("无法识别 CSV 文件的编码,请另存为 UTF-8 或 GBK 编码")
    if "\x00" in text:
        raise FileRejected("CSV 文件中含有二进制内容,可能不是文本文件")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    rows: list[list[str]] = []
    try:
        for row in csv.reader(_csv_lines(text, dialect.delimiter, limits, deadline), dialect):
            rows.append(row)
            if len(rows) > limits.max_rows:
                raise FileRejected(f"CSV 文件超过 {limits.max_rows:,} 行的上限;请分成几个文件提交")
    except csv.Error as exc:
        raise FileRejected(f"CSV 文件格式不正确(可能有超长的单元格或不成对的引号):{exc}") from exc
    return RawSheet(name=path.stem, rows=rows, first_row=0, first_col=0)


def _csv_lines(text: str, delimiter: str, limits: ReadLimits, deadline: Deadline) -> Iterator[str]:
    for number, line in enumerate(io.StringIO(text, newline="")):
        if number % 4096 == 0:
            deadline.check()
        if line.count(delimiter) >= limits.max_columns:
            raise FileRejected(f"CSV 文件第 {number + 1} 行超过 {limits.max_columns:,} 列的上限")
        yield line
