"""merge_file against real registers, SQLite and PostgreSQL: the never-lose-data rules, atomicity, exact values."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sheetsync import store
from sheetsync.errors import Problem
from sheetsync.merge import MergeCounts, merge_file, overlay
from sheetsync.records import FileResult, SheetResult, ValidRow
from sheetsync.schemas import Audit, Enterprise, Project, SheetModel
from sheetsync.store import Register, open_register
from tests.postgres import (  # noqa: F401  (fixtures)
    backend_fixture,
    dump_tables,
    empty_tables,
    register_url_fixture,
)

USCC_A = "91440101MA5CJQ4N59"
USCC_B = "914403001922038216"
USCC_C = "91110000710925462X"
DAY1 = datetime(2026, 11, 2, 2, 0)
DAY2 = datetime(2026, 11, 3, 2, 0)
DAY3 = datetime(2026, 11, 4, 2, 0)


def enterprise(uscc: str, **changes: Any) -> Enterprise:
    values = {
        "uscc": uscc,
        "name": "广州某某化工有限公司",
        "district": "天河区",
        "industry_section": "C 制造业",
        "category": "规模以上工业",
        "audit_type": "自愿",
        "phone": "020-83123839",
    }
    values.update(changes)
    return Enterprise.model_validate(values)


def project(project_id: str, **changes: Any) -> Project:
    values = {
        "project_id": project_id,
        "uscc": USCC_A,
        "name": "锅炉余热回收",
        "category": "节能",
        "investment": "1,234.50",
        "subsidy_approved": "0.10",
        "energy_saved_tce": "12.000",
        "started_on": "2014年5月31日",
        "finished_on": date(2015, 1, 9),
    }
    values.update(changes)
    return Project.model_validate(values)


def audit(uscc: str, round_: int, **changes: Any) -> Audit:
    values = {"uscc": uscc, "round": round_, "method": "全面审核", "started_on": "2014-02-20"}
    values.update(changes)
    return Audit.model_validate(values)


def all_fields(record: SheetModel) -> frozenset[str]:
    return frozenset(type(record).model_fields)


def sheet(
    records: list[SheetModel], *, present: frozenset[str] | None = None, source: str | None = None
) -> SheetResult:
    model = type(records[0])
    rows = [
        ValidRow(r, i + 2, present if present is not None else all_fields(r)) for i, r in enumerate(records)
    ]
    return SheetResult(model.sheet_name, source or model.sheet_name, rows_seen=len(rows), valid_rows=rows)


def file_result(*sheets: SheetResult, tag: str = "a", submitter: str | None = "天河区") -> FileResult:
    return FileResult(
        path=f"/share/天河区/{tag}.xlsx",
        file_hash=hashlib.sha256(tag.encode()).hexdigest(),
        submitter=submitter,
        stamp=None,
        sheets=list(sheets),
    )


@pytest.fixture
def register(register_url: str) -> Register:
    opened = open_register(register_url)
    yield opened
    opened.close()


def dump_register(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, read with the plain driver so the check trusts nothing of ours."""
    return dump_tables(url)


def version_count(register: Register) -> int:
    with register.engine.connect() as conn:
        return conn.exec_driver_sql("SELECT count(*) FROM record_versions").scalar_one()


# ---------------------------------------------------------------------------------------------


def test_first_merge_inserts_version_1_with_provenance(register: Register) -> None:
    result = file_result(sheet([enterprise(USCC_A), enterprise(USCC_B)], source="企业名录(2)"))

    counts = merge_file(register, result, file_name="a.xlsx", received_at=DAY1)

    assert counts == {"企业名录": MergeCounts(inserted=2, updated=0, unchanged=0)}
    records = register.current("企业名录")
    assert [r.key for r in records] == [(USCC_A,), (USCC_B,)]
    first = records[0]
    assert first.version == 1
    assert first.data == enterprise(USCC_A).model_dump(mode="json")
    assert (first.submitter, first.file_name, first.source_sheet, first.source_row) == (
        "天河区",
        "a.xlsx",
        "企业名录(2)",
        2,
    )
    assert first.file_hash == result.file_hash
    assert first.recorded_at == DAY1


def test_same_file_twice_changes_nothing(register: Register, register_url: str) -> None:
    result = file_result(sheet([enterprise(USCC_A), enterprise(USCC_B)]))
    merge_file(register, result, file_name="a.xlsx", received_at=DAY1)
    before = dump_register(register_url)

    counts = merge_file(register, result, file_name="a.xlsx", received_at=DAY2)

    assert counts == {"企业名录": MergeCounts(inserted=0, updated=0, unchanged=2)}
    assert dump_register(register_url) == before
    assert len(register.submissions()) == 1


