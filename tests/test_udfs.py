"""The Excel functions as plain Python, fed what xlwings hands over from a worksheet.

Inputs are shaped like Excel's: ranges as lists of rows with the header row first, ``None`` for
empty cells, dates as serial numbers, numbers as floats, text with full-width characters and
stray spaces. Expected answers come from the domain engine itself, so these tests pin the
wrapping (parsing, shaping, error text), not the rules the engine's own tests already pin.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime
from typing import Any

import pytest

from sheetsync import udfs
from sheetsync.domain import (
    Owned,
    ProgrammeRecords,
    audit_status,
    certificate_status,
    draw_panel,
    progress,
)
from sheetsync.normalize import from_excel_serial
from sheetsync.profile import Stage, load_profile
from sheetsync.schemas import Audit, Enterprise, Expert
from sheetsync.udfs import (
    CP_CERT_STATUS,
    CP_EXPERT_PANEL,
    CP_OVERDUE,
    CP_OVERDUE_REASON,
    CP_PROGRESS,
    CP_STAGE,
    CP_USCC_OK,
    ERROR_PREFIX,
)
from sheetsync.uscc import check_character

BEIJING = load_profile("beijing-2014")
GUANGZHOU = load_profile("guangzhou-2013")
EXCEL_EPOCH = date(1899, 12, 30)


def serial(day: date) -> float:
    """What Excel (and TODAY()) hands over for a date: days since 1899-12-30, as a float."""
    return float((day - EXCEL_EPOCH).days)


def code(n: int) -> str:
    first17 = f"91110105{n:09d}"
    return first17 + check_character(first17)


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def is_error(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(ERROR_PREFIX)


# A 审核进度 header as submitters leave it: a required marker, a line break, a full-width bracket.
AUDIT_HEADERS = [
    "*统一社会信用代码",
    "审核\n轮次",
    "审核方式",
    "咨询机构",
    "启动日期",
    "合同备案日期",
    "报告提交日期",
    "评估日期",
    "评估等级",
    "验收日期",
    "验收结论",
    "证书类型",
    "发证日期",
    "证书有效期至",
]


def audit_row(uscc: str, **dates: date | str | None) -> list[Any]:
    values: dict[str, Any] = {"审核方式": "全面审核", **dates}
    row: list[Any] = [f" {uscc.lower()} ", 1.0]
    for header in AUDIT_HEADERS[2:]:
        value = values.get(header)
        row.append(serial(value) if isinstance(value, date) else value)
    return row


def parsed_audit(uscc: str, **dates: Any) -> Audit:
    names = {Audit.header(name): name for name in Audit.columns()}
    fields = {names[header]: value for header, value in dates.items() if value is not None}
    return Audit(uscc=uscc, round=1, **{"method": "全面审核", **fields})


# ---- CP_USCC_OK --------------------------------------------------------------------------------


def test_uscc_ok_accepts_what_validation_accepts() -> None:
    good = code(1)
    assert CP_USCC_OK(good) is True
    assert CP_USCC_OK(f"  {good.lower()} ") is True
    assert CP_USCC_OK(full_width(good)) is True
    assert CP_USCC_OK([[good]]) is True  # a one-cell range


@pytest.mark.parametrize("bad", [None, "", "   ", "12345", 9.1110105e17])
def test_uscc_ok_rejects_blank_short_and_float_mangled_codes(bad: Any) -> None:
    assert CP_USCC_OK(bad) is False


def test_uscc_ok_rejects_a_wrong_check_character() -> None:
    good = code(2)
    wrong = good[:-1] + ("0" if good[-1] != "0" else "1")
    assert CP_USCC_OK(wrong) is False


# ---- CP_STAGE / CP_OVERDUE: the Beijing seed -----------------------------------------------


def test_beijing_unit_without_a_start_on_1_march_is_overdue() -> None:
    """Seed: the year's units start their audit by 28 Feb; on 1 Mar a unit with no start is overdue."""
    as_of = date(2014, 3, 1)
    row = audit_row(code(3))
    expected = audit_status(parsed_audit(code(3)), None, BEIJING, as_of)
    open_flags = [flag for flag in expected.flags if flag.is_open]
    assert {flag.stage for flag in open_flags} >= {Stage.STARTED}

    days = CP_OVERDUE([AUDIT_HEADERS], [row], serial(as_of), None, "beijing-2014")
    assert days == max(flag.days_over for flag in open_flags) == 1
    reason = CP_OVERDUE_REASON([AUDIT_HEADERS], [row], serial(as_of), None, "beijing-2014")
    assert reason == ";".join(flag.reason for flag in open_flags)
    assert "启动审核" in reason
    assert CP_STAGE([AUDIT_HEADERS], [row], serial(as_of), "beijing-2014") == expected.stage_text


