"""Check a workbook the way an officer's spreadsheet application sees it: in real LibreOffice.

sheetsync writes every formula together with the value it computed in Python (the cached value).
Excel, WPS and LibreOffice show that cached value until they recalculate, so a wrong cached value
is what an officer reads, and a formula that only Python understands is one that breaks the day
someone edits a cell. These helpers let a test open a workbook in headless LibreOffice, make it
recalculate everything, and compare each recalculated value with the one sheetsync wrote; and
render one sheet through PDF to a PNG so that a test can see it is not blank (with CJK fonts).

Why the result is read back from an xlsx rather than from CSV: saving the recalculated document
as xlsx keeps cell types (number, text, boolean, error, date format) and cell addresses, so every
formula cell can be compared one to one with the original; CSV flattens all of that into
locale-formatted text. ``export_sheet_csv`` is still here for checks that want the text as shown.

Use from a test module (fixtures must be imported to be found, conftest.py does not know them)::

    from tests.libreoffice import lo_profile, soffice  # noqa: F401  (pytest fixtures)

    def test_master(lo_profile, tmp_path):
        out = recalculate(master, tmp_path, lo_profile)
        assert compare_recalculated(master, out) == []

Every LibreOffice run gets a timeout, its own process group (killed afterwards, so no soffice
is left behind), HOME pointed into the temporary profile directory, and its output in the error.
Runs must not overlap on one profile: LibreOffice hands a second start on a profile in use over
to the running instance. The tests run serially, so the session shares one profile.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import struct
import subprocess
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from html import unescape
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pytest
from openpyxl.utils.datetime import to_excel

SOFFICE_TIMEOUT = 120.0
"""Seconds for one LibreOffice run; a first start on a fresh profile takes a few seconds."""

TOOL_TIMEOUT = 60.0
"""Seconds for one poppler run (pdftoppm, pdftotext, pdffonts)."""

XLSX_FILTER = "Calc Office Open XML"

CSV_UTF8 = 76
"""LibreOffice's code for UTF-8 in the CSV filter options; without it Chinese comes out as ???."""

NUMBER_TOLERANCE = 1e-9
"""Relative and absolute: LibreOffice and Python may differ in the last bits of a sum."""

WHITE_LEVEL = 250
"""A pixel darker than this in any channel is ink; anti-aliasing of white never goes below it."""

# Calc reads this at load time: 0 = always recalculate, 1 = never (the shipped default, which keeps
# an xlsx file's cached values), 2 = ask. The ODF setting is set too so .ods checks behave alike.
_REGISTRY = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" \
xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load">\
<prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>{mode}</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load">\
<prop oor:name="ODFRecalcMode" oor:op="fuse"><value>{mode}</value></prop></item>
<item oor:path="/org.openoffice.Setup/L10N">\
<prop oor:name="ooSetupSystemLocale" oor:op="fuse"><value>en-US</value></prop></item>
<item oor:path="/org.openoffice.Setup/L10N">\
<prop oor:name="ooLocale" oor:op="fuse"><value>en-US</value></prop></item>
</oor:items>
"""


class LibreOfficeError(RuntimeError):
    """LibreOffice or a poppler tool failed, timed out, or wrote nothing."""


# --------------------------------------------------------------------------- availability


def soffice_path() -> str | None:
    """Debian installs ``soffice``; some systems only have the ``libreoffice`` wrapper."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def soffice_available() -> bool:
    """Whether a LibreOffice binary and pdftoppm (needed to render) are on PATH."""
    return soffice_path() is not None and shutil.which("pdftoppm") is not None


def require_soffice() -> str:
    """Skip locally without LibreOffice, but fail under CI, which installs it: absent there is a bug."""
    path = soffice_path()
    missing = [
        name for name, found in (("soffice", path), ("pdftoppm", shutil.which("pdftoppm"))) if not found
    ]
    if path is None or missing:
        reason = (
            f"{' and '.join(missing)} not found on PATH; install the Debian packages "
            "libreoffice-calc-nogui, poppler-utils and fonts-wqy-microhei"
        )
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"CI is set, so LibreOffice is required: {reason}", pytrace=False)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def soffice() -> str:
    """The LibreOffice binary; a test that asks for it is skipped (or failed under CI) without it."""
    return require_soffice()


