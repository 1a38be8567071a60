"""The register's own guarantees, independent of merge: schema, keys, submissions, atomicity.

Every test that takes ``url`` or ``register`` runs on SQLite and on a real PostgreSQL server.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from sheetsync import records as records_module
from sheetsync import store
from sheetsync.errors import Problem, problems_as_json
from sheetsync.records import FileResult, FileStatus, SheetResult, ValidRow, sorted_sheet
from sheetsync.schemas import Enterprise, Stamp, SubmitterKind
from sheetsync.store import (
    Register,
    RegisterChanged,
    _decoded_problems,
    content_hash,
    decode_key,
    dumps,
    encode_key,
    json_key,
    lock_key,
    open_register,
    resolve_url,
    submissions_table,
    versions_table,
)
from tests.postgres import (  # noqa: F401  (fixtures)
    backend_fixture,
    new_register_url_fixture,
    postgres_url_fixture,
    raw_execute,
    register_url_fixture,
)

USCC_A = "91440101MA5CJQ4N59"
USCC_B = "914403001922038216"
DAY1 = datetime(2026, 11, 2, 2, 0)
DAY2 = datetime(2026, 11, 3, 2, 0)


@pytest.fixture
def url(register_url: str) -> str:
    """A fresh register, once on SQLite and once on PostgreSQL."""
    return register_url


@pytest.fixture
def register(url: str) -> Iterator[Register]:
    opened = open_register(url)
    yield opened
    opened.close()


def file_result(
    tag: str = "a", *, submitter: str | None = "海珠区", problems: list[Problem] | None = None
) -> FileResult:
    record = Enterprise.model_validate(
        {
            "uscc": USCC_A,
            "name": "某公司",
            "district": "海珠区",
            "industry_section": "C",
            "category": "规模以上工业",
            "audit_type": "自愿",
        }
    )
    sheet = SheetResult(
        "企业名录",
        "企业名录",
        rows_seen=2,
        valid_rows=[ValidRow(record, 2, frozenset(Enterprise.model_fields))],
        rejected_rows={3},
    )
    return FileResult(
        path=f"/share/海珠区/{tag}.xlsx",
        file_hash=hashlib.sha256(tag.encode()).hexdigest(),
        submitter=submitter,
        stamp=Stamp(submitter="海珠区", kind=SubmitterKind.DISTRICT, period="2026-11"),
        sheets=[sheet],
        problems=problems or [],
    )


def version_row(
    submission_id: int, key: tuple[Any, ...], version: int, *, current: bool = True
) -> dict[str, Any]:
    data_json = dumps({"uscc": key[0], "n": version})
    return {
        "sheet_name": "企业名录",
        "record_key": encode_key(key),
        "version": version,
        "data_json": data_json,
        "content_hash": content_hash(data_json),
        "is_current": current,
        "submitter": "海珠区",
        "submission_id": submission_id,
        "file_name": "a.xlsx",
        "source_sheet": "企业名录",
        "source_row": version + 1,
        "file_hash": "f" * 64,
        "recorded_at": DAY1,
        "superseded_at": None,
    }


def add_submission(register: Register, result: FileResult, received_at: datetime = DAY1) -> tuple[int, bool]:
    with register.transaction() as conn:
        return register.add_submission(
            conn, result, file_name=Path(result.path).name, received_at=received_at
        )


# schema and connection set-up -----------------------------------------------------------------


def test_open_creates_the_tables_and_indexes(register: Register) -> None:
    inspector = inspect(register.engine)
    assert {"submissions", "record_versions", "runs"} <= set(inspector.get_table_names())
    index_names = {index["name"] for index in inspector.get_indexes("record_versions")}
    assert {"ix_record_versions_current", "uq_record_versions_one_current"} <= index_names
    uniques = {tuple(u["column_names"]) for u in inspector.get_unique_constraints("record_versions")}
    assert ("sheet_name", "record_key", "version") in uniques


def test_opening_twice_keeps_the_data(url: str) -> None:
    first = open_register(url)
    submission_id, _ = add_submission(first, file_result())
    first.close()

    second = open_register(url)
    assert second.find_submission("海珠区", file_result().file_hash) == submission_id
    second.close()


def test_connections_are_set_up_for_the_backend(register: Register, backend: str) -> None:
    assert register.backend == backend
    if backend == "sqlite":
        with register.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
        return
    with register.transaction() as conn:
        assert conn.exec_driver_sql("SHOW transaction_isolation").scalar_one() == "read committed"
        assert conn.exec_driver_sql("SHOW server_encoding").scalar_one() == "UTF8"
        # the writers' lock is taken at the start of every write transaction
        held = conn.execute(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND pid = pg_backend_pid() AND objid = CAST(:low AS oid)"
            ),
            {"low": lock_key("writers") & 0xFFFF_FFFF},
        ).scalar_one()
        assert held == 1


def test_a_sqlite_register_creates_its_folder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'deep' / 'folder' / 'register.sqlite'}"
    open_register(url).close()
    assert (tmp_path / "deep" / "folder" / "register.sqlite").is_file()


def test_a_bare_postgresql_url_uses_psycopg() -> None:
    assert resolve_url("postgresql://office@db.example/register").drivername == "postgresql+psycopg"
    assert resolve_url("postgresql+psycopg://office@/r?host=/run").drivername == "postgresql+psycopg"
    assert str(resolve_url("sqlite:///x/register.sqlite")) == "sqlite:///x/register.sqlite"


def test_lock_keys_are_stable_signed_64_bit_numbers() -> None:
    """Two machines, or two versions of sheetsync, must compute the same key for the same name."""
    key = lock_key("exclusive:consolidation")
    assert key == int.from_bytes(
        hashlib.sha256(b"sheetsync:exclusive:consolidation").digest()[:8], "big", signed=True
    )
    assert -(2**63) <= key < 2**63
    assert lock_key("writers") != key


def test_a_version_needs_an_existing_submission(register: Register) -> None:
    with pytest.raises(IntegrityError), register.transaction() as conn:
        register.insert_versions(conn, [version_row(999, (USCC_A,), 1)])


def test_at_most_one_current_version_per_record(register: Register) -> None:
    submission_id, _ = add_submission(register, file_result())
    with pytest.raises(IntegrityError), register.transaction() as conn:
        register.insert_versions(
            conn, [version_row(submission_id, (USCC_A,), 1), version_row(submission_id, (USCC_A,), 2)]
        )
    with register.transaction() as conn:
        register.insert_versions(
            conn,
            [
                version_row(submission_id, (USCC_A,), 1, current=False),
                version_row(submission_id, (USCC_A,), 2),
            ],
        )
    assert [r.version for r in register.history("企业名录", (USCC_A,))] == [1, 2]


# keys and JSON --------------------------------------------------------------------------------


def test_key_encoding_is_canonical() -> None:
    assert encode_key((USCC_A, 1)) == f'["{USCC_A}",1]'
    assert encode_key([USCC_A, 1]) == encode_key((USCC_A, 1))
    assert encode_key((date(2014, 5, 31), Decimal("1.50"), "天河区")) == '["2014-05-31","1.50","天河区"]'
    assert decode_key(encode_key((USCC_A, 2))) == (USCC_A, 2)
    assert json_key((2014, "全市", date(2014, 1, 1))) == (2014, "全市", "2014-01-01")
    assert encode_key((True, None)) == "[true,null]"


def test_key_encoding_refuses_what_json_cannot_say() -> None:
    with pytest.raises(TypeError):
        encode_key((object(),))


def test_json_text_is_sorted_and_readable() -> None:
    text = dumps({"b": "天河区", "a": [1, "2"]})
    assert text == '{"a":[1,"2"],"b":"天河区"}'
    assert content_hash(text) == hashlib.sha256(text.encode("utf-8")).hexdigest()


# submissions -------------------------------------------------------------------------------------


def test_a_submission_is_registered_once(register: Register) -> None:
    first_id, is_new = add_submission(register, file_result())
    assert is_new

    again_id, again_new = add_submission(register, file_result(), received_at=DAY2)

    assert (again_id, again_new) == (first_id, False)
    (only,) = register.submissions()
    assert only["received_at"] == DAY1
    other_submitter, is_new = add_submission(register, file_result(submitter="越秀区"))
    assert is_new and other_submitter != first_id


def test_submissions_keep_everything_the_master_needs(register: Register) -> None:
    problem = Problem.make("required", file="b.xlsx", sheet="企业名录", cell="B3", row=3, header="企业名称")
    add_submission(register, file_result("a"), DAY1)
    add_submission(register, file_result("b", problems=[problem]), DAY2)

    newest, oldest = register.submissions()

    assert (newest["file_name"], oldest["file_name"]) == ("b.xlsx", "a.xlsx")
    assert newest["problems"] == [problem]
    assert newest["status"] is FileStatus.PARTLY_ACCEPTED
    assert oldest["status"] is FileStatus.ACCEPTED and oldest["problems"] == []
    assert (newest["rows_accepted"], newest["rows_rejected"], newest["period"]) == (1, 1, "2026-11")
    assert newest["file_path"] == "/share/海珠区/b.xlsx"
    assert newest["submitter"] == "海珠区"


def test_submissions_can_bring_back_only_the_problems_of_some_codes(register: Register) -> None:
    required = Problem.make("required", file="b.xlsx", sheet="企业名录", cell="B3", row=3, header="企业名称")
    owner = Problem.make(
        "not-owner", file="b.xlsx", sheet="企业名录", cell="A4", row=4, header="统一社会信用代码"
    )
    add_submission(register, file_result("b", problems=[required, owner]), DAY1)

    (everything,) = register.submissions()
    (conflicts,) = register.submissions(problem_codes={"not-owner"})

    assert everything["problems"] == [required, owner]
    assert conflicts["problems"] == [owner]
    assert {k: v for k, v in conflicts.items() if k != "problems"} == {
        k: v for k, v in everything.items() if k != "problems"
    }


def test_a_code_named_only_in_a_value_brings_back_no_problem(register: Register) -> None:
    # the quick look for the code's quoted name finds it in a cell's text: decoded, and still left out
    required = Problem.make(
        "required", file="b.xlsx", sheet="企业名录", cell="B3", row=3, header="企业名称", value="not-owner"
    )
    add_submission(register, file_result("b", problems=[required]), DAY1)

    (conflicts,) = register.submissions(problem_codes={"not-owner"})
    (everything,) = register.submissions()

    assert conflicts["problems"] == [] and everything["problems"] == [required]


def test_problems_decode_from_any_json_the_register_holds() -> None:
    problem = Problem.make(
        "required", file="甲.xlsx", sheet="企业名录", cell="B3", row=3, header="企业名称", value='\u00e9 \\ "'
    )
    stored = dumps(problems_as_json([problem]))
    spaced = json.dumps([problem.model_dump(mode="json")], indent=1)  # another writer's spacing
    with_extra = json.dumps([{**problem.model_dump(mode="json"), "later_field": 1}])

    assert (
        _decoded_problems(stored) == _decoded_problems(spaced) == _decoded_problems(with_extra) == [problem]
    )
    assert _decoded_problems(stored, {"required"}) == [problem]
    assert _decoded_problems(stored, {"not-owner"}) == []
    assert problems_as_json([problem]) == [problem.model_dump(mode="json")]
    with pytest.raises(ValidationError):
        _decoded_problems(json.dumps([{"code": "required"}]))  # pydantic says what is missing


def test_problems_are_stored_as_readable_json(register: Register) -> None:
    problem = Problem.make("required", file="a.xlsx", sheet="企业名录", cell="B3", row=3, header="企业名称")
    add_submission(register, file_result(problems=[problem]))
    with register.engine.connect() as conn:
        text = conn.execute(select(submissions_table.c.problems_json)).scalar_one()
    assert "企业名称" in text
    assert json.loads(text) == [problem.model_dump(mode="json")]


# transactions and reads --------------------------------------------------------------------------


def test_a_transaction_rolls_back_everything(register: Register) -> None:
    with pytest.raises(RuntimeError), register.transaction() as conn:
        submission_id, _ = register.add_submission(conn, file_result(), file_name="a.xlsx", received_at=DAY1)
        register.insert_versions(conn, [version_row(submission_id, (USCC_A,), 1)])
        assert register.current_keys("企业名录", conn=conn) == {(USCC_A,)}
        raise RuntimeError("stop")

    assert register.submissions() == []
    assert register.current("企业名录") == []


def test_current_is_ordered_by_key_and_history_by_version(register: Register) -> None:
    submission_id, _ = add_submission(register, file_result())
    with register.transaction() as conn:
        register.insert_versions(
            conn,
            [
                version_row(submission_id, (USCC_B,), 1),
                version_row(submission_id, (USCC_A,), 2),
                version_row(submission_id, (USCC_A,), 1, current=False),
            ],
        )

    assert [(r.key, r.version) for r in register.current("企业名录")] == [((USCC_A,), 2), ((USCC_B,), 1)]
    assert [r.version for r in register.history("企业名录", (USCC_A,))] == [1, 2]
    assert register.history("企业名录", ("no such key",)) == []
    assert register.sheet_names() == ["企业名录"]


def test_equal_texts_of_a_field_are_kept_once_until_the_field_proves_unique(
    register: Register, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sharing equal values saves memory and must never change one: every record reads back as stored."""
    monkeypatch.setattr(store, "SHARED_TEXTS_PER_FIELD", 3)
    submission_id, _ = add_submission(register, file_result())
    stored = [
        {"uscc": f"code-{index}", "district": ["海珠区", "越秀区"][index % 2], "n": index, "note": None}
        for index in range(12)
    ]
    rows = []
    for data in stored:
        row = version_row(submission_id, (data["uscc"],), 1)
        row["data_json"] = dumps(data)
        row["content_hash"] = content_hash(row["data_json"])
        rows.append(row)
    with register.transaction() as conn:
        register.insert_versions(conn, rows)

    records = register.current("企业名录")

    assert [record.data for record in records] == sorted(stored, key=lambda data: data["uscc"])
    districts = {id(record.data["district"]) for record in records}
    assert len(districts) == 2  # two texts, each kept once
    codes = [record.data["uscc"] for record in records]
    # more distinct codes than the limit: the field is left alone past it, values intact
    assert len({id(code) for code in codes}) == len(codes)