def test_on_28_february_nothing_is_overdue_yet() -> None:
    as_of = serial(date(2014, 2, 28))
    row = audit_row(code(3))
    assert CP_OVERDUE([AUDIT_HEADERS], [row], as_of, None, "beijing-2014") == 0
    assert CP_OVERDUE_REASON([AUDIT_HEADERS], [row], as_of, None, "beijing-2014") == ""


def test_stage_follows_the_dates_as_of_the_day() -> None:
    dates = {
        "启动日期": date(2014, 2, 10),
        "合同备案日期": date(2014, 2, 12),
        "报告提交日期": date(2014, 5, 20),
        "评估日期": date(2014, 6, 20),
        "评估等级": "良好",
    }
    row = audit_row(code(4), **dates)
    for day in (date(2014, 2, 1), date(2014, 3, 1), date(2014, 6, 1), date(2014, 7, 1)):
        expected = audit_status(parsed_audit(code(4), **dates), None, BEIJING, day).stage_text
        assert CP_STAGE([AUDIT_HEADERS], [row], serial(day), "beijing-2014") == expected
    assert CP_STAGE([AUDIT_HEADERS], [row], serial(date(2014, 7, 1)), "beijing-2014") == "方案实施(评估良好)"


def test_dates_as_text_or_datetimes_read_like_serials() -> None:
    """Excel hands over a date-formatted cell as a datetime; a text cell keeps what was typed."""
    as_of = date(2014, 6, 2)
    by_serial = audit_row(code(5), **{"启动日期": date(2014, 2, 10), "报告提交日期": date(2014, 6, 1)})
    by_text = audit_row(code(5), **{"启动日期": "2014年2月10日", "报告提交日期": "2014/06/01"})
    by_datetime = list(by_serial)
    by_datetime[AUDIT_HEADERS.index("报告提交日期")] = datetime(2014, 6, 1)
    expected = audit_status(
        parsed_audit(code(5), **{"启动日期": date(2014, 2, 10), "报告提交日期": date(2014, 6, 1)}),
        None,
        BEIJING,
        as_of,
    ).stage_text
    answers = {
        CP_STAGE([AUDIT_HEADERS], [row], as_of_value, "beijing-2014")
        for row in (by_serial, by_text, by_datetime)
        for as_of_value in (serial(as_of), datetime(2014, 6, 2), "2014-06-02")
    }
    assert answers == {expected} == {"提交报告"}


def test_header_and_row_may_come_flat_and_blank_rows_stay_blank() -> None:
    """A formula filled down a sheet passes $A$1:$N$1 and A2:N2; rows not yet filled show nothing."""
    as_of = serial(date(2014, 3, 1))
    row = audit_row(code(6))
    assert CP_OVERDUE(AUDIT_HEADERS, row, as_of, None, "beijing-2014") == 1
    blank = [None] * len(AUDIT_HEADERS)
    assert CP_STAGE([AUDIT_HEADERS], [blank], as_of, "beijing-2014") == ""
    assert CP_OVERDUE([AUDIT_HEADERS], [blank], as_of, None, "beijing-2014") == ""
    assert CP_OVERDUE_REASON([AUDIT_HEADERS], [blank], as_of, None, "beijing-2014") == ""


