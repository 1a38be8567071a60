"""Issue #8: hostile files get the right value or a clear typed error, never a crash or a hang.

The corpus is generated at test time (:mod:`tests.hostile.make_hostile`).  Every input goes
through the real :func:`sheetsync.validate.validate_file` in a worker process, so that a crash
of native code (an abort) fails its test instead of the whole run, and everything runs under a
watchdog, so that a hang fails instead of blocking CI.  ``test_no_crash_and_no_hang`` sums up:
inputs tried, crashes, hangs.
"""

from __future__ import annotations

import multiprocessing
import re
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from sheetsync.consolidate import consolidate
from sheetsync.drive import Drive
from sheetsync.limits import MB, ReadLimits
from sheetsync.profile import load_profile
from sheetsync.store import open_register
from sheetsync.validate import validate_file
from tests.hostile import make_hostile as hostile
from tests.hostile.make_hostile import GOOD, GOOD2, Outcome

WATCHDOG_SECONDS = 240  # for the whole corpus; each file's own limit is 60 s, most take milliseconds
PER_FILE_SECONDS = ReadLimits().max_seconds + 15


@dataclass(frozen=True)
class Case:
    builder: str
    expect: Callable[[Outcome], None]
    limits: ReadLimits | None = None
    stall_child: bool = False


def unreadable(*fragments: str) -> Callable[[Outcome], None]:
    """The file is refused as a whole with ``unreadable-file``, its reason saying all of ``fragments``."""

    def check(outcome: Outcome) -> None:
        assert outcome.status == "unreadable", outcome
        code, _, _, _, message = outcome.problem("unreadable-file")
        for fragment in fragments:
            assert fragment in message, message

    return check


def unsupported(suffix: str) -> Callable[[Outcome], None]:
    def check(outcome: Outcome) -> None:
        assert outcome.status == "unreadable"
        assert suffix in outcome.problem("unsupported-file")[4]

    return check


def enterprises(*names: str, extra: tuple[str, ...] = ()) -> Callable[[Outcome], None]:
    """Accepted; 企业名录 holds exactly these names; only the ``extra`` problem codes besides."""

    def check(outcome: Outcome) -> None:
        assert outcome.values("企业名录", "name") == list(names), outcome
        assert sorted(outcome.codes()) == sorted(extra), outcome.problems

    return check


def merged_header(outcome: Outcome) -> None:
    enterprises("广州市越秀某某有限公司")(outcome)
    assert outcome.rows["企业名录"][0][0] == 3  # the data row under the merged banner and header


def title_row(outcome: Outcome) -> None:
    assert outcome.values("企业名录", "uscc") == [GOOD]
    assert outcome.rows["企业名录"][0][0] == 4
    _, sheet, cell, value, _ = outcome.problem("uscc-checksum")
    assert (sheet, cell, value) == ("企业名录", "A5", "91440101MA5CJQ4N58")


def hidden_and_renamed(outcome: Outcome) -> None:
    assert outcome.status == "accepted", outcome.problems
    assert outcome.values("企业名录", "uscc") == [GOOD]  # from the hidden sheet
    assert outcome.values("培训活动", "held_on") == [date(2014, 5, 31)]  # from 'Sheet1'


def reordered_and_extra(outcome: Outcome) -> None:
    enterprises("广州市越秀某某有限公司", extra=("unknown-header", "unknown-header"))(outcome)
    assert [p[2] for p in outcome.problems if p[0] == "unknown-header"] == ["C1", "H1"]
    assert outcome.values("企业名录", "district") == ["越秀区"]


def formulas(outcome: Outcome) -> None:
    # cached values count; a formula never calculated (no cached value) is an empty cell
    assert outcome.values("培训活动", "held_on") == [date(2014, 5, 31)]
    assert outcome.values("培训活动", "topic") == ["培训主题"]
    assert outcome.values("培训活动", "attendance") == [30]
    assert outcome.problem("required")[1:3] == ("培训活动", "D3")


def error_values(outcome: Outcome) -> None:
    found = sorted((p[2], p[3]) for p in outcome.problems if p[0] == "excel-error")
    assert found == [("C2", "#N/A"), ("D3", "#DIV/0!")], outcome.problems