def make_profile(directory: Path, *, recalc_on_load: bool = True) -> Path:
    """A LibreOffice user installation that recalculates on load (or, for contrast, never does).

    LibreOffice fills in the rest of the profile on first start and keeps our settings.
    """
    user = directory / "user"
    user.mkdir(parents=True, exist_ok=True)
    (directory / "home").mkdir(exist_ok=True)
    (user / "registrymodifications.xcu").write_text(
        _REGISTRY.format(mode=0 if recalc_on_load else 1), encoding="utf-8"
    )
    return directory


@pytest.fixture(scope="session")
def lo_profile(soffice: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One fresh recalculating profile per test session (per base temp dir, so modules share it)."""
    directory = tmp_path_factory.getbasetemp() / "libreoffice-profile"
    if not (directory / "user" / "registrymodifications.xcu").exists():
        make_profile(directory)
    return directory


# --------------------------------------------------------------------------- running


def _run(args: Sequence[str], *, timeout: float, env: dict[str, str] | None = None) -> str:
    """Run a tool in its own process group, so a hung LibreOffice and its children die together."""
    proc = subprocess.Popen(
        list(args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        out, err = proc.communicate()
        raise LibreOfficeError(
            f"{args[0]} timed out after {timeout:.0f} s: {' '.join(args[1:])}\n{_text(out)}{_text(err)}"
        ) from None
    finally:
        # soffice is a wrapper around soffice.bin: make sure nothing of this run outlives it.
        _kill_group(proc.pid)
    output = _text(out) + _text(err)
    if proc.returncode != 0:
        raise LibreOfficeError(f"{args[0]} exited with {proc.returncode}: {' '.join(args[1:])}\n{output}")
    return output


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def run_soffice(args: Sequence[str], profile: Path, *, timeout: float = SOFFICE_TIMEOUT) -> str:
    """Run headless LibreOffice on ``profile``, with HOME inside it so nothing touches the real home."""
    binary = soffice_path()
    if binary is None:
        raise LibreOfficeError("soffice not found on PATH")
    profile = profile.resolve()
    home = profile / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, HOME=str(home))
    env.pop("SAL_USE_VCLPLUGIN", None)
    command = [
        binary,
        f"-env:UserInstallation={profile.as_uri()}",
        "--headless",
        "--norestore",
        "--nologo",
        "--nolockcheck",
        *args,
    ]
    return _run(command, timeout=timeout, env=env)


def convert(source: Path, convert_to: str, out_dir: Path, profile: Path, *, expect: Sequence[str]) -> Path:
    """``soffice --convert-to``, checked: it exits 0 even when it could not load the file.

    ``expect`` names the file(s) it should write in ``out_dir``; the first is returned.
    """
    source = source.resolve()
    out_dir = out_dir.resolve()
    if out_dir == source.parent:
        raise ValueError(f"out_dir must differ from the source's folder, or LibreOffice overwrites {source}")
    out_dir.mkdir(parents=True, exist_ok=True)
    targets = [out_dir / name for name in expect]
    for target in targets:
        target.unlink(missing_ok=True)
    output = run_soffice(["--convert-to", convert_to, "--outdir", str(out_dir), str(source)], profile)
    missing = [t.name for t in targets if not t.exists()]
    if missing:
        raise LibreOfficeError(f"LibreOffice wrote no {', '.join(missing)} from {source.name}:\n{output}")
    return targets[0]


def recalculate(xlsx: Path, out_dir: Path, profile: Path) -> Path:
    """Open in LibreOffice, recalculate (the profile says so) and save as xlsx in ``out_dir``.

    The recalculated values are the cached values of the returned file.
    """
    return convert(xlsx, f"xlsx:{XLSX_FILTER}", out_dir, profile, expect=[xlsx.with_suffix(".xlsx").name])


def export_sheet_csv(xlsx: Path, sheet_name: str, out_dir: Path, profile: Path) -> Path:
    """One sheet as UTF-8 CSV, values as LibreOffice recalculated and formats them.

    Filter tokens: separator ',' (44), quote '"' (34), charset UTF-8 (76), from line 1, then
    ``false,true,false,false,false`` (quoted-as-text, detect numbers, as-shown, formulas, trim)
    and token 12 the 1-based sheet number (LibreOffice >= 7.2), which writes ``<stem>-<sheet>.csv``.
    """
    names = sheet_names(xlsx)
    if sheet_name not in names:
        raise KeyError(f"{xlsx.name} has no sheet {sheet_name!r}: {names}")
    number = names.index(sheet_name) + 1
    options = f"44,34,{CSV_UTF8},1,,0,false,true,false,false,false,{number}"
    return convert(
        xlsx,
        f"csv:Text - txt - csv (StarCalc):{options}",
        out_dir,
        profile,
        expect=[f"{xlsx.stem}-{sheet_name}.csv"],
    )


def sheet_names(xlsx: Path) -> list[str]:
    """Sheet order as LibreOffice numbers it: hidden sheets included."""
    workbook = openpyxl.load_workbook(xlsx, read_only=True)
    try:
        return list(workbook.sheetnames)
    finally:
        workbook.close()


# --------------------------------------------------------------------------- comparing


class CellError(str):
    """An error value (#DIV/0!, #NAME? ...) as opposed to text that happens to start with '#'."""


Address = tuple[str, str]
"""(sheet name, cell coordinate such as 'B7')."""


@dataclass(frozen=True)
class Mismatch:
    sheet: str
    cell: str
    formula: str
    written: Any
    recalculated: Any
    reason: str

    def __str__(self) -> str:
        return (
            f"{self.sheet}!{self.cell} {self.formula}: sheetsync wrote {self.written!r}, "
            f"LibreOffice computed {self.recalculated!r} ({self.reason})"
        )


def _cells(xlsx: Path, *, data_only: bool) -> Iterator[tuple[str, str, str, Any]]:
    """(sheet, coordinate, openpyxl data type, value) for every non-empty cell.

    Dates become serial numbers in the workbook's own epoch, since whether a value comes back
    as a date depends only on its number format, which a recalculation may rewrite.
    """
    workbook = openpyxl.load_workbook(xlsx, read_only=True, data_only=data_only)
    try:
        epoch = workbook.epoch
        for sheet in workbook.worksheets:
            for row in sheet.iter_rows():
                for cell in row:
                    value = cell.value
                    if value is None or not hasattr(cell, "coordinate"):
                        continue
                    if cell.data_type == "e":
                        value = CellError(value)
                    elif isinstance(value, datetime | date | time | timedelta):
                        value = float(to_excel(value, epoch))
                    yield sheet.title, cell.coordinate, cell.data_type, value
    finally:
        workbook.close()


def _values(xlsx: Path) -> dict[Address, Any]:
    return {(sheet, coord): value for sheet, coord, _, value in _cells(xlsx, data_only=True)}


def formula_cells(xlsx: Path) -> dict[Address, tuple[str, Any]]:
    """Every formula cell with the cached value stored for it (dates as serial numbers, errors as CellError).

    Formulas are told by cell type, not by a leading '=': sheetsync stores formula-like text as
    text, and that must not be compared. Empty cached text reads back as None.
    """
    formulas: dict[Address, str] = {}
    for sheet, coord, kind, value in _cells(xlsx, data_only=False):
        if kind == "f":
            formulas[(sheet, coord)] = str(getattr(value, "text", value))  # ArrayFormula: .text
    cached = _values(xlsx)
    return {address: (formula, cached.get(address)) for address, formula in formulas.items()}


def _normalise(value: Any) -> Any:
    """Make equal what Excel treats as equal: TRUE and 1, "" and an empty cell."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if value == "":
        return None
    return value


def values_match(written: Any, recalculated: Any) -> str | None:
    """Why the two values differ, or None; errors always differ since a master must have none."""
    if isinstance(written, CellError) or isinstance(recalculated, CellError):
        return "error value"
    a, b = _normalise(written), _normalise(recalculated)
    if isinstance(a, float) and isinstance(b, float):
        if math.isclose(a, b, rel_tol=NUMBER_TOLERANCE, abs_tol=NUMBER_TOLERANCE):
            return None
        return "different number"
    if type(a) is not type(b):
        return "different type"
    return None if a == b else "different value"


def compare_recalculated(original: Path, recalculated: Path) -> list[Mismatch]:
    """Every formula cell whose value LibreOffice computed differs from what the original caches."""
    expected = formula_cells(original)
    actual = _values(recalculated)
    mismatches = []
    for (sheet, cell), (formula, written) in expected.items():
        got = actual.get((sheet, cell))
        reason = values_match(written, got)
        if reason is not None:
            mismatches.append(Mismatch(sheet, cell, formula, written, got, reason))
    return mismatches


# --------------------------------------------------------------------------- rendering

_SHEET_TAG = re.compile(r"<(?:\w+:)?sheet\b[^>]*?/?>")
_VIEW_TAG = re.compile(r"<((?:\w+:)?workbookView)\b([^>]*?)(/?)>")


def only_sheet_copy(xlsx: Path, sheet_name: str, dst: Path) -> Path:
    """A copy in which every other sheet is hidden and ``sheet_name`` is the active one.

    Calc prints (and so exports to PDF) visible sheets only. Hiding rather than deleting keeps
    the formulas that reach into other sheets working. Only ``xl/workbook.xml`` is edited, as text,
    so everything else the writer put in the file stays byte for byte.
    """
    with zipfile.ZipFile(xlsx) as zin:
        book = zin.read("xl/workbook.xml").decode("utf-8")
        tags = _SHEET_TAG.findall(book)
        names = [unescape(re.search(r'\bname="([^"]*)"', tag).group(1)) for tag in tags]  # type: ignore[union-attr]
        if sheet_name not in names:
            raise KeyError(f"{xlsx.name} has no sheet {sheet_name!r}: {names}")
        index = names.index(sheet_name)

        def sheet(match: re.Match[str]) -> str:
            tag = re.sub(r'\s+state="[^"]*"', "", match.group(0))
            if names[tags.index(match.group(0))] == sheet_name:  # tags differ: names are unique
                return tag
            return re.sub(r"^<((?:\w+:)?sheet)\b", r'<\1 state="hidden"', tag)

        def view(match: re.Match[str]) -> str:
            attrs = re.sub(r'\s+(?:activeTab|firstSheet)="[^"]*"', "", match.group(2))
            return f'<{match.group(1)} activeTab="{index}" firstSheet="{index}"{attrs}{match.group(3)}>'

        book = _SHEET_TAG.sub(sheet, book)
        if _VIEW_TAG.search(book):
            book = _VIEW_TAG.sub(view, book, count=1)
        with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
            for item in zin.infolist():
                data = book.encode("utf-8") if item.filename == "xl/workbook.xml" else zin.read(item)
                zout.writestr(item, data)
    return dst


def render_sheet_pdf(xlsx: Path, sheet_name: str, out_dir: Path, profile: Path) -> Path:
    """The sheet as Calc prints it: its own page setup, recalculated values, CJK font fallback."""
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = out_dir / "only-sheet"
    staging.mkdir(exist_ok=True)
    copy = only_sheet_copy(xlsx, sheet_name, staging / f"{xlsx.stem}.xlsx")
    return convert(copy, "pdf:calc_pdf_Export", out_dir, profile, expect=[f"{xlsx.stem}.pdf"])


def render_sheet_png(
    xlsx: Path, sheet_name: str, out_dir: Path, profile: Path, *, page: int = 1, dpi: int = 72
) -> Path:
    """A page of the sheet as PNG; the PDF stays beside it (``.pdf``) for text and font checks.

    Calc exports an empty sheet as one blank page, so an empty sheet gives a blank PNG.
    """
    pdf = render_sheet_pdf(xlsx, sheet_name, out_dir, profile)
    stem = out_dir.resolve() / pdf.stem
    png = stem.with_suffix(".png")
    png.unlink(missing_ok=True)
    _run(
        [
            "pdftoppm",
            "-f",
            str(page),
            "-l",
            str(page),
            "-r",
            str(dpi),
            "-png",
            "-singlefile",
            str(pdf),
            str(stem),
        ],
        timeout=TOOL_TIMEOUT,
    )
    if not png.exists():
        raise LibreOfficeError(f"pdftoppm wrote no page {page} of {pdf}")
    return png


def pdf_text(pdf: Path) -> str:
    """The text a reader copies from the PDF: proves characters are real glyphs, not boxes."""
    return _run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], timeout=TOOL_TIMEOUT)


def pdf_fonts(pdf: Path) -> list[str]:
    """Embedded font names without the subset prefix (e.g. 'WenQuanYiMicroHei')."""
    lines = _run(["pdffonts", str(pdf)], timeout=TOOL_TIMEOUT).splitlines()[2:]
    return [line.split()[0].split("+", 1)[-1] for line in lines if line.strip()]


def pdf_pages(pdf: Path) -> int:
    info = _run(["pdfinfo", str(pdf)], timeout=TOOL_TIMEOUT)
    match = re.search(r"^Pages:\s+(\d+)", info, re.MULTILINE)
    return int(match.group(1)) if match else 0


# --------------------------------------------------------------------------- PNG pixels


def png_pixels(png: Path) -> np.ndarray:
    """Decode an 8-bit, non-interlaced PNG (what pdftoppm writes) to a (height, width, channels) array.

    Pillow is not a dependency; numpy is (through pandas), and it makes the common filters fast.
    """
    data = png.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{png} is not a PNG file")
    pos, header, chunks = 8, None, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError(f"{png} has no IHDR chunk")
    width, height, depth, colour, _, _, interlace = header
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(colour)
    if depth != 8 or channels is None or interlace:
        raise ValueError(f"{png}: only 8-bit grey/RGB(A) non-interlaced PNGs are read (got {header})")
    raw = np.frombuffer(zlib.decompress(b"".join(chunks)), dtype=np.uint8)
    stride = width * channels
    rows = raw.reshape(height, stride + 1)
    out = np.zeros((height, stride), dtype=np.uint8)
    prior = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        kind, line = rows[y, 0], rows[y, 1:]
        if kind == 0:
            cur = line.copy()
        elif kind == 1:  # Sub: running sum per channel, wrapping at 256
            cur = np.cumsum(line.reshape(width, channels), axis=0, dtype=np.uint8).reshape(stride)
        elif kind == 2:  # Up
            cur = line + prior
        elif kind in (3, 4):
            cur = _unfilter_slow(kind, line, prior, channels)
        else:
            raise ValueError(f"{png}: unknown PNG filter {kind} on row {y}")
        out[y] = cur
        prior = cur
    return out.reshape(height, width, channels)


def _unfilter_slow(kind: int, line: np.ndarray, prior: np.ndarray, bpp: int) -> np.ndarray:
    """Average and Paeth depend on the byte just decoded, so they go byte by byte."""
    cur = bytearray(line.tobytes())
    up = prior.tobytes()
    for i in range(len(cur)):
        a = cur[i - bpp] if i >= bpp else 0
        b = up[i]
        if kind == 3:
            cur[i] = (cur[i] + (a + b) // 2) & 0xFF
        else:
            c = up[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            predictor = a if pa <= pb and pa <= pc else b if pb <= pc else c
            cur[i] = (cur[i] + predictor) & 0xFF
    return np.frombuffer(bytes(cur), dtype=np.uint8)


def ink_pixels(png: Path) -> int:
    """How many pixels are visibly not white (transparent ones count as white)."""
    pixels = png_pixels(png).astype(np.int16)
    channels = pixels.shape[2]
    colour = pixels[:, :, : 3 if channels >= 3 else 1]
    dark = (colour < WHITE_LEVEL).any(axis=2)
    if channels in (2, 4):
        dark &= pixels[:, :, -1] > 0
    return int(dark.sum())


def png_is_blank(png: Path) -> bool:
    """True when nothing at all was drawn. A missing CJK font draws boxes, which are ink: check
    ``pdf_fonts``/``pdf_text`` for that."""
    return ink_pixels(png) == 0
