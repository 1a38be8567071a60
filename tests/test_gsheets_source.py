"""Reading a submitter's Google Sheet through the real gspread client against the fake Sheets API.

The point of every test here: a workbook kept in Google is validated exactly like the same
workbook as a file (same problems, same cells, same values), Google's bad days (429, 5xx, no
network) are retried within the caps and then reported in Chinese, and no credential ever
appears in what we say.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.oauth2.credentials import Credentials

from sheetsync.gsheets.client import Pacing, RetryPolicy, SheetsSession, connect, connect_service_account
from sheetsync.gsheets.errors import GoogleSheetsError
from sheetsync.gsheets.redact import HIDDEN
from sheetsync.gsheets.source import (
    content_digest,
    excel_sheet_names,
    read_spreadsheet,
    snapshot_name,
    write_snapshot,
)
from sheetsync.profile import load_profile
from sheetsync.read import RawWorkbook, file_hash, read_workbook
from sheetsync.validate import validate_file, validate_workbook
from tests.conftest import write_xlsx
from tests.fake_sheets_api import (  # noqa: F401  (fixtures)
    TOKEN,
    FakeSheetsAPI,
    FakeTime,
    fake_sheets_fixture,
    loopback_only_fixture,
    seed_workbook,
)

pytestmark = pytest.mark.usefixtures("loopback_only")  # nothing here may reach beyond 127.0.0.1

PROFILE = load_profile("guangzhou-2013")
KEY = "1yXq3Z0kSheetKeyForYuexiu0123456789abcdEF"
GOOD = "91440101MA5CJQ4N59"
STAMP = {"submitter": "越秀区", "kind": "district", "period": "2014-11", "template_version": "v1"}
ENTERPRISE_HEADERS = ["统一社会信用代码", "企业名称", "所属区县", "行业门类", "企业类别", "审核类型"]
AUDIT_HEADERS = ["统一社会信用代码", "审核轮次", "审核方式", "启动日期", "报告提交日期", "评估日期"]

# a workbook with something wrong in every kind of cell: checksum, choice, number, dates
SHEETS: dict[str, list[list[Any]]] = {
    "企业名录": [
        ["2014年11月 企业名录"],  # a title row above the header
        ENTERPRISE_HEADERS,
        [GOOD, "广州市越秀某某有限公司", "越秀区", "C 制造业", "规模以上工业", "自愿"],
        ["91440101MA5CJQ4N58", "坏代码公司", "越秀区", "C 制造业", "规模以上工业", "自愿"],
        ["914403001922038216", "选项错公司", "越秀区", "Q 不存在", "规模以上工业", "自愿"],
    ],
    "审核进度": [
        AUDIT_HEADERS,
        [GOOD, 1, "全面审核", date(2014, 6, 1), date(2014, 5, 31), "2014年7月1日"],
        [GOOD, "第二", "全面审核", date(2014, 3, 1), "2014-13-01", None],
    ],
}


def session(api: FakeSheetsAPI, *, time: FakeTime | None = None, **policy: Any) -> SheetsSession:
    pacing = Pacing(sleep=time.sleep, clock=time.clock, random=lambda: 0.5) if time else None
    return connect(
        Credentials(token=TOKEN),
        endpoint=api.url,
        policy=RetryPolicy(**policy) if policy else None,
        pacing=pacing,
    )


def comparable(problems: list[Any]) -> list[dict[str, Any]]:
    return [problem.model_dump(exclude={"file"}) for problem in problems]


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    return write_xlsx(tmp_path / "越秀区.xlsx", SHEETS, stamp=STAMP)


def test_a_google_sheet_validates_exactly_like_the_same_workbook_as_a_file(
    fake_sheets: FakeSheetsAPI, workbook: Path
) -> None:
    seed_workbook(fake_sheets, KEY, "越秀区 2014年11月", workbook)

    read = read_spreadsheet(session(fake_sheets), KEY)

    from_file = read_workbook(workbook)
    assert [(s.name, s.visible, s.first_row, s.first_col, s.rows) for s in read.book.sheets] == [
        (s.name, s.visible, s.first_row, s.first_col, s.rows) for s in from_file.sheets
    ]
    as_file = validate_file(workbook, expected_submitter="越秀区", profile=PROFILE)
    as_google = validate_workbook(
        read.book, display_name="x", digest=read.digest, expected_submitter="越秀区", profile=PROFILE
    )
    assert comparable(as_google.problems) == comparable(as_file.problems)
    cells = {(p.code, p.sheet, p.cell) for p in as_google.problems}
    assert ("uscc-checksum", "企业名录", "A4") in cells
    assert any(
        p.cell == "E2" and p.value == "2014-05-31" for p in as_google.problems
    )  # a date shown as a date
    assert [len(s.valid_rows) for s in as_google.sheets] == [len(s.valid_rows) for s in as_file.sheets]
    assert read.title == "越秀区 2014年11月"


def test_values_are_asked_unformatted_with_dates_as_serials_and_formats_only_where_numbers_are(
    fake_sheets: FakeSheetsAPI, workbook: Path
) -> None:
    seed_workbook(fake_sheets, KEY, "越秀区", workbook)
    read_spreadsheet(session(fake_sheets), KEY)

    kinds = [entry.kind for entry in fake_sheets.requests_of()]
    assert kinds == ["spreadsheets.get", "values.batchGet", "spreadsheets.get"]
    batch = fake_sheets.requests_of("values.batchGet")[0].query
    assert batch["valueRenderOption"] == ["UNFORMATTED_VALUE"]
    assert batch["dateTimeRenderOption"] == ["SERIAL_NUMBER"]
    assert batch["ranges"] == ["'企业名录'", "'审核进度'", "'填报信息'"]
    formats = fake_sheets.requests_of("spreadsheets.get")[1].query
    assert formats["includeGridData"] == ["true"]
    assert formats["ranges"] == ["'审核进度'!A1:F3"]  # the only sheet holding numbers, its used range only


def test_the_snapshot_reads_back_as_the_same_cells_and_the_same_bytes(
    fake_sheets: FakeSheetsAPI, workbook: Path, tmp_path: Path
) -> None:
    seed_workbook(fake_sheets, KEY, "越秀区", workbook)
    read = read_spreadsheet(session(fake_sheets), KEY)

    first = write_snapshot(read.book, tmp_path / "a" / snapshot_name(read.title))
    second = write_snapshot(read.book, tmp_path / "b" / snapshot_name(read.title))

    assert first.name == "Google表格_越秀区.xlsx"
    assert file_hash(first) == file_hash(second)  # an unchanged sheet is an unchanged submission
    again = read_workbook(first)
    assert [(s.name, s.visible, s.first_row, s.first_col, s.rows) for s in again.sheets] == [
        (s.name, s.visible, s.first_row, s.first_col, s.rows) for s in read.book.sheets
    ]
    assert content_digest(RawWorkbook(first, again.sheets)) == read.digest
    from_snapshot = validate_file(first, expected_submitter="越秀区", profile=PROFILE)
    from_file = validate_file(workbook, expected_submitter="越秀区", profile=PROFILE)
    assert comparable(from_snapshot.problems) == comparable(from_file.problems)


def test_the_digest_follows_the_content(fake_sheets: FakeSheetsAPI) -> None:
    fake_sheets.add_spreadsheet(KEY, "t", {"企业名录": [["a", 1, date(2014, 5, 31)]]})
    before = read_spreadsheet(session(fake_sheets), KEY).digest
    assert read_spreadsheet(session(fake_sheets), KEY).digest == before
    fake_sheets.spreadsheets[KEY].sheets[0].cells[(0, 1)] = 2
    assert read_spreadsheet(session(fake_sheets), KEY).digest != before


def test_cells_are_typed_as_calamine_gives_them(fake_sheets: FakeSheetsAPI) -> None:
    rows = [
        [None, None, None],
        [None, "文本", 3, 2.5, True, date(2014, 5, 31), datetime(2014, 5, 31, 12, 0), "=1+1"],
    ]
    fake_sheets.add_spreadsheet(KEY, "t", {"表": rows})

    (sheet,) = read_spreadsheet(session(fake_sheets), KEY).book.sheets

    assert (sheet.first_row, sheet.first_col) == (1, 1)
    assert sheet.rows == [["文本", 3.0, 2.5, True, date(2014, 5, 31), datetime(2014, 5, 31, 12, 0), "=1+1"]]


def test_sheet_names_excel_refuses_are_made_safe_and_unique() -> None:
    names = excel_sheet_names(["a/b", "a?b", "x" * 40, "Ok"])
    assert names == ["a_b", "a_b(2)", "x" * 31, "Ok"]


# ---------------------------------------------------------------------------- failures


def test_429_and_500_are_retried_with_growing_jittered_waits(fake_sheets: FakeSheetsAPI) -> None:
    fake_sheets.add_spreadsheet(KEY, "t", {"表": [["a"]]})
    fake_sheets.fail_next(429, 2, path_contains="values:batchGet")
    fake_sheets.fail_next(500, 1, path_contains="values:batchGet")
    time = FakeTime()

    read = read_spreadsheet(session(fake_sheets, time=time, max_tries=5, max_seconds=60), KEY)

    assert read.book.sheets[0].rows == [["a"]]
    statuses = [entry.status for entry in fake_sheets.requests_of("values.batchGet")]
    assert statuses == [429, 429, 500, 200]
    assert time.sleeps == [0.75, 1.5, 3.0]  # 1, 2, 4 s ceilings, jitter drawn at 0.5


def test_a_permanent_429_gives_up_after_the_capped_tries(fake_sheets: FakeSheetsAPI) -> None:
    fake_sheets.add_spreadsheet(KEY, "t", {"表": [["a"]]})
    fake_sheets.fail_next(429, -1)
    time = FakeTime()

    with pytest.raises(GoogleSheetsError) as caught:
        read_spreadsheet(session(fake_sheets, time=time, max_tries=4, max_seconds=600), KEY)

    assert caught.value.kind == "rate-limited"
    assert "429" in caught.value.message and "已尝试 4 次" in caught.value.message
    assert KEY in caught.value.message
    assert len(fake_sheets.requests_of()) == 4
    assert len(time.sleeps) == 3


def test_the_seconds_cap_stops_retrying_before_it_is_passed(fake_sheets: FakeSheetsAPI) -> None:
    fake_sheets.add_spreadsheet(KEY, "t", {"表": [["a"]]})
    fake_sheets.fail_next(503, -1)
    time = FakeTime()

    with pytest.raises(GoogleSheetsError) as caught:
        read_spreadsheet(session(fake_sheets, time=time, max_tries=50, max_seconds=10), KEY)

    assert caught.value.kind == "unavailable" and "503" in caught.value.message
    assert sum(time.sleeps) <= 10
    assert len(fake_sheets.requests_of()) == len(time.sleeps) + 1 < 50


def test_retry_after_is_honoured_within_the_cap(fake_sheets: FakeSheetsAPI) -> None:
    fake_sheets.add_spreadsheet(KEY, "t", {"表": [["a"]]})
    fake_sheets.fail_next(429, 1, retry_after="7")
    fake_sheets.fail_next(429, 1, retry_after="3600")
    time = FakeTime()

    with pytest.raises(GoogleSheetsError):
        read_spreadsheet(session(fake_sheets, time=time, max_tries=5, max_seconds=60), KEY)
    assert time.sleeps == [7.0]  # the second answer asked for longer than the cap allows: give up now


def test_403_and_404_are_explained_in_chinese_and_not_retried(fake_sheets: FakeSheetsAPI) -> None:
    fake_sheets.forbid(KEY)
    time = FakeTime()
    with pytest.raises(GoogleSheetsError) as forbidden:
        read_spreadsheet(session(fake_sheets, time=time), KEY)
    assert forbidden.value.kind == "forbidden"
    assert "没有访问权限" in forbidden.value.message and "共享" in forbidden.value.message
    assert "查看者" in forbidden.value.message

    missing = "1MissingKeyMissingKeyMissingKeyMissing00"
    with pytest.raises(GoogleSheetsError) as not_found:
        read_spreadsheet(session(fake_sheets, time=time), missing)
    assert not_found.value.kind == "not-found"
    assert "找不到该表格" in not_found.value.message and "/d/" in not_found.value.message
    assert len(fake_sheets.requests_of()) == 2 and time.sleeps == []


def test_an_unreachable_endpoint_is_retried_then_reported(tmp_path: Path) -> None:
    api = FakeSheetsAPI().start()
    url = api.url
    api.stop()  # nothing listens on that port of 127.0.0.1 any more
    time = FakeTime()
    lost = connect(
        Credentials(token=TOKEN),
        endpoint=url,
        policy=RetryPolicy(max_tries=3),
        pacing=Pacing(sleep=time.sleep, clock=time.clock, random=lambda: 0.0),
    )
    with pytest.raises(GoogleSheetsError) as caught:
        read_spreadsheet(lost, KEY)
    assert caught.value.kind == "unreachable" and url in caught.value.message
    assert len(time.sleeps) == 2


def test_nothing_but_the_sheets_api_is_ever_contacted(fake_sheets: FakeSheetsAPI) -> None:
    connected = session(fake_sheets)
    with pytest.raises(Exception) as caught, connected.explained("读取 Google 表格", "标题", role="查看者"):
        connected.client.open("按标题打开需要 Drive API")  # gspread asks Drive for this: refused here
    assert isinstance(caught.value, GoogleSheetsError) and "已拦截" in caught.value.message
    assert fake_sheets.requests_of() == []


def test_credentials_echoed_by_a_proxy_never_reach_the_message(fake_sheets: FakeSheetsAPI) -> None:
    fake_sheets.add_spreadsheet(KEY, "t", {"表": [["a"]]})
    fake_sheets.fail_next(400, -1, echo_authorization=True)

    with pytest.raises(GoogleSheetsError) as caught:
        read_spreadsheet(session(fake_sheets), KEY)

    assert fake_sheets.requests_of()[0].authorization == f"Bearer {TOKEN}"  # it did travel, to 127.0.0.1
    assert TOKEN not in caught.value.message and TOKEN not in str(caught.value)
    assert HIDDEN in caught.value.message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


# ---------------------------------------------------------------------------- service account


def service_account_file(path: Path, token_uri: str) -> tuple[Path, str]:
    """A real service-account key file whose token endpoint is the fake server."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "sheetsync-test",
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": pem,
        "client_email": "nightly@sheetsync-test.iam.gserviceaccount.com",
        "client_id": "123456789",
        "token_uri": token_uri,
    }
    path.write_text(json.dumps(info), encoding="utf-8")
    return path, pem


