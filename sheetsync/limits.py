"""How much one submitted file may cost to read, and the checks that hold it to that before reading.

A workbook is a zip of XML parts, and python-calamine (native code) trusts what those parts
claim: a sheet with one value in A1 and one in XFD1048576 makes it allocate half a terabyte
and abort the whole process, a shared-string table that declares four billion strings does the
same, and a part that inflates to gigabytes takes as long as it takes.  None of that can be
stopped from Python once calamine runs, so everything a file claims is checked here first, on
the zip's own bytes, with a clock:

* the zip's directory: how many members, their declared sizes in total, each one's compression
  ratio, no zip-level password;
* every XML part, inflated by us (never trusting the declared size) up to the cap: its real
  size, no ``<!DOCTYPE``/``<!ENTITY>`` (Excel never writes one; it is how entity-expansion and
  external-entity attacks start);
* every worksheet: the cell block it really spans (rows, columns, cells), which cells hold error
  values (python-calamine hands those over as empty strings) and which hold the serial of the
  1900-02-29 that never was (python-calamine hands that over as 1900-02-28).

A file that passes and is small (:attr:`ReadLimits.in_process_max_bytes`) is read in process;
anything bigger, anything the scan could not vouch for and every .xls and .ods (whose cells
cannot be bounded without parsing them) is read in a child process with a memory cap and the
file's remaining time (see :mod:`sheetsync.read`).
"""

from __future__ import annotations

import re
import struct
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import defusedxml.ElementTree as SafeET
from pydantic import BaseModel, ConfigDict, Field

MB = 1_000_000
GIB = 1 << 30


