"""The workbook contract v1: one pydantic model per sheet, in contract order.

Everything else (templates, validation, register, master workbook, docs) is derived from the
models listed here; see :mod:`sheetsync.schemas.base` for how a sheet is declared.
"""

from __future__ import annotations

from sheetsync.schemas.agency import ConsultingAgency
from sheetsync.schemas.audit import Audit
from sheetsync.schemas.base import Column, Kind, RuleProblem, SheetModel, SubmitterKind
from sheetsync.schemas.enterprise import Enterprise
from sheetsync.schemas.expert import Expert
from sheetsync.schemas.project import Project
from sheetsync.schemas.stamp import STAMP_SHEET, Stamp
from sheetsync.schemas.target import Target
from sheetsync.schemas.training import Attendee, Training

SHEETS: tuple[type[SheetModel], ...] = (
    Enterprise,
    Audit,
    Project,
    Training,
    Attendee,
    Expert,
    ConsultingAgency,
    Target,
)
SHEETS_BY_NAME: dict[str, type[SheetModel]] = {model.sheet_name: model for model in SHEETS}


def sheets_for(kind: SubmitterKind) -> tuple[type[SheetModel], ...]:
    """The contract sheets a submitter of this kind fills, in contract order."""
    if kind is SubmitterKind.OFFICE:
        return tuple(model for model in SHEETS if model.filled_by == frozenset({SubmitterKind.OFFICE}))
    return tuple(model for model in SHEETS if kind in model.filled_by)


__all__ = [
    "SHEETS",
    "SHEETS_BY_NAME",
    "STAMP_SHEET",
    "Attendee",
    "Audit",
    "Column",
    "ConsultingAgency",
    "Enterprise",
    "Expert",
    "Kind",
    "Project",
    "RuleProblem",
    "SheetModel",
    "Stamp",
    "SubmitterKind",
    "Target",
    "Training",
    "sheets_for",
    "sheets_allowed",
]


def sheets_allowed(kind: SubmitterKind) -> frozenset[str]:
    """Sheet names a submitter of this kind may send; the office may send any."""
    return frozenset(model.sheet_name for model in SHEETS if kind in model.filled_by)
