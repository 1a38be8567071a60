"""The master register: every version of every record ever accepted, with where it came from.

The register is the one place the programme's data lives between nights; the master workbook
is only a view of it.  It therefore never deletes or rewrites a record: a change adds a new
version and marks the old one superseded, so any value can be traced back to the file, sheet
and row that set it.  SQLAlchemy Core with portable column types runs it on SQLite (a file on
the drive) or PostgreSQL (a server several machines share), chosen by URL; JSON is kept as text
we serialize ourselves so both databases store identical bytes.

Concurrency is the same promise on both: writers take turns, readers never wait.  SQLite does
it with WAL and ``BEGIN IMMEDIATE``.  PostgreSQL runs READ COMMITTED and every write
transaction first takes one transaction-level advisory lock, so a merge's read-then-write
(current version N, write N+1) or a panel draw's read-history-then-record is never interleaved
with another writer's, exactly as on SQLite, and no caller has to be ready to retry (SERIALIZABLE
would need every ``with register.transaction()`` block re-run on a serialization failure).
:meth:`Register.exclusive` is the coarser lock a whole consolidation holds, so two machines
sharing one PostgreSQL register never run theirs at the same time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from itertools import islice
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    and_,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    select,
    text,
    true,
    tuple_,
    update,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError

from sheetsync.errors import PROBLEM_LIST, Problem, problems_as_json
from sheetsync.records import FileResult, FileStatus, RecordSource, SortedSheet, StoredRecord

# Rows per executemany batch and keys per IN (...) lookup: well under SQLite's variable limit.
WRITE_BATCH = 5_000
LOOKUP_CHUNK = 500
# Above this many keys one scan of the sheet's current versions beats chunked IN lookups.
SCAN_THRESHOLD = 20_000

_WRITE_OPTION = "sheetsync_write"

log = logging.getLogger(__name__)

# Text compared and ordered byte by byte on both backends: SQLite's BINARY collation is
# PostgreSQL's "C" (code point order, as Python sorts), whatever locale the server was set up in.
KeyText = String().with_variant(String(collation="C"), "postgresql")


class Timestamp(TypeDecorator[datetime]):
    """A naive DateTime; aware values are stored as UTC so SQLite and PostgreSQL agree.

    SQLite silently drops a tzinfo, PostgreSQL would keep it: normalizing on the way in keeps
    the two backends returning the same value.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            return value.astimezone(UTC).replace(tzinfo=None)
        return value


metadata = MetaData()

submissions_table = Table(
    "submissions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("submitter", String, nullable=False),
    Column("file_name", String, nullable=False),
    Column("file_path", String, nullable=False),
    Column("file_hash", String(64), nullable=False),
    Column("period", String, nullable=True),
    Column("status", String, nullable=False),
    Column("rows_accepted", Integer, nullable=False),
    Column("rows_rejected", Integer, nullable=False),
    Column("problems_json", Text, nullable=False),
    Column("received_at", Timestamp, nullable=False),
    UniqueConstraint("submitter", "file_hash", name="uq_submissions_submitter_hash"),
)

versions_table = Table(
    "record_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sheet_name", KeyText, nullable=False),
    Column("record_key", KeyText, nullable=False),
    Column("version", Integer, nullable=False),
    Column("data_json", Text, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("is_current", Boolean, nullable=False),
    Column("submitter", String, nullable=False),
    Column("submission_id", Integer, ForeignKey("submissions.id"), nullable=False),
    Column("file_name", String, nullable=False),
    Column("source_sheet", String, nullable=False),
    Column("source_row", Integer, nullable=False),
    Column("file_hash", String(64), nullable=False),
    Column("recorded_at", Timestamp, nullable=False),
    Column("superseded_at", Timestamp, nullable=True),
    UniqueConstraint("sheet_name", "record_key", "version", name="uq_record_versions_key_version"),
    Index("ix_record_versions_current", "sheet_name", "is_current"),
)

# At most one current version per record, enforced by the database and not just by merge.py.
Index(
    "uq_record_versions_one_current",
    versions_table.c.sheet_name,
    versions_table.c.record_key,
    unique=True,
    sqlite_where=versions_table.c.is_current == true(),
    postgresql_where=versions_table.c.is_current == true(),
)

runs_table = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("started_at", Timestamp, nullable=False),
    Column("finished_at", Timestamp, nullable=True),
    Column("as_of", Date, nullable=True),
    Column("summary_json", Text, nullable=False),
)


# JSON and key encoding -----------------------------------------------------------------------


# The canonical encoder. Every content hash and data_json text in users' registers is its
# output, so whatever else writes register JSON must give exactly its bytes.
_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))

# The types orjson writes exactly as _ENCODER does (str escaping, int digits, key order by code
# point; tests/test_canonical_json.py checks each) and decodes exactly as json.loads does.
# Floats are not among them: orjson writes 1e-7 and 1e16 where repr gives 1e-07 and 1e+16,
# null for NaN and infinity, and reads an integer beyond 64 bits back as a float.
_ORJSON_SCALARS = frozenset({str, int, bool, type(None)})
_ORJSON_TYPES = _ORJSON_SCALARS | {dict, list, tuple}
# Bound ``issuperset`` of each: it runs over a ``map(type, ...)`` in C and stops at the first
# other type; building a set of the types cost a record a quarter more.
_only_scalars = _ORJSON_SCALARS.issuperset
_only_json_types = _ORJSON_TYPES.issuperset
# Belt and braces to the type check below: orjson raises, rather than writing them its own
# way, on subclasses, dates and dataclasses, as it does on non-str keys, lone surrogates and
# integers beyond 64 bits; every raise sends the value to _ENCODER.
_ORJSON_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)
_orjson_dumps = orjson.dumps
_orjson_loads = orjson.loads


