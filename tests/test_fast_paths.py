"""The shortcuts of issue #7 against the straightforward code they replace.

Speed itself lives in benchmarks/; these tests only pin that each shortcut gives exactly what the
reference path gives: validation a column at a time (cached cell parses, records built without a
pydantic validation per row) against ``model_validate`` row by row; the one-line ``clean_text``
against the general one; the merge's key text against ``encode_key``; compact pickling of sheet
results; the evaluation's typed records; SQLite inserts through the driver against SQLAlchemy's;
files skipped as already registered; validation in worker processes; and rows encoded for the
register in the worker against rows encoded by the merge.
"""

from __future__ import annotations

import dataclasses
import pickle
import re
import sqlite3
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert

from sheetsync.consolidate import consolidate
from sheetsync.demo import build_demo_drive
from sheetsync.drive import Drive
from sheetsync.merge import key_text
from sheetsync.normalize import _EXCEL_ERRORS, _SPACES, CellProblem, clean_text, is_blank
from sheetsync.profile import load_profile
from sheetsync.programme import _typed
from sheetsync.read import RawSheet, RawWorkbook
from sheetsync.records import FileResult, StoredRecord
from sheetsync.schemas import SHEETS, Audit, Enterprise, Expert, Project, Target, Training
from sheetsync.store import encode_key, open_register, versions_table
from sheetsync.validate import SheetChecker, validate_file, validate_workbook
from sheetsync.validate_parallel import MIN_BYTES_FOR_POOL, planned_workers, validate_in_order

PROFILE = load_profile("guangzhou-2013")