def test_columns_are_found_by_header_not_by_position() -> None:
    as_of = serial(date(2014, 3, 1))
    row = audit_row(code(7))
    order = list(reversed(range(len(AUDIT_HEADERS))))
    headers = [AUDIT_HEADERS[i] for i in order] + ["填报单位", "来源文件"]  # the master's provenance
    shuffled = [row[i] for i in order] + ["朝阳区", "inbox/朝阳区/a.xlsx"]
    assert CP_OVERDUE([headers], [shuffled], as_of, None, "beijing-2014") == 1


def test_mandatory_deadlines_need_the_enterprise_row() -> None:
    """National rule: a listed enterprise starts within 2 months; the listing date is in 企业名录."""
    listed = date(2015, 1, 10)
    as_of = date(2015, 3, 20)
    uscc = code(8)
    enterprise_headers = ["统一社会信用代码", "企业名称", "审核类型", "列入强制名单日期", "强制审核原因"]
    enterprises = [
        enterprise_headers,
        [code(9), "其他企业", "自愿", None, None],
        [uscc, "甲化工有限公司", "强制", serial(listed), "超标排放"],
        ["not a code", "填错的行不影响查找", "强制", "abc", None],
    ]
    row = audit_row(uscc, **{"审核方式": "全面审核"})
    national = load_profile("national-2016")
    enterprise = Enterprise(uscc=uscc, name="甲化工有限公司", audit_type="强制", mandatory_listed_on=listed)
    expected = audit_status(parsed_audit(uscc), enterprise, national, as_of)
    open_flags = [flag for flag in expected.flags if flag.is_open]
    assert open_flags  # the rule applies: otherwise this test would prove nothing

    got = CP_OVERDUE([AUDIT_HEADERS], [row], serial(as_of), enterprises, "national-2016")
    assert got == max(flag.days_over for flag in open_flags)
    without = CP_OVERDUE([AUDIT_HEADERS], [row], serial(as_of), None, "national-2016")
    assert without == 0  # without the register's listing date no mandatory deadline can run
    missing = CP_OVERDUE([AUDIT_HEADERS], [row], serial(as_of), enterprises[:2], "national-2016")
    assert is_error(missing) and uscc in missing


def test_an_enterprise_table_without_the_code_column_is_refused() -> None:
    row = audit_row(code(8))
    answer = CP_OVERDUE([AUDIT_HEADERS], [row], 42000.0, [["企业名称"], ["甲化工有限公司"]], "national-2016")
    assert is_error(answer) and "统一社会信用代码" in answer


# ---- bad input comes back as text ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"启动日期": "2014-13-45"}, "启动日期"),
        ({"审核方式": "随便审审"}, "审核方式"),
    ],
)
def test_a_bad_cell_names_its_header(change: dict[str, Any], expected: str) -> None:
    row = audit_row(code(10), **change)
    answer = CP_STAGE([AUDIT_HEADERS], [row], serial(date(2014, 3, 1)), "beijing-2014")
    assert is_error(answer) and f"“{expected}”" in answer


@pytest.mark.parametrize(
    ("as_of", "profile", "expected"),
    [
        (None, "beijing-2014", "基准日期"),
        ("明天", "beijing-2014", "基准日期"),
        (41699.0, "shanghai-2099", "找不到规则方案"),
    ],
)
def test_bad_arguments_come_back_as_chinese_text(as_of: Any, profile: str, expected: str) -> None:
    answer = CP_STAGE([AUDIT_HEADERS], [audit_row(code(11))], as_of, profile)
    assert is_error(answer) and expected in answer