def long_cells(outcome: Outcome) -> None:
    found = sorted(p[2] for p in outcome.problems if p[0] == "too-long")
    assert found == ["B3", "G2"], outcome.problems
    assert all("32767" in p[4] for p in outcome.problems if p[0] == "too-long")


def dates_1900(outcome: Outcome) -> None:
    held = dict(
        zip(outcome.values("培训活动", "training_id"), outcome.values("培训活动", "held_on"), strict=True)
    )
    assert held == {
        "D-59": date(1900, 2, 28),
        "D-61": date(1900, 3, 1),
        "D-1899": date(1899, 12, 31),
        "D-1850": date(1850, 1, 1),
        "D-2014": date(2014, 5, 31),
        "D-1": date(1900, 1, 1),
    }
    # serial 60 is the 1900-02-29 that Excel shows but that never was
    assert outcome.problem("not-a-date")[1:4] == ("培训活动", "B3", "1900-02-29")


def dates_1904(outcome: Outcome) -> None:
    assert outcome.status == "accepted", outcome.problems
    assert outcome.values("培训活动", "held_on") == [date(2014, 5, 31), date(1904, 1, 2), date(1904, 2, 29)]


def duplicate_keys(outcome: Outcome) -> None:
    assert outcome.values("企业名录", "name") == ["广州市越秀某某有限公司", "乙"]
    assert outcome.problem("duplicate-key")[1:4] == ("企业名录", "A4", GOOD)


def infinite_numbers(outcome: Outcome) -> None:
    assert sorted((p[0], p[2]) for p in outcome.problems if p[0].startswith("not-a")) == [
        ("not-a-date", "B2"),
        ("not-a-number", "D2"),
    ]


def ods_ok(outcome: Outcome) -> None:
    enterprises("广州市越秀某某有限公司", extra=("missing-stamp",))(outcome)


