"""Publishing the master's register sheets and 概览 to a Google Sheet, against the fake Sheets API."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import gspread
import pytest
from google.oauth2.credentials import Credentials

from sheetsync.gsheets.client import Pacing, RetryPolicy, SheetsSession, connect
from sheetsync.gsheets.errors import GoogleSheetsError
from sheetsync.gsheets.publish import Limits, Table, chunked, load_state, publish_register
from tests.conftest import write_xlsx
from tests.fake_sheets_api import (  # noqa: F401  (fixtures)
    TOKEN,
    FakeSheetsAPI,
    FakeTime,
    Formula,
    fake_sheets_fixture,
    loopback_only_fixture,
)

pytestmark = pytest.mark.usefixtures("loopback_only")  # nothing here may reach beyond 127.0.0.1

KEY = "1PublishedRegisterForViewers0123456789abc"
HEADERS = ["统一社会信用代码", "企业名称", "备注", "列入强制名单日期", "总投资"]


def enterprises(count: int, note: str = "=SUM(A1:A9)") -> list[list[Any]]:
    rows: list[list[Any]] = [HEADERS]
    for n in range(count):
        rows.append(
            [f"9144010100000{n:05d}", f"企业{n}", note if n == 0 else None, date(2014, 5, 31), 1200.5 + n]
        )
    return rows


def master(path: Path, *, rows: int = 3, overview_total: int = 3, note: str = "=SUM(A1:A9)") -> Path:
    return write_xlsx(
        path,
        {
            "运行摘要": [["不发布"]],
            "概览": [["基准日期", datetime(2014, 11, 30)], ["企业数", overview_total], [None, None, "备注"]],
            "企业名录": enterprises(rows, note),
            "年度目标": [["年度", "区县", "指标", "目标值"], [2014, "越秀区", "审核企业数", 12]],
        },
    )


@pytest.fixture
def google(fake_sheets: FakeSheetsAPI) -> SheetsSession:
    fake_sheets.add_spreadsheet(KEY, "总台账(只读)", {"Sheet1": []})
    return connect(Credentials(token=TOKEN), endpoint=fake_sheets.url)


def test_register_sheets_and_overview_are_published_as_the_master_has_them(
    fake_sheets: FakeSheetsAPI, google: SheetsSession, tmp_path: Path
) -> None:
    state = tmp_path / "state.json"
    report = publish_register(google, KEY, master(tmp_path / "m.xlsx"), state)

    assert report.written == ["概览", "企业名录", "年度目标"]
    assert "运行摘要" not in [s.title for s in fake_sheets.spreadsheets[KEY].sheets]
    assert "审核进度" in report.absent
    table = fake_sheets.table(KEY, "企业名录")
    assert table[0] == HEADERS
    assert table[1] == ["914401010000000000", "企业0", "=SUM(A1:A9)", "2014-05-31", 1200.5]
    # RAW input: text that looks like a formula stays text
    assert not any(
        isinstance(v, Formula) for s in fake_sheets.spreadsheets[KEY].sheets for v in s.cells.values()
    )
    assert fake_sheets.table(KEY, "概览") == [["基准日期", "2014-11-30"], ["企业数", 3], ["", "", "备注"]]
    assert fake_sheets.table(KEY, "年度目标")[1] == [2014, "越秀区", "审核企业数", 12]
    sheet = fake_sheets.spreadsheets[KEY].sheet("企业名录")
    assert sheet is not None and (sheet.rows, sheet.cols) == (4, 5)  # sized exactly before writing
    writes = fake_sheets.value_writes()
    assert all(entry.body["valueInputOption"] == "RAW" for entry in writes)
    kinds = [entry.kind for entry in fake_sheets.requests_of()]
    assert kinds.index("spreadsheets.batchUpdate") < kinds.index("values.batchUpdate")
    assert set(load_state(state, KEY)) == {"概览", "企业名录", "年度目标"}


def test_a_second_publish_with_no_change_sends_no_value_updates(
    fake_sheets: FakeSheetsAPI, google: SheetsSession, tmp_path: Path
) -> None:
    path, state = master(tmp_path / "m.xlsx"), tmp_path / "state.json"
    publish_register(google, KEY, path, state)
    before = len(fake_sheets.requests_of())

    again = publish_register(google, KEY, master(tmp_path / "again.xlsx"), state)

    assert again.written == [] and again.unchanged == ["概览", "企业名录", "年度目标"]
    assert [entry.kind for entry in fake_sheets.requests_of()[before:]] == ["spreadsheets.get"]


def test_only_changed_sheets_are_rewritten_and_a_shrunk_table_leaves_nothing_behind(
    fake_sheets: FakeSheetsAPI, google: SheetsSession, tmp_path: Path
) -> None:
    state = tmp_path / "state.json"
    publish_register(google, KEY, master(tmp_path / "m.xlsx", rows=5), state)
    before = len(fake_sheets.requests_of())

    report = publish_register(google, KEY, master(tmp_path / "m2.xlsx", rows=2, note=""), state)

    assert report.written == ["企业名录"] and report.unchanged == ["概览", "年度目标"]
    new = fake_sheets.requests_of()[before:]
    resize = [e for e in new if e.kind == "spreadsheets.batchUpdate"]
    assert list(resize[0].body["requests"][0]) == ["updateSheetProperties"]
    ranges = {
        item["range"].split("!")[0] for e in new if e.kind == "values.batchUpdate" for item in e.body["data"]
    }
    assert ranges == {"'企业名录'"}
    assert fake_sheets.table(KEY, "企业名录") == [
        HEADERS,
        ["914401010000000000", "企业0", "", "2014-05-31", 1200.5],
        ["914401010000000001", "企业1", "", "2014-05-31", 1201.5],
    ]


def test_writes_are_chunked_within_the_cell_and_byte_limits(
    fake_sheets: FakeSheetsAPI, tmp_path: Path
) -> None:
    fake_sheets.payload_limit = 6_000  # a small server limit the chunks must stay under
    fake_sheets.add_spreadsheet(KEY, "t", {"Sheet1": []})
    google = connect(Credentials(token=TOKEN), endpoint=fake_sheets.url)
    limits = Limits(max_cells=60, max_bytes=4_000)

    report = publish_register(
        google, KEY, master(tmp_path / "m.xlsx", rows=80), tmp_path / "s.json", limits=limits
    )

    writes = fake_sheets.value_writes()
    assert len(writes) == report.value_requests > 5
    for entry in writes:
        assert entry.status == 200 and entry.size < 6_000
        assert sum(len(row) for item in entry.body["data"] for row in item["values"]) <= 60
    assert len(fake_sheets.table(KEY, "企业名录")) == 81


def test_chunks_say_which_tables_they_complete() -> None:
    tables = [Table("a", [[1, 2]] * 5), Table("b", [[3]] * 2)]
    chunks = list(chunked(tables, Limits(max_cells=4, max_bytes=10_000)))
    assert [(sum(len(r) for d in data for r in d["values"]), done) for data, done in chunks] == [
        (4, []),
        (4, []),
        (4, ["a", "b"]),
    ]
    assert [d["range"] for d in chunks[2][0]] == ["'a'!A5:B5", "'b'!A1:A2"]


def test_a_sheet_changed_or_removed_in_google_is_published_again(
    fake_sheets: FakeSheetsAPI, google: SheetsSession, tmp_path: Path
) -> None:
    path, state = master(tmp_path / "m.xlsx"), tmp_path / "state.json"
    publish_register(google, KEY, path, state)
    book = fake_sheets.spreadsheets[KEY]
    book.sheets = [s for s in book.sheets if s.title != "年度目标"]  # someone deleted it

    report = publish_register(google, KEY, path, state)

    assert report.written == ["年度目标"]
    assert fake_sheets.table(KEY, "年度目标")[1] == [2014, "越秀区", "审核企业数", 12]


def test_a_publish_that_fails_half_way_is_completed_next_time(
    fake_sheets: FakeSheetsAPI, tmp_path: Path
) -> None:
    fake_sheets.add_spreadsheet(KEY, "t", {"Sheet1": []})
    time = FakeTime()
    google = connect(
        Credentials(token=TOKEN),
        endpoint=fake_sheets.url,
        policy=RetryPolicy(max_tries=2, max_seconds=5),
        pacing=Pacing(sleep=time.sleep, clock=time.clock, random=lambda: 0.5),
    )
    path, state, limits = master(tmp_path / "m.xlsx", rows=30), tmp_path / "state.json", Limits(max_cells=40)
    # the first value write goes through, every later one fails until the caps are spent
    fake_sheets.fail_next(500, 2, path_contains="values:batchUpdate", after=1)
    with pytest.raises(GoogleSheetsError) as caught:
        publish_register(google, KEY, path, state, limits=limits)
    assert caught.value.kind == "unavailable"
    assert list(load_state(state, KEY)) == ["概览"]  # only the sheet finished before the failure
    assert time.sleeps == [0.75]

    report = publish_register(google, KEY, path, state, limits=limits)
    assert report.written == ["企业名录", "年度目标"] and report.unchanged == ["概览"]
    assert len(fake_sheets.table(KEY, "企业名录")) == 31


def test_a_sheet_not_shared_for_editing_is_explained(fake_sheets: FakeSheetsAPI, tmp_path: Path) -> None:
    fake_sheets.forbid(KEY)
    google = connect(Credentials(token=TOKEN), endpoint=fake_sheets.url)
    with pytest.raises(GoogleSheetsError) as caught:
        publish_register(google, KEY, master(tmp_path / "m.xlsx"), tmp_path / "s.json")
    assert caught.value.kind == "forbidden"
    assert "发布到 Google 表格" in caught.value.message and "编辑者" in caught.value.message


def test_the_fake_answers_gspread_s_own_calls_like_google(
    fake_sheets: FakeSheetsAPI, google: SheetsSession
) -> None:
    """The fake is only worth its tests if gspread's own high-level calls work against it too."""
    spreadsheet = google.client.open_by_key(KEY)
    worksheet = spreadsheet.add_worksheet("临时", rows=3, cols=2)  # addSheet
    worksheet.update([["文本", "=1+1"], [1, "TRUE"]], "A1", raw=False)  # values.update, USER_ENTERED
    assert worksheet.get_all_values() == [["文本", "#NAME?"], ["1", "TRUE"]]  # values.get, formatted
    assert fake_sheets.table(KEY, "临时") == [["文本", Formula("=1+1")], [1, True]]
    worksheet.resize(rows=1)  # updateSheetProperties
    with pytest.raises(gspread.exceptions.APIError) as caught:
        worksheet.update([["x"]], "A2")
    assert caught.value.code == 400 and "exceeds grid limits" in str(caught.value)
    assert [w.title for w in spreadsheet.worksheets()] == ["Sheet1", "临时"]
    with pytest.raises(gspread.exceptions.SpreadsheetNotFound):
        google.client.open_by_key("1NoSuchKeyNoSuchKeyNoSuchKey000")
