"""咨询机构: consulting / technical-service agencies that carry out audits (kept by the office)."""

from __future__ import annotations

from typing import Annotated, ClassVar

from sheetsync.schemas.base import Column, Kind, SheetModel, SubmitterKind

AGENCY_ACTIVE = "在册"
AGENCY_STATUSES: tuple[str, ...] = (AGENCY_ACTIVE, "暂停", "退出")


class ConsultingAgency(SheetModel):
    sheet_name: ClassVar[str] = "咨询机构"
    key_fields: ClassVar[tuple[str, ...]] = ("uscc",)
    filled_by: ClassVar[frozenset[SubmitterKind]] = frozenset({SubmitterKind.OFFICE})
    description: ClassVar[str] = "在册的清洁生产咨询(技术服务)机构,按季度评定工作绩效。"

    name: Annotated[str | None, Column("机构名称", required=True, width=28)] = None
    uscc: Annotated[
        str | None,
        Column("统一社会信用代码", Kind.USCC, required=True, width=22, aliases=("信用代码", "社会信用代码")),
    ] = None
    contact: Annotated[str | None, Column("联系人", width=10)] = None
    phone: Annotated[str | None, Column("联系电话", Kind.PHONE, width=16)] = None
    status: Annotated[
        str | None, Column("状态", Kind.CHOICE, required=True, choices=AGENCY_STATUSES, width=8)
    ] = None
