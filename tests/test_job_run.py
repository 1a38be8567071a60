"""Whole nights of a job on a fake clock: what is taken, archived, rejected, answered and recorded."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest

from sheetsync.drive_setup import init_drive
from sheetsync.job import load_job
from sheetsync.job_run import run_job
from sheetsync.nightly import serve
from sheetsync.profile import load_profile
from sheetsync.render_template import write_template
from sheetsync.runlog import read_run_records
from sheetsync.schemas import SubmitterKind
from sheetsync.store import open_register
from sheetsync.uscc import check_character

PROFILE = load_profile("guangzhou-2013")
GOOD = "91440101MA5CJQ4N59"
ENTERPRISE = {
    "统一社会信用代码": GOOD,
    "企业名称": "广州市越秀某某有限公司",
    "所属区县": "越秀区",
    "行业门类": "C 制造业",
    "企业类别": "规模以上工业",
    "审核类型": "自愿",
}
BAD = dict(ENTERPRISE, 统一社会信用代码="91440101MA5CJQ4N58", 企业名称="坏代码公司")


def enterprise_of(district: str, serial: int) -> dict[str, str]:
    """An enterprise of ``district`` with a valid credit code of its own (a district owns only its own)."""
    first17 = f"914401017{serial:08d}"
    code = first17 + check_character(first17)
    return dict(
        ENTERPRISE, 统一社会信用代码=code, 企业名称=f"广州市{district}某某有限公司", 所属区县=district
    )


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def submission(path: Path, submitter: str, rows: list[dict], period: str = "2014-11") -> Path:
    return write_template(
        path,
        submitter=submitter,
        kind=SubmitterKind.DISTRICT,
        period=period,
        profile=PROFILE.name,
        rows={"企业名录": rows},
    )


@pytest.fixture
def job_drive(tmp_path: Path):
    job_path = init_drive(tmp_path / "drive", PROFILE, today=date(2014, 11, 3))
    return load_job(job_path), tmp_path / "drive"


def growing_looks(growing: Path):
    """A file still being uploaded: its size differs at every look."""
    sizes = iter(range(1000, 100000, 7))

    def looks(path: Path) -> tuple[int, float]:
        stat = path.stat()
        if path == growing:
            return next(sizes), stat.st_mtime
        return stat.st_size, stat.st_mtime

    return looks


def test_a_night_takes_settled_files_archives_rejects_and_answers(job_drive) -> None:
    job, root = job_drive
    inbox = root / "inbox"
    good = submission(inbox / "越秀区" / "越秀区_11月.xlsx", "越秀区", [ENTERPRISE, BAD])
    wrong = submission(inbox / "越秀区" / "海珠区_11月.xlsx", "海珠区", [ENTERPRISE])
    lock = inbox / "越秀区" / "~$越秀区_11月.xlsx"
    lock.write_bytes(b"\x00lock")
    liwan = enterprise_of("荔湾区", 1)
    uploading = submission(inbox / "荔湾区" / "荔湾区_11月.xlsx", "荔湾区", [liwan])
    clock = FakeClock(datetime(2014, 11, 30, 2, 30))

    run = run_job(job, clock=clock, looks=growing_looks(uploading), sleep=clock.sleep)

    assert run.exit_code == 1  # ran, some files (rows) rejected
    assert not good.exists() and not wrong.exists()
    archived = list((root / "archive" / "越秀区").rglob("*越秀区_11月.xlsx"))
    assert len(archived) == 1
    assert (root / "rejected" / "越秀区" / "海珠区_11月.xlsx").exists()
    reason = (root / "rejected" / "越秀区" / "海珠区_11月.xlsx.原因.txt").read_text(encoding="utf-8")
    assert "海珠区" in reason
    assert lock.exists() and uploading.exists()  # the lock file is never touched, the upload waits
    assert (inbox / "越秀区" / "越秀区_2014-11_填报模板.xlsx").exists()  # the blank template stays
    register = open_register(job.register_url)
    assert [r.key for r in register.current("企业名录")] == [(GOOD,)]

    feedback = sorted((root / "feedback" / "越秀区").glob("越秀区_11月_反馈_*.xlsx"))
    assert len(feedback) == 1
    sheet = openpyxl.load_workbook(feedback[0])["企业名录"]
    commented = {cell.coordinate for row in sheet.iter_rows() for cell in row if cell.comment}
    assert commented == {"A3"}
    receipt = (root / "feedback" / "越秀区" / "回执.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(receipt) == 3  # header + the two files processed from this folder

    (record,) = read_run_records(job.layout)
    assert record.status == "files-rejected" and record.counts["unsettled"] == 1
    moved = {entry["file"]: entry["moved_to"] for entry in record.files}
    assert moved["inbox/越秀区/海珠区_11月.xlsx"].startswith("rejected/")
    assert Path(record.master).is_file()

    # the next night the upload has finished: it is taken, and nothing of the first night is lost
    clock.now = datetime(2014, 12, 1, 2, 30)
    second = run_job(job, clock=clock, sleep=clock.sleep)
    assert second.exit_code == 0
    assert not uploading.exists()
    assert sorted(r.key for r in register.current("企业名录")) == sorted(
        [(GOOD,), (liwan["统一社会信用代码"],)]
    )
    assert len(read_run_records(job.layout)) == 2


def test_serve_drives_whole_nights_without_sleeping(job_drive) -> None:
    job, root = job_drive
    clock = FakeClock(datetime(2014, 11, 28, 9, 0))
    codes: list[int] = []

    def once() -> int:
        code = run_job(job, clock=clock, sleep=lambda s: None).exit_code
        codes.append(code)
        return code

    stop_at = datetime(2014, 12, 1, 9, 0)
    serve(job, run_once=once, clock=clock, sleep=clock.sleep, stop=lambda: clock.now >= stop_at)
    records = read_run_records(job.layout)
    # a first run at start (none had run), then one a night at 02:30 on 29, 30 Nov and 1 Dec
    assert [r.started.strftime("%d %H:%M") for r in records] == [
        "28 09:00",
        "29 02:30",
        "30 02:30",
        "01 02:30",
    ]
    assert codes == [0, 0, 0, 0]


def _hold_lock(root: str, ready, release) -> None:  # pragma: no cover - runs in a child process
    from sheetsync.drive import Drive
    from sheetsync.runlock import run_lock

    with run_lock(Drive(Path(root))):
        ready.set()
        release.wait(30)


def test_a_second_run_while_one_holds_the_lock_changes_nothing(job_drive) -> None:
    job, root = job_drive
    good = submission(root / "inbox" / "越秀区" / "a.xlsx", "越秀区", [ENTERPRISE])
    context = multiprocessing.get_context("spawn")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=_hold_lock, args=(str(root), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        run = run_job(job, sleep=lambda s: None)
        assert run.exit_code == 3 and run.record is not None and run.record.status == "busy"
        assert good.exists()
        assert not (root / "register" / "register.sqlite").exists() or not open_register(
            job.register_url
        ).current("企业名录")
    finally:
        release.set()
        holder.join(30)


def test_two_concurrent_consolidations_never_interleave(job_drive) -> None:
    job, root = job_drive
    districts = ("越秀区", "海珠区", "荔湾区")
    for serial, district in enumerate(districts):
        submission(
            root / "inbox" / district / f"{district}.xlsx", district, [enterprise_of(district, serial)]
        )
    job_file = root / "sync_jobs" / "guangzhou-2013.toml"
    text = job_file.read_text(encoding="utf-8").replace("settle_seconds = 5", "settle_seconds = 0")
    job_file.write_text(text, encoding="utf-8")
    command = [
        sys.executable,
        "-m",
        "sheetsync.cli",
        "consolidate",
        "--job",
        str(job_file),
        "--as-of",
        "2014-11-30",
    ]
    env = dict(os.environ, SHEETSYNC_DEBUG="")
    runs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) for _ in range(2)
    ]
    codes = sorted(proc.wait(120) for proc in runs)
    assert codes in ([0, 0], [0, 3]), [proc.stderr.read().decode() for proc in runs]
    register = open_register(job.register_url)
    current = register.current("企业名录")
    # every district's enterprise is in, once: neither run lost the other's rows or wrote them twice
    assert sorted((r.key, r.version) for r in current) == sorted(
        ((enterprise_of(d, n)["统一社会信用代码"],), 1) for n, d in enumerate(districts)
    )
    for district in districts:
        assert not list((root / "inbox").rglob(f"{district}.xlsx"))
    records = [
        json.loads(line) for line in (root / "logs" / "runs.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert sorted(r["exit_code"] for r in records) == codes


def test_the_job_files_row_limit_splits_the_master_per_submitter(job_drive) -> None:
    """``max_register_rows`` in the job file reaches the master: past it, a workbook per submitter."""
    job, root = job_drive
    for serial, district in enumerate(("越秀区", "海珠区")):
        rows = [enterprise_of(district, serial * 10 + n) for n in range(2)]
        submission(root / "inbox" / district / f"{district}.xlsx", district, rows)
    job = job.model_copy(update={"max_register_rows": 3, "settle_seconds": 0})
    run = run_job(job, clock=FakeClock(datetime(2014, 11, 30, 2, 30)), sleep=lambda s: None)
    assert run.exit_code == 0, run.record
    master = job.master_path
    assert master is not None and master.is_file()
    split = sorted(path.name for path in master.parent.glob(f"{master.stem}_*.xlsx"))
    assert split == [f"{master.stem}_海珠区.xlsx", f"{master.stem}_越秀区.xlsx"]
    assert "企业名录" not in openpyxl.load_workbook(master, read_only=True).sheetnames
    rows = list(openpyxl.load_workbook(master.parent / split[1], read_only=True)["企业名录"].values)
    assert {row[0] for row in rows[1:]} == {enterprise_of("越秀区", n)["统一社会信用代码"] for n in range(2)}
