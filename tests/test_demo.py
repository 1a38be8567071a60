"""The demo drive: realistic, reproducible, and every planted mistake written down.

The drive is built once per module (building means writing some twenty workbooks); the
reproducibility test builds a second one to compare every cell.
"""

from __future__ import annotations

import shutil
import unicodedata
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import python_calamine

from sheetsync.consolidate import consolidate
from sheetsync.demo import CSV_DISTRICT, GBK_TRAINING_CSV, DemoDrive, build_demo_drive
from sheetsync.domain import CertificateState
from sheetsync.drive import Drive
from sheetsync.errors import CATALOGUE
from sheetsync.profile import Stage, load_profile
from sheetsync.programme import evaluate
from sheetsync.schemas import SHEETS
from sheetsync.store import open_register
from sheetsync.uscc import is_valid_uscc

USCC_HEADER = "统一社会信用代码"
FILE_LEVEL = frozenset({"unreadable-file", "unsupported-file"})
# no file a submitter drops can cause these: the validator's fallback for a pydantic error
# outside the catalogue, and a file whose merge failed in the register (tests/test_pipeline.py)
UNREACHABLE = frozenset({"invalid-value", "not-processed"})
BRIEFED_CODES = frozenset(
    {
        "uscc-checksum",
        "uscc-format",
        "required",
        "not-a-date",
        "not-a-number",
        "not-in-choices",
        "duplicate-key",
        "date-order",
        "required-when",
        "amount-exceeds",
        "unknown-reference",
        "unknown-header",
        "missing-header",
        "unknown-sheet",
        "submitter-mismatch",
        "unreadable-file",
    }
)


@pytest.fixture(scope="module")
def drive(tmp_path_factory: pytest.TempPathFactory) -> DemoDrive:
    return build_demo_drive(tmp_path_factory.mktemp("demo"))


def unreadable(drive: DemoDrive) -> set[Path]:
    return {
        drive.inbox / mistake.submitter / mistake.file_name
        for mistake in drive.mistakes
        if mistake.code in FILE_LEVEL
    }


def workbooks(drive: DemoDrive) -> Iterator[Path]:
    skip = unreadable(drive)
    return (path for path in drive.files if path.suffix == ".xlsx" and path not in skip)


def cells(path: Path) -> dict[str, list[list[Any]]]:
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    try:
        return {name: book.get_sheet_by_name(name).to_python() for name in book.sheet_names}
    finally:
        book.close()


def contents(drive: DemoDrive) -> dict[str, Any]:
    """Every file's cells (workbooks) or bytes (everything else), by path inside the drive."""
    skip = unreadable(drive)
    found: dict[str, Any] = {}
    for path in drive.files:
        key = path.relative_to(drive.root).as_posix()
        found[key] = cells(path) if path.suffix == ".xlsx" and path not in skip else path.read_bytes()
    return found


def fold_code(raw: Any) -> str:
    return unicodedata.normalize("NFKC", str(raw)).strip().upper()


def test_every_submitter_has_a_folder_with_a_file(drive: DemoDrive) -> None:
    for submitter in load_profile("guangzhou-2013").submitters:
        folder = drive.inbox / submitter.name
        assert folder.is_dir(), submitter.name
        assert any(path.is_file() for path in folder.iterdir()), submitter.name
    assert all(path.is_file() and path.is_relative_to(drive.inbox) for path in drive.files)


def test_a_few_hundred_enterprises(drive: DemoDrive) -> None:
    assert 250 <= drive.enterprise_count <= 600
    assert drive.enterprise_count == len(drive.credit_codes)


def test_credit_codes_are_valid_unless_planted(drive: DemoDrive) -> None:
    assert all(is_valid_uscc(code) for code in drive.credit_codes)
    planted = {fold_code(code) for code in drive.bad_codes}
    assert planted and not any(is_valid_uscc(code) for code in planted)
    seen = 0
    for path in workbooks(drive):
        for sheet, rows in cells(path).items():
            if not rows:
                continue
            columns = [col for col, cell in enumerate(rows[0]) if str(cell).lstrip("*") == USCC_HEADER]
            for row in rows[1:]:
                for col in columns:
                    if col < len(row) and str(row[col]).strip():
                        code = fold_code(row[col])
                        seen += 1
                        assert is_valid_uscc(code) or code in planted, (path.name, sheet, row[col])
    assert seen > drive.enterprise_count


