"""Whole nights of a job with Google sources and a published register, against the fake Sheets API.

The job signs in with a real service-account key file whose token endpoint is the fake server,
so the path a production job takes is the one tested; only the clock is fake, so retrying
Google's bad days costs no time.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import python_calamine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sheetsync.drive import Drive
from sheetsync.drive_setup import FOLDERS
from sheetsync.gsheets.client import Pacing
from sheetsync.gsheets.nightly import GoogleAccess
from sheetsync.job import JobConfig, JobFileError, load_job, write_job
from sheetsync.job_run import run_job
from sheetsync.profile import load_profile
from sheetsync.render_template import write_template
from sheetsync.runlog import read_run_records, records_path
from sheetsync.schemas import SubmitterKind
from sheetsync.store import open_register
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
HAIZHU_KEY = "1HaizhuKeepsItsWorkbookInGoogle0123456789"
LIWAN_KEY = "1LiwanSheetNotSharedWithTheAccount0123456"
MISSING_KEY = "1NoSuchSpreadsheetAnywhere000000000000000"
PUBLISH_KEY = "1PublishedMasterForReadOnlyViewers0123456"
YUEXIU = {
    "统一社会信用代码": "91440101MA5CJQ4N59",
    "企业名称": "广州市越秀某某有限公司",
    "所属区县": "越秀区",
    "行业门类": "C 制造业",
    "企业类别": "规模以上工业",
    "审核类型": "自愿",
}
HAIZHU = dict(YUEXIU, 统一社会信用代码="914403001922038216", 企业名称="海珠某某有限公司", 所属区县="海珠区")
HAIZHU_BAD = dict(
    HAIZHU, 统一社会信用代码="91440101MA5CJQ4N58", 企业名称="坏代码公司", 企业类别="不存在的类别"
)
START = datetime(2014, 11, 30, 2, 30)


class FakeClock:
    """The run's clock and Google's retry clock in one: sleeping moves both."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.time = FakeTime()

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def access(self) -> GoogleAccess:
        return GoogleAccess(pacing=Pacing(sleep=self.time.sleep, clock=self.time.clock, random=lambda: 0.5))


@cache
def private_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


PRIVATE_KEY_ID = "f00dfeedf00dfeedf00dfeedf00dfeedf00dfeed"


def key_file(folder: Path, api: FakeSheetsAPI) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    info = {
        "type": "service_account",
        "project_id": "gz-cleaner-production",
        "private_key_id": PRIVATE_KEY_ID,
        "private_key": private_key(),
        "client_email": "nightly@gz-cleaner-production.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": api.token_uri,
    }
    path = folder / "service-account.json"
    path.write_text(json.dumps(info), encoding="utf-8")
    return path


