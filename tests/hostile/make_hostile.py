"""Generate the hostile inputs of issue #8 into a directory, at test time (nothing big is committed).

Each builder writes one file the way a careless, unlucky or malicious submitter could produce
it: damaged or disguised files, password-protected ones, zip bombs, XML entity attacks,
sheets that claim the whole grid, the layouts real people make (merged headers, title rows,
hidden and renamed sheets, shuffled columns), formulas and error values, extreme text, the
corners of Excel's two date systems and duplicate keys.  Bombs are cheap to make: a deflate
segment of one highly compressible MiB is computed once and repeated, and the zip around it
is written by hand so that its declared sizes can tell the truth or lie.

Run ``python tests/hostile/make_hostile.py DIR`` to look at the files themselves.
"""

from __future__ import annotations

import struct
import sys
import zipfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import xlsxwriter

from sheetsync.schemas.stamp import STAMP_LABELS, STAMP_SHEET

GOOD = "91440101MA5CJQ4N59"
GOOD2 = "914403001922038216"
GOOD3 = "91330100799655058B"
SUBMITTER = "越秀区"
STAMP = {"submitter": SUBMITTER, "kind": "district", "period": "2014-11", "template_version": "v1"}
ENTERPRISE_HEADERS = ["统一社会信用代码", "企业名称", "所属区县", "行业门类", "企业类别", "审核类型"]
TRAINING_HEADERS = ["培训编号", "培训日期", "培训主题", "参训人次"]
SHEET1 = "xl/worksheets/sheet1.xml"
MIB = 1 << 20
GIB = 1 << 30


def enterprise(code: str = GOOD, name: str = "广州市越秀某某有限公司") -> list[Any]:
    return [code, name, SUBMITTER, "C 制造业", "规模以上工业", "自愿"]


@dataclass(frozen=True)
class Formula:
    """A formula cell with the value Excel last computed (``None``: never computed)."""

    text: str
    cached: Any = None


@dataclass(frozen=True)
class Serial:
    """An Excel serial number written as a number with a date format."""

    value: float


# --------------------------------------------------------------------------------- writers


def write_book(
    path: Path,
    sheets: Mapping[str, Sequence[Sequence[Any]]],
    *,
    stamp: Mapping[str, str] | None = STAMP,
    date1904: bool = False,
    hidden: Sequence[str] = (),
    merges: Mapping[str, Sequence[tuple[int, int, int, int, str]]] | None = None,
) -> Path:
    """A workbook as a submitter's Excel would save it (XlsxWriter), every cell typed as given."""
    book = xlsxwriter.Workbook(str(path), {"date_1904": date1904, "strings_to_numbers": False})
    date_format = book.add_format({"num_format": "yyyy-mm-dd"})
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        for first_row, first_col, last_row, last_col, text in (merges or {}).get(name, ()):
            sheet.merge_range(first_row, first_col, last_row, last_col, text)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                _write_cell(sheet, r, c, value, date_format)
        if name in hidden:
            sheet.hide()
    if stamp is not None:
        write_stamp(book, stamp)
    book.close()
    return path


def write_stamp(book: xlsxwriter.Workbook, stamp: Mapping[str, str]) -> None:
    """The very hidden 填报信息 sheet a template carries: submitter, period, template version."""
    sheet = book.add_worksheet(STAMP_SHEET)
    labels = {field: label for label, field in STAMP_LABELS.items()}
    for r, (field, value) in enumerate(stamp.items()):
        sheet.write_string(r, 0, labels[field])
        sheet.write_string(r, 1, value)
    sheet.very_hidden()


def _write_cell(sheet: Any, r: int, c: int, value: Any, date_format: Any) -> None:
    if value is None:
        return
    if isinstance(value, Formula):
        if value.cached is None:
            sheet.write_formula(r, c, value.text, None, "")
        else:
            sheet.write_formula(r, c, value.text, None, value.cached)
    elif isinstance(value, Serial):
        sheet.write_number(r, c, value.value, date_format)
    elif isinstance(value, datetime | date):
        sheet.write_datetime(r, c, value, date_format)
    elif isinstance(value, bool):
        sheet.write_boolean(r, c, value)
    elif isinstance(value, str):
        sheet.write_string(r, c, value)
    else:
        sheet.write_number(r, c, value)