def test_a_service_account_signs_in_at_its_token_endpoint_and_reads(
    fake_sheets: FakeSheetsAPI, tmp_path: Path
) -> None:
    fake_sheets.add_spreadsheet(KEY, "t", {"表": [["a"]]})
    path, _ = service_account_file(tmp_path / "sa.json", fake_sheets.token_uri)

    connected = connect_service_account(path, endpoint=fake_sheets.url)
    read = read_spreadsheet(connected, KEY)

    assert read.book.sheets[0].rows == [["a"]]
    assert [entry.kind for entry in fake_sheets.requests_of()][0] == "token"
    assert connected.account == "nightly@sheetsync-test.iam.gserviceaccount.com"
    fake_sheets.forbid(KEY)
    with pytest.raises(GoogleSheetsError) as caught:
        read_spreadsheet(connected, KEY)
    assert "nightly@sheetsync-test.iam.gserviceaccount.com" in caught.value.message  # whom to share with


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "找不到服务账号密钥文件"),
        ("{not json", "不是有效的 JSON"),
        ('{"type": "authorized_user", "client_secret": "s3cr3t-s3cr3t"}', "不是服务账号密钥文件"),
        (
            '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\nAAAA"}',
            "不完整或已损坏",
        ),
    ],
)
def test_unusable_key_files_are_explained_without_quoting_them(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    path = tmp_path / "sa.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(GoogleSheetsError) as caught:
        connect_service_account(path, endpoint="http://127.0.0.1:9")
    assert expected in caught.value.message and caught.value.kind == "credentials"
    assert "s3cr3t" not in caught.value.message and "PRIVATE KEY" not in caught.value.message