def _orjson_exact(value: Any) -> bool:
    """Whether ``value`` holds only exact str, int, bool and None in exact dicts, lists and tuples.

    Such a value is one orjson encodes byte for byte as :data:`_ENCODER` does and, decoded,
    one orjson gives exactly as ``json.loads`` does. Measured on the demo's records (flat dicts
    of 4 to 21 values, a few with lists of text) it costs 0.6 µs a record: an eighth of the
    stdlib encoder's 5 µs, a little more than half of orjson's own 1 µs.
    """
    kind = type(value)
    if kind is dict:
        items: Any = value.values()
    elif kind is list or kind is tuple:
        items = value
    else:
        return kind in _ORJSON_SCALARS
    if _only_scalars(map(type, items)):
        return True
    return _only_json_types(map(type, items)) and all(map(_orjson_exact, items))


def dumps(value: Any) -> str:
    """Canonical JSON text: the same value always gives the same bytes, Chinese kept readable.

    Exactly ``_ENCODER.encode(value)``, about twice as fast on a record (2.4 µs against 5.0 on
    the demo's): every valid row of every night is encoded here and hashed. orjson encodes
    the values :func:`_orjson_exact` vouches for; anything else (a float, an enum, a subclass,
    a date), anything orjson refuses (a non-str key, a lone surrogate, an integer beyond 64
    bits, nesting past its limit) and any ``\\u`` or ``\\/`` escape in its output (see
    :func:`_escapes_as_stdlib`) goes to the stdlib encoder, for the canonical text or the
    stdlib's own error.
    """
    try:  # a record, a flat dict of scalars, is vouched for here without a call
        exact = (type(value) is dict and _only_scalars(map(type, value.values()))) or _orjson_exact(value)
    except RecursionError:  # deeper than the check can walk: far past orjson's nesting limit
        exact = False
    if exact:
        try:
            data = _orjson_dumps(value, option=_ORJSON_OPTIONS)
        except TypeError:  # orjson.JSONEncodeError
            pass
        else:
            if b"\\" not in data or _escapes_as_stdlib(data):
                return data.decode()
    return _ENCODER.encode(value)


def _escapes_as_stdlib(data: bytes) -> bool:
    r"""Whether orjson's escapes in ``data`` are the ones the stdlib writes, whatever its version.

    Valid JSON must escape the quote, the backslash and U+0000-U+001F, the only characters
    the stdlib escapes (with ``ensure_ascii=False``), so a character orjson leaves raw the
    stdlib leaves raw too. Of JSON's escapes, ``\"``, ``\\``, ``\b``, ``\f``, ``\n``, ``\r`` and
    ``\t`` each stand for one character, which the stdlib escapes just so; only ``\/`` and
    ``\uXXXX`` (the case of its hex digits) could differ, and both send the value to the
    stdlib, as does a backslash in the text followed by ``u`` or ``/``. Checked only when
    ``data`` holds a backslash at all, which a record rarely does.
    """
    return b"\\u" not in data and b"\\/" not in data


def content_hash(data_json: str) -> str:
    return hashlib.sha256(data_json.encode("utf-8")).hexdigest()


def json_value(value: Any) -> Any:
    """One key part as pydantic's JSON mode writes it, so keys and data_json agree."""
    if isinstance(value, Enum):
        return json_value(value.value)
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float):
        return value
    if isinstance(value, tuple | list):
        return [json_value(item) for item in value]
    raise TypeError(f"cannot use {type(value).__name__} in a record key")


def json_key(key: Sequence[Any]) -> tuple[Any, ...]:
    """A record key with its parts in JSON form: what :meth:`Register.current_keys` returns."""
    return tuple(json_value(part) for part in key)


def _is_plain(part: Any) -> bool:
    return type(part) is str or type(part) is int


def encode_key(key: Sequence[Any]) -> str:
    """The canonical text of a key tuple; dates become ISO text, integers stay integers."""
    if all(_is_plain(part) for part in key):  # the usual case, kept fast for 300k-row merges
        return dumps(list(key))
    return dumps(list(json_key(key)))


def decode_key(text: str) -> tuple[Any, ...]:
    """A key text back as its tuple, decoded by :func:`_loads` (orjson where exact)."""
    return tuple(_loads(text))


# Engine set-up --------------------------------------------------------------------------------


