"""冲突待处理: rows kept out for touching another unit's record stay listed until the submitter resends.

Three nights on one drive: 越秀区 sends a row for an enterprise of 海珠区 (listed as new, counted and
linked on 概览); the next night it sends nothing (still listed, as waiting since the first night);
the night after it sends a file without that row (gone).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
from python_calamine import CalamineWorkbook

from sheetsync.consolidate import consolidate
from sheetsync.drive import Drive
from sheetsync.errors import Problem
from sheetsync.master.conflicts import CARRIED, CONFLICT_SHEET, NEW_TONIGHT, pending_conflicts
from sheetsync.master.overview import OVERVIEW_SHEET
from sheetsync.profile import load_profile
from sheetsync.records import FileStatus, FileSummary
from sheetsync.render_master import CONFLICT_COLUMNS
from tests.conftest import write_xlsx
from tests.test_ownership import HEADERS, enterprise

PROFILE = load_profile("guangzhou-2013")
AS_OF = date(2014, 6, 1)
OURS, THEIRS, LATER = "91440101MA5CJQ4N59", "914403001922038216", "91110000710925462X"
NIGHTS = [datetime(2014, 6, 1, 2, 0), datetime(2014, 6, 2, 2, 0), datetime(2014, 6, 3, 2, 0)]


def send(root: Path, submitter: str, name: str, rows: list[list[Any]]) -> Path:
    folder = root / "inbox" / submitter
    folder.mkdir(parents=True, exist_ok=True)
    return write_xlsx(folder / name, {"企业名录": [HEADERS, *rows]})


def night(root: Path, index: int) -> Path:
    report = consolidate(Drive(root), PROFILE, as_of=AS_OF, now=NIGHTS[index])
    return report.master_path


def conflicts(master: Path) -> list[dict[str, Any]]:
    header, *body = CalamineWorkbook.from_path(str(master)).get_sheet_by_name(CONFLICT_SHEET).to_python()
    assert header == [column.header for column in CONFLICT_COLUMNS]
    return [dict(zip(header, line, strict=True)) for line in body]


def overview_count(master: Path) -> tuple[Any, str | None]:
    """The 冲突待处理 line of 今日要处理: its count and where its link goes."""
    sheet = openpyxl.load_workbook(master)[OVERVIEW_SHEET]
    for row in sheet.iter_rows():
        if row[0].value == "冲突待处理":
            count, link = row[1], row[2]
            assert isinstance(count.value, str) and count.value.startswith("=COUNTA(")
            target = link.hyperlink.location if link.hyperlink is not None else None
            values = openpyxl.load_workbook(master, data_only=True)[OVERVIEW_SHEET]
            return values.cell(row=count.row, column=2).value, target
    raise AssertionError("概览 has no 冲突待处理 line")


def test_a_conflict_stays_listed_until_the_submitter_sends_a_file_without_it(tmp_path: Path) -> None:
    root = tmp_path / "drive"
    sent = send(
        root, "越秀区", "越秀区_2014-05.xlsx", [enterprise(OURS, "越秀区"), enterprise(THEIRS, "海珠区")]
    )
    send(root, "海珠区", "海珠区_2014-05.xlsx", [enterprise(LATER, "海珠区")])

    first = night(root, 0)
    (row,) = conflicts(first)
    assert row["状态"] == NEW_TONIGHT
    assert (row["填报单位"], row["工作表"], row["单元格"]) == ("越秀区", "企业名录", "C3")
    assert row["文件"].endswith("越秀区_2014-05.xlsx")
    assert row["记录"] == f"统一社会信用代码:{THEIRS}"
    assert row["归属单位"].split("、")[0] == "海珠区"
    assert "冲突待处理" in row["问题说明"] and "越秀区" in row["处理建议"]
    assert row["提交时间"] == NIGHTS[0]
    assert overview_count(first) == (1, f"'{CONFLICT_SHEET}'!A1")

    for path in (root / "inbox").rglob("*.xlsx"):  # the nightly job archives what it took
        path.unlink()
    second = night(root, 1)
    (row,) = conflicts(second)
    assert row["状态"] == CARRIED and row["提交时间"] == NIGHTS[0]
    assert row["记录"] == f"统一社会信用代码:{THEIRS}"
    assert overview_count(second)[0] == 1

    send(root, "越秀区", sent.name.replace("05", "06"), [enterprise(OURS, "越秀区", category="星级酒店")])
    third = night(root, 2)
    assert conflicts(third) == []
    assert overview_count(third)[0] == 0


def test_the_same_file_sent_again_is_not_a_new_conflict(tmp_path: Path) -> None:
    root = tmp_path / "drive"
    send(root, "越秀区", "a.xlsx", [enterprise(THEIRS, "海珠区")])
    night(root, 0)
    (row,) = conflicts(night(root, 1))  # still in the inbox: the same bytes, already registered
    assert row["状态"] == CARRIED and row["提交时间"] == NIGHTS[0]


def problem(submitter_file: str, code: str = THEIRS) -> Problem:
    return Problem.make(
        "not-owner",
        file=submitter_file,
        sheet="审核进度",
        cell="A3",
        row=3,
        header="统一社会信用代码",
        value=code,
        record_key=f"统一社会信用代码:{code};审核轮次:1",
        reason="该企业属于“海珠区”,不属于本单位",
    )


def test_an_unreadable_file_does_not_settle_earlier_conflicts_and_other_submitters_keep_theirs() -> None:
    earlier = [
        {"submitter": "越秀区", "file_path": "越秀区/b.xlsx", "received_at": NIGHTS[1], "problems": []},
        {
            "submitter": "越秀区",
            "file_path": "越秀区/a.xlsx",
            "received_at": NIGHTS[0],
            "problems": [problem("越秀区/a.xlsx")],
        },
        {
            "submitter": "荔湾区",
            "file_path": "荔湾区/c.xlsx",
            "received_at": NIGHTS[0],
            "problems": [problem("荔湾区/c.xlsx")],
        },
    ]
    unreadable = FileSummary("荔湾区", "荔湾区/d.xlsx", FileStatus.UNREADABLE, 0, 0, 1, 0)
    found = pending_conflicts([], [unreadable], earlier, {}, PROFILE, NIGHTS[2])
    # 越秀区's newer file replaced its conflict; 荔湾区's unreadable one did not
    assert [(c.submitter, c.state, c.record) for c in found] == [
        ("荔湾区", CARRIED, f"统一社会信用代码:{THEIRS};审核轮次:1")
    ]
    assert "核实" in found[0].action and found[0].owner == ""