CASES: dict[str, Case] = {
    "empty": Case("empty", unreadable("0字节")),
    "not_a_zip": Case("not_a_zip", unreadable("不是 Excel 工作簿")),
    "truncated": Case("truncated", unreadable("不完整")),
    "password_protected": Case("password_protected", unreadable("密码")),
    "zip_password": Case("zip_password", unreadable("密码")),
    "xlsb": Case("xlsb", unsupported(".xlsb")),
    "xls_named_xlsx": Case("xls_named_xlsx", unreadable(".xls", "另存为 .xlsx")),
    "xlsx_named_xls": Case("xlsx_named_xls", unreadable("实际是 .xlsx")),
    "bomb_declared": Case("bomb_declared", unreadable("疑似压缩炸弹")),
    "bomb_declared_size": Case(
        "bomb_declared", unreadable("解压后超过 500MB", "疑似压缩炸弹"), ReadLimits(max_compression_ratio=1e6)
    ),
    "bomb_lying": Case("bomb_lying", unreadable("声明的大小", "疑似压缩炸弹")),
    "bomb_ratio": Case("bomb_ratio", unreadable("压缩比", "疑似压缩炸弹")),
    "bomb_ratio_slow": Case(
        "bomb_ratio", unreadable("读取超过 0.05 秒"), ReadLimits(max_compression_ratio=1e6, max_seconds=0.05)
    ),
    "many_members": Case("many_members", unreadable("1511 个部件")),
    "billion_laughs": Case("billion_laughs", unreadable("sharedStrings.xml", "实体声明")),
    "external_entity": Case("external_entity", unreadable("sheet1.xml", "实体声明")),
    "external_entity_utf16": Case("external_entity_utf16", unreadable("实体声明")),
    "last_cell": Case("last_cell", unreadable("1,048,576 行", "XFD1048576")),
    "last_cell_wide": Case(
        "last_cell", unreadable("16,384 列", "XFD1048576"), ReadLimits(max_rows=2_000_000, max_columns=100)
    ),
    "last_cell_area": Case(
        "last_cell", unreadable("1,048,576 行 × 16,384 列", "个单元格"), ReadLimits(max_rows=2_000_000)
    ),
    "last_row_unreferenced": Case("last_row_unreferenced", unreadable("1,048,576 行")),
    "beyond_the_grid": Case("beyond_the_grid", unreadable("99,999,999 行")),
    "shared_strings_claim": Case("shared_strings_claim", unreadable("4,294,967,295 个字符串")),
    "dimension_claim": Case("dimension_claim", enterprises("广州市越秀某某有限公司", "广州某某酒店有限公司")),
    "merged_header": Case("merged_header", merged_header),
    "title_row": Case("title_row", title_row),
    "hidden_and_renamed": Case("hidden_and_renamed", hidden_and_renamed),
    "reordered_and_extra": Case("reordered_and_extra", reordered_and_extra),
    "formulas": Case("formulas", formulas),
    "error_values": Case("error_values", error_values),
    "long_cells": Case("long_cells", long_cells),
    # control characters Excel lets through stay; those that are white space fold like a space
    "control_characters": Case("control_characters", enterprises("广州\x01某某\x07环保 有限公司")),
    "emoji": Case("emoji", enterprises(hostile.EMOJI_NAME, extra=("unknown-sheet",))),
    "dates_1900": Case("dates_1900", dates_1900),
    "dates_1904": Case("dates_1904", dates_1904),
    "duplicate_keys": Case("duplicate_keys", duplicate_keys),
    "infinite_numbers": Case("infinite_numbers", infinite_numbers),
    "csv_huge_field": Case("csv_huge_field", unreadable("超长的单元格")),
    "csv_too_big": Case(
        "csv_huge_field",
        unreadable("文件大小为 0.6MB", "超过上限 0.1MB"),
        ReadLimits(max_file_bytes=MB // 10),
    ),
    "csv_binary": Case("csv_binary", unreadable("二进制")),
    "csv_wide": Case("csv_wide", unreadable("16,384 列")),
    "ods_ok": Case("ods_ok", ods_ok),
    "ods_repeat_bomb": Case("ods_repeat_bomb", unreadable("范围过大")),
    "many_rows": Case("many_rows", unreadable("61 行", "上限 50 行"), ReadLimits(max_rows=50)),
    "many_rows_in_child": Case(
        "many_rows", unreadable("61 行", "上限 50 行"), ReadLimits(max_rows=50, in_process_max_bytes=0)
    ),
    "child_killed_on_time": Case(
        "title_row",
        unreadable("读取超过 0.3 秒"),
        ReadLimits(max_seconds=0.3, in_process_max_bytes=0),
        stall_child=True,
    ),
    "title_row_in_child": Case("title_row", title_row, ReadLimits(in_process_max_bytes=0)),
    "dates_1900_in_child": Case("dates_1900", dates_1900, ReadLimits(in_process_max_bytes=0)),
    "error_values_in_child": Case("error_values", error_values, ReadLimits(in_process_max_bytes=0)),
}


@dataclass
class Run:
    outcome: Outcome | None = None
    crash: str | None = None
    hang: bool = False


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Every case through ``validate_file`` in two worker processes, under one watchdog."""
    directory = tmp_path_factory.mktemp("hostile")
    built = {name: hostile.BUILDERS[name](directory) for name in {case.builder for case in CASES.values()}}
    pool = futures.ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn"))
    pending = {
        name: pool.submit(
            hostile.check_file,
            str(built[case.builder]),
            case.limits.model_dump_json() if case.limits else None,
            case.stall_child,
        )
        for name, case in CASES.items()
    }
    futures.wait(pending.values(), timeout=WATCHDOG_SECONDS)
    results: dict[str, Run] = {}
    for name, future in pending.items():
        if not future.done():
            results[name] = Run(hang=True)
            continue
        try:
            results[name] = Run(outcome=future.result())
        except Exception as error:  # a worker that died (native abort) or an exception in validate_file
            results[name] = Run(crash=f"{type(error).__name__}: {error}")
    for process in list(getattr(pool, "_processes", {}).values()):  # workers stuck on a hang
        if process.is_alive() and any(run.hang for run in results.values()):
            process.kill()
    pool.shutdown(wait=True, cancel_futures=True)
    return results


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input(runs: dict[str, Run], name: str) -> None:
    run = runs[name]
    assert not run.hang, f"{name}: no answer within {WATCHDOG_SECONDS} s"
    assert run.crash is None, f"{name}: {run.crash}"
    assert run.outcome is not None
    assert run.outcome.seconds < PER_FILE_SECONDS
    CASES[name].expect(run.outcome)


def test_no_crash_and_no_hang(runs: dict[str, Run], capsys: pytest.CaptureFixture[str]) -> None:
    crashes = [name for name, run in runs.items() if run.crash]
    hangs = [name for name, run in runs.items() if run.hang]
    slowest = max((run.outcome.seconds, name) for name, run in runs.items() if run.outcome)
    with capsys.disabled():
        print(
            f"\nhostile inputs tried: {len(runs)} ({len(hostile.BUILDERS)} files), crashes: {len(crashes)}, "
            f"hangs: {len(hangs)}, slowest: {slowest[1]} {slowest[0]:.2f} s"
        )
    assert crashes == [] and hangs == []


def test_every_builder_is_tried() -> None:
    assert {case.builder for case in CASES.values()} == set(hostile.BUILDERS)


def test_duplicate_key_across_submitters(tmp_path: Path) -> None:
    """Two districts register the same credit code: one current record, never two, and no crash.

    Either the later file's row is merged on top (the earlier version kept in the history with
    its provenance) or it is refused with a typed problem; which one is the ownership rules' call.
    """
    profile = load_profile("guangzhou-2013")
    drive = Drive(tmp_path / "drive")
    files = []
    for submitter, name in (("越秀区", "越秀甲公司"), ("海珠区", "海珠甲公司")):
        folder = drive.submitter_folder(submitter)
        folder.mkdir(parents=True)
        rows = [
            hostile.ENTERPRISE_HEADERS,
            [GOOD, name, submitter, "C 制造业", "规模以上工业", "自愿"],
            [GOOD2, f"{submitter}乙", submitter, "C", "餐饮", "自愿"],
        ]
        path = folder / f"{submitter}.xlsx"
        hostile.write_book(path, {"企业名录": rows}, stamp={**hostile.STAMP, "submitter": submitter})
        files.append((submitter, path))
    started = time.monotonic()
    report = consolidate(drive, profile, as_of=date(2014, 11, 30), files=files)
    assert time.monotonic() - started < 60
    register = open_register(drive.register_url)
    current = [r for r in register.current("企业名录") if r.key == (GOOD,)]
    assert len(current) == 1
    second = report.files[1].result
    refused = [p for p in second.problems if p.is_error and p.cell == "A2"]
    if refused:  # the ownership rules keep 越秀区's record
        assert current[0].submitter == "越秀区"
    else:  # merged on top, the earlier version superseded, not lost
        assert (current[0].submitter, current[0].data["name"]) == ("海珠区", "海珠甲公司")
        assert current[0].version == 2


@pytest.mark.parametrize("where", ["header", "stamp"])
def test_error_value_in_a_header_or_stamp_cell(tmp_path: Path, where: str) -> None:
    error = hostile.Formula("=VLOOKUP(1,Z:Z,2,0)", "#N/A")
    headers = [*hostile.ENTERPRISE_HEADERS, error if where == "header" else "备注"]
    path = hostile.write_book(tmp_path / "error_header.xlsx", {"企业名录": [headers, hostile.enterprise()]})
    if where == "stamp":
        path = hostile.rewrite_zip(
            path,
            tmp_path / "error_stamp.xlsx",
            {"xl/worksheets/sheet2.xml": _stamp_value_to_error},
        )
    result = validate_file(path, profile=load_profile("guangzhou-2013"), expected_submitter="越秀区")
    assert all(p.code != "unreadable-file" for p in result.problems)


def _stamp_value_to_error(data: bytes) -> bytes:
    """The 填报单位 cell (B1 of the stamp sheet) becomes a #REF! error value."""
    return re.sub(
        rb'<c r="B1" t="s"><v>\d+</v></c>', b'<c r="B1" t="e"><f>#REF!</f><v>#REF!</v></c>', data, count=1
    )
