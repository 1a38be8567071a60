"""The master's native formulas, read back with openpyxl: where they are, what they cache, how they look.

A register built to hit every corner of :mod:`sheetsync.domain.progress` (several rounds of one
enterprise held by different submitters, an audit of an unregistered enterprise, records the
contract no longer accepts, dates after as_of, ties in the rounding, a suspended title, a
submitter name that starts with ``=``) is shared with the LibreOffice test, which recalculates
every formula and compares it with what is cached here.
"""

from __future__ import annotations

import re
import zipfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from sheetsync.domain import CertificateState, ScopeKind, Suspension
from sheetsync.master.formulas import AS_OF_NAME, Formula, half_even
from sheetsync.master.overview import OVERVIEW_SHEET
from sheetsync.master.registers import (
    CERT_DAYS_LEFT,
    CERT_STATE,
    DAYS_LEFT,
    NEXT_DEADLINE,
    OVERDUE,
    STAGE,
    extra_columns,
)
from sheetsync.profile import load_profile
from sheetsync.programme import ProgrammeView, evaluate
from sheetsync.records import RunInfo, StoredRecord
from sheetsync.render_master import (
    CERTIFICATE_SHEET,
    OVERDUE_SHEET,
    PROGRESS_SHEET,
    PROVENANCE_COLUMNS,
    SUMMARY_SHEET,
    write_master,
)
from sheetsync.schemas import SHEETS, Attendee, Audit, Enterprise, Project, SheetModel, Target, Training
from sheetsync.uscc import check_character

PROFILE = load_profile("guangzhou-2013")
AS_OF = date(2014, 11, 30)
LATER = date(2014, 12, 28)  # the same register seen four weeks on: rounds started, titles lapsed
EXCELLENT = "清洁生产(优秀)企业"
ODD_OWNER = "=市某局(临时)"  # a submitter the profile does not know, whose name looks like a formula
TITLE = "广州市全面推行清洁生产行动方案"
RECORDED_AT = datetime(2014, 11, 1, 8, 0)


def code(n: int, region: str = "91440104") -> str:
    first17 = f"{region}{n:09d}"
    return first17 + check_character(first17)


def stored(
    model: type[SheetModel], values: dict[str, Any], submitter: str, *, valid: bool = True
) -> StoredRecord:
    """A register record; ``valid=False`` keeps data the current contract rejects, as an old register might."""
    if valid:
        instance = model.model_validate(values)
        key, data = instance.key(), instance.model_dump(mode="json")
    else:
        data = dict(values)
        key = tuple(str(data.get(name)) for name in model.key_fields)
    return StoredRecord(
        sheet_name=model.sheet_name,
        key=key,
        data=data,
        version=1,
        submitter=submitter,
        file_name=f"{submitter}/2014-11.xlsx",
        source_sheet=model.sheet_name,
        source_row=2,
        file_hash="0" * 64,
        recorded_at=RECORDED_AT,
    )


def firm(n: int, owner: str, category: str = "规模以上工业", **values: Any) -> StoredRecord:
    fields = {
        "uscc": code(n),
        "name": f"广州某某{n}号有限公司",
        "district": "越秀区",
        "industry_section": "C",
        "category": category,
        "audit_type": "自愿",
        **values,
    }
    return stored(Enterprise, fields, owner)


def audit(n: int, owner: str, round_no: int = 1, method: str = "全面审核", **values: Any) -> StoredRecord:
    return stored(Audit, {"uscc": code(n), "round": round_no, "method": method, **values}, owner)


def target(district: str, metric: str, value: int, year: int = 2014) -> StoredRecord:
    return stored(Target, {"year": year, "district": district, "metric": metric, "value": value}, "市经贸委")