def rewrite_zip(
    src: Path,
    dst: Path,
    edits: Mapping[str, Callable[[bytes], bytes]],
    *,
    extra: Mapping[str, bytes] | None = None,
) -> Path:
    """Copy a workbook, passing some of its XML parts through ``edits`` (raw bytes in, raw bytes out)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename in edits:
                data = edits[item.filename](data)
            zout.writestr(item.filename, data)
        for name, data in (extra or {}).items():
            zout.writestr(name, data)
    return dst


@dataclass(frozen=True)
class RawMember:
    """One member of a hand-written zip: its compressed bytes and what the headers declare."""

    name: str
    compressed: bytes
    declared_size: int
    crc: int = 0
    method: int = zipfile.ZIP_DEFLATED
    flags: int = 0


def raw_member(name: str, data: bytes) -> RawMember:
    """An honest member: deflated, with its true size and CRC."""
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    return RawMember(name, packer.compress(data) + packer.flush(), len(data), zlib.crc32(data))


def write_raw_zip(path: Path, members: Sequence[RawMember]) -> Path:
    """A zip written byte by byte, so that sizes, CRCs and flags are exactly what a test wants."""
    local = bytearray()
    central = bytearray()
    for member in members:
        name = member.name.encode("utf-8")
        offset = len(local)
        fields = (
            20,
            member.flags,
            member.method,
            0,
            0x21,
            member.crc,
            len(member.compressed),
            member.declared_size,
            len(name),
            0,
        )
        local += struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", *fields) + name + member.compressed
        central += (
            struct.pack("<4sH", b"PK\x01\x02", 20)
            + struct.pack("<HHHHHIIIHH", *fields)
            + struct.pack("<HHHII", 0, 0, 0, 0, offset)
            + name
        )
    end = struct.pack(
        "<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), len(local), 0
    )
    path.write_bytes(bytes(local + central + end))
    return path


def repeated_deflate(prefix: bytes, unit: bytes, total: int, suffix: bytes) -> tuple[bytes, int]:
    """Raw deflate of ``prefix + unit * n + suffix`` (about ``total`` bytes) made in milliseconds.

    One MiB of ``unit`` is compressed once, ending in a full flush, and that segment repeated:
    a fresh compressor per segment refers to nothing before it, so the pieces join into one
    valid stream.
    """
    block = unit * (MIB // len(unit))

    def segment(data: bytes, mode: int) -> bytes:
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
        return packer.compress(data) + packer.flush(mode)

    middle = segment(block, zlib.Z_FULL_FLUSH)
    count = max(1, total // len(block))
    stream = segment(prefix, zlib.Z_FULL_FLUSH) + middle * count + segment(suffix, zlib.Z_FINISH)
    return stream, len(prefix) + len(block) * count + len(suffix)


def write_cfb(path: Path, streams: Mapping[str, bytes]) -> Path:
    """A minimal OLE2 compound file (version 3, 512-byte sectors) holding ``streams``.

    Encrypted Office documents are such files, with ``EncryptionInfo`` and ``EncryptedPackage``
    streams; an old .xls is one with a ``Workbook`` stream.  Each stream is padded to 4096 bytes
    so that it lives in regular sectors and no mini stream is needed.
    """
    sector = 512
    end_of_chain, free, fat_sector = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD
    datas = [data.ljust(4096, b"\0") for data in streams.values()]
    starts: list[int] = []
    fat = [fat_sector, end_of_chain]  # sector 0: the FAT, sector 1: the directory
    for data in datas:
        count = len(data) // sector + (1 if len(data) % sector else 0)
        starts.append(len(fat))
        fat.extend(range(len(fat) + 1, len(fat) + count))
        fat.append(end_of_chain)
    assert len(fat) <= sector // 4
    fat.extend([free] * (sector // 4 - len(fat)))

    def entry(name: str, kind: int, left: int, right: int, child: int, start: int, size: int) -> bytes:
        encoded = (name + "\0").encode("utf-16-le")
        return (
            encoded.ljust(64, b"\0")
            + struct.pack("<HBB", len(encoded), kind, 1)
            + struct.pack("<III", left, right, child)
            + b"\0" * 16
            + struct.pack("<I", 0)
            + b"\0" * 16
            + struct.pack("<IQ", start, size)
        )

    names = list(streams)
    none = free
    # sibling order of a compound file: shorter names first, then by upper-cased name
    order = sorted(range(len(names)), key=lambda i: (len(names[i]), names[i].upper()))
    entries = [entry("Root Entry", 5, none, none, order[0] + 1, end_of_chain, 0)]
    for i, name in enumerate(names):
        position = order.index(i)
        right = order[position + 1] + 1 if position + 1 < len(order) else none
        entries.append(entry(name, 2, none, right, none, starts[i], len(streams[name])))
    directory = b"".join(entries).ljust(sector, b"\0")
    assert len(directory) == sector, "at most three streams"
    header = (
        bytes.fromhex("D0CF11E0A1B11AE1")
        + b"\0" * 16
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + b"\0" * 6
        + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, end_of_chain, 0, end_of_chain, 0)
        + struct.pack("<I", 0)
        + struct.pack("<I", free) * 108
    )
    assert len(header) == sector
    body = b"".join(datas)
    path.write_bytes(header + struct.pack(f"<{sector // 4}I", *fat) + directory + body)
    return path


# ------------------------------------------------------------------------------- the corpus


def _contract(path: Path, **kwargs: Any) -> Path:
    rows = [ENTERPRISE_HEADERS, enterprise(), enterprise(GOOD2, "广州某某酒店有限公司")]
    return write_book(path, {"企业名录": rows}, **kwargs)


def _replace(old: bytes, new: bytes, count: int = 1) -> Callable[[bytes], bytes]:
    def edit(data: bytes) -> bytes:
        assert old in data, (old, data[:300])
        return data.replace(old, new, count)

    return edit


def _with_prolog(prolog: bytes) -> Callable[[bytes], bytes]:
    def edit(data: bytes) -> bytes:
        head, sep, rest = data.partition(b"?>")
        return head + sep + prolog + rest

    return edit


def empty(d: Path) -> Path:
    path = d / "empty.xlsx"
    path.write_bytes(b"")
    return path


def not_a_zip(d: Path) -> Path:
    """What WPS's "save as web page" or a renamed export produces: HTML named .xlsx."""
    path = d / "not_a_zip.xlsx"
    path.write_text("<html><body><table><tr><td>统一社会信用代码</td></tr></table></body></html>", "utf-8")
    return path


