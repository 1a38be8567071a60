"""The LibreOffice harness must really recalculate, or a green check on the master means nothing.

The workbook here is a miniature of the master: an overview sheet whose formulas reach into a
register sheet and a named as_of cell, with every cached value computed in Python first, as
sheetsync does. Tests that start LibreOffice share one session profile and module-scoped
conversions, so the whole file costs a handful of LibreOffice starts.
"""

from __future__ import annotations

import csv
import struct
import zlib
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pytest
import xlsxwriter

from tests.libreoffice import (
    CellError,
    LibreOfficeError,
    _run,
    compare_recalculated,
    export_sheet_csv,
    formula_cells,
    ink_pixels,
    make_profile,
    only_sheet_copy,
    pdf_fonts,
    pdf_text,
    png_is_blank,
    png_pixels,
    recalculate,
    render_sheet_png,
    require_soffice,
    values_match,
)

AS_OF = date(2024, 6, 30)


@dataclass(frozen=True)
class Enterprise:
    name: str
    district: str
    investment: float
    registered: date


REGISTER = (
    Enterprise("广州甲化工有限公司", "越秀区", 10.1, date(2024, 1, 1)),
    Enterprise("乙电镀厂", "天河区", 20.2, date(2024, 3, 1)),
    Enterprise("丙印染有限公司", "越秀区", 30.3, date(2023, 12, 31)),
    Enterprise('=HYPERLINK("http://x")', "海珠区", 0.0, date(2024, 6, 1)),  # formula-like text
)


def expected_overview() -> dict[str, tuple[str, str, Any]]:
    """What sheetsync would compute in Python: cell -> (label, formula, cached value)."""
    total = sum(e.investment for e in REGISTER)  # 60.599999999999994: the tolerance matters
    yuexiu = sum(1 for e in REGISTER if e.district == "越秀区")
    return {
        "B2": ("投资合计", "=SUM('登记'!C2:C5)", total),
        "B3": ("越秀区企业数", "=COUNTIFS('登记'!B2:B5,\"越秀区\")", yuexiu),
        "B4": ("越秀区投资", "=SUMIFS('登记'!C2:C5,'登记'!B2:B5,\"越秀区\")", 10.1 + 30.3),
        "B5": ("首家登记天数", "=基准日期-'登记'!D2", (AS_OF - REGISTER[0].registered).days),
        "B6": ("是否达标", '=IF(B2>50,"达标","未达标")', "达标" if total > 50 else "未达标"),
        "B7": ("超过五十", "=B2>50", total > 50),
        "B8": ("复核日期", "=基准日期+30", datetime(2024, 7, 30)),
        "B9": ("备注", '=IF(B3>5,"偏多","")', ""),
    }


def write_book(path: Path, *, cached: dict[str, Any] | None = None) -> Path:
    """The miniature master; ``cached`` overrides what is cached for some overview cells."""
    book = xlsxwriter.Workbook(str(path))
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    overview = book.add_worksheet("概览")
    register = book.add_worksheet("登记")
    book.add_worksheet("空白")
    for c, title in enumerate(("企业名称", "所在区", "投资(万元)", "登记日期")):
        register.write_string(0, c, title)
    for r, e in enumerate(REGISTER, start=1):
        register.write_string(r, 0, e.name)
        register.write_string(r, 1, e.district)
        register.write_number(r, 2, e.investment)
        register.write_datetime(r, 3, e.registered, day)
    overview.write_string(0, 0, "基准日期")
    overview.write_datetime(0, 1, AS_OF, day)
    book.define_name("基准日期", "='概览'!$B$1")
    overrides = cached or {}
    for cell, (label, formula, value) in expected_overview().items():
        row = int(cell[1:]) - 1
        value = overrides.get(cell, value)
        if isinstance(value, datetime):
            value = (value - datetime(1899, 12, 30)).days  # XlsxWriter caches numbers as given
        overview.write_string(row, 0, label)
        overview.write_formula(cell, formula, day if cell == "B8" else None, value)
    overview.set_column(0, 0, 16)
    overview.set_column(1, 1, 14)
    book.close()
    return path


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("books")
    return {
        "right": write_book(folder / "right.xlsx"),
        "wrong": write_book(folder / "wrong.xlsx", cached={"B3": 999}),
    }


