"""The command line as an officer or a scheduler uses it: exit codes, JSON, no tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import python_calamine
from typer.testing import CliRunner

from sheetsync.cli import app
from tests.conftest import write_xlsx

runner = CliRunner()
HEADERS = ["统一社会信用代码", "企业名称", "所属区县", "行业门类", "企业类别", "审核类型"]
GOOD_ROW = ["91440101MA5CJQ4N59", "甲公司", "越秀区", "C", "餐饮", "自愿"]


def test_validate_exit_codes_and_json(tmp_path: Path) -> None:
    clean = write_xlsx(tmp_path / "clean.xlsx", {"企业名录": [HEADERS, GOOD_ROW]})
    bad = write_xlsx(tmp_path / "bad.xlsx", {"企业名录": [HEADERS, ["91440101MA5CJQ4N58", *GOOD_ROW[1:]]]})
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 truncated")
    assert runner.invoke(app, ["validate", str(clean)]).exit_code == 0
    result = runner.invoke(app, ["validate", str(bad), "--json"])
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    problem = next(p for p in payload[0]["problems"] if p["code"] == "uscc-checksum")
    assert (problem["sheet"], problem["cell"], problem["value"]) == ("企业名录", "A2", "91440101MA5CJQ4N58")
    assert "校验位" in problem["message"]
    result = runner.invoke(app, ["validate", str(clean), str(broken)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_template_command(tmp_path: Path) -> None:
    out = tmp_path / "yx.xlsx"
    result = runner.invoke(
        app, ["template", "--submitter", "越秀区", "--out", str(out), "--period", "2014-11"]
    )
    assert result.exit_code == 0, result.output
    book = python_calamine.CalamineWorkbook.from_path(str(out))
    assert "企业名录" in book.sheet_names and "专家库" not in book.sheet_names
    office = tmp_path / "office.xlsx"
    assert runner.invoke(app, ["template", "--submitter", "市经贸委", "--out", str(office)]).exit_code == 0
    assert "专家库" in python_calamine.CalamineWorkbook.from_path(str(office)).sheet_names
    unknown = runner.invoke(app, ["template", "--submitter", "火星区", "--out", str(tmp_path / "x.xlsx")])
    assert unknown.exit_code == 2 and "火星区" in unknown.output and "Traceback" not in unknown.output


def test_consolidate_json(tmp_path: Path) -> None:
    folder = tmp_path / "drive" / "inbox" / "越秀区"
    folder.mkdir(parents=True)
    write_xlsx(folder / "a.xlsx", {"企业名录": [HEADERS, GOOD_ROW, ["91440101MA5CJQ4N58", *GOOD_ROW[1:]]]})
    result = runner.invoke(
        app, ["consolidate", "--drive", str(tmp_path / "drive"), "--as-of", "2014-11-30", "--json"]
    )
    assert result.exit_code == 1, result.output
    payload = json.loads(result.stdout)
    (entry,) = payload["files"]
    assert entry["status"] == "partly-accepted"
    assert entry["rows_accepted"] == {"企业名录": 1}
    assert Path(payload["master"]).is_file()


def test_consolidate_without_inbox_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["consolidate", "--drive", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "inbox" in result.output and "Traceback" not in result.output