def tricky_register() -> dict[str, list[StoredRecord]]:
    """Every corner of the progress rules in a couple of dozen records."""
    certified = {"report_on": "2012-06-01", "evaluated_on": "2012-07-01", "certificate": EXCELLENT}
    mandatory = {"audit_type": "强制", "mandatory_listed_on": "2014-05-31", "mandatory_reason": "重点行业"}
    records = [
        # 16 industrial enterprises in a park, one of them audited: 1/16 = 6.25 %, a tie (→ 6.2)
        firm(1, "越秀区", park="广州开发区", **mandatory),
        firm(2, "越秀区", park="广州开发区", **mandatory),  # listed, never started: overdue
        firm(3, "越秀区", park="广州开发区", **mandatory),  # started late
        *(firm(n, "越秀区", park="广州开发区") for n in range(4, 17)),
        firm(17, "越秀区"),  # industrial, not in a park
        firm(20, "海珠区", "星级酒店"),
        firm(21, "海珠区", "重点商贸"),
        firm(22, "海珠区", "重点商贸"),
        firm(23, "海珠区", "重点商贸"),
        firm(24, "市农业局", "农业生产"),
        firm(25, ODD_OWNER, "其他服务业"),
        stored(
            Enterprise, {"uscc": code(26), "name": "旧表企业", "category": "旧的类别"}, "海珠区", valid=False
        ),
        # audits: two rounds of one enterprise held by two submitters, one started after as_of
        audit(1, "市环保局", started_on="2014-07-01"),
        audit(1, "越秀区", 2, started_on="2014-12-05"),
        audit(2, "越秀区"),
        audit(3, "越秀区", method="实地评估", started_on="2014-08-15"),
        audit(
            20,
            "海珠区",
            started_on="2014-03-01",
            report_on="2014-06-01",
            accepted_on="2014-10-01",
            acceptance="通过",
        ),
        audit(20, "市旅游局", 2, contract_filed_on="2014-11-01"),  # a contract on file proves the start
        audit(24, "市农业局", method="实地评估", evaluated_on="2014-06-01"),
        audit(24, "市农业局", 2, started_on="2014-07-01", accepted_on="2014-09-01", acceptance="通过"),
        audit(17, "越秀区", started_on="2014-02-01", accepted_on="2014-12-10", acceptance="通过"),  # later
        audit(90, "海珠区", started_on="2014-04-01"),  # an enterprise not in 企业名录
        # certificates: due for renewal, expired, suspended, and one that never expires
        audit(21, "海珠区", **certified, certified_on="2012-12-15"),
        audit(22, "海珠区", **certified, certified_on="2012-10-01"),
        audit(23, "海珠区", **certified, certified_on="2013-08-01"),
        audit(25, ODD_OWNER, certified_on="2014-06-01", certificate="参与清洁生产行动证书"),
        stored(Audit, {"uscc": code(26), "round": 1, "method": "线上审核"}, "海珠区", valid=False),
        # projects: one withdrawn, one without amounts, one of an unregistered enterprise
        stored(
            Project,
            {
                "project_id": "YX-2014-001",
                "uscc": code(1),
                "name": "电机变频改造",
                "category": "节能",
                "energy_saved_tce": "1000.5",
                "co2_cut_t": "2500",
                "cod_cut_t": "1.25",
            },
            "越秀区",
        ),
        stored(
            Project,
            {
                "project_id": "YX-2014-002",
                "uscc": code(2),
                "name": "锅炉改造",
                "category": "节能",
                "energy_saved_tce": "500",
                "status": "已撤销",
            },
            "越秀区",
        ),
        stored(
            Project,
            {"project_id": "HZ-2014-001", "uscc": code(20), "name": "节水", "category": "节水"},
            "海珠区",
        ),
        stored(
            Project,
            {
                "project_id": "HZ-2014-002",
                "uscc": code(90),
                "name": "余热",
                "category": "节能",
                "energy_saved_tce": "0.25",
            },
            "海珠区",
        ),
        # trainings: one held, one after as_of, one the contract rejects
        stored(
            Training,
            {"training_id": "YX-01", "held_on": "2014-05-01", "topic": "认知", "attendance": 30},
            "越秀区",
        ),
        stored(
            Training,
            {"training_id": "HZ-01", "held_on": "2014-12-20", "topic": "专题", "attendance": 50},
            "海珠区",
        ),
        stored(
            Training,
            {"training_id": "HZ-02", "held_on": "2014-03-01", "topic": "旧", "attendance": -5},
            "海珠区",
            valid=False,
        ),
        *(
            stored(Attendee, {"training_id": tid, "uscc": code(n), "name": name, "is_head": head}, owner)
            for tid, n, name, head, owner in (
                ("YX-01", 1, "张一", "是", "越秀区"),
                ("YX-01", 1, "李二", "否", "越秀区"),
                ("YX-01", 2, "王三", "否", "越秀区"),
                ("YX-01", 20, "赵四", "是", "海珠区"),  # 海珠区 sent a person to 越秀区's training
                ("HZ-01", 21, "钱五", "是", "海珠区"),  # held after as_of
                ("HZ-02", 22, "孙六", "是", "海珠区"),  # its training was rejected
                ("ZZ-99", 23, "周七", "是", "海珠区"),  # no such training
            )
        ),
        # targets: a 全市 row, submitters' rows (one of a metric the profile has no target for), a
        # sector's row, and a row of another year
        target("全市", "覆盖企业数", 4000),  # 23 covered: 23/4000 = 0.00575, a tie (→ 0.0058)
        target("越秀区", "启动审核企业数", 8),
        target("海珠区", "参训企业数", 32),  # 1/32 = 0.03125, a tie (→ 0.0312)
        target("越秀区", "年削减化学需氧量", 5),
        target(ODD_OWNER, "覆盖企业数", 3),
        target("工业", "覆盖企业数", 10),
        target("全市", "技改项目数", 99, year=2013),
    ]
    found: dict[str, list[StoredRecord]] = {}
    for record in records:
        found.setdefault(record.sheet_name, []).append(record)
    return found


