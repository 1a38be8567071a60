"""Fold one validated file into the register without ever losing what the register knew.

Three rules protect the register: a record is never deleted because a later file leaves it
out; a column a file lacks never blanks the value the register holds; a value that did not
really change writes nothing, so provenance keeps pointing at the file that set it.  A file
is merged in one transaction: it lands whole or not at all.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from sqlalchemy import Connection

from sheetsync.records import FileResult, ValidRow
from sheetsync.schemas import Kind, SheetModel
from sheetsync.store import CurrentVersion, Register, content_hash, dumps, encode_key

log = logging.getLogger(__name__)


@dataclass
class MergeCounts:
    """What merging did to one sheet's records; a key repeated within the file counts once."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(frozen=True)
class _Provenance:
    submission_id: int
    submitter: str
    file_name: str
    file_hash: str
    received_at: datetime


# A valid row with the name of the worksheet it came from (a contract sheet may come from two
# tabs): a plain tuple, as a night merges 300,000 of them in one process.
_SourcedRow = tuple[str, ValidRow]


@dataclass
class _Pending:
    """The version a key will end up with once the whole file has been read.

    ``data`` is None for a new record taken whole from one row that carries its stored form
    (:func:`prepare`): its JSON is inserted as it is, never decoded or encoded here.
    """

    data: dict[str, Any] | None
    source: _SourcedRow
    base: CurrentVersion | None

    def full_data(self) -> dict[str, Any]:
        return self.data if self.data is not None else _row_data(self.source[1])


def prepare(result: FileResult) -> None:
    """Work out, for every valid row, the key text, JSON and hash the register will store.

    Called where the file is validated, which is a worker process on a big night: encoding
    300,000 records there, across the cores, took most of the merge off the one process that
    has to do it in order.  The values are exactly what :func:`merge_file` would compute.
    """
    for sheet in result.sheets:
        for row in sheet.valid_rows:
            row.stored = stored_form(row.record)


def stored_form(record: SheetModel) -> tuple[str, str, str]:
    """(key text, data JSON, content hash) of a record, as the register stores it."""
    data_json = dumps(record.model_dump(mode="json"))
    return key_text(record.key()), data_json, content_hash(data_json)


def merge_file(
    register: Register,
    result: FileResult,
    *,
    file_name: str,
    received_at: datetime,
    conn: Connection | None = None,
) -> dict[str, MergeCounts]:
    """Merge every valid row of one file; returns counts per contract sheet name.

    A file already registered (same submitter and hash) is not merged again: the nightly run
    sees every file still in its folder, and replaying an old file after a newer one would
    otherwise undo the newer file's changes.

    Without ``conn`` the file is merged in a transaction of its own.  With ``conn`` it joins
    the caller's open write transaction and commits with it: a consolidation commits every
    file of the night together with its run record (:mod:`sheetsync.consolidate`).
    """
    counts = {sheet.sheet_name: MergeCounts() for sheet in result.sheets}
    rows_by_sheet = _rows_by_sheet(result)
    if rows_by_sheet and not result.submitter:
        raise ValueError(f"{result.path}: valid rows but no submitter; cannot record their provenance")
    with register.joined_transaction(conn) as conn:
        submission_id, is_new = register.add_submission(
            conn, result, file_name=file_name, received_at=received_at
        )
        if not is_new:
            log.info("%s already merged as submission %d; skipped", file_name, submission_id)
            for sheet_name, rows in rows_by_sheet.items():
                counts[sheet_name].unchanged = len({_row_key(row) for _source, row in rows})
            return counts
        provenance = _Provenance(
            submission_id, result.submitter or "", file_name, result.file_hash, received_at
        )
        for sheet_name, rows in rows_by_sheet.items():
            counts[sheet_name] = _merge_sheet(register, conn, sheet_name, rows, provenance)
    return counts


def _rows_by_sheet(result: FileResult) -> dict[str, list[_SourcedRow]]:
    """Valid rows grouped by contract sheet, in file order (a sheet may come from two tabs)."""
    grouped: dict[str, list[_SourcedRow]] = {}
    for sheet in result.sheets:
        if sheet.valid_rows:
            source = sheet.source_sheet
            grouped.setdefault(sheet.sheet_name, []).extend((source, row) for row in sheet.valid_rows)
    return grouped


