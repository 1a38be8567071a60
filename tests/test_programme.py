"""The edge from register rows to domain verdicts: typed records, owners carried, seed dates."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sheetsync.domain import CertificateState, audit_statuses, certificate_statuses
from sheetsync.profile import load_profile
from sheetsync.programme import WarningKind, evaluate, quarter_of
from sheetsync.records import StoredRecord
from sheetsync.schemas import SHEETS, Audit, ConsultingAgency, Enterprise, Project, SheetModel, Target
from sheetsync.uscc import check_character

BEIJING = load_profile("beijing-2014")
GUANGZHOU = load_profile("guangzhou-2013")
D = date
EXCELLENT = "清洁生产(优秀)企业"


def code(n: int, region: str = "91110105") -> str:
    first17 = f"{region}{n:09d}"
    return first17 + check_character(first17)


def stored(model: type[SheetModel], submitter: str, **values: Any) -> StoredRecord:
    """A register row as the register keeps it: a real model instance dumped in JSON mode."""
    instance = model.model_validate(values)
    return StoredRecord(
        sheet_name=model.sheet_name,
        key=instance.key(),
        data=instance.model_dump(mode="json"),
        version=1,
        submitter=submitter,
        file_name=f"{submitter}/填报.xlsx",
        source_sheet=model.sheet_name,
        source_row=2,
        file_hash="0" * 64,
        recorded_at=datetime(2014, 1, 1),
    )


def sheets(*records: StoredRecord) -> dict[str, list[StoredRecord]]:
    found: dict[str, list[StoredRecord]] = {}
    for record in records:
        found.setdefault(record.sheet_name, []).append(record)
    return found


def company(n: int, submitter: str, **values: Any) -> StoredRecord:
    fields = {"uscc": code(n), "name": f"北京某某{n}号公司", "category": "重点商贸", "audit_type": "自愿"}
    return stored(Enterprise, submitter, **(fields | values))


def audit(n: int, submitter: str, **values: Any) -> StoredRecord:
    return stored(Audit, submitter, **({"uscc": code(n), "round": 1, "method": "全面审核"} | values))


ON_TIME = {"started_on": "2014-02-10", "contract_filed_on": "2014-02-10", "report_on": "2014-05-20"}


def beijing_register() -> dict[str, list[StoredRecord]]:
    return sheets(
        company(1, "朝阳区"),
        company(2, "海淀区"),
        company(3, "市商务委"),
        audit(1, "朝阳区", agency="甲咨询公司"),  # nothing by 28 Feb
        audit(2, "海淀区", agency="乙咨询公司", **ON_TIME, evaluated_on="2014-06-20", grade="不合格"),
        audit(3, "市商务委", agency="甲咨询公司", contract_filed_on="2014-03-03", started_on="2014-03-03"),
        stored(
            Project,
            "海淀区",
            project_id="HD-2014-001",
            uscc=code(2),
            status="实施中",
            subsidy_approved="100",
            started_on="2014-07-01",
            second_paid_on="2014-08-01",
            second_paid="30",
        ),
        stored(ConsultingAgency, "市发展改革委", name="丙咨询公司", uscc=code(90), status="在册"),
        stored(Target, "市发展改革委", year=2014, district="朝阳区", metric="启动审核企业数", value="10"),
    )


def test_results_match_the_domain_on_the_typed_records() -> None:
    register = beijing_register()
    view = evaluate(register, BEIJING, D(2014, 7, 1))
    audits = [Audit.model_validate(record.data) for record in register[Audit.sheet_name]]
    assert tuple(owned.record for owned in view.audits) == audit_statuses(audits, {}, BEIJING, D(2014, 7, 1))
    assert [owned.submitter for owned in view.audits] == ["朝阳区", "海淀区", "市商务委"]
    assert view.skipped == ()


def test_each_sheet_is_read_once_and_its_remembered_cells_let_go() -> None:
    """evaluate() may be handed a RecordSource that reads the register at each look-up: it asks
    for each sheet once, and keeps no parsed cell of a sheet once that sheet is typed."""
    register = beijing_register()
    asked: list[str] = []

    class Counting(dict[str, list[StoredRecord]]):
        def get(self, key: str, default: Any = None) -> Any:
            asked.append(key)
            return super().get(key, default)

    columns = [column for model in SHEETS for column in model.columns().values()]
    for column in columns:
        column.forget_outcomes()  # what other tests in this process left

    view = evaluate(Counting(register), BEIJING, D(2014, 7, 1))

    assert len(asked) == len(set(asked)) and set(register) <= set(asked)
    assert len(view.records.enterprises) == 3
    for column in columns:
        assert not column._text_outcomes and not column._other_outcomes, column.header


def test_beijing_overdue_rows_carry_owner_name_and_the_seed_reason() -> None:
    view = evaluate(beijing_register(), BEIJING, D(2014, 3, 10))
    open_rows = [item for item in view.overdue_items() if item.kind is WarningKind.OVERDUE]
    assert [(item.submitter, item.uscc, item.enterprise, item.reason) for item in open_rows][:2] == [
        ("朝阳区", code(1), "北京某某1号公司", "已过2014年2月28日仍未启动审核"),
        ("朝阳区", code(1), "北京某某1号公司", "已过2014年2月28日仍未备案咨询合同和审核登记表"),
    ]
    assert open_rows[0].subject == "第1轮全面审核:启动审核"
    assert (open_rows[0].deadline, open_rows[0].days_over) == (D(2014, 2, 28), 10)
    late = [item for item in view.overdue_items() if item.kind is WarningKind.LATE]
    assert {item.submitter for item in late} == {"市商务委"}
    assert late[0].reason.startswith("2014年3月3日才")
    assert view.open_overdue == 2  # late stages are done, so only 朝阳区's two count


def test_worst_first_then_payment_errors_then_late_ones() -> None:
    view = evaluate(beijing_register(), BEIJING, D(2014, 9, 1))
    items = view.overdue_items()
    kinds = [item.kind for item in items]
    assert kinds == sorted(
        kinds, key=[WarningKind.OVERDUE, WarningKind.PAYMENT_ERROR, WarningKind.LATE].index
    )
    open_days = [item.days_over for item in items if item.kind is WarningKind.OVERDUE]
    assert open_days == sorted(open_days, reverse=True) and open_days
    errors = [item for item in items if item.kind is WarningKind.PAYMENT_ERROR]
    assert {(error.submitter, error.subject, error.deadline) for error in errors} == {
        ("海淀区", "技改项目HD-2014-001", None)
    }
    assert [error.reason for error in errors] == [
        "二期(30%)补助于2014年8月1日拨付,项目尚未通过绩效验收;应在通过绩效验收后拨付",
        "二期补助于2014年8月1日拨付,先于一期补助;应先拨付一期(70%)",
    ]


def test_certificates_keep_the_owner_of_their_round_and_count_when_due() -> None:
    register = sheets(
        stored(
            Enterprise, "越秀区", uscc=code(1, "91440104"), name="广州某某电镀厂", category="规模以上工业"
        ),
        stored(
            Audit,
            "越秀区",
            uscc=code(1, "91440104"),
            round=1,
            method="全面审核",
            report_on="2012-06-01",
            evaluated_on="2012-07-01",
            accepted_on="2012-11-01",
            acceptance="通过",
            certificate=EXCELLENT,
            certified_on="2012-12-15",
        ),
        stored(
            Audit,
            "市环保局",
            uscc=code(2, "91440104"),
            round=1,
            method="全面审核",
            certificate=EXCELLENT,
            certified_on="2012-10-01",
            report_on="2012-06-01",
        ),
    )
    view = evaluate(register, GUANGZHOU, D(2014, 11, 30))
    states = {owned.record.uscc: (owned.submitter, owned.record.state) for owned in view.certificates}
    assert states == {
        code(1, "91440104"): ("越秀区", CertificateState.RENEWAL_DUE),
        code(2, "91440104"): ("市环保局", CertificateState.EXPIRED),
    }
    audits = [Audit.model_validate(record.data) for record in register[Audit.sheet_name]]
    assert {owned.record for owned in view.certificates} == set(
        certificate_statuses(audits, GUANGZHOU, D(2014, 11, 30))
    )
    assert view.certificates_due == 2
    ordered = [owned.record.days_left for owned in view.certificates_by_days_left()]
    assert ordered == sorted(ordered)


def test_an_overdue_reaudit_is_an_open_item_of_the_last_rounds_owner() -> None:
    uscc = code(5, "91440104")
    register = sheets(
        stored(
            Enterprise,
            "白云区",
            uscc=uscc,
            name="广州某某电池厂",
            category="规模以上工业",
            key_industry="含铅蓄电池业",
        ),
        stored(Audit, "白云区", uscc=uscc, round=1, method="全面审核", report_on="2011-03-01"),
    )
    view = evaluate(register, GUANGZHOU, D(2014, 3, 1))
    (reaudit,) = view.reaudits
    assert reaudit.submitter == "白云区" and reaudit.record.overdue
    (item,) = view.overdue_items()
    assert item.kind is WarningKind.OVERDUE and item.subject == "第2轮审核(每2年一轮)"
    assert item.days_over == (D(2014, 3, 1) - D(2013, 3, 1)).days
    assert view.open_overdue == 1


def test_progress_reads_targets_from_the_register_and_owners_as_submitters() -> None:
    view = evaluate(beijing_register(), BEIJING, D(2014, 7, 1))
    scopes = view.progress_scopes()
    assert scopes[0].scope == "全市"
    assert [scope.scope for scope in scopes[1 : 1 + len(BEIJING.submitters)]] == [
        submitter.name for submitter in BEIJING.submitters
    ]
    assert [scope.scope for scope in scopes[-len(BEIJING.sectors) :]] == [s.name for s in BEIJING.sectors]
    chaoyang = next(scope for scope in scopes if scope.scope == "朝阳区").get("启动审核企业数")
    assert (chaoyang.done, chaoyang.target) == (Decimal(0), Decimal(10))
    city = scopes[0].get("启动审核企业数")
    assert (city.done, city.target) == (Decimal(2), Decimal(249))  # 朝阳区's audit never started
    assert view.targets and view.targets[0].district == "朝阳区"


def test_agencies_are_rated_on_the_quarter_of_as_of() -> None:
    view = evaluate(beijing_register(), BEIJING, D(2014, 6, 30))
    assert view.quarter == "2014-Q2"
    scores = {score.agency: score for score in view.agency_scores}
    assert set(scores) == {"甲咨询公司", "乙咨询公司", "丙咨询公司"}
    assert scores["乙咨询公司"].score == Decimal("0.0") and scores["乙咨询公司"].below_threshold
    assert [score.agency for score in view.agencies_below] == ["乙咨询公司"]


def test_a_row_the_contract_no_longer_accepts_is_skipped_and_named() -> None:
    register = beijing_register()
    broken = register[Audit.sheet_name][0]
    register[Audit.sheet_name][0] = dataclasses.replace(broken, data={**broken.data, "method": "神秘方式"})
    view = evaluate(register, BEIJING, D(2014, 7, 1))
    (skipped,) = view.skipped
    assert (skipped.sheet_name, skipped.submitter) == (Audit.sheet_name, "朝阳区")
    assert "method" in skipped.error
    assert len(view.audits) == 2


def test_an_empty_register_gives_an_empty_view() -> None:
    view = evaluate({}, GUANGZHOU, D(2014, 11, 30))
    assert view.overdue_items() == [] and view.certificates == () and view.agency_scores == ()
    assert (view.open_overdue, view.certificates_due) == (0, 0)
    assert view.progress.city.get("覆盖企业数").done == 0


def test_quarter_of() -> None:
    assert [quarter_of(D(2014, month, 1)) for month in (1, 3, 4, 6, 7, 9, 10, 12)] == [
        "2014-Q1",
        "2014-Q1",
        "2014-Q2",
        "2014-Q2",
        "2014-Q3",
        "2014-Q3",
        "2014-Q4",
        "2014-Q4",
    ]
