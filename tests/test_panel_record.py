"""Panel draws recorded in real registers (SQLite and PostgreSQL): what is kept, re-running it, tampering,
shortages, CLI (SQLite: the drive's register)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from sheetsync.cli_panel import panel_app
from sheetsync.domain.panels import PanelShortage, PastPanel, draw_panel
from sheetsync.drive import Drive
from sheetsync.merge import merge_file
from sheetsync.panel_record import (
    MASTER_COLUMNS,
    PanelInputError,
    PanelNotFound,
    PanelRecord,
    draw_and_record,
    list_draws,
    relevant_history,
    verify_draw,
)
from sheetsync.profile import load_profile
from sheetsync.records import FileResult, SheetResult, ValidRow
from sheetsync.schemas import Audit, ConsultingAgency, Enterprise, Expert, SheetModel
from sheetsync.store import Register, open_register
from sheetsync.uscc import check_character
from tests.postgres import (  # noqa: F401  (fixtures)
    RegisterUrls,
    backend_fixture,
    new_register_url_fixture,
    raw_execute,
    register_url_fixture,
    table_names,
)

PROFILE = load_profile("guangzhou-2013")
AS_OF = date(2014, 11, 30)
NOW = datetime(2014, 11, 30, 9, 30)
MAKING = "C 制造业"
AGENCY_NAME = "乙环保咨询有限公司"
OLD_AGENCY_NAME = "丙节能技术服务有限公司"
ENTERPRISE_NAME = "甲化工有限公司"


def code(n: int) -> str:
    first17 = f"91440106{n:09d}"
    return first17 + check_character(first17)


ENTERPRISE_CODE = code(1)
OTHER_CODE = code(3)


def expert(expert_id: str, *specialties: str, **fields: Any) -> Expert:
    values: dict[str, Any] = {
        "expert_id": expert_id,
        "name": f"专家{expert_id[1:]}",
        "employer": "华南理工大学",
        "industry_fields": (MAKING,),
        "specialties": specialties,
        "status": "在库",
    }
    return Expert.model_validate(values | fields)


POOL: tuple[Expert, ...] = (
    expert("E01", "工艺"),
    expert("E02", "节能", employer="广州能源研究所"),
    expert("E03", "环保", employer=AGENCY_NAME),  # works for the agency of the latest round
    expert("E04", "工艺", "节能", "环保", status="暂停"),
    expert("E05", "环保", employer="中山大学"),
    expert("E06", "工艺", related=(ENTERPRISE_CODE,)),
    expert("E07", "财务", employer="暨南大学"),
    expert("E08", "审核", employer="广东工业大学"),
    expert("E09", "节能", "环保", employer="广州大学"),
    expert("E10", "工艺", industry_fields=("D 电力、热力、燃气及水生产和供应业",)),
    expert("E11", "工艺", employer=OLD_AGENCY_NAME),  # the first round's agency: no longer avoided
    expert("E12", "节能", employer="广东省环境科学研究院"),
    expert("E13", "工艺", "节能", employer="广州市环境保护科学研究院"),
    expert("E14", "工艺", employer="广东省建筑科学研究院"),
    expert("E15", "环保", employer="华南师范大学"),
    expert("E16", "环保", "审核", employer="广州市环境监测中心站"),
    expert("E17", "节能", employer="广州能源检测研究院"),
    expert("E18", "环保", employer="仲恺农业工程学院"),
)
PROCESS_FOR_MAKING = {"E01", "E11", "E13", "E14"}  # E10 knows another industry, E06 is avoided
EXCLUDED = {
    "E03": f"工作单位为承担审核的咨询机构“{AGENCY_NAME}”",
    "E04": "状态为“暂停”,不在库",
    "E06": "关联单位含被审核企业",
}


def enterprise(uscc: str, name: str) -> Enterprise:
    return Enterprise.model_validate(
        {
            "uscc": uscc,
            "name": name,
            "district": "天河区",
            "industry_section": MAKING,
            "category": "规模以上工业",
            "audit_type": "自愿",
        }
    )


def audit(round_: int, agency: str) -> Audit:
    return Audit.model_validate(
        {"uscc": ENTERPRISE_CODE, "round": round_, "method": "全面审核", "agency": agency}
    )


AGENCIES = (
    ConsultingAgency.model_validate({"name": AGENCY_NAME, "uscc": code(2), "status": "在册"}),
    ConsultingAgency.model_validate({"name": OLD_AGENCY_NAME, "uscc": code(4), "status": "在册"}),
)


def sheet(records: Sequence[SheetModel]) -> SheetResult:
    model = type(records[0])
    rows = [ValidRow(r, i + 2, frozenset(type(r).model_fields)) for i, r in enumerate(records)]
    return SheetResult(model.sheet_name, model.sheet_name, rows_seen=len(rows), valid_rows=rows)


def merge(register: Register, tag: str, submitter: str, *sheets: SheetResult) -> None:
    result = FileResult(
        path=f"/share/{submitter}/{tag}.xlsx",
        file_hash=hashlib.sha256(tag.encode()).hexdigest(),
        submitter=submitter,
        stamp=None,
        sheets=list(sheets),
    )
    merge_file(register, result, file_name=f"{tag}.xlsx", received_at=NOW - timedelta(days=1))


def fill(register: Register, experts: Sequence[Expert] = POOL) -> Register:
    """The office's pool and agencies, a district's enterprises and two audit rounds, via merge."""
    merge(register, "office", "市经贸委", sheet(list(experts)), sheet(list(AGENCIES)))
    merge(
        register,
        "district",
        "天河区",
        sheet([enterprise(ENTERPRISE_CODE, ENTERPRISE_NAME), enterprise(OTHER_CODE, "丁机械有限公司")]),
        sheet([audit(1, OLD_AGENCY_NAME), audit(2, AGENCY_NAME)]),
    )
    return register


@pytest.fixture
def register(register_url: str) -> Iterator[Register]:
    opened = fill(open_register(register_url))
    yield opened
    opened.close()


def draw(register: Register, **options: Any) -> PanelRecord:
    options = {
        "enterprise_code": ENTERPRISE_CODE,
        "purpose": "评估",
        "size": None,
        "seed": 20141130,
        "as_of": AS_OF,
        "now": NOW,
    } | options
    return draw_and_record(register, PROFILE, **options)


def panel_rows(url: str) -> int:
    if "panels" not in table_names(url):
        return 0
    ((count,),) = raw_execute(url, "SELECT count(*) FROM panels")
    return count


# ---- recording ------------------------------------------------------------------------------


def test_draw_records_everything(register: Register) -> None:
    record = draw(register)

    assert record.panel_id == "P20141130-0001"
    assert (record.drawn_at, record.as_of, record.seed) == (NOW, AS_OF, 20141130)
    assert (record.uscc, record.enterprise_name, record.purpose) == (ENTERPRISE_CODE, ENTERPRISE_NAME, "评估")
    assert (record.size, record.profile_name) == (5, "guangzhou-2013")
    assert record.candidates == tuple(e.expert_id for e in POOL)
    assert dict(record.exclusions) == EXCLUDED
    assert len(record.panel) == 5 and len(record.reserves) == 2
    assert not set(record.panel) & set(record.reserves)
    assert not (set(record.panel) | set(record.reserves)) & set(EXCLUDED)
    seats = dict(record.seats)
    assert set(seats) == {"工艺(C 制造业)", "节能", "环保"}
    assert set(seats.values()) <= set(record.panel)
    assert seats["工艺(C 制造业)"] in PROCESS_FOR_MAKING

    # the same draw computed independently from the register's current records
    def typed(model: type[SheetModel]) -> list[Any]:
        return [model.model_validate(r.data) for r in register.current(model.sheet_name)]

    expected = draw_panel(
        typed(Expert),
        enterprise(ENTERPRISE_CODE, ENTERPRISE_NAME),
        PROFILE,
        20141130,
        AS_OF,
        audit=audit(2, AGENCY_NAME),
        agencies=AGENCIES,
    )
    assert (record.panel, record.reserves, record.exclusions) == (
        expected.panel,
        expected.reserves,
        expected.exclusions,
    )
    assert list_draws(register) == [record]


def test_master_row_has_the_office_columns(register: Register) -> None:
    record = draw(register)
    row = dict(zip(MASTER_COLUMNS, record.master_row(), strict=True))
    assert row["抽取编号"] == "P20141130-0001"
    assert row["抽取时间"] == "2014-11-30 09:30:00"
    assert row["企业"] == f"{ENTERPRISE_NAME}({ENTERPRISE_CODE})"
    assert (row["用途"], row["随机种子"]) == ("评估", "20141130")
    assert row["专家组"] == "、".join(f"{e} 专家{e[1:]}" for e in record.panel)
    assert row["候补"] == "、".join(f"{e} 专家{e[1:]}" for e in record.reserves)
    assert f"E03 专家03:工作单位为承担审核的咨询机构“{AGENCY_NAME}”" in row["回避及原因"]
    assert row["回避及原因"].count(";") == 2
    assert record.brief("E03").employer == AGENCY_NAME


def test_ids_count_up_and_history_drives_avoidance_and_cooldown(register: Register) -> None:
    first = draw(register)
    acceptance = draw(register, purpose="验收", seed=1)
    other = draw(register, enterprise_code=OTHER_CODE, seed=2, as_of=AS_OF + timedelta(days=10))

    assert acceptance.panel_id == "P20141130-0002" and other.panel_id == "P20141210-0001"
    reasons = dict(acceptance.exclusions)
    for member in first.panel:
        assert reasons[member] == "曾参加该企业上一次专家组(2014年11月30日)"
    # another enterprise: nobody is avoided for the agency, but recent panellists go to the back
    assert set(dict(other.exclusions)) == {"E04"}
    deferred = dict(other.deferred)
    assert set(deferred) == set(first.panel) | set(acceptance.panel)
    assert all("靠后抽取" in reason for reason in deferred.values())
    assert [r.panel_id for r in list_draws(register)] == [first.panel_id, acceptance.panel_id, other.panel_id]
    for record in (first, acceptance, other):
        assert verify_draw(register, PROFILE, record.panel_id).matches


def test_seed_is_made_when_none_given_and_long_seeds_survive(register: Register) -> None:
    made = draw(register, seed=None)
    assert 0 <= made.seed < 2**63
    assert verify_draw(register, PROFILE, made.panel_id).matches
    huge = draw(register, seed=2**64 + 12345, purpose="验收")
    assert list_draws(register)[-1].seed == 2**64 + 12345
    assert verify_draw(register, PROFILE, huge.panel_id).matches


def test_unknown_enterprise_or_empty_pool_or_bad_request_writes_nothing(register_url: str) -> None:
    with open_register(register_url) as empty:
        merge(empty, "district", "天河区", sheet([enterprise(ENTERPRISE_CODE, ENTERPRISE_NAME)]))
        with pytest.raises(PanelInputError, match="专家库"):
            draw(empty)
        with pytest.raises(PanelInputError, match=code(9)):
            draw(empty, enterprise_code=code(9))
        with pytest.raises(PanelInputError, match="3至7人"):
            draw(empty, size=9)
        with pytest.raises(PanelInputError, match="用途"):
            draw(empty, purpose="审核")
        with pytest.raises(PanelNotFound):
            verify_draw(empty, PROFILE, "P20141130-0001")
    assert panel_rows(register_url) == 0


def test_code_is_forgiving_about_case_and_width(register: Register) -> None:
    full_width = str.maketrans("0123456789", "０１２３４５６７８９")
    typed = f" {ENTERPRISE_CODE[:8].translate(full_width)} {ENTERPRISE_CODE[8:].lower()} "
    assert draw(register, enterprise_code=typed).uscc == ENTERPRISE_CODE


# ---- shortage -------------------------------------------------------------------------------


def test_shortage_names_the_specialty_and_writes_nothing(register_url: str) -> None:
    no_environment = [e for e in POOL if "环保" not in e.specialties or e.expert_id in EXCLUDED]
    with fill(open_register(register_url), no_environment) as short:
        with pytest.raises(PanelShortage) as raised:
            draw(short)
        assert raised.value.specialty == "环保"
        assert "“环保”专家不足" in raised.value.message
        assert list_draws(short) == []
    assert panel_rows(register_url) == 0


# ---- verification ---------------------------------------------------------------------------


def test_verify_confirms_and_survives_later_register_changes(register: Register) -> None:
    record = draw(register)
    member = record.panel[0]
    retired = next(e for e in POOL if e.expert_id == member).model_copy(update={"status": "退出"})
    merge(register, "office-later", "市经贸委", sheet([retired]))

    result = verify_draw(register, PROFILE, record.panel_id.lower())
    assert result.matches and result.differences == ()
    assert result.redrawn is not None and result.redrawn.panel == record.panel


def test_tampered_panel_fails_verification(register: Register, register_url: str) -> None:
    record = draw(register)
    swapped = [record.reserves[0], *record.panel[1:]]
    raw_execute(
        register_url,
        "UPDATE panels SET panel_json = ? WHERE panel_id = ?",
        '["' + '","'.join(swapped) + '"]',
        record.panel_id,
    )

    result = verify_draw(register, PROFILE, record.panel_id)
    assert not result.matches
    assert len(result.differences) == 1
    assert result.differences[0].startswith("专家组不一致")
    assert record.reserves[0] in result.differences[0]


def test_tampered_snapshot_is_reported_not_raised(register: Register, register_url: str) -> None:
    record = draw(register)
    raw_execute(register_url, "UPDATE panels SET inputs_json = '{' WHERE panel_id = ?", record.panel_id)
    result = verify_draw(register, PROFILE, record.panel_id)
    assert not result.matches and "无法读取" in result.differences[0]


def test_same_seed_on_a_fresh_register_gives_the_same_draw(new_register_url: RegisterUrls) -> None:
    with fill(open_register(new_register_url())) as one:
        first = draw(one, seed=987654321)
    with fill(open_register(new_register_url()), list(reversed(POOL))) as two:
        second = draw(two, seed=987654321)
    with fill(open_register(new_register_url())) as three:
        another = draw(three, seed=987654322)
    assert second == first
    assert (second.panel, second.reserves, second.exclusions, second.seats) == (
        first.panel,
        first.reserves,
        first.exclusions,
        first.seats,
    )
    assert another.order != first.order  # the seed, not the register, decides the draw


def test_snapshot_history_is_trimmed_without_changing_the_draw() -> None:
    experts = list(POOL)
    history = [
        PastPanel(ENTERPRISE_CODE, date(2012, 5, 1), ("E01",)),  # own, old: still the previous panel
        PastPanel(OTHER_CODE, date(2013, 1, 1), ("E02", "E05")),  # others', long ago: cannot matter
        PastPanel(OTHER_CODE, AS_OF - timedelta(days=10), ("E09",)),  # within cool-down
        PastPanel(OTHER_CODE, AS_OF + timedelta(days=1), ("E12",)),  # after the draw day
    ]
    kept = relevant_history(history, ENTERPRISE_CODE, AS_OF, PROFILE.panel.cooldown_days)
    assert kept == (history[0], history[2])
    target = enterprise(ENTERPRISE_CODE, ENTERPRISE_NAME)
    for seed in range(20):
        full = draw_panel(experts, target, PROFILE, seed, AS_OF, history=history)
        trimmed = draw_panel(experts, target, PROFILE, seed, AS_OF, history=kept)
        assert trimmed == full


# ---- command line ---------------------------------------------------------------------------

runner = CliRunner()
cli = typer.Typer()
cli.add_typer(panel_app, name="panel")


@pytest.fixture
def drive(tmp_path: Path) -> Drive:
    shared = Drive(tmp_path / "drive")
    shared.write_settings("guangzhou-2013")
    fill(open_register(shared.register_url)).close()
    return shared


def invoke(*args: str) -> Result:
    return runner.invoke(cli, ["panel", *args])


def test_cli_draw_then_verify(drive: Drive) -> None:
    result = invoke(
        "draw", "--drive", str(drive.root), "--enterprise", ENTERPRISE_CODE, "--purpose", "评估",
        "--seed", "42", "--as-of", "2014-11-30",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    for text in ("席位", "专家编号", "姓名", "工作单位", "专长", "候补1", "E03", "P20141130-0001", "42"):
        assert text in result.stdout
    assert "随机种子:42" in result.stdout
    with open_register(drive.register_url) as register:
        (record,) = list_draws(register)
    assert record.seed == 42 and all(member in result.stdout for member in record.panel)

    verified = invoke("verify", "--drive", str(drive.root), "P20141130-0001")
    assert verified.exit_code == 0, verified.output
    assert "核验一致" in verified.stdout


def test_cli_verify_fails_on_tampering(drive: Drive) -> None:
    args = ("--enterprise", ENTERPRISE_CODE, "--purpose", "验收", "--size", "3", "--as-of", "2014-11-30")
    assert invoke("draw", "--drive", str(drive.root), *args).exit_code == 0
    raw_execute(drive.register_url, "UPDATE panels SET reserves_json = '[]'")
    result = invoke("verify", "--drive", str(drive.root), "P20141130-0001")
    assert result.exit_code == 1
    assert "核验不一致" in result.stdout and "候补不一致" in result.stdout


def test_cli_shortage_is_one_chinese_line_and_nothing_is_recorded(tmp_path: Path) -> None:
    shared = Drive(tmp_path / "drive")
    shared.write_settings("guangzhou-2013")
    no_environment = [e for e in POOL if "环保" not in e.specialties or e.expert_id in EXCLUDED]
    fill(open_register(shared.register_url), no_environment).close()
    result = invoke(
        "draw", "--drive", str(shared.root), "--enterprise", ENTERPRISE_CODE, "--purpose", "评估",
        "--as-of", "2014-11-30",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    (line,) = result.stderr.strip().splitlines()
    assert "“环保”专家不足" in line and "未记录" in line
    assert panel_rows(shared.register_url) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--enterprise", code(9), "--purpose", "评估"), code(9)),
        (("--enterprise", ENTERPRISE_CODE, "--purpose", "审核"), "评估"),
        (("--enterprise", ENTERPRISE_CODE, "--purpose", "评估", "--size", "8"), "3至7人"),
        (("--enterprise", ENTERPRISE_CODE, "--purpose", "评估", "--as-of", "30/11/2014"), "--as-of"),
    ],
)
def test_cli_draw_refusals_exit_2(drive: Drive, args: tuple[str, ...], message: str) -> None:
    result = invoke("draw", "--drive", str(drive.root), *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output
    assert panel_rows(drive.register_url) == 0


def test_cli_unknown_id_and_missing_register_exit_2(drive: Drive, tmp_path: Path) -> None:
    unknown = invoke("verify", "--drive", str(drive.root), "P20990101-0001")
    assert unknown.exit_code == 2 and "P20990101-0001" in unknown.stderr
    empty = tmp_path / "empty"
    missing = invoke("draw", "--drive", str(empty), "--enterprise", ENTERPRISE_CODE, "--purpose", "评估")
    assert missing.exit_code == 2 and "consolidate" in missing.stderr
    assert not Drive(empty).register_path.exists()