def test_same_content_in_a_new_file_is_unchanged_and_keeps_provenance(register: Register) -> None:
    merge_file(
        register, file_result(sheet([enterprise(USCC_A)]), tag="a"), file_name="a.xlsx", received_at=DAY1
    )

    counts = merge_file(
        register, file_result(sheet([enterprise(USCC_A)]), tag="b"), file_name="b.xlsx", received_at=DAY2
    )

    assert counts["企业名录"] == MergeCounts(inserted=0, updated=0, unchanged=1)
    assert version_count(register) == 1
    (record,) = register.current("企业名录")
    assert (record.file_name, record.recorded_at) == ("a.xlsx", DAY1)
    assert len(register.submissions()) == 2


def test_change_writes_version_2_and_keeps_version_1_in_history(register: Register) -> None:
    first = file_result(sheet([enterprise(USCC_A)]), tag="a")
    merge_file(register, first, file_name="a.xlsx", received_at=DAY1)
    second = file_result(sheet([enterprise(USCC_A, phone="13800138000")]), tag="b")

    counts = merge_file(register, second, file_name="b.xlsx", received_at=DAY2)

    assert counts["企业名录"] == MergeCounts(inserted=0, updated=1, unchanged=0)
    (current,) = register.current("企业名录")
    assert (current.version, current.data["phone"], current.file_name) == (2, "13800138000", "b.xlsx")
    old, new = register.history("企业名录", (USCC_A,))
    assert (old.version, old.data["phone"], old.file_name, old.file_hash, old.recorded_at) == (
        1,
        "020-83123839",
        "a.xlsx",
        first.file_hash,
        DAY1,
    )
    assert new == current
    with register.engine.connect() as conn:
        flags = conn.exec_driver_sql(
            "SELECT version, is_current, superseded_at FROM record_versions ORDER BY version"
        ).all()
    assert [(v, bool(c)) for v, c, _ in flags] == [(1, False), (2, True)]
    assert flags[0][2] is not None and flags[1][2] is None


def test_records_missing_from_a_later_file_stay_current(register: Register) -> None:
    merge_file(
        register,
        file_result(sheet([enterprise(USCC_A), enterprise(USCC_B), enterprise(USCC_C)]), tag="a"),
        file_name="a.xlsx",
        received_at=DAY1,
    )

    merge_file(
        register, file_result(sheet([enterprise(USCC_B)]), tag="b"), file_name="b.xlsx", received_at=DAY2
    )

    assert register.current_keys("企业名录") == {(USCC_A,), (USCC_B,), (USCC_C,)}
    assert [r.version for r in register.current("企业名录")] == [1, 1, 1]


def test_a_missing_column_keeps_the_registers_value(register: Register) -> None:
    merge_file(
        register, file_result(sheet([enterprise(USCC_A)]), tag="a"), file_name="a.xlsx", received_at=DAY1
    )
    without_phone = enterprise(USCC_A, phone=None, contact="王工")
    present = all_fields(without_phone) - {"phone"}

    counts = merge_file(
        register,
        file_result(sheet([without_phone], present=present), tag="b"),
        file_name="b.xlsx",
        received_at=DAY2,
    )

    assert counts["企业名录"].updated == 1
    (record,) = register.current("企业名录")
    assert record.data["phone"] == "020-83123839"
    assert record.data["contact"] == "王工"


def test_a_missing_column_alone_is_no_change(register: Register) -> None:
    merge_file(
        register, file_result(sheet([enterprise(USCC_A)]), tag="a"), file_name="a.xlsx", received_at=DAY1
    )
    present = all_fields(enterprise(USCC_A)) - {"phone"}

    counts = merge_file(
        register,
        file_result(sheet([enterprise(USCC_A, phone=None)], present=present), tag="b"),
        file_name="b.xlsx",
        received_at=DAY2,
    )

    assert counts["企业名录"] == MergeCounts(inserted=0, updated=0, unchanged=1)
    assert version_count(register) == 1


def test_a_present_but_blank_cell_does_clear_the_value(register: Register) -> None:
    merge_file(
        register, file_result(sheet([enterprise(USCC_A)]), tag="a"), file_name="a.xlsx", received_at=DAY1
    )

    merge_file(
        register,
        file_result(sheet([enterprise(USCC_A, phone=None)]), tag="b"),
        file_name="b.xlsx",
        received_at=DAY2,
    )

    (record,) = register.current("企业名录")
    assert (record.version, record.data["phone"]) == (2, None)