def test_same_seed_same_cells(drive: DemoDrive, tmp_path: Path) -> None:
    again = build_demo_drive(tmp_path / "again", seed=drive.seed, as_of=drive.as_of)
    assert again.mistakes == drive.mistakes
    assert contents(again) == contents(drive)


def test_mistakes_cover_every_error_code(drive: DemoDrive) -> None:
    codes = {mistake.code for mistake in drive.mistakes}
    assert BRIEFED_CODES <= codes
    assert set(CATALOGUE) - UNREACHABLE <= codes
    assert codes <= set(CATALOGUE)
    for mistake in drive.mistakes:
        assert (drive.inbox / mistake.submitter / mistake.file_name).is_file(), mistake


def test_mistakes_are_a_small_minority(drive: DemoDrive) -> None:
    rows = sum(len(sheet) - 1 for path in workbooks(drive) for sheet in cells(path).values() if sheet)
    row_mistakes = [mistake for mistake in drive.mistakes if mistake.sheet is not None]
    assert len(row_mistakes) < 0.05 * rows


def test_training_csv_is_gbk_with_headers_first(drive: DemoDrive) -> None:
    text = (drive.inbox / CSV_DISTRICT / GBK_TRAINING_CSV).read_bytes().decode("gbk")
    header, *rows = text.splitlines()
    assert header.split(",")[:3] == ["培训编号", "培训日期", "培训主题"]
    assert rows


def test_dates_and_numbers_come_in_the_forms_submitters_type(drive: DemoDrive) -> None:
    values = [
        value
        for path in workbooks(drive)
        for rows in cells(path).values()
        for row in rows[1:]
        for value in row
    ]
    texts = [value for value in values if isinstance(value, str)]
    assert any(isinstance(value, datetime) or type(value).__name__ == "date" for value in values)
    assert any("年" in text and text.endswith("日") and text[:4].isdigit() for text in texts)
    assert any(text.count("/") == 2 and text[:4].isdigit() for text in texts)
    assert any(any("０" <= char <= "９" for char in text) for text in texts)
    assert any(text.startswith("020-") for text in texts)


def test_a_few_districts_are_clearly_behind(drive: DemoDrive, tmp_path: Path) -> None:
    """What the office must see at a glance: two or three districts late, titles running out."""
    copy = Drive(tmp_path)  # a copy, so the shared drive gets no register or master
    shutil.copytree(drive.inbox, copy.inbox)
    profile = load_profile("guangzhou-2013")
    consolidate(copy, profile, as_of=drive.as_of)
    with open_register(copy.register_url) as register:
        records = {model.sheet_name: register.current(model.sheet_name) for model in SHEETS}
    view = evaluate(records, profile, drive.as_of)
    district = {owned.record.uscc: owned.record.district for owned in view.records.enterprises}
    flags = [(owned.record, flag) for owned in view.audits for flag in owned.record.flags]
    open_flags = [(status, flag) for status, flag in flags if flag.is_open]
    behind = {district[status.uscc] for status, _ in open_flags}
    assert behind == set(drive.behind)
    assert 2 <= len(behind) <= len(profile.districts) // 2  # most districts are healthy
    # in each lagging district several listed long ago have never started
    stalled = Counter(
        district[status.uscc]
        for status, flag in open_flags
        if status.stage is Stage.LISTED and flag.stage is Stage.STARTED
    )
    assert all(stalled[name] >= 2 for name in drive.behind), stalled
    # started, but the report is past its deadline
    assert any(status.stage is Stage.STARTED and flag.stage is Stage.REPORTED for status, flag in open_flags)
    assert any(not flag.is_open for _, flag in flags)  # and some were done, but late
    assert view.open_overdue >= len(open_flags) > 0
    states = Counter(owned.record.state for owned in view.certificates)
    assert states[CertificateState.RENEWAL_DUE] >= 1
    assert states[CertificateState.EXPIRED] >= 1