class ReadLimits(BaseModel):
    """What reading one submitted file may cost; every limit applies before and while reading."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_file_bytes: int = Field(50 * MB, gt=0, description="文件本身的大小上限")
    max_inflated_bytes: int = Field(
        500 * MB, gt=0, description="解压后的大小上限:各部件声明的大小之和,以及实际解压出的 XML"
    )
    max_zip_members: int = Field(1000, gt=0, description="压缩包内的文件数上限")
    max_compression_ratio: float = Field(
        200.0, gt=1, description="单个部件(解压后超过 1MB 时)的压缩比上限;正常的 xlsx 在 5–50 倍"
    )
    max_rows: int = Field(200_000, gt=0, description="每个工作表的行数上限(从第一个到最后一个有内容的行)")
    max_columns: int = Field(16_384, gt=0, description="每个工作表的列数上限")
    max_cells: int = Field(
        10_000_000, gt=0, description="每个工作表的单元格区域上限(行数×列数,读取时按整块分配内存)"
    )
    max_seconds: float = Field(60.0, gt=0, description="读取一个文件的时间上限(秒)")
    in_process_max_bytes: int = Field(
        8 * MB,
        ge=0,
        description="XML 总量不超过此值且检查无异常的 .xlsx 在本进程读取,否则在子进程读取;0 表示总在子进程读取",
    )
    in_process_max_cells: int = Field(1_000_000, ge=0, description="在本进程读取时每个工作表的单元格区域上限")
    child_memory_bytes: int | None = Field(
        3 * GIB, gt=0, description="子进程的内存(地址空间)上限;None 表示不限"
    )


_DEFAULT = ReadLimits()


def default_limits() -> ReadLimits:
    """The limits :func:`sheetsync.read.read_workbook` applies when it is given none."""
    return _DEFAULT


def set_default_limits(limits: ReadLimits) -> ReadLimits:
    """Make ``limits`` the default (a job's configuration, say); returns the previous default."""
    global _DEFAULT
    previous, _DEFAULT = _DEFAULT, limits
    return previous


class FileRejected(Exception):
    """The file breaks a limit or cannot be what it claims; ``reason`` is shown to the submitter."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Deadline:
    """The time one file may still take; checked between chunks of work done in Python."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())

    def check(self) -> None:
        if time.monotonic() > self._end:
            raise FileRejected(time_reason(self.seconds))


def time_reason(seconds: float) -> str:
    return f"读取超过 {seconds:g} 秒仍未完成,已中止;文件可能过大或结构异常,请删除多余内容后重新保存"


def megabytes(size: int) -> str:
    return f"{size / MB:,.0f}MB" if size >= 10 * MB else f"{size / MB:,.1f}MB"


# --------------------------------------------------------------------------------- zip files

_CHUNK = 1 << 20
_RATIO_FLOOR = 1 * MB  # small parts may compress as well as they like
_XML_SUFFIXES = (".xml", ".rels")
_DTD_MARKS = tuple(
    mark.encode(encoding)
    for mark in ("<!DOCTYPE", "<!ENTITY")
    for encoding in ("ascii", "utf-16-le", "utf-16-be")
)
_DTD_OVERLAP = max(len(mark) for mark in _DTD_MARKS)
_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_MAX_CARRY = 4 << 20  # a cell's XML is a few KB; past this the carried tail is cut at a tag edge
_MAX_SMALL_PART = 32 * MB  # workbook.xml, its rels and sharedStrings' header are parsed whole


@dataclass
class SheetScan:
    """What one worksheet's XML really holds, as far as the scan looked."""

    part: str
    bounded: bool = True  # every cell and row carried its reference: the block below is exact
    cells: int = 0
    min_row: int | None = None
    max_row: int = -1
    min_col: int | None = None
    max_col: int = -1
    far_ref: str = ""  # the reference of a cell at the far edge, to name in a message
    errors: dict[tuple[int, int], str] = field(default_factory=dict)  # (row, col) → "#N/A"
    leap_days: set[tuple[int, int]] = field(default_factory=set)  # serial 60 in the 1900 system

    @property
    def rows(self) -> int:
        return 0 if self.min_row is None else self.max_row - self.min_row + 1

    @property
    def columns(self) -> int:
        return 0 if self.min_col is None else self.max_col - self.min_col + 1


@dataclass
class ZipScan:
    """The outcome of :func:`inspect_zip`: the file passed every check."""

    inflated: int = 0  # bytes of XML actually inflated
    date1904: bool = False
    sheets: dict[str, SheetScan] = field(default_factory=dict)  # sheet name → scan
    in_process: bool = False  # small, every sheet bounded and within the in-process limits


def inspect_zip(path: Path, limits: ReadLimits, deadline: Deadline, *, spreadsheetml: bool) -> ZipScan:
    """Check a zip-based workbook against ``limits`` without handing it to calamine.

    ``spreadsheetml`` is true for .xlsx/.xlsm (whose worksheets are scanned cell by cell) and
    false for .ods (whose parts are only size- and DTD-checked).
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise FileRejected(
            "文件不是完整的 Excel 工作簿(压缩包已损坏或不完整),可能在复制、下载或保存时被截断"
        ) from exc
    with archive, path.open("rb") as raw:
        members = archive.infolist()
        _check_directory(members, limits)
        scan = ZipScan()
        names = {info.filename: info for info in members}
        sheet_parts = _sheet_parts(names, limits, deadline, raw) if spreadsheetml else {}
        part_sheets = {part: name for name, part in sheet_parts.items()}
        # every part calamine might read cells from is bounded, named by the workbook or not
        cell_parts = set(part_sheets) | {
            name
            for name in names
            if spreadsheetml and name.startswith("xl/worksheets/") and name.endswith(".xml")
        }
        full_up_to = limits.in_process_max_bytes if spreadsheetml else 0
        if _declared_xml(members) > limits.in_process_max_bytes:
            full_up_to = 0
        shared_declared = shared_found = 0
        bounded: list[SheetScan] = []
        for info in members:
            if info.is_dir() or not info.filename.lower().endswith(_XML_SUFFIXES):
                continue
            sheet_name = part_sheets.get(info.filename)
            cells = info.filename in cell_parts
            scanner = _PartScanner(info.filename, cells=cells, full_up_to=full_up_to)
            for chunk in _inflate(raw, info, limits, deadline, scan):
                scanner.feed(chunk)
            scanner.finish()
            if cells:
                _check_sheet(sheet_name or info.filename, scanner.sheet, limits)
                bounded.append(scanner.sheet)
            if sheet_name is not None:
                scan.sheets[sheet_name] = scanner.sheet
            if info.filename == _SHARED_STRINGS:
                shared_declared, shared_found = scanner.shared_declared, scanner.shared_found
            if info.filename == _WORKBOOK:
                scan.date1904 = scanner.date1904
        if not spreadsheetml:
            return scan
        _check_shared_strings(shared_declared, shared_found, limits)
        if scan.date1904:
            for sheet in scan.sheets.values():
                sheet.leap_days.clear()
        scan.in_process = (
            full_up_to > 0
            and scan.inflated <= limits.in_process_max_bytes
            and shared_declared <= max(shared_found, limits.in_process_max_cells)
            and bool(sheet_parts)
            and set(scan.sheets) == set(sheet_parts)  # every sheet's part exists and was looked at
            and all(
                sheet.bounded and sheet.rows * sheet.columns <= limits.in_process_max_cells
                for sheet in bounded
            )
        )
        return scan


def _check_directory(members: list[zipfile.ZipInfo], limits: ReadLimits) -> None:
    if len(members) > limits.max_zip_members:
        raise FileRejected(
            f"压缩包内有 {len(members)} 个部件,超过上限 {limits.max_zip_members} 个,不像正常的工作簿"
        )
    declared = 0
    for info in members:
        if info.flag_bits & 0x1:
            raise FileRejected("文件设置了密码(压缩包加密),请取消密码后重新提交")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise FileRejected("文件使用了 Excel 不会使用的压缩方式,请用 Excel 或 WPS 重新保存")
        declared += info.file_size
        _check_ratio(info.filename, info.file_size, info.compress_size, limits)
    if declared > limits.max_inflated_bytes:
        raise FileRejected(_bomb_reason(declared, limits))


def _check_ratio(name: str, inflated: int, compressed: int, limits: ReadLimits) -> None:
    if inflated > _RATIO_FLOOR and inflated > limits.max_compression_ratio * max(compressed, 1):
        ratio = inflated / max(compressed, 1)
        raise FileRejected(
            f"部件“{name}”的压缩比达 {ratio:,.0f} 倍(上限 {limits.max_compression_ratio:g} 倍),疑似压缩炸弹"
        )


def _bomb_reason(size: int, limits: ReadLimits) -> str:
    return f"文件解压后超过 {megabytes(limits.max_inflated_bytes)}(至少 {megabytes(size)}),疑似压缩炸弹"


def _declared_xml(members: list[zipfile.ZipInfo]) -> int:
    return sum(info.file_size for info in members if info.filename.lower().endswith(_XML_SUFFIXES))


def _inflate(
    raw: BinaryIO, info: zipfile.ZipInfo, limits: ReadLimits, deadline: Deadline, scan: ZipScan
) -> Iterator[bytes]:
    """The member's real content in chunks, inflated by us whatever its header declares."""
    raw.seek(info.header_offset)
    header = raw.read(_LOCAL_HEADER.size)
    if len(header) < _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise FileRejected("文件不是完整的 Excel 工作簿(压缩包已损坏)")
    fields = _LOCAL_HEADER.unpack(header)
    raw.seek(info.header_offset + _LOCAL_HEADER.size + fields[9] + fields[10])
    left = info.compress_size
    inflater = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
    produced = 0
    while left > 0 or (inflater is not None and inflater.unconsumed_tail):
        deadline.check()
        if inflater is not None and inflater.unconsumed_tail:
            data = inflater.unconsumed_tail
        else:
            data = raw.read(min(_CHUNK, left))
            if not data:
                raise FileRejected("文件不是完整的 Excel 工作簿(压缩包已损坏或不完整)")
            left -= len(data)
        if inflater is None:
            out = data
        else:
            try:
                out = inflater.decompress(data, _CHUNK)
            except zlib.error as exc:
                raise FileRejected(f"文件已损坏:部件“{info.filename}”无法解压") from exc
        produced += len(out)
        scan.inflated += len(out)
        if scan.inflated > limits.max_inflated_bytes:
            raise FileRejected(_bomb_reason(scan.inflated, limits))
        if produced > info.file_size:
            raise FileRejected(
                f"部件“{info.filename}”解压后比它声明的大小({info.file_size:,} 字节)更大,"
                "文件已损坏或被刻意篡改(疑似压缩炸弹)"
            )
        _check_ratio(info.filename, produced, info.compress_size, limits)
        if out:
            yield out
        if inflater is not None and inflater.eof:
            return
    if inflater is not None and not inflater.eof:
        raise FileRejected(f"文件已损坏:部件“{info.filename}”不完整")


def _read_part(
    names: dict[str, zipfile.ZipInfo], name: str, limits: ReadLimits, deadline: Deadline, raw: BinaryIO
) -> bytes | None:
    info = names.get(name)
    if info is None:
        return None
    if info.file_size > _MAX_SMALL_PART:
        raise FileRejected(f"部件“{name}”异常地大({megabytes(info.file_size)}),文件结构不正常")
    chunks: list[bytes] = []
    size = 0
    for chunk in _inflate(raw, info, limits, deadline, ZipScan()):
        size += len(chunk)
        if size > _MAX_SMALL_PART:
            raise FileRejected(f"部件“{name}”异常地大,文件结构不正常")
        chunks.append(chunk)
    data = b"".join(chunks)
    _reject_dtd(name, data)
    return data


_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"


def _sheet_parts(
    names: dict[str, zipfile.ZipInfo], limits: ReadLimits, deadline: Deadline, raw: BinaryIO
) -> dict[str, str]:
    """Sheet name → worksheet part, resolved the way calamine resolves it ({} if it cannot be told)."""
    workbook = _read_part(names, _WORKBOOK, limits, deadline, raw)
    rels = _read_part(names, "xl/_rels/workbook.xml.rels", limits, deadline, raw)
    if workbook is None or rels is None:
        return {}
    try:
        targets = {
            rel.get("Id"): rel.get("Target") or ""
            for rel in SafeET.fromstring(rels).iter()
            if _local(rel.tag) == "Relationship"
        }
        parts: dict[str, str] = {}
        for sheet in SafeET.fromstring(workbook).iter():
            if _local(sheet.tag) != "sheet":
                continue
            ids = [
                value for key, value in sheet.attrib.items() if key.startswith("{") and _local(key) == "id"
            ]
            target = targets.get(ids[0]) if ids else None
            name = sheet.get("name")
            if target is None or name is None:
                continue
            # calamine's rule, unnormalised: "/xl/…" and "xl/…" as they are, anything else under xl/
            if target.startswith("/xl/"):
                target = target[1:]
            elif not target.startswith("xl/"):
                target = "xl/" + target
            parts[name] = target
    except Exception:  # a broken workbook.xml: calamine will say so; nothing is vouched for here
        return {}
    return parts


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _reject_dtd(name: str, data: bytes) -> None:
    if (b"<!" in data or b"<\x00!" in data or b"\x00<\x00!" in data) and any(
        mark in data for mark in _DTD_MARKS
    ):
        raise FileRejected(
            f"部件“{name}”含有 XML 实体声明(DOCTYPE/ENTITY)。Excel 和 WPS 从不写入这种内容,"
            "它可被用来发动实体膨胀或读取服务器文件,文件已拒收;请用 Excel 或 WPS 重新保存"
        )


def _check_shared_strings(declared: int, found: int, limits: ReadLimits) -> None:
    if declared > limits.max_cells and declared > found:
        raise FileRejected(
            f"共享字符串表声明了 {declared:,} 个字符串,实际只有 {found:,} 个,超过上限 {limits.max_cells:,},文件结构异常"
        )


def _check_sheet(name: str, sheet: SheetScan, limits: ReadLimits) -> None:
    if not sheet.bounded:
        return
    where = f"(最远到单元格 {sheet.far_ref})" if sheet.far_ref else ""
    if sheet.rows > limits.max_rows:
        raise FileRejected(
            f"工作表“{name}”的数据区域有 {sheet.rows:,} 行{where},超过上限 {limits.max_rows:,} 行;"
            "如果表格下方远处有误填的内容,请删除后重新保存"
        )
    if sheet.columns > limits.max_columns:
        raise FileRejected(
            f"工作表“{name}”的数据区域有 {sheet.columns:,} 列{where},超过上限 {limits.max_columns:,} 列"
        )
    if sheet.rows * sheet.columns > limits.max_cells:
        raise FileRejected(
            f"工作表“{name}”的数据区域为 {sheet.rows:,} 行 × {sheet.columns:,} 列{where},"
            f"超过上限 {limits.max_cells:,} 个单元格;如果表格右下方远处有误填的内容,请删除后重新保存"
        )


# ------------------------------------------------------------------------- one XML part, streamed

_NAME = rb"(?:[A-Za-z_][\w.-]*:)?"
_CELL_START = re.compile(rb"<" + _NAME + rb"c(?=[\s/>])")
# a whole start tag, quoted values and all (an attribute value may hold a '>')
_CELL_TAG = re.compile(rb"<" + _NAME + rb"c((?:\s+[\w:.-]+\s*=\s*(?:\"[^\"<]*\"|'[^'<]*'))*)\s*(/?)>")
_ATTR = re.compile(rb"([\w:.-]+)\s*=\s*(?:\"([^\"<]*)\"|'([^'<]*)')")
_REF = re.compile(rb"([A-Z]{1,7})([1-9][0-9]{0,9})")
_ERROR_TYPE = re.compile(rb"\st\s*=\s*[\"']e[\"']")
# the start of a cell as Excel, WPS, LibreOffice, openpyxl and XlsxWriter all write it: no prefix,
# its reference first, in double quotes; a chunk whose every cell starts so is bounded in bulk
_PLAIN_REF = rb'<c r="([A-Z]{1,7}[1-9][0-9]{0,9})"[\s/>]'
# every cell start, with its reference when it starts plainly and b"" when not: one pass tells
# both whether the chunk is plain and where its cells are.  The first form is for chunks without
# b":c", which can hold no prefixed cell and so need no prefix tried at every "<" (about twice as fast)
_CELL_UNPREFIXED = re.compile(_PLAIN_REF + rb"|<c(?=[\s/>])")
_CELL_ANY = re.compile(_PLAIN_REF + rb"|<" + _NAME + rb"c(?=[\s/>])")
_DIGITS = b"0123456789"
_LETTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_VALUE = re.compile(rb"<" + _NAME + rb"v(?:\s[^>]*)?>([^<]{0,64})</" + _NAME + rb"v>")
_SERIAL_60 = re.compile(rb"<" + _NAME + rb"v(?:\s[^>]*)?>60(?:\.[0-9]+)?</")
# what follows the tag of every _SERIAL_60 match; a literal start, so it is found fast
_SERIAL_60_TAIL = re.compile(rb">60(?:\.[0-9]+)?</")
_SST_TAG = re.compile(rb"<" + _NAME + rb"sst(?=[\s/>])([^>]*)>")
_COUNT_ATTRS = re.compile(rb"(?:^|\s)(?:count|uniqueCount)\s*=\s*[\"']\s*([0-9]{1,20})\s*[\"']")
_SI_TAG = re.compile(rb"<" + _NAME + rb"si(?=[\s/>])")
_WORKBOOK_PR = re.compile(rb"<" + _NAME + rb"workbookPr(?=[\s/>])([^>]*)>")
_DATE1904 = re.compile(rb"(?:^|\s)date1904\s*=\s*[\"']\s*(1|true)\s*[\"']")
_ERROR_VALUES = frozenset(
    {"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA"}
)
_SHARED_STRINGS = "xl/sharedStrings.xml"
_WORKBOOK = "xl/workbook.xml"
_COLUMNS: dict[bytes, int] = {}


def column_index(letters: bytes) -> int:
    """0-based index of a column's letters (b"A" → 0, b"XFD" → 16383)."""
    index = _COLUMNS.get(letters)
    if index is None:
        index = 0
        for char in letters:
            index = index * 26 + char - 64
        index -= 1
        if len(_COLUMNS) < 20_000:
            _COLUMNS[letters] = index
    return index


def _attributes(tag: re.Match[bytes]) -> dict[bytes, bytes]:
    return {name: double or single for name, double, single in _ATTR.findall(tag.group(1))}


def _cell_position(attrs: dict[bytes, bytes]) -> tuple[int, int] | None:
    ref = _REF.fullmatch(attrs.get(b"r", b""))
    if ref is None:
        return None
    return int(ref.group(2)) - 1, column_index(ref.group(1))


class _PartScanner:
    """Looks at one XML part chunk by chunk; chunks are cut so that no cell element is split."""

    def __init__(self, name: str, *, cells: bool, full_up_to: int) -> None:
        self.name = name
        self.cells = cells
        self.full_up_to = full_up_to  # cells are bounded one by one while the part stays this small
        self.sheet = SheetScan(part=name, bounded=full_up_to > 0)
        self.shared_declared = 0
        self.shared_found = 0
        self.date1904 = False
        self._seen = 0
        self._tail = b""  # end of the previous chunk, for a DTD mark split across chunks
        self._carry = b""

    @property
    def full(self) -> bool:
        return self.sheet.bounded

    def feed(self, chunk: bytes) -> None:
        _reject_dtd(self.name, self._tail + chunk)
        self._tail = chunk[-_DTD_OVERLAP:]
        if self._seen == 0:
            self._header(chunk)
        self._seen += len(chunk)
        if self._seen > self.full_up_to:
            self.sheet.bounded = False  # too big to bound here: the child process reads it
        if self.name == _SHARED_STRINGS:
            data = self._carry + chunk
            cut = max(0, len(data) - 16)
            self.shared_found += sum(1 for tag in _SI_TAG.finditer(data) if tag.start() < cut)
            self._carry = data[cut:]
        elif self.cells:
            data = self._carry + chunk
            cut = _cut(data)
            self._carry = data[cut:]
            self._cells(data[:cut])

    def finish(self) -> None:
        if self.name == _SHARED_STRINGS:
            self.shared_found += len(_SI_TAG.findall(self._carry))
        elif self.cells and self._carry:
            self._cells(self._carry)
        self._carry = b""

    def _header(self, chunk: bytes) -> None:
        if self.name == _SHARED_STRINGS:
            found = _SST_TAG.search(chunk)
            if found:
                counts = [int(value) for value in _COUNT_ATTRS.findall(found.group(1))]
                self.shared_declared = max(counts, default=0)
        elif self.name == _WORKBOOK:
            found = _WORKBOOK_PR.search(chunk)
            self.date1904 = bool(found and _DATE1904.search(found.group(1)))

    def _cells(self, data: bytes) -> None:
        if self.full:
            self._bound(data)
        elif (b'"e"' in data or b"'e'" in data) and _ERROR_TYPE.search(data):
            for tag in _CELL_TAG.finditer(data):
                self._error_cell(data, tag, _attributes(tag))
        for serial in _serials_60(data):
            tag = _last_cell_tag(data, serial.start())
            if tag is None:
                continue
            attrs = _attributes(tag)
            position = _cell_position(attrs)
            if position is not None and attrs.get(b"t", b"n") == b"n":
                self.sheet.leap_days.add(position)

    def _bound(self, data: bytes) -> None:
        if not self._bound_plain(data):
            self._bound_any(data)

    def _bound_plain(self, data: bytes) -> bool:
        """Bound a chunk whose cells all start the usual way, reading only their references.

        Same extents, far reference and error cells as :meth:`_bound_any`, at a fraction of its
        cost on real files; False (nothing counted) when any cell is written otherwise.

        No Python step is taken per cell: one regex pass lists the references, C-level splits
        part them into rows and columns, and only the distinct ones are converted.  The far
        reference is the last cell that raised either maximum, which is the first cell holding
        the chunk's greatest row (if that beats the rows before) or its greatest column (likewise),
        whichever comes later: a cell after it raises neither.
        """
        refs = (_CELL_ANY if b":c" in data else _CELL_UNPREFIXED).findall(data)
        if b"" in refs:  # a cell start that is not plain
            return False
        sheet = self.sheet
        sheet.cells += len(refs)
        if refs:
            joined = b" ".join(refs)
            rows = joined.translate(None, _LETTERS).split()  # b"12" for every b"AB12", in order
            cols = joined.translate(None, _DIGITS).split()  # b"AB" likewise
            row_texts, col_texts = set(rows), set(cols)
            # digits have no leading zero and letters no gap: one text per row and per column
            top_row_text, top_col_text = max(row_texts, key=int), max(col_texts, key=column_index)
            low_row, top_row = int(min(row_texts, key=int)) - 1, int(top_row_text) - 1
            low_col, top_col = column_index(min(col_texts, key=column_index)), column_index(top_col_text)
            if sheet.min_row is None or low_row < sheet.min_row:
                sheet.min_row = low_row
            if sheet.min_col is None or low_col < sheet.min_col:
                sheet.min_col = low_col
            far = rows.index(top_row_text) if top_row > sheet.max_row else -1
            if top_col > sheet.max_col:
                far = max(far, cols.index(top_col_text))
            if far >= 0:
                sheet.max_row, sheet.max_col = max(sheet.max_row, top_row), max(sheet.max_col, top_col)
                sheet.far_ref = refs[far].decode("ascii")
        if (b'"e"' in data or b"'e'" in data) and _ERROR_TYPE.search(data):
            for tag in _CELL_TAG.finditer(data):
                self._error_cell(data, tag, _attributes(tag))
        return True

    def _bound_any(self, data: bytes) -> None:
        sheet = self.sheet
        for start in _CELL_START.finditer(data):
            sheet.cells += 1
            tag = _CELL_TAG.match(data, start.start())
            attrs = _attributes(tag) if tag else {}
            position = _cell_position(attrs)
            if tag is None or position is None:
                sheet.bounded = False  # calamine would place it where we cannot tell
                return
            row, col = position
            if sheet.min_row is None or row < sheet.min_row:
                sheet.min_row = row
            if sheet.min_col is None or col < sheet.min_col:
                sheet.min_col = col
            if row > sheet.max_row or col > sheet.max_col:
                sheet.max_row = max(sheet.max_row, row)
                sheet.max_col = max(sheet.max_col, col)
                sheet.far_ref = attrs[b"r"].decode("ascii")
            if b"t" in attrs:
                self._error_cell(data, tag, attrs)

    def _error_cell(self, data: bytes, tag: re.Match[bytes], attrs: dict[bytes, bytes]) -> None:
        if attrs.get(b"t") != b"e" or tag.group(2):
            return
        position = _cell_position(attrs)
        following = _CELL_START.search(data, tag.end())
        value = _VALUE.search(data, tag.end(), following.start() if following else len(data))
        if position is None or value is None:
            return
        text = value.group(1).decode("utf-8", "replace").strip()
        if text in _ERROR_VALUES:
            self.sheet.errors[position] = text


def _cut(data: bytes) -> int:
    """Where to cut a chunk so that every cell element before the cut is whole.

    At the start of the last cell when it is near the end (always, in a real workbook);
    otherwise at the last tag edge, so that at least no tag is split.
    """
    low = max(0, len(data) - _MAX_CARRY)
    position = len(data)
    for _ in range(64):
        position = data.rfind(b"<", low, position)
        if position < 0:
            break
        if _CELL_START.match(data, position):
            return position
    last_open = data.rfind(b"<")
    return last_open if last_open > data.rfind(b">") else len(data)


def _serials_60(data: bytes) -> Iterator[re.Match[bytes]]:
    """The matches of ``_SERIAL_60.finditer(data)``, found from their rare literal tail.

    ``finditer`` would try every "<" of a chunk; the tail (``>60``, then ``</`` or a fraction)
    is rare and starts with a literal.  The part of a match before its tail holds no ``>``, so a
    match with a given tail starts after the ``>`` before that tail, and the leftmost start
    there is the one ``finditer`` finds: after its ``>`` a match holds only digits and the
    ``</`` that no match starts at, so no match starts inside another.
    """
    for tail in _SERIAL_60_TAIL.finditer(data):
        serial = _SERIAL_60.search(data, data.rfind(b">", 0, tail.start()) + 1, tail.end())
        if serial is not None:
            yield serial


def _last_cell_tag(data: bytes, before: int) -> re.Match[bytes] | None:
    starts = list(_CELL_START.finditer(data, max(0, before - 4096), before))
    return _CELL_TAG.match(data, starts[-1].start()) if starts else None
