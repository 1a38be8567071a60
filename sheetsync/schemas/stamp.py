"""填报信息: the hidden sheet that says who filled a workbook, for which period, from which template."""

from __future__ import annotations

import re
from datetime import date

from pydantic import BaseModel, ConfigDict

from sheetsync.schemas.base import SubmitterKind

STAMP_SHEET = "填报信息"
TEMPLATE_VERSION = "v1"

# label shown in column A of the stamp sheet → field of Stamp
STAMP_LABELS: dict[str, str] = {
    "填报单位": "submitter",
    "单位类型": "kind",
    "填报期间": "period",
    "模板版本": "template_version",
    "规则方案": "profile",
    "生成日期": "generated_on",
}

_PERIOD = re.compile(r"^(?P<year>\d{4})-(?:(?P<month>0[1-9]|1[0-2])|Q(?P<quarter>[1-4]))$")


def is_period(text: str) -> bool:
    return _PERIOD.match(text) is not None


def period_of(day: date, frequency: str = "monthly") -> str:
    """The reporting period a day falls in: ``2026-11`` monthly, ``2026-Q4`` quarterly."""
    if frequency == "quarterly":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    return f"{day.year}-{day.month:02d}"


class Stamp(BaseModel):
    model_config = ConfigDict(frozen=True)

    submitter: str
    kind: SubmitterKind
    period: str | None = None
    template_version: str = TEMPLATE_VERSION
    profile: str = ""
    generated_on: date | None = None


# Helper sheets of a template that carry no records: read past them without a warning.
INSTRUCTIONS_SHEET = "填报说明"
CHOICES_SHEET = "选项"
HELPER_SHEETS: frozenset[str] = frozenset({STAMP_SHEET, INSTRUCTIONS_SHEET, CHOICES_SHEET})