@pytest.fixture(scope="module")
def recalculated(books: dict[str, Path], lo_profile: Path, tmp_path_factory: pytest.TempPathFactory):  # noqa: F811
    folder = tmp_path_factory.mktemp("recalculated")
    return {name: recalculate(path, folder, lo_profile) for name, path in books.items()}


# --------------------------------------------------------------------------- without LibreOffice


def test_formula_cells_reads_formulas_and_cached_values_but_not_formula_like_text(tmp_path: Path) -> None:
    cells = formula_cells(write_book(tmp_path / "book.xlsx"))
    expected = expected_overview()
    assert set(cells) == {("概览", cell) for cell in expected}
    assert cells[("概览", "B3")] == ("=COUNTIFS('登记'!B2:B5,\"越秀区\")", 2)
    assert cells[("概览", "B8")][1] == 45503.0  # a date cached as a serial, whatever its format
    assert cells[("概览", "B9")][1] is None  # empty cached text


@pytest.mark.parametrize(
    ("written", "recalculated", "reason"),
    [
        (60.599999999999994, 60.6, None),
        (60.6, 60.7, "different number"),
        (True, 1, None),
        (False, 0.0, None),
        (True, 0, "different number"),
        (45503.0, 45503, None),
        ("", None, None),
        ("达标", "达标", None),
        ("达标", "未达标", "different value"),
        ("2", 2, "different type"),
        (CellError("#DIV/0!"), CellError("#DIV/0!"), "error value"),
        (0, CellError("#NAME?"), "error value"),
    ],
)
def test_values_match(written: Any, recalculated: Any, reason: str | None) -> None:
    assert values_match(written, recalculated) == reason


def test_missing_soffice_skips_locally_and_fails_under_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="soffice"):
        require_soffice()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        require_soffice()


def test_a_hung_tool_is_killed_at_its_timeout() -> None:
    with pytest.raises(LibreOfficeError, match="timed out"):
        _run(["sleep", "30"], timeout=0.5)


def test_only_sheet_copy_hides_the_others_and_keeps_the_rest(tmp_path: Path) -> None:
    original = write_book(tmp_path / "book.xlsx")
    copy = only_sheet_copy(original, "登记", tmp_path / "copy.xlsx")
    book = openpyxl.load_workbook(copy)
    assert [(ws.title, ws.sheet_state) for ws in book.worksheets] == [
        ("概览", "hidden"),
        ("登记", "visible"),
        ("空白", "hidden"),
    ]
    assert book.active.title == "登记"
    assert formula_cells(copy) == formula_cells(original)


def _png(path: Path, pixels: np.ndarray, colour: int) -> Path:
    """A PNG using every filter type in turn, so each decoding path is exercised."""
    height, width, channels = pixels.shape
    bpp, rows, prior = channels, [], np.zeros(width * channels, dtype=np.int32)
    for y in range(height):
        line = pixels[y].reshape(-1).astype(np.int32)
        left = np.concatenate([np.zeros(bpp, dtype=np.int32), line[:-bpp]])
        upleft = np.concatenate([np.zeros(bpp, dtype=np.int32), prior[:-bpp]])
        kind = y % 5
        if kind == 0:
            filtered = line
        elif kind == 1:
            filtered = line - left
        elif kind == 2:
            filtered = line - prior
        elif kind == 3:
            filtered = line - (left + prior) // 2
        else:
            p = left + prior - upleft
            pa, pb, pc = abs(p - left), abs(p - prior), abs(p - upleft)
            predictor = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prior, upleft))
            filtered = line - predictor
        rows.append(bytes([kind]) + (filtered % 256).astype(np.uint8).tobytes())
        prior = line

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )
    return path


@pytest.mark.parametrize(("colour", "channels"), [(0, 1), (2, 3), (4, 2), (6, 4)])
def test_png_decoder_round_trips_every_filter(tmp_path: Path, colour: int, channels: int) -> None:
    rng = np.random.default_rng(colour)
    pixels = rng.integers(0, 256, size=(11, 7, channels), dtype=np.uint8)
    assert np.array_equal(png_pixels(_png(tmp_path / "x.png", pixels, colour)), pixels)