def test_header_and_row_of_different_widths_are_refused() -> None:
    answer = CP_STAGE([AUDIT_HEADERS], [audit_row(code(12))[:-1]], 41699.0, "beijing-2014")
    assert is_error(answer) and "列" in answer


def test_default_profile_is_the_cli_default() -> None:
    from sheetsync.cli_common import DEFAULT_PROFILE

    row = audit_row(code(13))
    as_of = serial(date(2014, 3, 1))
    assert CP_OVERDUE([AUDIT_HEADERS], [row], as_of) == CP_OVERDUE(
        [AUDIT_HEADERS], [row], as_of, None, DEFAULT_PROFILE
    )


# ---- CP_CERT_STATUS ----------------------------------------------------------------------------

EXCELLENT = "清洁生产(优秀)企业"


@pytest.mark.parametrize(
    "as_of",
    [date(2015, 6, 1), date(2016, 2, 20), date(2016, 3, 1), date(2016, 3, 2), date(2017, 1, 1)],
)
def test_certificate_state_is_the_engines(as_of: date) -> None:
    issued = date(2014, 3, 1)
    audit = Audit(certificate=EXCELLENT, certified_on=issued)
    expected = certificate_status(audit, GUANGZHOU, as_of)
    assert expected is not None
    got = CP_CERT_STATUS(
        full_width("清洁生产(优秀)企业"), serial(issued), None, serial(as_of), "guangzhou-2013"
    )
    assert got == str(expected.state)


def test_certificate_states_over_a_title_s_life() -> None:
    """The three states the brief names, in the order a title goes through them."""
    issued = serial(date(2014, 3, 1))
    states = [
        CP_CERT_STATUS(EXCELLENT, issued, None, serial(day), "guangzhou-2013")
        for day in (date(2015, 6, 1), date(2016, 2, 20), date(2016, 3, 2))
    ]
    assert states == ["有效", "待换证", "已过期"]


def test_recorded_expiry_wins_and_no_certificate_is_blank() -> None:
    issued, until, as_of = date(2014, 3, 1), date(2014, 12, 31), date(2014, 12, 15)
    audit = Audit(certificate=EXCELLENT, certified_on=issued, valid_until=until)
    expected = certificate_status(audit, GUANGZHOU, as_of)
    assert expected is not None
    got = CP_CERT_STATUS(EXCELLENT, serial(issued), serial(until), serial(as_of), "guangzhou-2013")
    assert got == str(expected.state) == "待换证"
    assert CP_CERT_STATUS(None, None, None, serial(as_of), "guangzhou-2013") == ""
    assert CP_CERT_STATUS(EXCELLENT, serial(date(2015, 1, 1)), None, serial(as_of), "guangzhou-2013") == ""


def test_unknown_certificate_type_is_named() -> None:
    answer = CP_CERT_STATUS("优秀证", 41699.0, None, 42000.0, "guangzhou-2013")
    assert is_error(answer) and "证书类型" in answer


# ---- CP_PROGRESS -------------------------------------------------------------------------------

ENTERPRISE_HEADERS = ["统一社会信用代码", "企业名称", "所属区县", "行业门类", "企业类别", "审核类型"]
PROJECT_HEADERS = ["项目编号", "统一社会信用代码", "项目名称", "项目类别", "年节能量(吨标准煤)", "项目状态"]


def programme_tables(owner_column: bool) -> tuple[list[list[Any]], list[list[Any]], list[list[Any]]]:
    owners = ["朝阳区", "海淀区", "朝阳区", "海淀区"]
    categories = ["规模以上工业", "星级酒店", "重点商贸", "规模以上工业"]
    extra = ["填报单位"] if owner_column else []
    enterprises = [ENTERPRISE_HEADERS + extra]
    audits = [AUDIT_HEADERS + extra]
    projects = [PROJECT_HEADERS + extra]
    for n, (owner, category) in enumerate(zip(owners, categories, strict=True), start=20):
        tail = [owner] if owner_column else []
        enterprises.append([code(n), f"企业{n}", owner, "C", category, "自愿", *tail])
        started = date(2014, 2, n - 10) if n != 23 else None
        audits.append(audit_row(code(n), **{"启动日期": started}) + tail)
        projects.append([f"P{n}", code(n), f"项目{n}", "节能", f"{n * 10:,}.5", "实施中", *tail])
    projects.append([None] * len(projects[0]))  # an empty row at the end of the range
    return enterprises, audits, projects


