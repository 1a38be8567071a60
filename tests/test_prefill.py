"""A prefilled template sent back untouched changes nothing; edits and additions come back as changes."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import openpyxl
from typer.testing import CliRunner

from sheetsync.cli import app
from sheetsync.consolidate import consolidate
from sheetsync.profile import load_profile
from sheetsync.store import open_register
from tests.test_pipeline import FILLED, fill_with_openpyxl, make_drive

PROFILE = load_profile("guangzhou-2013")
AS_OF = date(2014, 11, 30)
runner = CliRunner()


def _prefilled(drive_root: Path, out: Path) -> None:
    result = runner.invoke(
        app, ["template", "--submitter", "越秀区", "--prefill", "--drive", str(drive_root), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output


def test_untouched_prefill_changes_nothing_and_edits_are_changes(tmp_path: Path) -> None:
    drive, first = make_drive(tmp_path)
    consolidate(drive, PROFILE, as_of=AS_OF)
    register = open_register(drive.register_url)
    before = {name: [(r.key, r.version) for r in register.current(name)] for name in FILLED}

    untouched = tmp_path / "prefilled.xlsx"
    _prefilled(drive.root, untouched)
    book = openpyxl.load_workbook(untouched)
    assert book["企业名录"].max_row == 1 + len(FILLED["企业名录"])
    first.unlink()
    target = drive.submitter_folder("越秀区") / "prefilled.xlsx"
    untouched.rename(target)
    report = consolidate(drive, PROFILE, as_of=AS_OF)
    assert [p for o in report.files for p in o.result.problems if p.is_error] == []
    assert {name: [(r.key, r.version) for r in register.current(name)] for name in FILLED} == before
    assert all(c.inserted == 0 and c.updated == 0 for o in report.files for c in o.merged.values())

    edited = tmp_path / "edited.xlsx"
    _prefilled(drive.root, edited)
    new_training = {
        "培训编号": "YX-PX-02",
        "培训日期": "2014-11-20",
        "培训主题": "节能诊断专题",
        "参训人次": 40,
    }
    fill_with_openpyxl(edited, {"培训活动": [FILLED["培训活动"][0], new_training]})
    book = openpyxl.load_workbook(edited)
    sheet = book["企业名录"]
    phone_col = next(c.column for c in sheet[1] if str(c.value).lstrip("*") == "联系电话")
    sheet.cell(row=2, column=phone_col).value = "020-12345678"
    book.save(edited)
    target.unlink()
    edited.rename(drive.submitter_folder("越秀区") / "edited.xlsx")
    report = consolidate(drive, PROFILE, as_of=AS_OF)
    merged = {name: counts for o in report.files for name, counts in o.merged.items()}
    assert (merged["企业名录"].updated, merged["企业名录"].inserted) == (1, 0)
    assert (merged["培训活动"].inserted, merged["培训活动"].updated) == (1, 0)
    assert merged["审核进度"].updated == merged["技改项目"].updated == 0


def test_prefill_needs_a_drive_with_a_register(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["template", "--submitter", "越秀区", "--prefill", "--out", str(tmp_path / "x.xlsx")]
    )
    assert result.exit_code == 2 and "--drive" in result.output
    (tmp_path / "empty" / "inbox").mkdir(parents=True)
    result = runner.invoke(
        app,
        [
            "template",
            "--submitter",
            "越秀区",
            "--prefill",
            "--drive",
            str(tmp_path / "empty"),
            "--out",
            str(tmp_path / "x.xlsx"),
        ],
    )
    assert result.exit_code == 2 and "台账" in result.output