def test_current_records_read_the_register_at_each_look_up_and_stream_it(register: Register) -> None:
    submission_id, _ = add_submission(register, file_result())
    with register.transaction() as conn:
        register.insert_versions(
            conn, [version_row(submission_id, (f"code-{n:04d}",), 1) for n in range(2500)]
        )
    source = register.current_records(["企业名录", "审核进度"])
    before = source["企业名录"]

    assert list(source) == ["企业名录", "审核进度"] and len(source) == 2
    assert (source.count("企业名录"), source.count("审核进度"), source.count("专家库")) == (2500, 0, 0)
    assert list(source.each("企业名录")) == before == register.current("企业名录")
    assert list(source.each("专家库")) == [] and source["审核进度"] == []
    with pytest.raises(KeyError):
        source["专家库"]
    with register.transaction() as conn:
        register.insert_versions(conn, [version_row(submission_id, ("code-9999",), 1)])
    assert len(source["企业名录"]) == 2501  # nothing held: read again


def test_a_sorted_sheet_streams_the_records_in_our_order_with_their_register_positions(
    register: Register, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The register orders by key text, the master by key: they differ ("ab!" sorts before
    "ab" as JSON text), and each record must still come with its position in the register."""
    monkeypatch.setattr(records_module, "SORTED_FETCH", 3)  # several fetches
    submission_id, _ = add_submission(register, file_result())
    codes = ["ab", "ab!", "b", "a b", "Ab", "ab\\", "z", "ab0"]
    with register.transaction() as conn:
        register.insert_versions(conn, [version_row(submission_id, (code,), 1) for code in codes])
    source = register.current_records(["企业名录"])
    held = {"企业名录": source["企业名录"]}

    streamed = source.sorted_sheet("企业名录", lambda key: key)
    reference = sorted_sheet(held, "企业名录", lambda key: key)

    assert [record.key for _, record in streamed] == [(code,) for code in sorted(codes)]
    assert list(streamed) == list(reference)
    assert streamed.identities == reference.identities == [(r.key, r.submitter) for r in held["企业名录"]]
    assert [record.key[0] for _, record in streamed] != [record.key[0] for record in held["企业名录"]]


def test_current_records_refuse_to_read_a_register_changed_since_their_fingerprint(
    register: Register,
) -> None:
    submission_id, _ = add_submission(register, file_result())
    fingerprint = register.fingerprint()
    source = register.current_records(["企业名录"], expect=fingerprint)
    assert source.count("企业名录") == 0
    with register.transaction() as conn:
        register.insert_versions(conn, [version_row(submission_id, (USCC_A,), 1)])

    assert register.fingerprint() != fingerprint
    with pytest.raises(RegisterChanged):
        source["企业名录"]
    with pytest.raises(RegisterChanged):
        list(source.each("企业名录"))


def test_supersede_keeps_the_old_version(register: Register) -> None:
    submission_id, _ = add_submission(register, file_result())
    with register.transaction() as conn:
        register.insert_versions(conn, [version_row(submission_id, (USCC_A,), 1)])
        (old,) = register.load_current(conn, "企业名录", [encode_key((USCC_A,))]).values()
        register.supersede(conn, [old.id], DAY2)
        register.insert_versions(conn, [version_row(submission_id, (USCC_A,), 2)])
    with register.engine.connect() as conn:
        rows = conn.execute(
            select(
                versions_table.c.version, versions_table.c.is_current, versions_table.c.superseded_at
            ).order_by(versions_table.c.version)
        ).all()
    assert [tuple(row) for row in rows] == [(1, False, DAY2), (2, True, None)]


def test_aware_timestamps_are_stored_as_utc(register: Register) -> None:
    beijing = timezone(timedelta(hours=8))
    add_submission(register, file_result(), datetime(2026, 11, 2, 10, 0, tzinfo=beijing))
    (only,) = register.submissions()
    assert only["received_at"] == datetime(2026, 11, 2, 2, 0)
    assert datetime(2026, 11, 2, 2, 0, tzinfo=UTC) == datetime(2026, 11, 2, 10, 0, tzinfo=beijing)


# runs -------------------------------------------------------------------------------------------------


def test_runs_are_logged_newest_first(register: Register) -> None:
    first = register.record_run(
        started_at=DAY1, finished_at=DAY1, as_of=date(2026, 11, 2), summary={"文件": 3}
    )
    second = register.record_run(started_at=DAY2, finished_at=None, as_of=DAY2, summary={"files": []})

    newest, oldest = register.runs()

    assert (newest["id"], oldest["id"]) == (second, first)
    assert oldest["summary"] == {"文件": 3} and oldest["as_of"] == date(2026, 11, 2)
    assert newest["as_of"] == date(2026, 11, 3) and newest["finished_at"] is None


def test_readers_see_only_committed_data_while_a_merge_runs(url: str, register: Register) -> None:
    """WAL lets the office open the master while the nightly merge holds the write lock."""
    other = open_register(url)
    with register.transaction() as conn:
        submission_id, _ = register.add_submission(conn, file_result(), file_name="a.xlsx", received_at=DAY1)
        register.insert_versions(conn, [version_row(submission_id, (USCC_A,), 1)])
        assert other.current("企业名录") == []
        assert other.submissions() == []
    assert other.current_keys("企业名录") == {(USCC_A,)}
    other.close()


def test_keys_sort_by_code_point_whatever_the_server_locale(register: Register) -> None:
    """The test server's databases use an ICU en-US collation, where "a-b" sorts after "ab"."""
    submission_id, _ = add_submission(register, file_result())
    keys = [("ab",), ("a-b",), ("B",), ("a",), ("天河区",), ("Ab",), ("a b",), (USCC_A,)]
    with register.transaction() as conn:
        register.insert_versions(conn, [version_row(submission_id, key, 1) for key in keys])

    stored = [record.key for record in register.current("企业名录")]

    assert stored == sorted(keys, key=encode_key)  # = Python's order of the key texts
    assert stored[:3] == [(USCC_A,), ("Ab",), ("B",)]  # ICU en-US would say "a" < "Ab" < "B"


def test_both_backends_store_the_same_bytes(tmp_path: Path, postgres_url: str) -> None:
    """Same calls, same stored text: data, keys, problems and run summaries are ours, not the driver's."""
    problem = Problem.make("required", file="a.xlsx", sheet="企业名录", cell="B3", row=3, header="企业名称")
    dumps_by_backend = []
    for url in (f"sqlite:///{tmp_path / 'register.sqlite'}", postgres_url):
        with open_register(url) as register:
            submission_id, _ = add_submission(register, file_result(problems=[problem]))
            with register.transaction() as conn:
                register.insert_versions(
                    conn,
                    [
                        version_row(submission_id, (USCC_A, date(2014, 5, 31), Decimal("1.50")), 1),
                        version_row(submission_id, ("天河区", 2014), 1),
                    ],
                )
            register.record_run(started_at=DAY1, finished_at=DAY2, as_of=DAY1, summary={"文件": ["a"]})
        dumps_by_backend.append(
            {
                "versions": raw_execute(
                    url,
                    "SELECT sheet_name, record_key, version, data_json, content_hash, submitter, recorded_at"
                    " FROM record_versions ORDER BY id",
                ),
                "submissions": raw_execute(url, "SELECT problems_json, received_at FROM submissions"),
                "runs": raw_execute(url, "SELECT summary_json FROM runs"),
            }
        )
    on_sqlite, on_postgresql = dumps_by_backend

    # SQLite hands timestamps back as text, PostgreSQL as datetime: compare the instants
    for dump in (on_sqlite, on_postgresql):
        dump["versions"] = [(*row[:-1], _instant(row[-1])) for row in dump["versions"]]
        dump["submissions"] = [(row[0], _instant(row[1])) for row in dump["submissions"]]
    assert on_sqlite == on_postgresql
    assert on_sqlite["versions"][0][1] == f'["{USCC_A}","2014-05-31","1.50"]'


def _instant(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