SUSPENDED = Suspension(uscc=code(23), since=date(2014, 9, 1))


def tricky_view(as_of: date = AS_OF) -> ProgrammeView:
    return evaluate(tricky_register(), PROFILE, as_of, suspensions=[SUSPENDED])


def run_info(as_of: date = AS_OF) -> RunInfo:
    return RunInfo(
        as_of=as_of,
        started_at=datetime(2014, 12, 1, 2, 0, 5),
        profile_name=PROFILE.name,
        profile_title=TITLE,
        drive=r"\\share\清洁生产",
    )


def write_tricky(path: Path, as_of: date = AS_OF, **changes: Any) -> Path:
    inputs: dict[str, Any] = {
        "records": tricky_register(),
        "problems": [],
        "files": [],
        "run": run_info(as_of),
        "view": tricky_view(as_of),
        "missing_submitters": ("荔湾区", "天河区"),
    }
    inputs.update(changes)
    return write_master(path, **inputs)


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tricky(tmp_path_factory.mktemp("formulas") / "总台账.xlsx")


@pytest.fixture(scope="module")
def book(master: Path) -> openpyxl.Workbook:
    return openpyxl.load_workbook(master)


@pytest.fixture(scope="module")
def values(master: Path) -> openpyxl.Workbook:
    """The cached values, as a viewer that never recalculates shows them."""
    return openpyxl.load_workbook(master, data_only=True)


def column_of(sheet: Any, header: str) -> int:
    for cell in sheet[1]:
        if cell.value == header:
            return cell.column
    raise KeyError(header)


