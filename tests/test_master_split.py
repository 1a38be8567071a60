"""A register too big for one workbook: its sheets split into one workbook per submitter, linked from 概览.

A small ``max_register_rows`` makes the split happen on test-sized data; Excel's own limit is the
default. LibreOffice's recalculation of a split master is in tests/test_master_libreoffice.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from sheetsync.master.conflicts import CONFLICT_SHEET
from sheetsync.master.overview import OVERVIEW_SHEET
from sheetsync.master.registers import CERT_STATE, OVERDUE, STAGE, extra_columns
from sheetsync.master.split import EXCEL_DATA_ROWS, plan_split, split_file_name
from sheetsync.render_master import (
    CERTIFICATE_SHEET,
    OVERDUE_SHEET,
    PROBLEMS_SHEET,
    PROGRESS_SHEET,
    PROVENANCE_COLUMNS,
    SPLIT_COVER_SHEET,
    SUMMARY_SHEET,
)
from sheetsync.schemas import SHEETS, Audit, Enterprise
from tests import test_render_master as render_tests

LIMIT = 3  # 海珠区 has four enterprises and four audits: each goes on two sheets


def write_split(folder: Path, **changes: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    inputs: dict[str, Any] = {
        "records": render_tests.guangzhou_register(),
        "view": render_tests.guangzhou_view(),
        "max_register_rows": LIMIT,
    }
    inputs.update(changes)
    return render_tests.write(folder / "总台账.xlsx", **inputs)


@pytest.fixture
def split_master(tmp_path: Path) -> Path:
    return write_split(tmp_path / "master")


def sheet_rows(path: Path, sheet: str) -> list[list[Any]]:
    return CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python()


def test_the_master_keeps_the_summary_sheets_and_no_register_sheet(split_master: Path) -> None:
    names = CalamineWorkbook.from_path(str(split_master)).sheet_names
    for kept in (OVERVIEW_SHEET, SUMMARY_SHEET, OVERDUE_SHEET, CERTIFICATE_SHEET, CONFLICT_SHEET):
        assert kept in names
    assert names[-1] == PROBLEMS_SHEET and PROGRESS_SHEET in names
    assert not {model.sheet_name for model in SHEETS} & set(names)


def test_each_submitter_gets_a_workbook_beside_the_master_with_only_its_rows(split_master: Path) -> None:
    folder = split_master.parent
    written = sorted(path.name for path in folder.glob("总台账_*.xlsx"))
    assert written == sorted(["总台账_越秀区.xlsx", "总台账_海珠区.xlsx", "总台账_市环保局.xlsx"])
    assert not list(folder.glob(".*"))  # no temporary file left

    haizhu = folder / "总台账_海珠区.xlsx"
    book = CalamineWorkbook.from_path(str(haizhu))
    assert book.sheet_names == [SPLIT_COVER_SHEET, "企业名录", "企业名录(2)", "审核进度", "审核进度(2)"]
    first, second = sheet_rows(haizhu, "企业名录"), sheet_rows(haizhu, "企业名录(2)")
    assert first[0] == second[0] and len(first) == LIMIT + 1 and len(second) == 2
    owner = first[0].index(PROVENANCE_COLUMNS[0][0])
    codes = [row[0] for row in (*first[1:], *second[1:])]
    assert codes == sorted(codes) and {row[owner] for row in (*first[1:], *second[1:])} == {"海珠区"}

    # every register row is in exactly one workbook
    total = 0
    for path in folder.glob("总台账_*.xlsx"):
        for name in CalamineWorkbook.from_path(str(path)).sheet_names[1:]:
            total += len(sheet_rows(path, name)) - 1
    assert total == sum(len(rows) for rows in render_tests.guangzhou_register().values())


def test_split_audits_carry_the_officer_columns_as_values_and_no_helpers(split_master: Path) -> None:
    path = split_master.parent / "总台账_海珠区.xlsx"
    sheet = openpyxl.load_workbook(path)[Audit.sheet_name]
    header = [cell.value for cell in sheet[1]]
    officer = [extra.header for extra in extra_columns(Audit) if not extra.helper]
    assert header[-len(officer) :] == officer
    assert not any(str(value).startswith("辅助·") for value in header)
    for row in sheet.iter_rows(min_row=2):
        assert not any(isinstance(cell.value, str) and cell.value.startswith("=") for cell in row)
    values = [
        dict(zip(header, (cell.value for cell in row), strict=True)) for row in sheet.iter_rows(min_row=2)
    ]
    assert {row[CERT_STATE] for row in values} >= {"已过期", "待换证"}
    assert all(row[STAGE] for row in values) and OVERDUE in header
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref is not None


def overview_links(master: Path) -> dict[str, str]:
    sheet = openpyxl.load_workbook(master)[OVERVIEW_SHEET]
    return {cell.value: cell.hyperlink.target for row in sheet.iter_rows() for cell in row if cell.hyperlink}


def test_the_overview_says_the_register_is_split_and_links_each_workbook(split_master: Path) -> None:
    links = overview_links(split_master)
    for name in ("总台账_越秀区.xlsx", "总台账_海珠区.xlsx", "总台账_市环保局.xlsx"):
        assert links[name] == name  # relative: works wherever the folder is opened from
        assert (split_master.parent / name).is_file()
    text = " ".join(str(cell) for row in sheet_rows(split_master, OVERVIEW_SHEET) for cell in row)
    assert "已按填报单位拆分为 3 个文件" in text and f"{LIMIT:,} 行" in text
    cover = openpyxl.load_workbook(split_master.parent / "总台账_海珠区.xlsx")[SPLIT_COVER_SHEET]
    assert any(
        cell.hyperlink and cell.hyperlink.target == "总台账.xlsx" for row in cover.iter_rows() for cell in row
    )


def test_progress_counts_are_values_but_its_ratios_stay_formulas(split_master: Path) -> None:
    sheet = openpyxl.load_workbook(split_master)[PROGRESS_SHEET]
    done = [sheet.cell(row=row, column=5).value for row in range(2, sheet.max_row + 1)]
    ratios = [sheet.cell(row=row, column=7).value for row in range(2, sheet.max_row + 1)]
    assert not any(isinstance(value, str) and value.startswith("=") for value in done)
    assert all(isinstance(value, str) and value.startswith("=") for value in ratios)
    for row in openpyxl.load_workbook(split_master)[OVERVIEW_SHEET].iter_rows():
        for cell in row:  # nothing on 概览 reaches for a register sheet that is not there
            if isinstance(cell.value, str) and cell.value.startswith("="):
                assert Audit.sheet_name not in cell.value and Enterprise.sheet_name not in cell.value


def test_split_workbooks_are_named_after_where_the_master_is_published(tmp_path: Path) -> None:
    folder = tmp_path / "master"
    folder.mkdir()
    staged = folder / ".总台账.new.xlsx"
    render_tests.write(
        staged,
        records=render_tests.guangzhou_register(),
        view=render_tests.guangzhou_view(),
        max_register_rows=LIMIT,
        published_path=folder / "总台账.xlsx",
    )
    assert (folder / "总台账_海珠区.xlsx").is_file() and not list(folder.glob(".总台账.new_*"))


def test_no_split_below_the_limit_and_file_names_are_safe(tmp_path: Path) -> None:
    records = render_tests.guangzhou_register()
    assert plan_split(records, EXCEL_DATA_ROWS, tmp_path / "总台账.xlsx") is None
    assert plan_split(records, 5, tmp_path / "总台账.xlsx") is None
    assert split_file_name("总台账", 'a/b:c*?"<>|') == "总台账_a_b_c______.xlsx"
    assert split_file_name("总台账", " . ") == "总台账_未知单位.xlsx"
    with pytest.raises(ValueError):
        plan_split(records, 0, None)
    master = render_tests.write(tmp_path / "总台账.xlsx", records=records, view=render_tests.guangzhou_view())
    assert Enterprise.sheet_name in CalamineWorkbook.from_path(str(master)).sheet_names
    assert not list(tmp_path.glob("总台账_*.xlsx"))