def engine_done(metric: str, scope: str, as_of: date, owner_column: bool) -> Any:
    enterprises, audits, projects = programme_tables(owner_column)
    report_input: dict[str, list[Owned[Any]]] = {"enterprises": [], "audits": [], "projects": []}
    for name, table in (("enterprises", enterprises), ("audits", audits), ("projects", projects)):
        for record, owner in udfs._table(table, name).records():
            report_input[name].append(Owned(record, owner))
    report = progress(ProgrammeRecords(**report_input), BEIJING, as_of, metrics=(metric,))
    scopes = {s.scope: s for s in (report.city, *report.sectors, *report.submitters)}
    return scopes[scope].get(metric).done


@pytest.mark.parametrize(
    ("metric", "scope"),
    [
        ("启动审核企业数", ""),
        ("启动审核企业数", "朝阳区"),
        ("启动审核企业数", "工业"),
        ("星级酒店审核数", "全市"),
        ("技改项目数", "海淀区"),
        ("年节能量", ""),
        ("覆盖企业数", "服务业"),
    ],
)
def test_progress_done_equals_the_engines(metric: str, scope: str) -> None:
    as_of = date(2014, 6, 30)
    enterprises, audits, projects = programme_tables(owner_column=True)
    got = CP_PROGRESS(metric, scope, serial(as_of), "beijing-2014", enterprises, audits, projects)
    expected = engine_done(metric, scope or "全市", as_of, owner_column=True)
    assert got == float(expected)


def test_progress_counts_only_what_happened_by_the_day() -> None:
    enterprises, audits, _ = programme_tables(owner_column=False)
    early = CP_PROGRESS(
        "启动审核企业数", None, serial(date(2014, 2, 10)), "beijing-2014", audits, enterprises
    )
    late = CP_PROGRESS("启动审核企业数", None, serial(date(2014, 6, 30)), "beijing-2014", audits, enterprises)
    assert early == float(engine_done("启动审核企业数", "全市", date(2014, 2, 10), False))
    assert late == float(engine_done("启动审核企业数", "全市", date(2014, 6, 30), False)) == 3
    assert early < late


def test_progress_scope_by_submitter_needs_the_owner_column() -> None:
    enterprises, audits, _ = programme_tables(owner_column=False)
    answer = CP_PROGRESS("启动审核企业数", "朝阳区", 41820.0, "beijing-2014", enterprises, audits)
    assert is_error(answer) and "填报单位" in answer


@pytest.mark.parametrize(
    ("metric", "tables", "expected"),
    [
        ("不存在的指标", None, "未知的指标"),
        ("启动审核企业数", [["甲", "乙"], [1.0, 2.0]], "认不出"),
        ("启动审核企业数", [["专家编号", "姓名", "工作单位", "专长", "状态"]], "不使用"),
    ],
)
def test_progress_refuses_what_it_cannot_count(metric: str, tables: Any, expected: str) -> None:
    passed = [tables] if tables is not None else []
    answer = CP_PROGRESS(metric, "", 41820.0, "beijing-2014", *passed)
    assert is_error(answer) and expected in answer


def test_a_training_metric_per_sector_is_not_applicable() -> None:
    trainings = [["培训编号", "培训日期", "培训主题", "参训人次"], ["T1", 41700.0, "清洁生产审核", 35.0]]
    assert CP_PROGRESS("培训人次", "", 41820.0, "beijing-2014", trainings) == 35
    assert CP_PROGRESS("培训人次", "工业", 41820.0, "beijing-2014", trainings) == udfs.NOT_APPLICABLE