def reference_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation as it was: every row through ``model_validate``."""
    monkeypatch.setattr(SheetChecker, "_check_rows_by_column", lambda self, rows, columns: False)


def same_results(fast: FileResult, slow: FileResult) -> None:
    assert [p.model_dump() for p in fast.problems] == [p.model_dump() for p in slow.problems]
    assert len(fast.sheets) == len(slow.sheets)
    for a, b in zip(fast.sheets, slow.sheets, strict=True):
        assert (a.sheet_name, a.source_sheet, a.rows_seen, a.columns, a.rejected_rows) == (
            b.sheet_name,
            b.source_sheet,
            b.rows_seen,
            b.columns,
            b.rejected_rows,
        )
        assert len(a.valid_rows) == len(b.valid_rows)
        for x, y in zip(a.valid_rows, b.valid_rows, strict=True):
            assert (x.row, x.present_fields, type(x.record)) == (y.row, y.present_fields, type(y.record))
            assert x.record == y.record
            assert x.record.__dict__ == y.record.__dict__
            assert list(x.record.__dict__) == list(y.record.__dict__)
            assert x.record.__pydantic_fields_set__ == y.record.__pydantic_fields_set__
            assert x.record.model_dump(mode="json") == y.record.model_dump(mode="json")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return build_demo_drive(tmp_path_factory.mktemp("demo"))


def test_column_path_equals_model_validate_on_the_demo_drive(
    demo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    drive = Drive(demo.root)
    files = drive.submissions()
    fast = [validate_file(path, expected_submitter=folder, profile=PROFILE) for folder, path in files]
    reference_only(monkeypatch)
    slow = [validate_file(path, expected_submitter=folder, profile=PROFILE) for folder, path in files]
    assert sum(len(r.problems) for r in slow) > 50  # the demo plants mistakes of every kind
    for a, b in zip(fast, slow, strict=True):
        same_results(a, b)


# cells as a submitter (or python-calamine) hands them over, tricky ones included
CELLS = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "",
            "  ",
            "\u3000",
            "#N/A",
            " #REF! ",
            "C",
            "C 制造业",
            "ｃ",
            "制造业",
            "餐饮",
            "自愿",
            "强制",
            "重点行业",
            "2014-05-31",
            "2014年5月31日",
            "20140531",
            "2014/13/01",
            "41790",
            "１２３",
            "1,234.5",
            "-3",
            "abc",
            "91440101MA5CJQ4N59",
            "91440101MA5CJQ4N5X",
            "9144",
            "020-83123839",
            "x" * 600,
            "a  b",
            "a\nb",
            "C、D",
            "工艺、节能",
            "全面审核",
            "通过",
            "节能",
            "覆盖企业数",
            "全市",
        ]
    ),
    st.text(max_size=12),
    st.integers(min_value=-5, max_value=3_000_000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1.0, 41790.0, 41790.5, True, False]),
    st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 1, 1)),
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)),
    st.just(time(8, 30)),
    st.just(timedelta(days=2)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    model=st.sampled_from([Enterprise, Audit, Project, Training, Expert, Target]),
    cells=st.lists(st.lists(CELLS, min_size=0, max_size=22), min_size=1, max_size=12),
    repeat=st.booleans(),
)
def test_column_path_equals_model_validate_on_random_rows(
    model: Any, cells: list[list[Any]], repeat: bool
) -> None:
    headers = [column.header for column in model.columns().values()]
    rows = [*cells, *cells] if repeat else cells  # repeated keys and repeated (cached) cells
    book = RawWorkbook(Path("random.xlsx"), (RawSheet(model.sheet_name, [headers, *rows], 0, 0),))
    fast = validate_workbook(book, display_name="random.xlsx", digest="x")
    original = SheetChecker._check_rows_by_column
    SheetChecker._check_rows_by_column = lambda self, rows, columns: False  # type: ignore[method-assign]
    try:
        slow = validate_workbook(book, display_name="random.xlsx", digest="x")
    finally:
        SheetChecker._check_rows_by_column = original  # type: ignore[method-assign]
    same_results(fast, slow)


def clean_text_reference(raw: Any) -> str | None:
    """clean_text before its one-line shortcut, for strings."""
    if is_blank(raw):
        return None
    text = str(raw)
    if text.strip() in _EXCEL_ERRORS:
        raise CellProblem("excel-error", value=text.strip())
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    text = "\n".join(line for line in lines if line)
    return text or None


def outcome(function: Any, raw: Any) -> Any:
    try:
        return function(raw)
    except CellProblem as problem:
        return (problem.code, problem.context)


@given(
    st.text(alphabet=st.sampled_from(" \t\n\r\u3000\u00a0\u200bab中#N/A!"), max_size=14)
    | st.text(max_size=14)
)
def test_clean_text_shortcut_equals_the_general_path(raw: str) -> None:
    assert outcome(clean_text, raw) == outcome(clean_text_reference, raw)


@given(
    st.lists(
        st.one_of(
            st.text(max_size=8), st.integers(), st.booleans(), st.dates(), st.decimals(allow_nan=False)
        ),
        min_size=1,
        max_size=3,
    )
)
def test_key_text_equals_encode_key(parts: list[Any]) -> None:
    key = tuple(parts)
    assert key_text(key) == encode_key(key)


@pytest.fixture(scope="module")
def demo_results(demo: Any) -> list[FileResult]:
    """Every demo file validated here, as a worker would before pickling its result."""
    drive = Drive(demo.root)
    return [
        validate_file(path, expected_submitter=folder, profile=PROFILE)
        for folder, path in drive.submissions()
    ]


def test_sheet_results_pickle_compactly_and_come_back_equal(demo_results: list[FileResult]) -> None:
    results = demo_results
    back = pickle.loads(pickle.dumps(results))
    for a, b in zip(back, results, strict=True):
        same_results(a, b)
        assert (a.path, a.file_hash, a.submitter, a.stamp) == (b.path, b.file_hash, b.submitter, b.stamp)


def test_unpickled_rows_answer_field_reads_without_building_their_records(
    demo_results: list[FileResult],
) -> None:
    """What the merging process reads of a row (fields, key) equals its record's, record unbuilt."""
    results = demo_results
    back = pickle.loads(pickle.dumps(results))
    checked = 0
    for a, b in zip(back, results, strict=True):
        for sheet_a, sheet_b in zip(a.sheets, b.sheets, strict=True):
            for x, y in zip(sheet_a.valid_rows, sheet_b.valid_rows, strict=True):
                names = tuple(type(y.record).model_fields)
                assert x.model is type(y.record)
                assert [x.value(name) for name in names] == [getattr(y.record, name) for name in names]
                assert x.pick(*reversed(names)) == tuple(getattr(y.record, name) for name in reversed(names))
                assert x.key() == y.record.key()
                assert x._record is None  # none of the above built it
                assert x.record == y.record and x._record is not None
                assert x.value(names[0]) == getattr(y.record, names[0]) and x.key() == y.record.key()
                assert x == y and pickle.loads(pickle.dumps(x)) == y
                checked += 1
    assert checked > 100