def _merge_sheet(
    register: Register,
    conn: Connection,
    sheet_name: str,
    rows: list[_SourcedRow],
    provenance: _Provenance,
) -> MergeCounts:
    keyed = [(_row_key(sourced[1]), sourced) for sourced in rows]
    current = register.load_current(conn, sheet_name, (text for text, _ in keyed))
    pending = _resolve(keyed, current)
    counts = MergeCounts()
    superseded: list[int] = []
    new_versions: list[dict[str, Any]] = []
    for record_key, item in pending.items():
        if item.base is None:
            counts.inserted += 1
            new_versions.append(_version_row(sheet_name, record_key, 1, item, provenance))
        elif item.data == item.base.data:
            counts.unchanged += 1
        else:
            counts.updated += 1
            superseded.append(item.base.id)
            new_versions.append(_version_row(sheet_name, record_key, item.base.version + 1, item, provenance))
    # Supersede first: the one-current-version index must never see two current rows.
    register.supersede(conn, superseded, provenance.received_at)
    register.insert_versions(conn, new_versions)
    log.info(
        "%s: %d inserted, %d updated, %d unchanged",
        sheet_name,
        counts.inserted,
        counts.updated,
        counts.unchanged,
    )
    return counts


# What the canonical JSON encoder escapes in a string (ensure_ascii off): quote, backslash, controls.
_JSON_ESCAPED = re.compile(r'["\\\x00-\x1f]')


def key_text(key: tuple[Any, ...]) -> str:
    """:func:`~sheetsync.store.encode_key` of a key, spelt out directly in the usual case.

    A key of plain strings that need no escaping (and of plain integers) is written as the JSON
    encoder would write it; anything else goes through the encoder.  A 300,000-row night encodes
    as many keys, so this is one of the merge's inner loops.
    """
    parts = []
    for part in key:
        kind = part.__class__
        if kind is str and not _JSON_ESCAPED.search(part):
            parts.append(f'"{part}"')
        elif kind is int:
            parts.append(str(part))
        else:
            return encode_key(key)
    return "[" + ",".join(parts) + "]"


def _row_key(row: ValidRow) -> str:
    """The row's record key as the register stores it, as encoded in the worker if it was."""
    return row.stored[0] if row.stored is not None else key_text(row.record.key())


def _row_data(row: ValidRow) -> dict[str, Any]:
    """The row's record as the register stores its data; from the worker's JSON when it has one.

    That JSON is exactly the record's ``model_dump(mode="json")``, so no record is built for it.
    """
    if row.stored is not None:
        return json.loads(row.stored[1])
    return row.record.model_dump(mode="json")


def _resolve(keyed: list[tuple[str, _SourcedRow]], current: dict[str, CurrentVersion]) -> dict[str, _Pending]:
    """The data each key ends with; a key seen twice in one file takes the later row."""
    pending: dict[str, _Pending] = {}
    for record_key, sourced in keyed:
        row = sourced[1]
        base = current.get(record_key)
        earlier = pending.get(record_key)
        if base is None and earlier is None and row.stored is not None:
            pending[record_key] = _Pending(None, sourced, None)  # new, whole: inserted as stored
            continue
        start = earlier.full_data() if earlier is not None else (base.data if base is not None else None)
        new_data = _row_data(row)
        if start is None:
            data = new_data
        else:
            data = overlay(start, new_data, row.present_fields, _decimal_fields(row.model))
        pending[record_key] = _Pending(data, sourced, base)
    return pending


def overlay(
    old: dict[str, Any],
    new: dict[str, Any],
    present_fields: Iterable[str],
    decimal_fields: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """``old`` with only the file's columns replaced: a missing column keeps the register's value.

    A decimal that is numerically equal keeps the register's spelling (``1.50`` vs ``1.5``):
    re-saving a workbook in Excel must not look like a change and write a new version.
    """
    merged = dict(old)
    for name in present_fields:
        if name not in new:
            continue
        if name in decimal_fields and _same_number(old.get(name), new[name]):
            continue
        merged[name] = new[name]
    return merged


def _same_number(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False
    try:
        return Decimal(str(a)) == Decimal(str(b))
    except InvalidOperation:
        return False


@cache
def _decimal_fields(model: type[SheetModel]) -> frozenset[str]:
    return frozenset(name for name, column in model.columns().items() if column.kind is Kind.DECIMAL)


def _version_row(
    sheet_name: str, record_key: str, version: int, item: _Pending, provenance: _Provenance
) -> dict[str, Any]:
    source_sheet, row = item.source
    if item.data is None and row.stored is not None:
        _key, data_json, digest = row.stored
    else:
        data_json = dumps(item.full_data())
        digest = content_hash(data_json)
    return {
        "sheet_name": sheet_name,
        "record_key": record_key,
        "version": version,
        "data_json": data_json,
        "content_hash": digest,
        "is_current": True,
        "submitter": provenance.submitter,
        "submission_id": provenance.submission_id,
        "file_name": provenance.file_name,
        "source_sheet": source_sheet,
        "source_row": row.row,
        "file_hash": provenance.file_hash,
        "recorded_at": provenance.received_at,
        "superseded_at": None,
    }