def google_job(
    root: Path,
    api: FakeSheetsAPI | None,
    *,
    sources: dict[str, str] | None = None,
    publish_key: str | None = None,
    max_tries: int = 3,
    max_seconds: float = 10,
) -> JobConfig:
    """A drive laid out by ``init`` whose job file gains a [google] section (none when ``api`` is None)."""
    # the layout `init` makes, without its blank templates: they are not what these tests are about
    for folder in FOLDERS:
        (root / folder).mkdir(parents=True, exist_ok=True)
    Drive(root).write_settings(PROFILE.name)
    job_path = root / "sync_jobs" / "job.toml"
    config = {"name": "夜间汇总", "drive": str(root), "profile": PROFILE.name, "run_at": "02:30"}
    write_job(job_path, JobConfig.model_validate(config, context={"base": job_path.parent}))
    if api is not None:
        secret = key_file(root.parent / f"{root.name}-secrets", api)
        entries = ", ".join(f'"{name}" = "{key}"' for name, key in (sources or {}).items())
        lines = [
            "",
            "[google]",
            f'service_account = "{secret.as_posix()}"',
            f'endpoint = "{api.url}"',
            f"sources = {{ {entries} }}",
            f"max_tries = {max_tries}",
            f"max_seconds = {max_seconds}",
        ]
        if publish_key:
            lines.append(f'publish_key = "{publish_key}"')
        with job_path.open("a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
    return load_job(job_path)


def submission(path: Path, submitter: str, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_template(
        path,
        submitter=submitter,
        kind=SubmitterKind.DISTRICT,
        period="2014-11",
        profile=PROFILE.name,
        rows={"企业名录": rows},
    )


def problem_list(feedback: Path) -> list[list[Any]]:
    book = python_calamine.CalamineWorkbook.from_path(str(feedback))
    try:
        return book.get_sheet_by_name("问题清单").to_python()
    finally:
        book.close()


def only(folder: Path, pattern: str) -> Path:
    found = sorted(folder.rglob(pattern))
    assert len(found) == 1, found
    return found[0]


# ---------------------------------------------------------------------------- a whole night


def test_a_google_source_is_validated_merged_answered_and_archived_like_a_file(
    fake_sheets: FakeSheetsAPI, tmp_path: Path
) -> None:
    haizhu_file = submission(tmp_path / "source" / "海珠区_11月.xlsx", "海珠区", [HAIZHU, HAIZHU_BAD])
    seed_workbook(fake_sheets, HAIZHU_KEY, "海珠区 11月", haizhu_file)

    # the same night twice: once with 海珠区's workbook as a file, once with it in Google
    as_files = google_job(tmp_path / "files", None)
    submission(tmp_path / "files" / "inbox" / "越秀区" / "越秀区_11月.xlsx", "越秀区", [YUEXIU])
    dropped = tmp_path / "files" / "inbox" / "海珠区" / "海珠区_11月.xlsx"
    dropped.parent.mkdir(parents=True)
    dropped.write_bytes(haizhu_file.read_bytes())
    with_google = google_job(tmp_path / "google", fake_sheets, sources={"海珠区": HAIZHU_KEY})
    submission(tmp_path / "google" / "inbox" / "越秀区" / "越秀区_11月.xlsx", "越秀区", [YUEXIU])

    clock = FakeClock(START)
    first = run_job(as_files, clock=clock, sleep=clock.sleep)
    clock.now = START
    second = run_job(with_google, clock=clock, sleep=clock.sleep, google=clock.access())

    assert first.exit_code == second.exit_code == 1  # 海珠区's bad row is rejected either way
    root = tmp_path / "google"
    by_file = only(tmp_path / "files" / "feedback" / "海珠区", "*_反馈_*.xlsx")
    by_google = only(root / "feedback" / "海珠区", "*_反馈_*.xlsx")
    assert by_google.name == "Google表格_海珠区 11月_反馈_20141130-023000.xlsx"
    problems = problem_list(by_google)
    assert problems == problem_list(by_file)  # same problems, same cells, same words
    assert any(row[1] == "企业名录" and row[2] == "A3" and row[-1] == "uscc-checksum" for row in problems)

    registers = [open_register(job.register_url).current("企业名录") for job in (as_files, with_google)]
    assert [(r.key, r.data) for r in registers[0]] == [(r.key, r.data) for r in registers[1]]
    assert {r.key for r in registers[1]} == {(YUEXIU["统一社会信用代码"],), (HAIZHU["统一社会信用代码"],)}

    archived = only(root / "archive" / "海珠区", "*_Google表格_海珠区 11月.xlsx")
    assert archived.parent.name == "2014-11"
    assert not (root / "rejected" / "海珠区").exists() or not any((root / "rejected" / "海珠区").iterdir())
    assert not (root / "logs" / "gsheets").exists() or not any((root / "logs" / "gsheets").iterdir())
    assert not (root / "inbox" / "海珠区").exists()  # nothing is put into a Google submitter's inbox

    (record,) = read_run_records(with_google.layout)
    entry = next(e for e in record.files if e["submitter"] == "海珠区")
    assert entry["source"] == "google" and entry["key"] == HAIZHU_KEY
    assert entry["moved_to"].startswith("archive/海珠区/2014-11/")
    assert record.counts["google_sources"] == 1 and record.counts["sources_failed"] == 0


def test_an_unchanged_sheet_is_not_consolidated_again_and_an_edited_one_is(
    fake_sheets: FakeSheetsAPI, tmp_path: Path
) -> None:
    workbook = submission(tmp_path / "source" / "海珠区.xlsx", "海珠区", [HAIZHU])
    sheet = seed_workbook(fake_sheets, HAIZHU_KEY, "海珠区", workbook)
    job = google_job(tmp_path / "drive", fake_sheets, sources={"海珠区": HAIZHU_KEY})
    clock = FakeClock(START)
    feedback = tmp_path / "drive" / "feedback" / "海珠区"

    assert run_job(job, clock=clock, sleep=clock.sleep, google=clock.access()).exit_code == 0
    clock.now += timedelta(days=1)
    quiet = run_job(job, clock=clock, sleep=clock.sleep, google=clock.access())

    assert quiet.exit_code == 0
    assert [e["status"] for e in quiet.files] == ["unchanged"]
    assert quiet.counts["sources_unchanged"] == 1 and quiet.counts["files"] == 0
    assert len(list(feedback.glob("*_反馈_*.xlsx"))) == 1  # no new feedback for a quiet night
    assert len(open_register(job.register_url).submissions()) == 1

    enterprise = sheet.sheet("企业名录")
    assert enterprise is not None
    name_at = next(at for at, value in enterprise.cells.items() if value == "海珠某某有限公司")
    enterprise.cells[name_at] = "海珠某某股份有限公司"
    clock.now += timedelta(days=1)
    edited = run_job(job, clock=clock, sleep=clock.sleep, google=clock.access())

    assert edited.exit_code == 0 and edited.counts["files"] == 1
    (record,) = open_register(job.register_url).current("企业名录")
    assert record.data["name"] == "海珠某某股份有限公司"
    assert len(list(feedback.glob("*_反馈_*.xlsx"))) == 2


def test_a_source_google_keeps_refusing_fails_alone_within_the_caps(
    fake_sheets: FakeSheetsAPI, tmp_path: Path
) -> None:
    workbook = submission(tmp_path / "source" / "海珠区.xlsx", "海珠区", [HAIZHU])
    seed_workbook(fake_sheets, HAIZHU_KEY, "海珠区", workbook)
    fake_sheets.fail_next(429, -1, path_contains=HAIZHU_KEY)
    job = google_job(
        tmp_path / "drive", fake_sheets, sources={"海珠区": HAIZHU_KEY}, max_tries=4, max_seconds=30
    )
    submission(tmp_path / "drive" / "inbox" / "越秀区" / "越秀区.xlsx", "越秀区", [YUEXIU])
    clock = FakeClock(START)

    run = run_job(job, clock=clock, sleep=clock.sleep, google=clock.access())

    assert run.exit_code == 1 and run.record is not None and run.record.status == "files-rejected"
    assert len([e for e in fake_sheets.requests_of() if HAIZHU_KEY in e.path]) == 4
    assert len(clock.time.sleeps) == 3 and sum(clock.time.sleeps) <= 30
    failed = next(e for e in run.files if e["status"] == "source-failed")
    assert failed["submitter"] == "海珠区" and failed["key"] == HAIZHU_KEY
    assert "429" in failed["message"] and "已尝试 4 次" in failed["message"]
    assert run.counts["sources_failed"] == 1
    # the file source went in all the same
    keys = [r.key for r in open_register(job.register_url).current("企业名录")]
    assert keys == [(YUEXIU["统一社会信用代码"],)]
    log = (tmp_path / "drive" / run.record.log).read_text(encoding="utf-8")
    assert f"google source 海珠区 ({HAIZHU_KEY}) failed" in log


def test_not_shared_and_wrong_keys_are_explained_in_chinese(
    fake_sheets: FakeSheetsAPI, tmp_path: Path
) -> None:
    fake_sheets.forbid(LIWAN_KEY)
    job = google_job(tmp_path / "drive", fake_sheets, sources={"荔湾区": LIWAN_KEY, "天河区": MISSING_KEY})
    clock = FakeClock(START)

    run = run_job(job, clock=clock, sleep=clock.sleep, google=clock.access())

    assert run.exit_code == 1
    (record,) = read_run_records(job.layout)
    messages = {e["submitter"]: e["message"] for e in record.files if e["status"] == "source-failed"}
    assert "没有访问权限" in messages["荔湾区"]
    assert "nightly@gz-cleaner-production.iam.gserviceaccount.com" in messages["荔湾区"]
    assert "找不到该表格" in messages["天河区"]
    assert clock.time.sleeps == []  # neither is worth a retry


def test_the_register_is_published_and_a_quiet_night_sends_no_values(
    fake_sheets: FakeSheetsAPI, tmp_path: Path
) -> None:
    fake_sheets.add_spreadsheet(PUBLISH_KEY, "广州清洁生产总台账(只读)", {"Sheet1": []})
    job = google_job(tmp_path / "drive", fake_sheets, publish_key=PUBLISH_KEY)
    submission(tmp_path / "drive" / "inbox" / "越秀区" / "越秀区.xlsx", "越秀区", [YUEXIU])
    clock = FakeClock(START)

    run = run_job(job, clock=clock, sleep=clock.sleep, google=clock.access())

    assert run.exit_code == 0
    table = fake_sheets.table(PUBLISH_KEY, "企业名录")
    assert table[1][:2] == [YUEXIU["统一社会信用代码"], YUEXIU["企业名称"]]
    assert run.counts["google_sheets_published"] >= 8  # every register sheet

    writes = len(fake_sheets.value_writes())
    clock.now += timedelta(days=1)
    quiet = run_job(job, clock=clock, sleep=clock.sleep, google=clock.access())
    register_sheets = {
        "企业名录",
        "审核进度",
        "技改项目",
        "培训活动",
        "参训人员",
        "专家库",
        "咨询机构",
        "年度目标",
    }
    touched = {
        item["range"].split("!")[0].strip("'")
        for entry in fake_sheets.value_writes()[writes:]
        for item in entry.body["data"]
    }
    assert quiet.exit_code == 0 and not touched & register_sheets


def test_a_failed_publish_is_recorded_and_costs_no_data(fake_sheets: FakeSheetsAPI, tmp_path: Path) -> None:
    fake_sheets.forbid(PUBLISH_KEY)
    job = google_job(tmp_path / "drive", fake_sheets, publish_key=PUBLISH_KEY)
    submission(tmp_path / "drive" / "inbox" / "越秀区" / "越秀区.xlsx", "越秀区", [YUEXIU])
    clock = FakeClock(START)

    run = run_job(job, clock=clock, sleep=clock.sleep, google=clock.access())

    assert run.exit_code == 0 and run.counts["google_publish_failed"] == 1
    failed = next(e for e in run.files if e["status"] == "publish-failed")
    assert "编辑者" in failed["message"]
    assert [r.key for r in open_register(job.register_url).current("企业名录")] == [
        (YUEXIU["统一社会信用代码"],)
    ]
    assert (tmp_path / "drive" / "master" / "总台账.xlsx").is_file()


def test_no_token_or_key_is_ever_written_anywhere(fake_sheets: FakeSheetsAPI, tmp_path: Path) -> None:
    workbook = submission(tmp_path / "source" / "海珠区.xlsx", "海珠区", [HAIZHU])
    seed_workbook(fake_sheets, HAIZHU_KEY, "海珠区", workbook)
    fake_sheets.add_spreadsheet(PUBLISH_KEY, "总台账", {"Sheet1": []})
    # a misbehaving proxy repeats the request's credentials in its error answers
    fake_sheets.fail_next(400, -1, path_contains="values:batchGet", echo_authorization=True)
    fake_sheets.fail_next(503, -1, path_contains="values:batchUpdate", echo_authorization=True)
    job = google_job(tmp_path / "drive", fake_sheets, sources={"海珠区": HAIZHU_KEY}, publish_key=PUBLISH_KEY)
    clock = FakeClock(START)

    run = run_job(job, clock=clock, sleep=clock.sleep, google=clock.access())

    assert run.counts["sources_failed"] == 1 and run.counts["google_publish_failed"] == 1
    assert any(e.authorization == f"Bearer {TOKEN}" for e in fake_sheets.requests_of())  # it was in use
    secrets = [TOKEN, PRIVATE_KEY_ID, *(line for line in private_key().splitlines() if len(line) > 20)]
    messages = [e["message"] for e in run.files if "message" in e]
    assert len(messages) == 2 and "Bearer [已隐去]" in messages[0]
    written = [records_path(job.layout), *(tmp_path / "drive").rglob("*")]
    for path in written:
        if path.is_file():
            content = path.read_bytes().decode("utf-8", errors="replace")
            assert not [secret for secret in secrets if secret in content], path
    for message in messages:
        assert not [secret for secret in secrets if secret in message]


def test_the_google_section_is_checked_in_chinese(tmp_path: Path, fake_sheets: FakeSheetsAPI) -> None:
    with pytest.raises(JobFileError) as caught:
        google_job(tmp_path / "a", fake_sheets, sources={"朝阳区": HAIZHU_KEY})
    assert "google.sources" in str(caught.value) and "朝阳区" in str(caught.value)

    job = google_job(
        tmp_path / "b",
        fake_sheets,
        sources={"海珠区": f"https://docs.google.com/spreadsheets/d/{HAIZHU_KEY}/edit#gid=0"},
    )
    assert job.google is not None and job.google.sources == {"海珠区": HAIZHU_KEY}
    assert job.google.max_tries == 3 and job.google.service_account.is_absolute()
    rewritten = load_job(write_job(tmp_path / "b" / "sync_jobs" / "copy.toml", job))
    assert rewritten.google == job.google


@pytest.mark.parametrize(
    ("google", "expected"),
    [
        ('sources = { "海珠区" = "abc" }', ["google.sources", "海珠区:“abc”不是有效的 Google 表格编号"]),
        ('endpoint = "http://proxy.example.org:8080"', ["google.endpoint", "https://"]),
        ('endpoint = "https://sheets.googleapis.com/v4"', ["google.endpoint", "不要带路径"]),
        ("max_tries = 0", ["google.max_tries", "每个请求最多尝试次数", "不小于 1"]),
        ("max_seconds = 0", ["google.max_seconds", "须大于 0"]),
        ('sheet = "x"', ["google.sheet", "不认识的键", "service_account、endpoint"]),
        (
            f'publish_key = "{HAIZHU_KEY}"\nsources = {{ "海珠区" = "{HAIZHU_KEY}" }}',
            ["不能是某个填报单位的表格"],
        ),
    ],
)
def test_mistakes_in_the_google_section_name_the_key(
    tmp_path: Path, google: str, expected: list[str]
) -> None:
    path = tmp_path / "job.toml"
    path.write_text(
        'name = "夜间汇总"\ndrive = "drive"\nprofile = "guangzhou-2013"\nrun_at = "02:30"\n\n'
        f'[google]\nservice_account = "sa.json"\n{google}\n',
        encoding="utf-8",
    )
    with pytest.raises(JobFileError) as caught:
        load_job(path)
    for part in expected:
        assert part in str(caught.value)