# ---- CP_EXPERT_PANEL ---------------------------------------------------------------------------

EXPERT_HEADERS = ["专家编号", "姓名", "工作单位", "专业领域", "专长", "关联单位", "状态"]
ENTERPRISE_CODE = code(40)
ENTERPRISE_NAME = "甲化工有限公司"
AGENCY_NAME = "乙环保咨询有限公司"


def expert_table() -> list[list[Any]]:
    rows: list[list[Any]] = [EXPERT_HEADERS]
    specialties = ["工艺、节能", "节能", "环保", "工艺", "环保、审核", "财务", "工艺、环保", "节能、环保"]
    for n, specialty in enumerate(specialties, start=1):
        rows.append([f"E{n:02d}", f"专家{n}", "某大学", "C", specialty, None, "在库"])
    rows.append(
        ["E20", "专家20", ENTERPRISE_NAME, "C", "工艺、节能、环保", None, "在库"]
    )  # employer: avoided
    rows.append(["E21", "专家21", "某研究院", "C", "工艺", AGENCY_NAME, "在库"])  # related: avoided
    rows.append(["E22", "专家22", "某研究院", "C", "节能", None, "暂停"])  # not in the pool
    rows.append([None] * len(EXPERT_HEADERS))
    return rows


def engine_draw(seed: int, as_of: date, size: int | None = None) -> Any:
    pool = [record for record, _ in udfs._table(expert_table(), "专家库", Expert).records()]
    enterprise = Enterprise(uscc=ENTERPRISE_CODE, name=ENTERPRISE_NAME, industry_section="C 制造业")
    audit = Audit(agency=AGENCY_NAME)
    draw = draw_panel(pool, enterprise, GUANGZHOU, seed, as_of, audit=audit, size=size, purpose="评估")
    return draw, {expert.expert_id: expert for expert in pool}


@pytest.mark.parametrize("seed", [1, 7, 20140301, 987654321987654321])
def test_panel_array_equals_the_engines_draw(seed: int) -> None:
    as_of = date(2014, 6, 30)
    seed_cell: Any = float(seed) if seed < 2**53 else str(seed)  # long seeds are typed as text
    got = CP_EXPERT_PANEL(
        expert_table(),
        ENTERPRISE_CODE,
        "制造业",
        "评估",
        seed_cell,
        serial(as_of),
        None,
        ENTERPRISE_NAME,
        AGENCY_NAME,
        "guangzhou-2013",
    )
    draw, experts = engine_draw(seed, as_of)
    assert isinstance(got, list)
    assert got[0] == list(udfs.PANEL_HEADER)
    assert len(got) == 1 + len(draw.panel) + len(draw.reserves)
    assert all(len(row) == len(udfs.PANEL_HEADER) for row in got)  # rectangular, as Excel needs
    members, reserves = got[1 : 1 + len(draw.panel)], got[1 + len(draw.panel) :]
    assert [row[1] for row in members] == list(draw.panel)
    assert [row[1] for row in reserves] == list(draw.reserves)
    assert [row[0] for row in reserves] == [f"候补{n}" for n in range(1, len(draw.reserves) + 1)]
    seats = {expert_id: label for label, expert_id in draw.seats}
    assert [row[0] for row in members] == [seats.get(row[1], udfs.MEMBER_SEAT) for row in members]
    for _, expert_id, name, employer, specialties in members + reserves:
        expert = experts[expert_id]
        assert (name, employer, specialties) == (expert.name, expert.employer, "、".join(expert.specialties))
    assert not {"E20", "E21", "E22"} & {row[1] for row in got[1:]}