def _is_sqlite(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def resolve_url(url: str | URL) -> URL:
    """The URL as given, except that a bare ``postgresql://`` uses psycopg 3, the driver we ship."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _ensure_sqlite_folder(url: URL) -> None:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, and transactions that really begin where SQLAlchemy says they do.

    pysqlite by default opens a transaction lazily and commits before DDL, which would break
    the all-or-nothing promise of :meth:`Register.transaction`; taking over BEGIN ourselves is
    the recipe from SQLAlchemy's SQLite dialect docs.  Writers use BEGIN IMMEDIATE so a second
    writer waits for the lock instead of failing half-way when it tries to upgrade.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        _use_wal(cursor)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


_WAL_WAIT_SECONDS = 60.0


def _use_wal(cursor: Any) -> None:
    """Switch a SQLite file to WAL, waiting out another process that is doing the same.

    Switching needs the file to itself for a moment, and SQLite reports "database is locked" at
    once instead of applying the busy timeout: two nightly runs opening a new register together
    (two machines on one share) hit it.
    """
    if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
        return
    deadline = time.monotonic() + _WAL_WAIT_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a name: the same on every machine and run."""
    digest = hashlib.sha256(f"sheetsync:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


# Taken at the start of every write transaction on PostgreSQL: PostgreSQL's BEGIN IMMEDIATE.
_WRITERS_KEY = lock_key("writers")


def _lock_writers(conn: Connection) -> None:
    """Wait for the other writers' transactions to end; released when this one commits or rolls back."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _WRITERS_KEY})


def open_register(url: str | URL) -> Register:
    """Open (and create if missing) the register at a SQLAlchemy URL: SQLite or PostgreSQL."""
    parsed = resolve_url(url)
    if _is_sqlite(parsed):
        _ensure_sqlite_folder(parsed)
        engine = create_engine(parsed, connect_args={"timeout": 60})
        _configure_sqlite(engine)
    elif parsed.get_backend_name() == "postgresql":
        # READ COMMITTED whatever the server's default: the writers' lock does the rest.
        engine = create_engine(parsed, isolation_level="READ COMMITTED", pool_pre_ping=True)
    else:
        engine = create_engine(parsed)
    register = Register(engine)
    create_tables(register, metadata)
    return register


def create_tables(register: Register, tables: MetaData, conn: Connection | None = None) -> None:
    """Create what is missing of ``tables``; only a read when everything is there already.

    Opening a register therefore never waits for a running merge.  A register that lacks tables
    creates them in a write transaction (``conn``, or one of its own), checking again under the
    writers' lock: two machines opening a new register at once must not both try to create it.
    """
    if conn is not None:
        if not _has_tables(conn, tables):
            _lock_writers(conn)
            tables.create_all(conn)
        return
    with register.engine.connect() as reader:
        if _has_tables(reader, tables):
            return
    with register.transaction() as writer:
        tables.create_all(writer)


def _has_tables(conn: Connection, tables: MetaData) -> bool:
    return all(conn.dialect.has_table(conn, table.name) for table in tables.sorted_tables)


# Register-wide locks this process holds: (register URL, lock name, thread) → nesting depth.
_HELD: dict[tuple[str, str, int], int] = {}
_HELD_GUARD = threading.Lock()


class RegisterBusy(RuntimeError):
    """Another process holds the register's :meth:`Register.exclusive` lock; the message is Chinese."""

    def __init__(self, name: str, holder: str | None) -> None:
        super().__init__(f"另一次运行正在独占使用台账(锁“{name}”,{holder or '持有者未知'}),本次未运行。")
        self.name = name
        self.holder = holder


# The register -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CurrentVersion:
    """What merge needs to know about a record's current version to decide what to write."""

    id: int
    version: int
    data: dict[str, Any]


def _loads(text: str) -> Any:
    """``json.loads`` of register JSON, by orjson where its result is exactly the same.

    A night reads every current record back (300,000 of them at province scale), two JSON texts
    each. orjson gives the same types and values, dict keys in the text's order and the last of
    a repeated key, and keeps one copy of each field name (its key cache, as the stdlib's memo
    did within one batch). Where it might differ, ``json.loads`` decodes: text orjson refuses
    (NaN, Infinity, a number beyond a double, an escaped lone surrogate, anything invalid, for
    the stdlib's own error) and any result holding a float, since orjson reads an integer
    beyond 64 bits as one; register records hold no floats. That check costs most of what orjson
    saves: a batch of records decodes about 15% faster than with the stdlib's scanner. The
    records it gives are bigger, though: 100,000 province records held 129 MB, against 109 MB
    decoded by ``json.loads`` in the same batches (measured with tracemalloc).
    """
    if type(text) is str:
        try:
            value = _orjson_loads(text)
        except ValueError:  # orjson.JSONDecodeError
            pass
        else:
            if _orjson_exact(value):
                return value
    return json.loads(text)


# Rows decoded per JSON call by _stored_records: one call per thousand records rather than per
# record (orjson's key cache, or the stdlib decoder's memo within one call, then gives every
# record the same field-name strings).
DECODE_BATCH = 1000


# Distinct texts a field may have before _SharedTexts stops keeping them once: a choice list,
# a district, a date has a few hundred; a name, a credit code or a phone has one per record.
SHARED_TEXTS_PER_FIELD = 4096


class _SharedTexts:
    """Equal texts of a field kept once across the records decoded in one go.

    A field with few distinct values (企业类别, 所在区, 审核方式, a date) repeats them on every
    record, and each decoded record had its own copy: at city scale the values were half of a
    record's memory and their distinct texts a fifth of that. A field that turns out to have
    more than ``limit`` distinct texts (a name, a credit code) is left alone from then on, so
    the lookup table stays small and the cost is one dictionary probe per value.
    """

    def __init__(self, limit: int | None = None) -> None:
        self.limit = SHARED_TEXTS_PER_FIELD if limit is None else limit
        self.fields: dict[str, dict[str, str] | None] = {}

    def share(self, data: dict[str, Any]) -> None:
        fields = self.fields
        for name, value in data.items():
            if type(value) is not str:
                continue
            texts = fields.get(name, _NEW_FIELD)
            if texts is None:
                continue
            if texts is _NEW_FIELD:
                texts = fields[name] = {}
            kept = texts.setdefault(value, value)
            if kept is not value:
                data[name] = kept
            elif len(texts) > self.limit:
                fields[name] = None  # a text per record: sharing would only cost memory


_NEW_FIELD: dict[str, str] = {}


def _stored_records(rows: Iterable[Any], *, share_texts: bool = True) -> list[StoredRecord]:
    """Rows of ``_RECORD_COLUMNS`` as records (see :func:`_each_stored_record`)."""
    return list(_each_stored_record(rows, share_texts=share_texts))


def _each_stored_record(rows: Iterable[Any], *, share_texts: bool = True) -> Iterator[StoredRecord]:
    """Rows of ``_RECORD_COLUMNS`` as records, decoded a batch at a time, provenance shared.

    A register sheet's records run to 300,000 at national scale.  Decoding a batch of data
    texts as one JSON array makes its records share their field-name strings, and equal
    provenance texts (a file's name and hash, repeated on each of its rows) are kept once:
    together about a third of the records' memory. Equal values of a field are kept once too
    (:class:`_SharedTexts`), unless ``share_texts`` is false: records that are gone through and
    let go (streamed to the domain, whose parse cache shares equal values anyway, or to the
    master) would only pay its 2-3 µs a record.
    """
    shared: dict[Any, Any] = {}
    texts = _SharedTexts() if share_texts else None
    for batch, keys, datas in _decoded_batches(rows, 1, 3):
        for row, key, data in zip(batch, keys, datas, strict=True):
            if texts is not None:
                texts.share(data)
            (
                sheet_name,
                _key,
                version,
                _data,
                submitter,
                file_name,
                source_sheet,
                source_row,
                file_hash,
                at,
            ) = row
            yield StoredRecord(
                shared.setdefault(sheet_name, sheet_name),
                tuple(key),
                data,
                version,
                shared.setdefault(submitter, submitter),
                shared.setdefault(file_name, file_name),
                shared.setdefault(source_sheet, source_sheet),
                source_row,
                shared.setdefault(file_hash, file_hash),
                shared.setdefault(at, at),
            )


def _decoded_batches(rows: Iterable[Any], *columns: int) -> Iterator[tuple[list[Any], ...]]:
    """``(batch, values of each JSON column)``, ``DECODE_BATCH`` rows at a time, one decode per column."""
    iterator = iter(rows)
    while batch := list(islice(iterator, DECODE_BATCH)):
        yield (batch, *(_loads("[" + ",".join(row[column] for row in batch) + "]") for column in columns))


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


_RECORD_COLUMNS = (
    versions_table.c.sheet_name,
    versions_table.c.record_key,
    versions_table.c.version,
    versions_table.c.data_json,
    versions_table.c.submitter,
    versions_table.c.file_name,
    versions_table.c.source_sheet,
    versions_table.c.source_row,
    versions_table.c.file_hash,
    versions_table.c.recorded_at,
)


def _current(sheet_name: str) -> Any:
    """The condition on record_versions for a sheet's current versions."""
    return and_(versions_table.c.sheet_name == sheet_name, versions_table.c.is_current == true())


def _current_rows(sheet_name: str, *columns: Any) -> Any:
    """``columns`` of a sheet's current versions in the register's order, by key text.

    One order for :meth:`Register.current`, :meth:`Register.each_current` and
    :meth:`Register.current_listing`: the master pairs a sheet's rows with the domain's view
    by their position in it.
    """
    return select(*columns).where(_current(sheet_name)).order_by(versions_table.c.record_key)


def _bind_processor(conn: Connection, name: str) -> Any:
    """The function SQLAlchemy passes a column's values through before the driver, or None."""
    column = versions_table.c[name]
    return column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)


def _sqlite_lookup(conn: Connection, sheet_name: str, wanted: Sequence[str]) -> dict[str, CurrentVersion]:
    """:meth:`Register.load_current` on SQLite, asked of the driver directly in the same transaction.

    Without statistics SQLite answers a plain ``IN`` from ix_record_versions_current, i.e. by
    reading every current record of the sheet for each chunk: quadratic over a night; the
    partial unique index finds each key directly.  A night merges sheet by sheet, 1,500 lookups
    at province scale, most of them for keys not there yet: compiling each through SQLAlchemy
    cost more than SQLite answering it.
    """
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    found: dict[str, CurrentVersion] = {}
    try:
        for chunk in _chunks(wanted, LOOKUP_CHUNK):
            marks = ",".join("?" * len(chunk))
            cursor.execute(
                "SELECT id, record_key, version, data_json FROM record_versions"
                " INDEXED BY uq_record_versions_one_current"
                f" WHERE sheet_name = ? AND is_current = 1 AND record_key IN ({marks})",
                (sheet_name, *chunk),
            )
            for version_id, record_key, version, data_json in cursor:
                found[record_key] = CurrentVersion(version_id, version, _loads(data_json))
    finally:
        cursor.close()
    return found


class Register:
    """The register behind one engine; every read can join a caller's open transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Register:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One atomic unit: everything done on the connection commits together or not at all.

        Write transactions take turns (see the module docstring); reads never wait for them.
        """
        with self.engine.connect().execution_options(**{_WRITE_OPTION: True}) as conn, conn.begin():
            _lock_writers(conn)
            yield conn

    @contextmanager
    def joined_transaction(self, conn: Connection | None) -> Iterator[Connection]:
        """The caller's open write transaction ``conn``, or a new :meth:`transaction` without one.

        Joining commits nothing: what is written lands when the caller's transaction commits.
        """
        if conn is not None:
            yield conn
            return
        with self.transaction() as own:
            yield own

    @contextmanager
    def exclusive(
        self, name: str = "consolidation", *, wait: bool = True, timeout: float | None = None
    ) -> Iterator[None]:
        """Hold the register-wide lock ``name`` for the ``with`` block: one holder at a time.

        On PostgreSQL this is a session-level advisory lock held on a connection of its own for
        the whole block, so two machines sharing the register never run the block at the same
        time; it is released when the block ends, or by the server if the process dies.
        ``wait=False`` raises :class:`RegisterBusy` at once when someone else holds it;
        ``wait=True`` waits, for ``timeout`` seconds at most when given, then raises it.

        The lock is re-entrant within one thread: :func:`sheetsync.consolidate.consolidate`
        takes it itself, and a caller that already holds it around a consolidation (a script
        doing several steps under one lock) must not wait for itself on a second connection.

        On SQLite it does nothing: a SQLite register is a file on one drive, whose run lock
        (:mod:`sheetsync.runlock`) already keeps consolidations apart.
        """
        if self.backend == "sqlite":
            yield
            return
        if self.backend != "postgresql":
            raise NotImplementedError(f"no register-wide lock on {self.backend}")
        token = (self.engine.url.render_as_string(hide_password=True), name, threading.get_ident())
        with _HELD_GUARD:
            depth = _HELD.get(token, 0)
            if depth:
                _HELD[token] = depth + 1
        if depth:  # this thread holds it already, on the outer block's connection
            try:
                yield
            finally:
                with _HELD_GUARD:
                    _HELD[token] -= 1
            return
        key = lock_key(f"exclusive:{name}")
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            try:
                _acquire(conn, key, name, wait=wait, timeout=timeout)
                with _HELD_GUARD:
                    _HELD[token] = 1
                try:
                    yield
                finally:
                    with _HELD_GUARD:
                        del _HELD[token]
                    _release(conn, key, name)
            finally:
                if not conn.invalidated:
                    conn.exec_driver_sql("RESET application_name")

    @contextmanager
    def _reading(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
            return
        with self.engine.connect() as own:
            yield own

    # records ----------------------------------------------------------------------------

    def current(self, sheet_name: str, *, conn: Connection | None = None) -> list[StoredRecord]:
        """Current versions of a sheet's records, ordered by their key text."""
        with self._reading(conn) as reader:
            return _stored_records(reader.execute(_current_rows(sheet_name, *_RECORD_COLUMNS)))

    def current_listing(
        self, sheet_name: str, *, conn: Connection | None = None
    ) -> list[tuple[int, tuple[Any, ...], str]]:
        """(row id, key, submitter) of a sheet's current records, in :meth:`current`'s order; no data."""
        table = versions_table
        query = _current_rows(sheet_name, table.c.id, table.c.record_key, table.c.submitter)
        listing: list[tuple[int, tuple[Any, ...], str]] = []
        submitters: dict[str, str] = {}
        with self._reading(conn) as reader:
            for batch, keys in _decoded_batches(reader.execute(query), 1):
                listing += (
                    (row[0], tuple(key), submitters.setdefault(row[2], row[2]))
                    for row, key in zip(batch, keys, strict=True)
                )
        return listing

    def records_by_id(self, ids: Sequence[int], *, conn: Connection | None = None) -> list[StoredRecord]:
        """The record versions with these row ids, in the order given."""
        query = select(*_RECORD_COLUMNS, versions_table.c.id).where(
            versions_table.c.id.in_(bindparam("ids", expanding=True))
        )
        found: dict[int, Any] = {}
        with self._reading(conn) as reader:
            for chunk in _chunks(list(ids), LOOKUP_CHUNK):
                found.update(
                    (row[-1], tuple(row)[:-1]) for row in reader.execute(query, {"ids": list(chunk)})
                )
        missing = [row_id for row_id in ids if row_id not in found]
        if missing:
            raise RegisterChanged(f"{len(missing)} record versions are gone, the first id {missing[0]}")
        return _stored_records((found[row_id] for row_id in ids), share_texts=False)

    def each_current(self, sheet_name: str, *, conn: Connection | None = None) -> Iterator[StoredRecord]:
        """:meth:`current` one record at a time, as they are read: never the whole sheet at once."""
        with self._reading(conn) as reader:
            # a server-side cursor on PostgreSQL; SQLite's cursor steps through the rows anyway
            query = _current_rows(sheet_name, *_RECORD_COLUMNS).execution_options(yield_per=DECODE_BATCH)
            yield from _each_stored_record(reader.execute(query), share_texts=False)

    def current_keys(self, sheet_name: str, *, conn: Connection | None = None) -> set[tuple[Any, ...]]:
        """Keys (in JSON form, see :func:`json_key`) of the sheet's current records."""
        query = select(versions_table.c.record_key).where(_current(sheet_name))
        with self._reading(conn) as reader:
            return {decode_key(text) for text in reader.scalars(query)}

    def existing_keys(
        self, sheet_name: str, keys: Iterable[tuple[Any, ...]], *, conn: Connection | None = None
    ) -> set[tuple[Any, ...]]:
        """Which of ``keys`` the sheet has a current record for, looked up key by key in chunks.

        A night names a few of the register's enterprises; :meth:`current_keys` would decode
        every one of them (100,000 at province scale) to answer for those few.
        """
        by_text = {encode_key(key): key for key in keys}
        if not by_text:
            return set()
        with self._reading(conn) as reader:
            found = self.load_current(reader, sheet_name, by_text)
        return {by_text[text] for text in found}

    def history(
        self, sheet_name: str, key: Sequence[Any], *, conn: Connection | None = None
    ) -> list[StoredRecord]:
        """Every version of one record, oldest first."""
        query = (
            select(*_RECORD_COLUMNS)
            .where(versions_table.c.sheet_name == sheet_name, versions_table.c.record_key == encode_key(key))
            .order_by(versions_table.c.version)
        )
        with self._reading(conn) as reader:
            return _stored_records(reader.execute(query))

    def fingerprint(self, *, conn: Connection | None = None) -> tuple[int, int]:
        """The newest record version and submission ids: they change whenever anyone merges.

        Nothing in the register changes a record without adding a version (superseding comes
        with the new version), and the master's conflicts come from the submissions.
        """
        query = select(
            select(func.coalesce(func.max(versions_table.c.id), 0)).scalar_subquery(),
            select(func.coalesce(func.max(submissions_table.c.id), 0)).scalar_subquery(),
        )
        with self._reading(conn) as reader:
            versions, submissions = reader.execute(query).one()
        return int(versions), int(submissions)

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A read transaction that sees the register as it was at its first read, whatever commits after."""
        with self.engine.connect() as conn:
            if self.backend == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():  # SQLite in WAL mode: BEGIN; the snapshot is taken by the first read
                yield conn

    def current_count(self, sheet_name: str, *, conn: Connection | None = None) -> int:
        """How many current records the sheet has."""
        query = select(func.count()).where(_current(sheet_name))
        with self._reading(conn) as reader:
            return int(reader.execute(query).scalar_one())

    def current_records(
        self,
        sheet_names: Sequence[str],
        *,
        conn: Connection | None = None,
        expect: tuple[int, int] | None = None,
    ) -> CurrentRecords:
        """The current records of ``sheet_names`` as a :class:`RecordSource`: read at each look-up.

        Through ``conn`` when given. Otherwise each look-up is a snapshot of its own, and with
        ``expect`` (a :meth:`fingerprint`) it raises :class:`RegisterChanged` if anyone has
        merged since that fingerprint was taken: look-ups that must agree then still do.
        """
        return CurrentRecords(self, tuple(sheet_names), conn, expect)

    def sheet_names(self, *, conn: Connection | None = None) -> list[str]:
        """Sheets that have at least one record, sorted."""
        query = select(versions_table.c.sheet_name).distinct().order_by(versions_table.c.sheet_name)
        with self._reading(conn) as reader:
            return list(reader.scalars(query))

    def load_current(
        self, conn: Connection, sheet_name: str, key_texts: Iterable[str]
    ) -> dict[str, CurrentVersion]:
        """Current versions of the given keys, in a handful of queries whatever their number.

        One SELECT per row would make a 300k-row merge take hours; a few chunked IN lookups (or
        one scan of the sheet when most of it is wanted) keep it to seconds.
        """
        wanted = sorted(set(key_texts))
        if not wanted:
            return {}
        columns = (
            versions_table.c.id,
            versions_table.c.record_key,
            versions_table.c.version,
            versions_table.c.data_json,
        )
        base = select(*columns).where(
            versions_table.c.sheet_name == bindparam("sheet"), versions_table.c.is_current == true()
        )
        if len(wanted) > SCAN_THRESHOLD:
            wanted_set = set(wanted)
            rows: Iterable[Any] = (
                row for row in conn.execute(base, {"sheet": sheet_name}) if row.record_key in wanted_set
            )
        else:
            if conn.dialect.name == "sqlite":
                return _sqlite_lookup(conn, sheet_name, wanted)
            lookup: Any = base.where(versions_table.c.record_key.in_(bindparam("keys", expanding=True)))
            rows = (
                row
                for chunk in _chunks(wanted, LOOKUP_CHUNK)
                for row in conn.execute(lookup, {"sheet": sheet_name, "keys": list(chunk)})
            )
        return {row.record_key: CurrentVersion(row.id, row.version, _loads(row.data_json)) for row in rows}

    def supersede(self, conn: Connection, version_ids: Sequence[int], at: datetime) -> None:
        """Mark versions as no longer current; they stay in the register as history."""
        statement = (
            update(versions_table)
            .where(versions_table.c.id == bindparam("b_id"))
            .values(is_current=False, superseded_at=bindparam("b_at"))
        )
        for chunk in _chunks(list(version_ids), WRITE_BATCH):
            conn.execute(statement, [{"b_id": version_id, "b_at": at} for version_id in chunk])

    def insert_versions(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        """Insert record versions (dicts of record_versions columns) in executemany batches.

        On SQLite the rows go to the driver's executemany as tuples: SQLAlchemy's per-row
        parameter handling cost more than SQLite's insert itself.  The values are bound exactly
        as SQLAlchemy binds them (each column type's bind processor, memoised per value: a
        file's rows share their timestamps and flags), so both paths store the same bytes.
        """
        if not rows:
            return
        if conn.dialect.name != "sqlite":
            for chunk in _chunks(rows, WRITE_BATCH):
                conn.execute(insert(versions_table), list(chunk))
            return
        names = list(rows[0])
        processors = [_bind_processor(conn, name) for name in names]
        statement = (
            f"INSERT INTO {versions_table.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        )
        memo: list[dict[Any, Any]] = [{} for _ in names]

        def bound(index: int, value: Any) -> Any:
            known = memo[index]
            if value not in known:
                known[value] = processors[index](value)  # type: ignore[misc]
            return known[value]

        processed = [index for index, processor in enumerate(processors) if processor is not None]
        for chunk in _chunks(rows, WRITE_BATCH):
            parameters = []
            for row in chunk:
                values = [row[name] for name in names]
                for index in processed:
                    value = values[index]
                    if value is not None:
                        values[index] = bound(index, value)
                parameters.append(tuple(values))
            conn.exec_driver_sql(statement, parameters)

    # submissions --------------------------------------------------------------------------

    def find_submission(
        self, submitter: str, file_hash: str, *, conn: Connection | None = None
    ) -> int | None:
        query = select(submissions_table.c.id).where(
            submissions_table.c.submitter == submitter, submissions_table.c.file_hash == file_hash
        )
        with self._reading(conn) as reader:
            return reader.scalar(query)

    def registered_submissions(
        self, wanted: Iterable[tuple[str, str]], *, conn: Connection | None = None
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """Each (submitter, file hash) pair that was submitted before, as :meth:`submissions` gives it.

        Consolidation asks before validating, so that a file already merged is not read again; a
        rerun asks for every file still in the inbox, and one query per file cost more than the
        rest of the rerun's register work.
        """
        table = submissions_table
        pair = tuple_(table.c.submitter, table.c.file_hash)
        query = select(table).where(pair.in_(bindparam("pairs", expanding=True)))
        found: dict[tuple[str, str], dict[str, Any]] = {}
        with self._reading(conn) as reader:
            for chunk in _chunks(sorted(set(wanted)), LOOKUP_CHUNK):
                for row in reader.execute(query, {"pairs": list(chunk)}).mappings():
                    found[(row["submitter"], row["file_hash"])] = _submission_dict(row)
        return found

    def add_submission(
        self, conn: Connection, result: FileResult, *, file_name: str, received_at: datetime
    ) -> tuple[int, bool]:
        """The submission's id and whether it is new; a file seen before is left as it was."""
        submitter = result.submitter or ""
        existing = self.find_submission(submitter, result.file_hash, conn=conn)
        if existing is not None:
            return existing, False
        values = {
            "submitter": submitter,
            "file_name": file_name,
            "file_path": result.path,
            "file_hash": result.file_hash,
            "period": result.stamp.period if result.stamp is not None else None,
            "status": result.status.value,
            "rows_accepted": result.rows_accepted,
            "rows_rejected": result.rows_rejected,
            "problems_json": dumps(problems_as_json(result.problems)),
            "received_at": received_at,
        }
        new_id = conn.execute(insert(submissions_table).values(**values)).inserted_primary_key[0]
        return int(new_id), True

    def submissions(
        self, *, conn: Connection | None = None, problem_codes: Collection[str] | None = None
    ) -> list[dict[str, Any]]:
        """Every submission, newest first, with its problems decoded back into :class:`Problem`.

        ``problem_codes``: keep only the problems with these codes. The master needs just the
        ownership conflicts of earlier nights, and every problem ever reported, decoded, was
        about 100 MB of a national night's peak.
        """
        table = submissions_table
        query = select(table).order_by(table.c.received_at.desc(), table.c.id.desc())
        with self._reading(conn) as reader:
            return [_submission_dict(row, problem_codes) for row in reader.execute(query).mappings()]

    # runs -----------------------------------------------------------------------------------

    def record_run(
        self,
        *,
        started_at: datetime,
        finished_at: datetime | None,
        as_of: date | None,
        summary: dict[str, Any],
        conn: Connection | None = None,
    ) -> int:
        """Log one consolidation run; ``summary`` is any JSON-able dict the caller wants kept."""
        if isinstance(as_of, datetime):
            as_of = as_of.date()
        statement = insert(runs_table).values(
            started_at=started_at, finished_at=finished_at, as_of=as_of, summary_json=dumps(summary)
        )
        if conn is not None:
            return int(conn.execute(statement).inserted_primary_key[0])
        with self.transaction() as own:
            return int(own.execute(statement).inserted_primary_key[0])

    def runs(self, *, conn: Connection | None = None) -> list[dict[str, Any]]:
        """Every run, newest first, with the summary decoded."""
        query = select(runs_table).order_by(runs_table.c.started_at.desc(), runs_table.c.id.desc())
        with self._reading(conn) as reader:
            return [_run_dict(row) for row in reader.execute(query).mappings()]


class RegisterChanged(RuntimeError):
    """Someone merged into the register between two reads that had to see it the same."""


class CurrentRecords(RecordSource):
    """The register's current records of some sheets, read from it at each look-up.

    Read through ``conn`` when given (the night's transaction). Otherwise each look-up reads a
    snapshot of its own and, given ``expect``, first checks the register's :meth:`fingerprint`
    against it: on PostgreSQL a consolidation's exclusive lock keeps other runs out, but a SQLite
    register shared by two drives is kept apart by nothing but each drive's run lock.
    """

    def __init__(
        self,
        register: Register,
        sheet_names: tuple[str, ...],
        conn: Connection | None,
        expect: tuple[int, int] | None = None,
    ) -> None:
        self.register = register
        self.sheet_names = sheet_names
        self.conn = conn
        self.expect = expect

    @contextmanager
    def _reader(self) -> Iterator[Connection]:
        if self.conn is not None:
            yield self.conn
            return
        with self.register.snapshot() as reader:
            if self.expect is not None:
                found = self.register.fingerprint(conn=reader)
                if found != self.expect:
                    raise RegisterChanged(f"register changed since {self.expect}: now {found}")
            yield reader

    def __getitem__(self, sheet_name: str) -> list[StoredRecord]:
        if sheet_name not in self.sheet_names:
            raise KeyError(sheet_name)
        with self._reader() as reader:
            return self.register.current(sheet_name, conn=reader)

    def each(self, sheet_name: str) -> Iterator[StoredRecord]:
        if sheet_name not in self.sheet_names:
            return
        with self._reader() as reader:
            yield from self.register.each_current(sheet_name, conn=reader)

    def sorted_sheet(self, sheet_name: str, sort_key: Callable[[tuple[Any, ...]], Any]) -> SortedSheet:
        """Listed (ids and keys) up front; the records fetched by id as they are gone through, each
        batch in a snapshot checked against ``expect``, so no read transaction spans the writing."""
        listing: list[tuple[int, tuple[Any, ...], str]] = []
        if sheet_name in self.sheet_names:
            with self._reader() as reader:
                listing = self.register.current_listing(sheet_name, conn=reader)
        ids = [row_id for row_id, _, _ in listing]
        identities = [(key, submitter) for _, key, submitter in listing]
        order = sorted(range(len(identities)), key=lambda position: sort_key(identities[position][0]))

        def fetch(positions: Sequence[int]) -> list[StoredRecord]:
            with self._reader() as reader:
                return self.register.records_by_id([ids[position] for position in positions], conn=reader)

        return SortedSheet(identities, order, fetch)

    def __iter__(self) -> Iterator[str]:
        return iter(self.sheet_names)

    def __len__(self) -> int:
        return len(self.sheet_names)

    def count(self, sheet_name: str) -> int:
        if sheet_name not in self.sheet_names:
            return 0
        with self._reader() as reader:
            return self.register.current_count(sheet_name, conn=reader)


def _acquire(conn: Connection, key: int, name: str, *, wait: bool, timeout: float | None) -> None:
    """Take the session-level advisory lock ``key`` on ``conn`` (in autocommit) or raise RegisterBusy."""
    label = f"sheetsync {socket.gethostname()[:32]} pid {os.getpid()}"
    conn.execute(text("SELECT set_config('application_name', :label, false)"), {"label": label})
    if not wait:
        if not conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar_one():
            raise RegisterBusy(name, _holder(conn, key))
        return
    # the wait is bounded by lock_timeout alone: a server-wide statement_timeout must not cut it
    limit = "0" if timeout is None else f"{max(1, round(timeout * 1000))}ms"
    conn.execute(text("SELECT set_config('lock_timeout', :limit, false)"), {"limit": limit})
    conn.execute(text("SELECT set_config('statement_timeout', '0', false)"))
    try:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) != "55P03":  # lock_not_available
            raise
        raise RegisterBusy(name, _holder(conn, key)) from None
    finally:
        conn.exec_driver_sql("RESET lock_timeout")
        conn.exec_driver_sql("RESET statement_timeout")


def _release(conn: Connection, key: int, name: str) -> None:
    try:
        released = conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key}).scalar_one()
    except DBAPIError:  # the connection is gone, and with it the lock
        log.warning("register lock %r: connection lost before release", name)
        conn.invalidate()
        return
    if not released:
        log.warning("register lock %r was no longer held at release (connection reset?)", name)