def table(sheet: Any) -> list[dict[str, Any]]:
    rows = list(sheet.iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


# --- the workbook's frame -------------------------------------------------------------------


def test_the_master_opens_on_the_overview(book: openpyxl.Workbook) -> None:
    assert book.sheetnames[0] == OVERVIEW_SHEET
    assert book.active.title == OVERVIEW_SHEET
    assert book.sheetnames[1] == SUMMARY_SHEET


def test_as_of_is_a_named_date_cell_on_the_overview(book: openpyxl.Workbook) -> None:
    name = book.defined_names[AS_OF_NAME]
    assert name.localSheetId is None  # workbook scope
    ((sheet, ref),) = list(name.destinations)
    assert sheet == OVERVIEW_SHEET
    target = book[sheet][ref.replace("$", "")]
    assert target.value == datetime(2014, 11, 30) and target.is_date
    assert book[sheet].cell(row=target.row, column=target.column - 1).value == AS_OF_NAME


def test_as_of_is_the_day_the_view_was_computed_for(tmp_path: Path) -> None:
    """The cached values belong to the view's day, so 基准日期 is that day whatever the run says."""
    path = write_tricky(tmp_path / "总台账.xlsx", run=run_info(date(2014, 6, 1)))
    assert openpyxl.load_workbook(path)[OVERVIEW_SHEET]["B4"].value == datetime(2014, 11, 30)


def test_every_sheet_prints_on_a4_landscape_one_page_wide_with_frozen_headers(
    book: openpyxl.Workbook,
) -> None:
    for sheet in book.worksheets:
        assert sheet.page_setup.orientation == "landscape", sheet.title
        assert int(sheet.page_setup.paperSize) == 9, sheet.title
        assert sheet.sheet_properties.pageSetUpPr.fitToPage, sheet.title
        assert (sheet.page_setup.fitToWidth or 1, sheet.page_setup.fitToHeight) == (1, 0), sheet.title
        assert sheet.freeze_panes is not None, sheet.title
        assert sheet.auto_filter.ref, sheet.title


# --- formulas where promised ----------------------------------------------------------------

ALLOWED_FUNCTIONS = {
    "ABS",
    "AND",
    "COUNTA",
    "COUNTIF",
    "COUNTIFS",
    "IF",
    "IFERROR",
    "INDEX",
    "ISNUMBER",
    "MATCH",
    "MOD",
    "OR",
    "ROUND",
    "ROW",
    "SUMIFS",
    "SUMPRODUCT",
    "YEAR",
}


def all_formulas(book: openpyxl.Workbook) -> list[tuple[str, str, str]]:
    return [
        (sheet.title, cell.coordinate, str(cell.value))
        for sheet in book.worksheets
        for row in sheet.iter_rows()
        for cell in row
        if cell.data_type == "f"
    ]


def test_formulas_use_only_functions_every_spreadsheet_knows_over_bounded_ranges(
    book: openpyxl.Workbook,
) -> None:
    formulas = all_formulas(book)
    assert len(formulas) > 500
    used = {name for _, _, text in formulas for name in re.findall(r"([A-Z][A-Z0-9.]*)\(", text)}
    assert used <= ALLOWED_FUNCTIONS, used - ALLOWED_FUNCTIONS
    for sheet, ref, text in formulas:
        assert len(text) < 8192, (sheet, ref)
        assert not re.search(r"\$?[A-Z]{1,3}:\$?[A-Z]{1,3}\b", text), (sheet, ref, text)  # no whole columns
    assert any(AS_OF_NAME in text for _, _, text in formulas)


def test_progress_is_computed_by_formulas_with_the_engines_numbers_cached(
    book: openpyxl.Workbook, values: openpyxl.Workbook
) -> None:
    view = tricky_view()
    scopes = view.progress_scopes()
    expected = [(scope, metric) for scope in scopes for metric in scope.metrics]
    sheet, cached = book[PROGRESS_SHEET], values[PROGRESS_SHEET]
    assert sheet.max_row == len(expected) + 1
    for row, (scope, metric) in enumerate(expected, start=2):
        where = f"{scope.scope}/{metric.metric}"
        done, goal, ratio = (sheet.cell(row=row, column=col) for col in (5, 6, 7))
        line = [cached.cell(row=row, column=col).value for col in (1, 3, 5, 6, 7, 8)]
        assert line[:2] == [scope.scope, metric.metric], where
        assert line[2:] == [
            number(metric.done),
            number(metric.target),
            number(metric.ratio),
            number(metric.split_total),
        ], where
        assert ratio.data_type == "f", where
        if scope.kind is ScopeKind.SECTOR and metric.metric in ("培训期数", "培训人次"):
            assert metric.done is None and done.value is None, where  # an event is nobody's sector
        else:
            assert done.data_type == "f", where


def test_targets_come_from_the_targets_sheet_or_the_profile_as_the_engine_took_them(
    book: openpyxl.Workbook,
) -> None:
    lines = {
        (row[0].value, row[2].value): (row[5], row[7]) for row in book[PROGRESS_SHEET].iter_rows(min_row=2)
    }
    coverage, _ = lines[("全市", "覆盖企业数")]
    assert (
        coverage.data_type == "f"
        and "'年度目标'" in coverage.value
        and f"YEAR({AS_OF_NAME})" in coverage.value
    )
    audits, _ = lines[("全市", "通过验收企业数")]
    assert (audits.data_type, audits.value) == ("n", 1200)  # the profile's: a rule is data, not a formula
    cod, split = lines[("全市", "年削减化学需氧量")]
    assert cod.data_type == "f" and cod.value.startswith("=SUMIFS($F$")  # the submitters' targets on 进度
    assert split.data_type == "f"
    industry, _ = lines[("工业", "覆盖企业数")]
    assert industry.data_type == "f" and "'年度目标'" in industry.value


def test_ties_round_half_to_even_as_the_engine_does() -> None:
    view = tricky_view()
    city = view.progress.city
    assert city.get("覆盖企业数").ratio == Decimal("0.0058")  # 23 / 4000 = 0.00575
    assert city.get("园区审核率").done == Decimal("6.2")  # 1 / 16 = 6.25 %
    haizhu = next(scope for scope in view.progress.submitters if scope.scope == "海珠区")
    assert haizhu.get("参训企业数").ratio == Decimal("0.0312")  # 1 / 32
    assert "ROUND((" in half_even("E2")


def test_audit_rows_show_stage_deadline_and_overdue_with_formulas_over_as_of(
    book: openpyxl.Workbook, values: openpyxl.Workbook
) -> None:
    sheet, cached = book[Audit.sheet_name], values[Audit.sheet_name]
    view = tricky_view()
    statuses = {(owned.record.uscc, owned.record.round): owned.record for owned in view.audits}
    columns = {header: column_of(sheet, header) for header in (STAGE, NEXT_DEADLINE, DAYS_LEFT, OVERDUE)}
    checked = 0
    for row in range(2, sheet.max_row + 1):
        key = (sheet.cell(row=row, column=1).value, sheet.cell(row=row, column=2).value)
        status = statuses.get(key)
        if status is None:  # the record the contract rejects: no verdict, no formulas
            assert sheet.cell(row=row, column=columns[STAGE]).value is None
            assert sheet.cell(row=row, column=columns[OVERDUE]).value is None
            continue
        checked += 1
        assert cached.cell(row=row, column=columns[STAGE]).value == str(status.stage)
        for header in (DAYS_LEFT, OVERDUE):
            assert sheet.cell(row=row, column=columns[header]).data_type == "f"
        assert cached.cell(row=row, column=columns[DAYS_LEFT]).value == status.days_left
        assert (cached.cell(row=row, column=columns[OVERDUE]).value == "逾期") is status.overdue
    assert checked == len(statuses)
    assert any(status.overdue for status in statuses.values())


def test_certificates_show_state_and_days_left_as_formulas(
    book: openpyxl.Workbook, values: openpyxl.Workbook
) -> None:
    sheet, cached = book[CERTIFICATE_SHEET], values[CERTIFICATE_SHEET]
    listed = table(cached)
    states = [line["状态"] for line in listed]
    assert sorted(states) == sorted(["已过期", "待换证", "暂停", "有效"])
    for row, line in enumerate(listed, start=2):
        state, days = sheet.cell(row=row, column=8), sheet.cell(row=row, column=9)
        assert days.data_type == "f"
        # a suspension is the office's record, not something the dates say: kept as a value
        assert state.data_type == ("s" if line["状态"] == CertificateState.SUSPENDED else "f")
    register = book[Audit.sheet_name]
    state_col, days_col = column_of(register, CERT_STATE), column_of(register, CERT_DAYS_LEFT)
    on_register = [
        values[Audit.sheet_name].cell(row=row, column=state_col).value
        for row in range(2, register.max_row + 1)
    ]
    assert sorted(state for state in on_register if state) == sorted(states)
    assert {
        register.cell(row=row, column=days_col).number_format for row in range(2, register.max_row + 1)
    } == {
        "General",  # no certificate on the row
        "0",
    }


def test_open_overdue_days_count_from_as_of(book: openpyxl.Workbook, values: openpyxl.Workbook) -> None:
    sheet, cached = book[OVERDUE_SHEET], values[OVERDUE_SHEET]
    view = tricky_view()
    for row, item in enumerate(view.overdue_items(), start=2):
        days = sheet.cell(row=row, column=7)
        assert cached.cell(row=row, column=7).value == item.days_over
        assert (days.data_type == "f") is (str(item.kind) == "逾期未完成"), row
        if days.data_type == "f":
            assert days.value == f"={AS_OF_NAME}-F{row}"


def test_overview_counts_and_tables_read_the_other_sheets(
    book: openpyxl.Workbook, values: openpyxl.Workbook
) -> None:
    sheet, cached = book[OVERVIEW_SHEET], values[OVERVIEW_SHEET]
    view = tricky_view()
    labels = {
        row[0].value: (row[1], cached.cell(row=row[0].row, column=2).value) for row in sheet.iter_rows()
    }
    assert labels["本期未报送单位"][1] == "荔湾区、天河区"
    overdue, overdue_value = labels["逾期未完成事项"]
    assert overdue.data_type == "f" and overdue_value == view.open_overdue > 0
    due = labels["待换证证书"][1] + labels["已过期证书"][1]
    assert due == view.certificates_due == 2
    assert labels["本期未报送单位数"][1] == 2
    assert cached["A1"].value == TITLE
    # the per-submitter table: every submitter of the profile in profile order, then the others
    header_row = next(row[0].row for row in sheet.iter_rows() if row[0].value == "填报单位")
    names = [sheet.cell(row=row, column=1).value for row in range(header_row + 1, sheet.max_row + 1)]
    assert names == [s.name for s in PROFILE.submitters] + [ODD_OWNER]
    odd = sheet.cell(row=header_row + len(names), column=1)
    assert odd.data_type == "s" and odd.quotePrefix  # a name is never a formula
    marks = {
        cached.cell(row=row, column=1).value: cached.cell(row=row, column=2).value
        for row in range(header_row + 1, sheet.max_row + 1)
    }
    assert {name for name, mark in marks.items() if mark} == {"荔湾区", "天河区"}
    assert sheet.auto_filter.ref.startswith(f"A{header_row}:")


def test_overview_has_data_bars_and_two_charts(master: Path, book: openpyxl.Workbook) -> None:
    bars = [
        str(ranges.sqref)
        for ranges in book[OVERVIEW_SHEET].conditional_formatting
        for rule in ranges.rules
        if rule.type == "dataBar"
    ]
    assert len(bars) == 1 + 3  # the city's ratios, and each key metric's ratio per submitter
    with zipfile.ZipFile(master) as archive:
        charts = sorted(name for name in archive.namelist() if name.startswith("xl/charts/chart"))
        assert len(charts) == 2
        texts = [archive.read(name).decode("utf-8") for name in charts]
        relations = archive.read("xl/worksheets/_rels/sheet1.xml.rels").decode("utf-8")
    assert "drawing" in relations  # on 概览, the first sheet
    assert any("完成率" in text for text in texts) and any("审核阶段漏斗" in text for text in texts)
    assert all(f"'{OVERVIEW_SHEET}'!" in text or f"{OVERVIEW_SHEET}!" in text for text in texts)


def test_overdue_and_due_certificates_are_coloured_by_conditional_formats(book: openpyxl.Workbook) -> None:
    def rules(name: str) -> dict[str, str]:
        return {
            rule.formula[0]: rule.dxf.fill.bgColor.rgb[-6:]
            for ranges in book[name].conditional_formatting
            for rule in ranges.rules
            if rule.type == "expression"
        }

    register = rules(Audit.sheet_name)
    assert set(register.values()) == {"FFC7CE", "FFEB9C"}
    assert any("逾期" in formula for formula in register)
    assert {"FFC7CE", "FFEB9C"} == set(rules(CERTIFICATE_SHEET).values())
    progress = [rule.type for ranges in book[PROGRESS_SHEET].conditional_formatting for rule in ranges.rules]
    assert progress == ["dataBar"]


# --- the register sheets ----------------------------------------------------------------------


def test_register_sheets_keep_their_contract_columns_first(book: openpyxl.Workbook) -> None:
    for model in SHEETS:
        headers = [cell.value for cell in book[model.sheet_name][1]]
        contract = [column.header for column in model.columns().values()]
        provenance = [header for header, _ in PROVENANCE_COLUMNS]
        assert headers == contract + provenance + [extra.header for extra in extra_columns(model)]


def test_a_record_the_contract_rejects_is_left_out_of_every_formula(book: openpyxl.Workbook) -> None:
    view = tricky_view()
    assert {item.sheet_name for item in view.skipped} == {"企业名录", "审核进度", "培训活动"}
    sheet = book[Enterprise.sheet_name]
    row = next(r for r in range(2, sheet.max_row + 1) if sheet.cell(row=r, column=1).value == code(26))
    helpers = [sheet.cell(row=row, column=col) for col in range(21, sheet.max_column + 1)]
    assert [(cell.data_type, cell.value) for cell in helpers] == [("n", 0)] * 3


def test_helper_columns_are_formulas_with_cached_values(
    book: openpyxl.Workbook, values: openpyxl.Workbook
) -> None:
    sheet, cached = book[Attendee.sheet_name], values[Attendee.sheet_name]
    rows = {
        (sheet.cell(row=r, column=1).value, sheet.cell(row=r, column=3).value): r
        for r in range(2, sheet.max_row + 1)
    }
    counted = column_of(sheet, "辅助·计入")
    first = column_of(sheet, "辅助·参训首次")
    assert sheet.cell(row=rows[("YX-01", "张一")], column=counted).data_type == "f"
    assert [
        cached.cell(row=rows[key], column=counted).value for key in (("YX-01", "张一"), ("HZ-01", "钱五"))
    ] == [1, 0]
    # 张一 and 李二 are of the same enterprise: it counts once
    assert [
        cached.cell(row=rows[key], column=first).value for key in (("YX-01", "张一"), ("YX-01", "李二"))
    ] == [1, 0]


def test_without_a_view_the_computed_columns_are_headed_and_as_of_is_still_named(tmp_path: Path) -> None:
    path = write_tricky(tmp_path / "总台账.xlsx", view=None, missing_submitters=())
    book = openpyxl.load_workbook(path)
    assert book.sheetnames[0] == OVERVIEW_SHEET and AS_OF_NAME in book.defined_names
    assert book[PROGRESS_SHEET].max_row == 1
    register = book[Audit.sheet_name]
    assert [cell.value for cell in register[1]][-len(extra_columns(Audit)) :] == [
        extra.header for extra in extra_columns(Audit)
    ]
    assert not any(cell.data_type == "f" for row in register.iter_rows(min_row=2) for cell in row)


def test_a_formula_always_carries_a_value() -> None:
    with pytest.raises(ValueError):
        Formula("SUM(A1)", 0)