def test_the_same_seed_gives_the_same_panel_and_size_is_honoured() -> None:
    args = (expert_table(), ENTERPRISE_CODE, "C 制造业", "验收", 99.0, 41820.0)
    assert CP_EXPERT_PANEL(*args) == CP_EXPERT_PANEL(*args)
    three = CP_EXPERT_PANEL(*args, 3.0)
    draw, _ = engine_draw(99, from_excel_serial(41820.0), size=3)
    assert [row[1] for row in three[1:4]] == list(draw.panel)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"purpose": "初审"}, "用途"),
        ({"seed": None}, "随机种子"),
        ({"seed": "一二三"}, "随机种子"),
        ({"size": 9.0}, "3至7人"),
        ({"industry": "Z 外星产业"}, "行业门类"),
        ({"code": "12345"}, "统一社会信用代码"),
    ],
)
def test_panel_input_mistakes_come_back_as_text(change: dict[str, Any], expected: str) -> None:
    values: dict[str, Any] = {
        "code": ENTERPRISE_CODE,
        "industry": "C",
        "purpose": "评估",
        "seed": 5.0,
        "size": None,
    } | change
    answer = CP_EXPERT_PANEL(
        expert_table(),
        values["code"],
        values["industry"],
        values["purpose"],
        values["seed"],
        41820.0,
        values["size"],
    )
    assert is_error(answer) and expected in answer


def test_a_shortage_is_the_engines_message() -> None:
    only_energy = [EXPERT_HEADERS] + [
        [f"E{n}", f"专家{n}", "某大学", "C", "节能", None, "在库"] for n in range(9)
    ]
    answer = CP_EXPERT_PANEL(only_energy, ENTERPRISE_CODE, "C", "评估", 1.0, 41820.0)
    assert is_error(answer) and "专家不足" in answer


def test_a_bad_expert_row_is_named_not_skipped() -> None:
    """Skipping a broken row would silently change who can be drawn; say which row instead."""
    table = expert_table()
    table[3][EXPERT_HEADERS.index("状态")] = "在职"
    answer = CP_EXPERT_PANEL(table, ENTERPRISE_CODE, "C", "评估", 1.0, 41820.0)
    assert is_error(answer) and "第4行" in answer and "状态" in answer


# ---- metadata the wizard and the wrappers rely on ----------------------------------------------


def test_every_udf_is_registered_with_chinese_texts_excel_accepts() -> None:
    assert set(udfs.UDFS) == {
        "CP_USCC_OK",
        "CP_STAGE",
        "CP_OVERDUE",
        "CP_OVERDUE_REASON",
        "CP_CERT_STATUS",
        "CP_PROGRESS",
        "CP_EXPERT_PANEL",
    }
    for spec in udfs.UDFS.values():
        assert spec.function is getattr(udfs, spec.name)
        texts = [spec.description, *(arg.doc for arg in spec.args)]
        for text in texts:
            assert 0 < len(text) <= 255  # Application.MacroOptions cuts at 255 characters
            assert any("\u4e00" <= char <= "\u9fff" for char in text)
            text.encode("gbk")  # the .bas that registers them is GBK


def test_parameter_annotations_are_ones_xlwings_can_convert() -> None:
    """xlwings turns a parameter's annotation into its converter; a union has none."""
    import typing

    for spec in udfs.UDFS.values():
        hints = typing.get_type_hints(spec.function)
        for name, hint in hints.items():
            top = typing.get_origin(hint) or hint
            assert top in (typing.Any, list, bool), (spec.name, name, hint)


def test_the_functions_work_without_xlwings() -> None:
    """xlwings is only needed inside Excel; the module must import and answer without it."""
    script = (
        "import sys; sys.modules['xlwings'] = None\n"
        "from sheetsync import udfs\n"
        "assert len(udfs.UDFS) == 7 and all(s.args for s in udfs.UDFS.values())\n"
        f"print(udfs.CP_USCC_OK({code(1)!r}), udfs.CP_STAGE([['审核轮次']], [[None]], 41699.0))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, encoding="utf-8")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True"]
