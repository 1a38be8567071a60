"""Templates prefilled with a submitter's current records, so they update rather than retype.

A row the submitter leaves untouched comes back equal to the register's version and changes
nothing; an edited or added row comes back as a change.  That only holds if the values go out
exactly as the register holds them, which is why every value goes through the schema model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sheetsync.records import StoredRecord
from sheetsync.schemas import SheetModel, SubmitterKind, sheets_for
from sheetsync.store import Register


def rows_for_template(model: type[SheetModel], records: Sequence[StoredRecord]) -> list[dict[str, Any]]:
    """Header → typed value for each record, in the template's column order."""
    columns = model.columns()
    rows: list[dict[str, Any]] = []
    for stored in records:
        record = model.model_validate(stored.data)
        row = {column.header: getattr(record, name) for name, column in columns.items()}
        rows.append({header: value for header, value in row.items() if value not in (None, ())})
    return rows


def prefill_rows(register: Register, submitter: str, kind: SubmitterKind) -> dict[str, list[dict[str, Any]]]:
    """The submitter's own current records for every sheet its template has."""
    prefilled: dict[str, list[dict[str, Any]]] = {}
    for model in sheets_for(kind):
        own = [record for record in register.current(model.sheet_name) if record.submitter == submitter]
        if own:
            prefilled[model.sheet_name] = rows_for_template(model, own)
    return prefilled