def _holder(conn: Connection, key: int) -> str | None:
    """Who holds the advisory lock ``key``, as far as this role may see; for RegisterBusy."""
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    query = text(
        "SELECT a.pid, a.application_name, a.client_addr, a.state_change"
        " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
        " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND l.classid = CAST(:high AS oid) AND l.objid = CAST(:low AS oid)"
    )
    try:
        row = conn.execute(query, {"high": unsigned >> 32, "low": unsigned & 0xFFFF_FFFF}).first()
    except DBAPIError:
        return None
    if row is None:
        return None
    parts = [row.application_name or f"服务器进程 {row.pid}"]
    if row.client_addr is not None:
        parts.append(f"来自 {row.client_addr}")
    if row.state_change is not None:
        parts.append(f"自 {row.state_change:%Y-%m-%d %H:%M:%S}")
    return ",".join(parts)


def _submission_dict(row: Any, problem_codes: Collection[str] | None = None) -> dict[str, Any]:
    data = {key: value for key, value in row.items() if key != "problems_json"}
    data["status"] = FileStatus(row["status"])
    data["problems"] = _decoded_problems(row["problems_json"], problem_codes)
    return data


def _decoded_problems(text: str, codes: Collection[str] | None = None) -> list[Problem]:
    """A submission's ``problems_json`` as :class:`Problem` objects; only those with ``codes`` if given.

    A rerun decodes the problems of every file still in the inbox (28,000 at province scale),
    so the whole list is validated from its text in one pydantic call rather than a
    ``model_validate`` per problem.  The master asks only for earlier conflicts, which most
    submissions do not hold: a text without a wanted code in quotes holds none, and is not
    decoded at all.
    """
    if codes is None:
        try:
            return PROBLEM_LIST.validate_json(text)
        except ValidationError:
            pass  # what the register's JSON reader makes of it, or its error
        return [Problem.model_validate(item) for item in _loads(text)]
    if not any(f'"{code}"' in text for code in codes):
        return []
    return [Problem.model_validate(item) for item in _loads(text) if item.get("code") in codes]


def _run_dict(row: Any) -> dict[str, Any]:
    data = {key: value for key, value in row.items() if key != "summary_json"}
    data["summary"] = _loads(row["summary_json"])
    return data