def test_a_profile_looks_its_submitters_up_once_and_a_copy_afresh() -> None:
    profile = load_profile("guangzhou-2013")
    assert profile.submitters is profile.submitters
    for submitter in profile.submitters:
        assert profile.submitter(submitter.name) is submitter
    assert profile.submitter("不存在的单位") is None
    renamed = profile.model_copy(update={"office": "市工信局"})
    assert renamed.submitter("市工信局") is not None and profile.submitter("市工信局") is None
    assert pickle.loads(pickle.dumps(profile)) == profile


def test_typed_records_equal_model_validate_and_a_stale_row_is_still_skipped(demo: Any) -> None:
    drive = Drive(demo.root)
    stored: dict[str, list[StoredRecord]] = {model.sheet_name: [] for model in SHEETS}
    for folder, path in drive.submissions():
        for sheet in validate_file(path, expected_submitter=folder, profile=PROFILE).sheets:
            for row in sheet.valid_rows:
                stored[sheet.sheet_name].append(
                    StoredRecord(
                        sheet.sheet_name,
                        row.record.key(),
                        row.record.model_dump(mode="json"),
                        1,
                        folder,
                        path.name,
                        sheet.source_sheet,
                        row.row,
                        "h",
                        datetime(2014, 11, 30),
                    )
                )
    stale = stored[Enterprise.sheet_name][0]
    stored[Enterprise.sheet_name].append(
        dataclasses.replace(stale, key=("X",), data={**stale.data, "category": "已取消的类别"})
    )
    stored[Enterprise.sheet_name].append(
        dataclasses.replace(stale, key=("Y",), data={**stale.data, "dropped_column": "x"})
    )
    for model in SHEETS:
        skipped: list[Any] = []
        typed = _typed(model, stored[model.sheet_name], skipped)
        expected = []
        for record in stored[model.sheet_name]:
            data = {k: v for k, v in record.data.items() if v is not None}
            try:
                expected.append(model.model_validate(data))
            except Exception:  # noqa: BLE001 - the reference path skips it
                continue
        assert [owned.record for owned in typed] == expected
        assert [owned.record.__pydantic_fields_set__ for owned in typed] == [
            e.__pydantic_fields_set__ for e in expected
        ]
        if model is Enterprise:
            assert [s.key for s in skipped] == [("X",), ("Y",)]
        else:
            assert skipped == []


def test_sqlite_inserts_store_what_sqlalchemy_stores(tmp_path: Path) -> None:
    rows = [
        {
            "sheet_name": "企业名录",
            "record_key": f'["{index}"]',
            "version": 1,
            "data_json": "{}",
            "content_hash": "0" * 64,
            "is_current": index % 2 == 0,
            "submitter": "越秀区",
            "submission_id": 1,
            "file_name": "a.xlsx",
            "source_sheet": "企业名录",
            "source_row": index,
            "file_hash": "f" * 64,
            "recorded_at": datetime(2014, 11, 30, 2, 30, 15, 123),
            "superseded_at": None if index % 3 else datetime(2014, 12, 1),
        }
        for index in range(7)
    ]
    dumps = []
    for name, fast in (("fast", True), ("core", False)):
        register = open_register(f"sqlite:///{tmp_path / name}.sqlite")
        with register.transaction() as conn:
            conn.exec_driver_sql(
                "INSERT INTO submissions (id, submitter, file_name, file_path, file_hash, status,"
                " rows_accepted, rows_rejected, problems_json, received_at)"
                " VALUES (1, '越秀区', 'a', 'a', 'f', 'accepted', 0, 0, '[]', '2014-11-30 00:00:00.000000')"
            )
            if fast:
                register.insert_versions(conn, rows)
            else:
                conn.execute(insert(versions_table), rows)
        register.close()
        with sqlite3.connect(tmp_path / f"{name}.sqlite") as raw:
            dumps.append(raw.execute("SELECT * FROM record_versions ORDER BY id").fetchall())
    assert dumps[0] == dumps[1] and len(dumps[0]) == 7