def truncated(d: Path) -> Path:
    full = _contract(d / "full.xlsx")
    data = full.read_bytes()
    full.unlink()
    path = d / "truncated.xlsx"
    path.write_bytes(data[: len(data) * 2 // 3])
    return path


def password_protected(d: Path) -> Path:
    """An xlsx saved with an opening password: an OLE2 file with the encrypted package inside."""
    info = struct.pack("<HHI", 4, 4, 0x40) + b"<encryption/>"  # agile encryption header
    package = struct.pack("<Q", 5000) + bytes(range(256)) * 20
    return write_cfb(d / "password.xlsx", {"EncryptionInfo": info, "EncryptedPackage": package})


def zip_password(d: Path) -> Path:
    """A zip whose members carry the 'encrypted' flag (a zip tool's password, not Excel's)."""
    members = [raw_member("[Content_Types].xml", b"<Types/>")]
    secret = raw_member(SHEET1, b"x" * 100)
    members.append(RawMember(secret.name, secret.compressed, secret.declared_size, secret.crc, flags=0x1))
    return write_raw_zip(d / "zip_password.xlsx", members)


def xlsb(d: Path) -> Path:
    path = d / "book.xlsb"
    _contract(d / "as_xlsx.xlsx").rename(path)
    return path


def xls_named_xlsx(d: Path) -> Path:
    return write_cfb(d / "old_format.xlsx", {"Workbook": b"\x09\x08\x10\x00" + b"\0" * 100})


def xlsx_named_xls(d: Path) -> Path:
    path = d / "new_format.xls"
    _contract(d / "tmp_new.xlsx").rename(path)
    return path


_SHEET_HEAD = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
)
_SHEET_TAIL = b"</sheetData></worksheet>"


def _bomb(d: Path, name: str, total: int, declare: Callable[[int], int]) -> Path:
    """A real workbook whose first sheet is replaced by ``total`` bytes of empty cells."""
    base = _contract(d / f"{name}_base.xlsx")
    members = []
    with zipfile.ZipFile(base) as source:
        for item in source.infolist():
            if item.filename == SHEET1:
                stream, size = repeated_deflate(
                    _SHEET_HEAD + b'<row r="1">', b"<c/>", total, b"</row>" + _SHEET_TAIL
                )
                members.append(RawMember(SHEET1, stream, declare(size)))
            else:
                members.append(raw_member(item.filename, source.read(item.filename)))
    base.unlink()
    return write_raw_zip(d / f"{name}.xlsx", members)


def bomb_declared(d: Path) -> Path:
    """A sheet that inflates to 2 GiB, and says so in its headers."""
    return _bomb(d, "bomb_declared", 2 * GIB, lambda size: size)


def bomb_lying(d: Path) -> Path:
    """A sheet that inflates to 1 GiB while its headers claim 1 KB."""
    return _bomb(d, "bomb_lying", 1 * GIB, lambda size: 1000)


def bomb_ratio(d: Path) -> Path:
    """Under the size cap (100 MiB) but compressed a thousand to one."""
    return _bomb(d, "bomb_ratio", 100 * MIB, lambda size: size)


def many_members(d: Path) -> Path:
    base = _contract(d / "many_base.xlsx")
    extra = {f"xl/media/image{i}.png": b"\x89PNG" for i in range(1500)}
    path = rewrite_zip(base, d / "many_members.xlsx", {}, extra=extra)
    base.unlink()
    return path


_LAUGHS = (
    b'<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b"]>"
)


def billion_laughs(d: Path) -> Path:
    base = _contract(d / "laughs_base.xlsx")
    edits = {
        "xl/sharedStrings.xml": lambda data: _with_prolog(_LAUGHS)(data).replace(
            "广州市越秀某某有限公司".encode(), b"&lol9;", 1
        )
    }
    path = rewrite_zip(base, d / "billion_laughs.xlsx", edits)
    base.unlink()
    return path


def external_entity(d: Path) -> Path:
    base = _contract(d / "xxe_base.xlsx")
    prolog = b'<!DOCTYPE worksheet [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    edits = {SHEET1: lambda data: _with_prolog(prolog)(data).replace(b"<v>0</v>", b"<v>&xxe;</v>", 1)}
    path = rewrite_zip(base, d / "external_entity.xlsx", edits)
    base.unlink()
    return path


def external_entity_utf16(d: Path) -> Path:
    """The same attack in a part re-encoded as UTF-16, past a byte-level search for ``<!DOCTYPE``."""
    base = _contract(d / "xxe16_base.xlsx")

    def edit(data: bytes) -> bytes:
        text = data.decode("utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"')
        text = text.replace("?>", '?><!DOCTYPE sst [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', 1)
        return text.encode("utf-16")

    path = rewrite_zip(base, d / "external_entity_utf16.xlsx", {"xl/sharedStrings.xml": edit})
    base.unlink()
    return path


def last_cell(d: Path) -> Path:
    """The contract table plus one stray value in XFD1048576, the last cell of the grid."""
    base = _contract(d / "last_base.xlsx")
    stray = b'<row r="1048576"><c r="XFD1048576" t="n"><v>1</v></c></row></sheetData>'
    path = rewrite_zip(base, d / "last_cell.xlsx", {SHEET1: _replace(b"</sheetData>", stray)})
    base.unlink()
    return path


def last_row_unreferenced(d: Path) -> Path:
    """A stray row 1048576 whose cells carry no reference (valid XML: calamine counts them)."""
    base = _contract(d / "lastrow_base.xlsx")
    stray = b'<row r="1048576"><c><v>1</v></c><c><v>2</v></c></row></sheetData>'
    path = rewrite_zip(base, d / "last_row_unreferenced.xlsx", {SHEET1: _replace(b"</sheetData>", stray)})
    base.unlink()
    return path


def beyond_the_grid(d: Path) -> Path:
    base = _contract(d / "beyond_base.xlsx")
    stray = b'<row r="99999999"><c r="B99999999"><v>1</v></c></row></sheetData>'
    path = rewrite_zip(base, d / "beyond_the_grid.xlsx", {SHEET1: _replace(b"</sheetData>", stray)})
    base.unlink()
    return path


def shared_strings_claim(d: Path) -> Path:
    """A shared-string table that declares four billion strings (python-calamine reserves them)."""
    base = _contract(d / "sst_base.xlsx")

    def edit(data: bytes) -> bytes:
        head, _, rest = data.partition(b"<sst ")
        attrs, _, body = rest.partition(b">")
        attrs = b" ".join(a for a in attrs.split(b" ") if not a.startswith((b"count", b"uniqueCount")))
        return head + b"<sst " + attrs + b' count="4294967295" uniqueCount="4294967295">' + body

    path = rewrite_zip(base, d / "shared_strings_claim.xlsx", {"xl/sharedStrings.xml": edit})
    base.unlink()
    return path


def dimension_claim(d: Path) -> Path:
    """A ``<dimension>`` that claims the whole grid around an ordinary table."""
    base = _contract(d / "dim_base.xlsx")
    path = rewrite_zip(
        base,
        d / "dimension_claim.xlsx",
        {SHEET1: _replace(b'<dimension ref="A1:F3"/>', b'<dimension ref="A1:XFD1048576"/>')},
    )
    base.unlink()
    return path


def merged_header(d: Path) -> Path:
    """A banner merged across the table above the header, and 企业名称 merged over two columns."""
    rows = [
        [None] * 7,
        ["统一社会信用代码", None, None, "所属区县", "行业门类", "企业类别", "审核类型"],
        [GOOD, "广州市越秀某某有限公司", None, SUBMITTER, "C 制造业", "规模以上工业", "自愿"],
    ]
    merges = {"企业名录": [(0, 0, 0, 6, "2014年企业名录(越秀区)"), (1, 1, 1, 2, "企业名称")]}
    return write_book(d / "merged_header.xlsx", {"企业名录": rows}, merges=merges)


def title_row(d: Path) -> Path:
    """A title and a blank row above the header; the second data row has a bad credit code."""
    rows = [
        ["越秀区清洁生产企业名录(2014年11月)"],
        [],
        ENTERPRISE_HEADERS,
        enterprise(),
        enterprise("91440101MA5CJQ4N58", "校验位错误的企业"),
    ]
    return write_book(d / "title_row.xlsx", {"企业名录": rows})


def hidden_and_renamed(d: Path) -> Path:
    """企业名录 hidden; 培训活动 renamed to 'Sheet1' (found by its headers)."""
    sheets = {
        "企业名录": [ENTERPRISE_HEADERS, enterprise()],
        "Sheet1": [TRAINING_HEADERS, ["YX-2014-01", date(2014, 5, 31), "清洁生产审核培训", 30]],
    }
    return write_book(d / "hidden_and_renamed.xlsx", sheets, hidden=["企业名录"])


def reordered_and_extra(d: Path) -> Path:
    headers = [
        "审核类型",
        "企业名称",
        "序号",
        "统一社会信用代码",
        "企业类别",
        "所属区县",
        "行业门类",
        "内部备注",
    ]
    row = ["自愿", "广州市越秀某某有限公司", 1, GOOD, "规模以上工业", SUBMITTER, "C 制造业", "仅供内部"]
    return write_book(d / "reordered_and_extra.xlsx", {"企业名录": [headers, row]})


def formulas(d: Path) -> Path:
    """Formulas in place of values: the cached value counts; one was never calculated."""
    sheets = {
        "培训活动": [
            TRAINING_HEADERS,
            [
                "YX-01",
                Formula("=DATE(2014,5,31)", 41790),
                Formula('="培训"&"主题"', "培训主题"),
                Formula("=20+10", 30),
            ],
            ["YX-02", date(2014, 6, 1), "主题二", Formula("=SUM(Z1:Z9)")],
        ]
    }
    return write_book(d / "formulas.xlsx", sheets)


def error_values(d: Path) -> Path:
    sheets = {
        "培训活动": [
            TRAINING_HEADERS,
            ["YX-01", date(2014, 5, 31), Formula("=VLOOKUP(A2,Z:Z,2,0)", "#N/A"), 30],
            ["YX-02", date(2014, 6, 1), "主题二", Formula("=30/0", "#DIV/0!")],
        ]
    }
    return write_book(d / "error_values.xlsx", sheets)


LONG_TEXT = ("清洁生产" * 8192)[:32767]


def long_cells(d: Path) -> Path:
    rows = [ENTERPRISE_HEADERS + ["备注"], enterprise() + [LONG_TEXT], enterprise(GOOD2, LONG_TEXT)]
    return write_book(d / "long_cells.xlsx", {"企业名录": rows})


CONTROL_NAME = "广州\x01某某\x07环保\x1f有限公司\x0b"
EMOJI_NAME = "广州🏭绿色♻️科技👍🏽有限公司"


def control_characters(d: Path) -> Path:
    rows = [ENTERPRISE_HEADERS, enterprise(name=CONTROL_NAME)]
    return write_book(d / "control_characters.xlsx", {"企业名录": rows})


def emoji(d: Path) -> Path:
    rows = [ENTERPRISE_HEADERS, enterprise(name=EMOJI_NAME)]
    return write_book(d / "emoji.xlsx", {"企业名录": rows, "📋说明": [["😀 表情工作表"]]})


def dates_1900(d: Path) -> Path:
    """Serials 59–61 around Excel's invented 1900-02-29, and dates before 1900 (text in Excel)."""
    rows = [
        TRAINING_HEADERS,
        ["D-59", Serial(59), "主题", 1],
        ["D-60", Serial(60), "主题", 1],
        ["D-61", Serial(61), "主题", 1],
        ["D-1899", "1899-12-31", "主题", 1],
        ["D-1850", "1850年1月1日", "主题", 1],
        ["D-2014", date(2014, 5, 31), "主题", 1],
        ["D-1", Serial(1), "主题", 1],
    ]
    return write_book(d / "dates_1900.xlsx", {"培训活动": rows})


def dates_1904(d: Path) -> Path:
    """A workbook in the 1904 date system (Excel for Mac's old default)."""
    rows = [
        TRAINING_HEADERS,
        ["M-2014", date(2014, 5, 31), "主题", 1],
        ["M-1904", date(1904, 1, 2), "主题", 1],
        ["M-1904-LEAP", date(1904, 2, 29), "主题", 1],
    ]
    return write_book(d / "dates_1904.xlsx", {"培训活动": rows}, date1904=True)


def duplicate_keys(d: Path) -> Path:
    rows = [ENTERPRISE_HEADERS, enterprise(), enterprise(GOOD2, "乙"), enterprise(GOOD, "重复的甲")]
    return write_book(d / "duplicate_keys.xlsx", {"企业名录": rows})


def infinite_numbers(d: Path) -> Path:
    """Numbers Excel cannot write but a hand-made file can: inf and NaN."""
    base = write_book(d / "inf_base.xlsx", {"培训活动": [TRAINING_HEADERS, ["YX-01", 41790, "主题", 30]]})
    edits = {
        SHEET1: lambda data: data.replace(b"<v>41790</v>", b"<v>NaN</v>").replace(b"<v>30</v>", b"<v>inf</v>")
    }
    path = rewrite_zip(base, d / "infinite_numbers.xlsx", edits)
    base.unlink()
    return path


def csv_huge_field(d: Path) -> Path:
    path = d / "huge_field.csv"
    path.write_text(",".join(ENTERPRISE_HEADERS) + "\n" + GOOD + ',"' + "长" * 200_000 + '"\n', "utf-8")
    return path


def csv_binary(d: Path) -> Path:
    path = d / "binary.csv"
    path.write_bytes(b"a,b\n\x00\x01\x02,3\n")
    return path


def csv_wide(d: Path) -> Path:
    path = d / "wide.csv"
    path.write_text(",".join(["x"] * 20_000) + "\n", "utf-8")
    return path


_ODS_CONTENT = """<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" \
xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" \
xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">
<office:body><office:spreadsheet><table:table table:name="企业名录">{rows}</table:table>
</office:spreadsheet></office:body></office:document-content>"""
_ODS_MANIFEST = """<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">
<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>
<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>
</manifest:manifest>"""


def _ods(path: Path, rows: str) -> Path:
    with zipfile.ZipFile(path, "w") as book:
        book.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet", zipfile.ZIP_STORED)
        book.writestr("content.xml", _ODS_CONTENT.format(rows=rows), zipfile.ZIP_DEFLATED)
        book.writestr("META-INF/manifest.xml", _ODS_MANIFEST, zipfile.ZIP_DEFLATED)
    return path


def _ods_row(values: Sequence[str]) -> str:
    cells = "".join(
        f'<table:table-cell office:value-type="string"><text:p>{v}</text:p></table:table-cell>'
        for v in values
    )
    return f"<table:table-row>{cells}</table:table-row>"


def ods_ok(d: Path) -> Path:
    return _ods(d / "ods_ok.ods", _ods_row(ENTERPRISE_HEADERS) + _ods_row(enterprise()))


def ods_repeat_bomb(d: Path) -> Path:
    """One row repeated a million times, each with a value repeated across all 16,384 columns."""
    bomb = (
        '<table:table-row table:number-rows-repeated="1048575">'
        '<table:table-cell table:number-columns-repeated="16384" office:value-type="float" office:value="1">'
        "<text:p>1</text:p></table:table-cell></table:table-row>"
    )
    return _ods(d / "ods_repeat_bomb.ods", _ods_row(ENTERPRISE_HEADERS) + bomb)


def many_rows(d: Path) -> Path:
    """60 data rows: over a row limit that a test lowers to 50."""
    rows = [ENTERPRISE_HEADERS] + [enterprise(name=f"企业{i}") for i in range(60)]
    return write_book(d / "many_rows.xlsx", {"企业名录": rows})


BUILDERS: dict[str, Callable[[Path], Path]] = {
    builder.__name__: builder
    for builder in (
        empty,
        not_a_zip,
        truncated,
        password_protected,
        zip_password,
        xlsb,
        xls_named_xlsx,
        xlsx_named_xls,
        bomb_declared,
        bomb_lying,
        bomb_ratio,
        many_members,
        billion_laughs,
        external_entity,
        external_entity_utf16,
        last_cell,
        last_row_unreferenced,
        beyond_the_grid,
        shared_strings_claim,
        dimension_claim,
        merged_header,
        title_row,
        hidden_and_renamed,
        reordered_and_extra,
        formulas,
        error_values,
        long_cells,
        control_characters,
        emoji,
        dates_1900,
        dates_1904,
        duplicate_keys,
        infinite_numbers,
        csv_huge_field,
        csv_binary,
        csv_wide,
        ods_ok,
        ods_repeat_bomb,
        many_rows,
    )
}


def build_all(directory: Path) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    return {name: build(directory) for name, build in BUILDERS.items()}


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "hostile")
    for name, path in build_all(target).items():
        print(f"{name:28} {path.stat().st_size:>12,}  {path}")


# ----------------------------------------------------------------------- running one input


@dataclass(frozen=True)
class Outcome:
    """What the real ``validate_file`` made of one input, in a form that crosses processes."""

    status: str
    problems: tuple[
        tuple[str, str | None, str | None, str | None, str], ...
    ]  # code, sheet, cell, value, message
    rows: dict[str, tuple[tuple[int, dict[str, Any]], ...]]  # contract sheet → (row, record fields)
    seconds: float

    def codes(self) -> list[str]:
        return [problem[0] for problem in self.problems if problem[0] != "missing-optional-header"]

    def problem(self, code: str) -> tuple[str, str | None, str | None, str | None, str]:
        found = [problem for problem in self.problems if problem[0] == code]
        assert len(found) == 1, self.problems
        return found[0]

    def values(self, sheet: str, field: str) -> list[Any]:
        return [fields.get(field) for _, fields in self.rows.get(sheet, ())]


def check_file(path: str, limits_json: str | None = None, stall_child: bool = False) -> Outcome:
    """Validate one file as the nightly run would (runs in a worker process of the test).

    ``stall_child`` swaps the child reader for one stuck the way calamine would be in a pathological
    file, so the kill-on-time path is tested on any machine, however fast it reads the real file.
    """
    import time

    import sheetsync.read
    from sheetsync.limits import ReadLimits, set_default_limits

    real_child = sheetsync.read._CHILD
    if stall_child:  # undone below: the worker process goes on to check other files
        sheetsync.read._CHILD = "import time; time.sleep(60)"
    from sheetsync.profile import load_profile
    from sheetsync.validate import validate_file

    set_default_limits(ReadLimits.model_validate_json(limits_json) if limits_json else ReadLimits())
    started = time.monotonic()
    try:
        result = validate_file(
            Path(path), expected_submitter=SUBMITTER, profile=load_profile("guangzhou-2013")
        )
    finally:
        sheetsync.read._CHILD = real_child
    seconds = time.monotonic() - started
    problems = tuple((p.code, p.sheet, p.cell, p.value, p.message) for p in result.problems)
    rows = {
        sheet.sheet_name: tuple((row.row, row.record.model_dump()) for row in sheet.valid_rows)
        for sheet in result.sheets
    }
    return Outcome(result.status.value, problems, rows, seconds)
