"""End to end: the demo drive consolidated, and the domain engine's sheets in the master it writes."""

from __future__ import annotations

import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from python_calamine import CalamineWorkbook

from sheetsync.consolidate import Consolidation, consolidate
from sheetsync.demo import build_demo_drive
from sheetsync.drive import Drive
from sheetsync.panel_record import draw_and_record
from sheetsync.profile import load_profile
from sheetsync.records import RecordSource
from sheetsync.render_master import (
    CERTIFICATE_SHEET,
    OVERDUE_SHEET,
    PANEL_DRAW_SHEET,
    PROGRESS_SHEET,
    write_master,
)
from sheetsync.schemas import SHEETS, Enterprise
from sheetsync.store import open_register

AS_OF = date(2014, 11, 30)
PROFILE = load_profile("guangzhou-2013")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Consolidation:
    root = tmp_path_factory.mktemp("master-domain") / "d"
    build_demo_drive(root, as_of=AS_OF)
    return consolidate(Drive(root), PROFILE, as_of=AS_OF)


def table(path: Path, sheet: str) -> list[dict[str, Any]]:
    book = CalamineWorkbook.from_path(str(path))
    try:
        header, *body = book.get_sheet_by_name(sheet).to_python()
    finally:
        book.close()
    return [dict(zip(header, line, strict=True)) for line in body]


def test_the_verdict_sheets_are_filled(report: Consolidation) -> None:
    for sheet in (OVERDUE_SHEET, CERTIFICATE_SHEET, PROGRESS_SHEET):
        assert table(report.master_path, sheet), sheet


def test_city_coverage_counts_every_enterprise_of_the_register(report: Consolidation) -> None:
    progress = table(report.master_path, PROGRESS_SHEET)
    (coverage,) = [line for line in progress if line["范围"] == "全市" and line["指标"] == "覆盖企业数"]
    assert coverage["完成"] == len(table(report.master_path, Enterprise.sheet_name))
    assert progress[0]["范围"] == "全市"


def test_the_run_json_counts_what_the_sheets_show(report: Consolidation) -> None:
    summary = report.as_json()
    overdue = table(report.master_path, OVERDUE_SHEET)
    certificates = table(report.master_path, CERTIFICATE_SHEET)
    assert summary["overdue"] == sum(1 for line in overdue if line["状态"] == "逾期未完成")
    assert summary["certificates_due"] == sum(
        1 for line in certificates if line["状态"] in ("待换证", "已过期")
    )
    assert all(line["原因"] for line in overdue)


def test_a_draw_recorded_after_a_run_is_on_the_next_master(report: Consolidation) -> None:
    drive = Drive(Path(report.run.drive))
    assert table(report.master_path, PANEL_DRAW_SHEET) == []
    manufacturer = next(
        line
        for line in table(report.master_path, Enterprise.sheet_name)
        if str(line["行业门类"]).startswith("C")
    )
    with open_register(drive.register_url) as register:
        record = draw_and_record(
            register,
            PROFILE,
            enterprise_code=manufacturer["统一社会信用代码"],
            purpose="评估",
            seed=20141130,
            as_of=AS_OF,
            now=datetime(2014, 11, 30, 10, 0),
        )
    again = consolidate(drive, PROFILE, as_of=AS_OF)
    (line,) = table(again.master_path, PANEL_DRAW_SHEET)
    assert (line["抽取编号"], line["随机种子"], line["用途"]) == (record.panel_id, "20141130", "评估")
    assert line["专家组"] == record.panel_text and line["企业"] == record.enterprise


@pytest.mark.parametrize("max_register_rows", [1_048_575, 50], ids=["one-master", "split"])
def test_a_master_read_sheet_by_sheet_from_the_register_is_the_master_of_its_records_in_memory(
    report: Consolidation, tmp_path: Path, max_register_rows: int
) -> None:
    """The night hands the master a RecordSource (each sheet read as it is written) to save
    memory; the workbook must be byte for byte the one the same records in memory give."""
    register_path = Drive(Path(report.run.drive)).register_path
    written: dict[str, dict[str, bytes]] = {}
    with open_register(f"sqlite:///{register_path}") as register:
        source = register.current_records([model.sheet_name for model in SHEETS])
        assert isinstance(source, RecordSource)
        for label, records in (("source", source), ("memory", {name: source[name] for name in source})):
            folder = tmp_path / label
            folder.mkdir()
            path = write_master(
                folder / "总台账.xlsx",
                records=records,
                problems=[problem for outcome in report.files for problem in outcome.result.problems],
                files=[outcome.summary() for outcome in report.files],
                run=report.run,
                view=report.view,
                missing_submitters=report.missing_submitters,
                submissions=register.submissions(),
                max_register_rows=max_register_rows,
            )
            written[label] = {}
            for book in sorted(folder.glob("*.xlsx")):
                with zipfile.ZipFile(book) as archive:
                    for member in archive.namelist():
                        written[label][f"{book.name}/{member}"] = archive.read(member)
            assert path.is_file()
    assert written["source"].keys() == written["memory"].keys()
    assert len(written["source"]) > (40 if max_register_rows == 50 else 20)
    for member, content in written["memory"].items():
        assert written["source"][member] == content, member