def test_a_file_already_registered_is_reported_from_the_register_not_validated_again(
    demo: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sheetsync.consolidate as consolidation

    url = f"sqlite:///{tmp_path / 'register.sqlite'}"
    drive = Drive(demo.root)
    as_of = demo.as_of
    first = consolidate(drive, PROFILE, as_of=as_of, register_url=url, master_path=tmp_path / "m1.xlsx")
    validated: list[Path] = []
    real = consolidation.validate_file

    def counting(path: Path, **kwargs: Any) -> FileResult:
        validated.append(path)
        return real(path, **kwargs)

    monkeypatch.setattr(consolidation, "validate_file", counting)
    monkeypatch.setenv("SHEETSYNC_WORKERS", "1")  # the counter lives in this process
    second = consolidate(drive, PROFILE, as_of=as_of, register_url=url, master_path=tmp_path / "m2.xlsx")
    registered = [o for o in first.files if o.result.status.value != "unreadable" and o.result.file_hash]
    assert registered, "the demo drive has files to register"
    again = {o.result.path: o for o in second.files}
    for outcome_ in registered:
        later = again[outcome_.result.path]
        assert later.already_registered and later.result.registered is not None
        assert later.summary() == outcome_.summary().__class__(
            **{**outcome_.summary().__dict__, "skipped_unchanged": True}
        )
        assert [p.model_dump() for p in later.result.problems] == [
            p.model_dump() for p in outcome_.result.problems
        ]
    skipped = {Path(o.source) for o in second.files if o.result.registered is not None}
    assert skipped and not skipped & set(validated)


def test_validation_in_worker_processes_equals_validation_here(demo: Any) -> None:
    from functools import partial

    drive = Drive(demo.root)
    files = drive.submissions()[:6]
    assert len(files) >= 4
    validate = partial(_validate, PROFILE)
    here = validate_in_order(validate, files, workers=1)
    seen: list[Path] = []
    pooled = validate_in_order(validate, files, workers=2, progress=seen.append)
    assert seen == [path for _, path in files]
    for a, b in zip(pooled, here, strict=True):
        same_results(a, b)


def test_workers_are_planned_by_files_and_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    monkeypatch.delenv("SHEETSYNC_WORKERS", raising=False)
    small = []
    for index in range(6):
        path = tmp_path / f"{index}.xlsx"
        path.write_bytes(b"x" * 10)
        small.append(("区", path))
    assert planned_workers(small) == 1  # too few bytes to pay for starting workers
    assert planned_workers(small, workers=2) == 2  # unless asked for
    assert planned_workers(small[:3], workers=2) == 1  # too few files, whatever was asked
    small[0][1].write_bytes(b"x" * MIN_BYTES_FOR_POOL)
    assert planned_workers(small) == 2
    monkeypatch.setenv("SHEETSYNC_WORKERS", "1")
    assert planned_workers(small) == 1


def _validate(profile: Any, folder: str, path: Path) -> FileResult:
    return validate_file(path, expected_submitter=folder, profile=profile)


def test_fast_construction_covers_every_contract_sheet() -> None:
    assert all(model.can_build_from_parsed() for model in SHEETS)
    record = Enterprise.from_parsed({"uscc": "91440101MA5CJQ4N59", "name": "某公司"})
    assert record == Enterprise.model_validate({"uscc": "91440101MA5CJQ4N59", "name": "某公司"})
    assert record.__pydantic_fields_set__ == {"uscc", "name"}
    assert re.fullmatch(r"\[.*\]", key_text(("a", 1)))
    assert Decimal("1.5") == Project.column("investment").outcome("1.5")


def test_merging_rows_prepared_in_the_worker_stores_what_merging_them_here_stores(
    demo: Any, tmp_path: Path
) -> None:
    """merge.prepare encodes rows where they are validated; the register must not tell the difference.

    Two nights: the demo's files, then the same files again under new hashes with a text column
    changed on every third row, one column left out on every fifth (the register keeps its value)
    and a key given twice in one sheet (the later row wins); new records, updates, unchanged rows
    and overlays all go through both paths.
    """
    import copy

    from sheetsync.merge import merge_file, prepare
    from sheetsync.records import ValidRow

    drive = Drive(demo.root)
    first = [
        validate_file(path, expected_submitter=folder, profile=PROFILE)
        for folder, path in drive.submissions()
    ]
    second = copy.deepcopy(first)
    for index, result in enumerate(second):
        result.file_hash = f"{index:064x}"
        for sheet in result.sheets:
            rows: list[ValidRow] = []
            for number, row in enumerate(sheet.valid_rows):
                record, present = row.record, row.present_fields
                text_fields = [
                    name
                    for name, column in type(record).columns().items()
                    if column.kind.value == "text" and name not in type(record).key_fields
                ]
                if number % 3 == 0 and text_fields:
                    record = record.model_copy(update={text_fields[0]: f"改{number}"})
                if number % 5 == 0 and text_fields:
                    present = present - {text_fields[-1]}
                rows.append(ValidRow(record, row.row, present))
            sheet.valid_rows = rows
    first = copy.deepcopy(first)
    for result in (*first, *second):
        for sheet in result.sheets:
            rows = sheet.valid_rows
            texts = [n for n, c in sheet_model_columns(rows) if c.kind.value == "text"] if rows else []
            if len(texts) >= 2:  # the same key again: one column changed, one the later row lacks
                again = rows[0].record.model_copy(update={texts[0]: "重复", texts[-1]: "缺列"})
                rows.append(ValidRow(again, rows[0].row + 1000, rows[0].present_fields - {texts[-1]}))
    assert sum(len(sheet.valid_rows) for result in second for sheet in result.sheets) > 100

    stored = []
    for name, prepared in (("here", False), ("worker", True)):
        register = open_register(f"sqlite:///{tmp_path / name}.sqlite")
        for night, results in enumerate((first, second), start=1):
            results = copy.deepcopy(results)
            if prepared:
                for result in results:
                    prepare(result)
                assert all(row.stored for r in results for s in r.sheets for row in s.valid_rows)
            with register.transaction() as conn:
                for result in results:
                    merge_file(
                        register,
                        result,
                        file_name=result.path,
                        received_at=datetime(2014, 12, night),
                        conn=conn,
                    )
        register.close()
        with sqlite3.connect(tmp_path / f"{name}.sqlite") as raw:
            stored.append(raw.execute("SELECT * FROM record_versions ORDER BY id").fetchall())
    here, worker = stored
    assert any("重复" in row[4] for row in here) and not any("缺列" in row[4] for row in here)
    assert here == worker
    assert {row[3] for row in here} >= {1, 2}  # versions: inserts and updates both happened


def sheet_model_columns(rows: list[Any]) -> list[tuple[str, Any]]:
    model = type(rows[0].record)
    return [(name, column) for name, column in model.columns().items() if name not in model.key_fields]


def test_records_sharing_a_fields_set_stay_apart_when_one_is_copied_with_changes() -> None:
    """from_parsed hands records filled alike one fields set; a copy must get a set of its own."""
    parsed = {"uscc": "91440101MA5CJQ4N59", "name": "甲公司"}
    first, second = Enterprise.from_parsed(parsed), Enterprise.from_parsed(dict(parsed, name="乙公司"))
    assert first.__pydantic_fields_set__ is second.__pydantic_fields_set__
    changed = first.model_copy(update={"district": "越秀区"})
    assert changed.model_fields_set == {"uscc", "name", "district"}
    assert first.model_fields_set == second.model_fields_set == {"uscc", "name"}
    with pytest.raises(Exception, match="frozen"):
        first.district = "海珠区"  # type: ignore[misc]
    assert second.model_fields_set == {"uscc", "name"}


def test_assembled_records_share_their_field_names_and_stay_what_pydantic_makes() -> None:
    """Records built from parsed cells keep their fields in a key-sharing dict: smaller, same record."""
    import platform
    import sys

    raw = {"uscc": "91440101MA5CJQ4N59", "name": "某公司", "district": "越秀区"}
    built, validated = Enterprise.from_parsed(raw), Enterprise.model_validate(raw)
    assert built == validated and built.model_dump() == validated.model_dump()
    assert list(built.__dict__) == list(Enterprise.model_fields)
    assert pickle.loads(pickle.dumps(built)) == validated
    assert built.model_copy(update={"name": "乙公司"}).name == "乙公司" and built.name == "某公司"
    if platform.python_implementation() == "CPython":
        assert sys.getsizeof(built.__dict__) < sys.getsizeof(dict(built.__dict__))
    # from_parsed starts from the fields' defaults; a parsed name that is no field is left out
    stray = Enterprise.from_parsed({**raw, "later_column": 1})
    assert stray.__dict__ == validated.__dict__ and list(stray.__dict__) == list(Enterprise.model_fields)
    assert Enterprise.from_parsed({}).__dict__ == Enterprise.model_validate({}).__dict__