def test_decimals_and_dates_round_trip_exactly(register: Register, register_url: str) -> None:
    original = project("GZ-2014-001", investment="0.1", co2_cut_t="123456789.123456789")
    merge_file(register, file_result(sheet([original])), file_name="a.xlsx", received_at=DAY1)
    register.close()

    reopened = open_register(register_url)
    (record,) = reopened.current("技改项目")
    rebuilt = Project.model_validate(record.data)
    reopened.close()

    assert rebuilt == original
    assert rebuilt.investment == Decimal("0.1")
    assert rebuilt.co2_cut_t == Decimal("123456789.123456789")
    assert rebuilt.subsidy_approved == Decimal("0.10")
    assert str(rebuilt.energy_saved_tce) == "12.000"
    assert rebuilt.started_on == date(2014, 5, 31)
    assert rebuilt.finished_on == date(2015, 1, 9)


def test_an_equal_decimal_spelt_differently_is_not_a_change(register: Register) -> None:
    merge_file(register, file_result(sheet([project("P1")]), tag="a"), file_name="a.xlsx", received_at=DAY1)

    counts = merge_file(
        register,
        file_result(sheet([project("P1", investment=1234.5, subsidy_approved="0.1")]), tag="b"),
        file_name="b.xlsx",
        received_at=DAY2,
    )

    assert counts["技改项目"] == MergeCounts(inserted=0, updated=0, unchanged=1)
    (record,) = register.current("技改项目")
    assert (record.data["investment"], record.data["subsidy_approved"]) == ("1234.50", "0.10")