def test_blank_means_no_ink(tmp_path: Path) -> None:
    white = np.full((20, 30, 3), 255, dtype=np.uint8)
    assert png_is_blank(_png(tmp_path / "white.png", white, 2))
    white[10, 5] = (0, 0, 0)
    assert ink_pixels(_png(tmp_path / "dot.png", white, 2)) == 1


# --------------------------------------------------------------------------- in LibreOffice


def test_right_cached_values_match_the_recalculation(
    books: dict[str, Path], recalculated: dict[str, Path]
) -> None:
    assert compare_recalculated(books["right"], recalculated["right"]) == []
    # Not vacuous: every formula came back, holding LibreOffice's own value.
    again = formula_cells(recalculated["right"])
    assert set(again) == set(formula_cells(books["right"]))
    assert again[("概览", "B3")][1] == 2
    assert again[("概览", "B5")][1] == 181
    assert again[("概览", "B6")][1] == "达标"


def test_a_wrong_cached_value_is_reported_and_only_that_one(
    books: dict[str, Path], recalculated: dict[str, Path]
) -> None:
    mismatches = compare_recalculated(books["wrong"], recalculated["wrong"])
    assert [(m.sheet, m.cell, m.written, m.recalculated) for m in mismatches] == [("概览", "B3", 999, 2)]
    assert "越秀区" in str(mismatches[0])


def test_without_the_profile_setting_libreoffice_keeps_the_wrong_cached_value(
    soffice: str,  # noqa: F811
    books: dict[str, Path],
    tmp_path: Path,
) -> None:
    """The proof that OOXMLRecalcMode=0 matters: LibreOffice's default trusts the file."""
    trusting = make_profile(tmp_path / "profile", recalc_on_load=False)
    kept = recalculate(books["wrong"], tmp_path / "out", trusting)
    assert formula_cells(kept)[("概览", "B3")][1] == 999
    # The wrong value goes unnoticed. (A formula cached as empty text still gets computed on
    # load, from the stale 999, so B9 may differ: LibreOffice treats <v></v> as "no value".)
    assert "B3" not in {m.cell for m in compare_recalculated(books["wrong"], kept)}


def test_chinese_text_survives(
    books: dict[str, Path],
    recalculated: dict[str, Path],
    lo_profile: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    book = openpyxl.load_workbook(recalculated["right"], read_only=True)
    assert book.sheetnames == ["概览", "登记", "空白"]
    names = [row[0] for row in book["登记"].iter_rows(min_row=2, values_only=True)]
    book.close()
    assert names == [e.name for e in REGISTER]

    exported = export_sheet_csv(books["right"], "概览", tmp_path, lo_profile)
    with exported.open(encoding="utf-8", newline="") as handle:
        rows = {row[0]: row[1] for row in csv.reader(handle)}
    assert rows["基准日期"] == "2024-06-30"
    assert rows["越秀区企业数"] == "2"
    assert rows["是否达标"] == "达标"


def test_overview_renders_with_cjk_glyphs_and_only_its_own_sheet(
    books: dict[str, Path],
    lo_profile: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    png = render_sheet_png(books["right"], "概览", tmp_path, lo_profile)
    assert not png_is_blank(png)
    text = pdf_text(png.with_suffix(".pdf"))
    assert "基准日期" in text and "达标" in text
    assert "乙电镀厂" not in text  # the register sheet was not printed
    fonts = pdf_fonts(png.with_suffix(".pdf"))
    assert any("WenQuanYi" in font or "CJK" in font for font in fonts), fonts


def test_an_empty_sheet_renders_blank(books: dict[str, Path], lo_profile: Path, tmp_path: Path) -> None:  # noqa: F811
    assert png_is_blank(render_sheet_png(books["right"], "空白", tmp_path, lo_profile))


def test_a_file_libreoffice_cannot_load_is_an_error(lo_profile: Path, tmp_path: Path) -> None:  # noqa: F811
    broken = tmp_path / "in" / "broken.xlsx"
    broken.parent.mkdir()
    broken.write_bytes(b"not a zip file")
    with pytest.raises(LibreOfficeError, match="wrote no broken.xlsx"):
        recalculate(broken, tmp_path / "out", lo_profile)


def test_recalculate_refuses_to_overwrite_its_source(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="overwrites"):
        recalculate(tmp_path / "book.xlsx", tmp_path, tmp_path / "profile")