def test_a_failure_mid_merge_leaves_the_register_exactly_as_before(
    register: Register, register_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    merge_file(
        register,
        file_result(sheet([enterprise(USCC_A), enterprise(USCC_B)]), tag="a"),
        file_name="a.xlsx",
        received_at=DAY1,
    )
    before = dump_register(register_url)
    real_insert = Register.insert_versions
    calls: list[int] = []

    def insert_then_fail(self: Register, conn: Any, rows: Any) -> None:
        real_insert(self, conn, rows)  # the first sheet's versions really are written…
        calls.append(len(rows))
        if len(calls) == 2:
            raise RuntimeError("disk on fire")  # …and the second sheet's too, then we fail

    monkeypatch.setattr(Register, "insert_versions", insert_then_fail)
    second = file_result(
        sheet([enterprise(USCC_A, phone="13800138000"), enterprise(USCC_C)]),
        sheet([audit(USCC_A, 1), audit(USCC_B, 1)]),
        tag="b",
    )

    with pytest.raises(RuntimeError, match="disk on fire"):
        merge_file(register, second, file_name="b.xlsx", received_at=DAY2)

    assert calls == [2, 2]
    assert dump_register(register_url) == before
    monkeypatch.undo()
    # and the same file merges cleanly once the fault is gone
    counts = merge_file(register, second, file_name="b.xlsx", received_at=DAY2)
    assert counts == {
        "企业名录": MergeCounts(inserted=1, updated=1, unchanged=0),
        "审核进度": MergeCounts(inserted=2, updated=0, unchanged=0),
    }


def test_reopened_register_gives_the_same_current(register_url: str) -> None:
    first = open_register(register_url)
    merge_file(
        first,
        file_result(
            sheet([enterprise(USCC_A), enterprise(USCC_B)]), sheet([audit(USCC_A, 1), audit(USCC_A, 2)])
        ),
        file_name="a.xlsx",
        received_at=DAY1,
    )
    merge_file(
        first,
        file_result(sheet([enterprise(USCC_B, name="深圳某某公司")]), tag="b"),
        file_name="b.xlsx",
        received_at=DAY2,
    )
    expected = {name: first.current(name) for name in ("企业名录", "审核进度")}
    first.close()

    second = open_register(register_url)
    assert {name: second.current(name) for name in ("企业名录", "审核进度")} == expected
    assert second.current_keys("审核进度") == {(USCC_A, 1), (USCC_A, 2)}
    second.close()


def test_a_key_repeated_within_one_file_takes_the_later_row(register: Register) -> None:
    result = file_result(sheet([enterprise(USCC_A, name="先"), enterprise(USCC_A, name="后")]))

    counts = merge_file(register, result, file_name="a.xlsx", received_at=DAY1)

    assert counts["企业名录"] == MergeCounts(inserted=1, updated=0, unchanged=0)
    (record,) = register.current("企业名录")
    assert (record.data["name"], record.source_row, record.version) == ("后", 3, 1)


def test_sheets_are_counted_even_without_valid_rows(register: Register) -> None:
    empty = SheetResult("审核进度", "审核进度", rows_seen=3, rejected_rows={2, 3, 4})
    result = file_result(sheet([enterprise(USCC_A)]), empty)

    counts = merge_file(register, result, file_name="a.xlsx", received_at=DAY1)

    assert counts["审核进度"] == MergeCounts(0, 0, 0)
    (submission,) = register.submissions()
    assert (submission["rows_accepted"], submission["rows_rejected"]) == (1, 3)


def test_a_rejected_file_is_registered_with_its_problems(register: Register) -> None:
    problem = Problem.make("unknown-submitter", file="x.xlsx", submitter="某区")
    result = FileResult("/share/x.xlsx", "0" * 64, None, None, problems=[problem])

    assert merge_file(register, result, file_name="x.xlsx", received_at=DAY1) == {}

    (submission,) = register.submissions()
    assert submission["problems"] == [problem]
    assert submission["submitter"] == ""


def test_valid_rows_without_a_submitter_are_refused(register: Register) -> None:
    result = file_result(sheet([enterprise(USCC_A)]), submitter=None)

    with pytest.raises(ValueError, match="no submitter"):
        merge_file(register, result, file_name="a.xlsx", received_at=DAY1)

    assert register.submissions() == []


def test_overlay_only_touches_present_fields() -> None:
    old = {"a": 1, "b": "x", "gone": "kept"}
    new = {"a": 2, "b": None, "c": "new"}

    assert overlay(old, new, {"a", "c", "not-a-field"}) == {"a": 2, "b": "x", "gone": "kept", "c": "new"}


def test_a_large_merge_batches_lookups(register: Register, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lookups go through chunked IN and the whole-sheet scan alike, with the same outcome."""
    monkeypatch.setattr(store, "LOOKUP_CHUNK", 7)
    records = [project(f"P{i:04d}", investment=str(i)) for i in range(60)]
    merge_file(register, file_result(sheet(records), tag="a"), file_name="a.xlsx", received_at=DAY1)
    changed = [project(f"P{i:04d}", investment=str(i + (i % 3 == 0))) for i in range(60)]

    monkeypatch.setattr(store, "SCAN_THRESHOLD", 10)
    counts = merge_file(register, file_result(sheet(changed), tag="b"), file_name="b.xlsx", received_at=DAY2)

    assert counts["技改项目"] == MergeCounts(inserted=0, updated=20, unchanged=40)
    assert version_count(register) == 80


# A property: whatever sequence of files arrives, the register equals the fold of overlays. -------

_PHONES = st.sampled_from(["020-83123839", "13800138000", None])
_NAMES = st.sampled_from(["甲公司", "乙公司"])
_USCCS = st.sampled_from([USCC_A, USCC_B, USCC_C])
_ROW = st.tuples(_USCCS, _NAMES, _PHONES, st.booleans())
_FILES = st.lists(st.lists(_ROW, min_size=1, max_size=4), min_size=1, max_size=5)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=_FILES)
def test_register_is_the_fold_of_all_files(register_url: str, files: Any) -> None:
    empty_tables(register_url)  # each example starts from an empty register
    register = open_register(register_url)
    expected: dict[str, dict[str, Any]] = {}
    versions: dict[str, int] = {}
    for number, rows in enumerate(files):
        before = dict(expected)
        valid = []
        for index, (uscc, name, phone, has_phone) in enumerate(rows):
            record = enterprise(uscc, name=name, phone=phone)
            present = all_fields(record) - (set() if has_phone else {"phone"})
            valid.append(ValidRow(record, index + 2, present))
            data = record.model_dump(mode="json")
            expected[uscc] = overlay(expected[uscc], data, present) if uscc in expected else data
        for uscc in {row[0] for row in rows}:
            versions[uscc] = versions.get(uscc, 0) + (expected[uscc] != before.get(uscc))
        result = file_result(
            SheetResult("企业名录", "企业名录", rows_seen=len(valid), valid_rows=valid), tag=f"f{number}"
        )
        merge_file(register, result, file_name=f"f{number}.xlsx", received_at=DAY3)
        assert {r.key: r.data for r in register.current("企业名录")} == {(k,): v for k, v in expected.items()}

    for record in register.current("企业名录"):
        history = register.history("企业名录", record.key)
        assert [h.version for h in history] == list(range(1, versions[record.key[0]] + 1))
        assert history[-1] == record
    register.close()
