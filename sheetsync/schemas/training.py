"""培训活动 and 参训人员: training events and who attended them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, ClassVar

from sheetsync.schemas.base import Column, Kind, SheetModel, SubmitterKind

TRAINING_TYPES: tuple[str, ...] = ("认知推广", "专题培训", "现场会", "经验交流")
YES, NO = "是", "否"
YES_NO: tuple[str, ...] = (YES, NO)

_FIELD_SUBMITTERS = frozenset({SubmitterKind.DISTRICT, SubmitterKind.AGENCY, SubmitterKind.OFFICE})


class Training(SheetModel):
    sheet_name: ClassVar[str] = "培训活动"
    key_fields: ClassVar[tuple[str, ...]] = ("training_id",)
    filled_by: ClassVar[frozenset[SubmitterKind]] = _FIELD_SUBMITTERS
    description: ClassVar[str] = "本单位举办的清洁生产培训、推广和交流活动,每期一行。"

    training_id: Annotated[
        str | None,
        Column(
            "培训编号",
            required=True,
            note="全市唯一,请以本单位简称开头,如 YX-2014-01;参训人员表用它关联本期培训",
            width=14,
        ),
    ] = None
    held_on: Annotated[date | None, Column("培训日期", Kind.DATE, required=True, width=12)] = None
    topic: Annotated[str | None, Column("培训主题", required=True, width=30)] = None
    training_type: Annotated[
        str | None, Column("培训类型", Kind.CHOICE, choices=TRAINING_TYPES, width=12)
    ] = None
    organiser: Annotated[str | None, Column("主办单位", width=20)] = None
    attendance: Annotated[
        int | None,
        Column(
            "参训人次", Kind.INTEGER, required=True, minimum=Decimal(0), note="本期参加培训的总人次", width=10
        ),
    ] = None


class Attendee(SheetModel):
    sheet_name: ClassVar[str] = "参训人员"
    key_fields: ClassVar[tuple[str, ...]] = ("training_id", "uscc", "name")
    filled_by: ClassVar[frozenset[SubmitterKind]] = _FIELD_SUBMITTERS
    description: ClassVar[str] = "每期培训的参训人员,每人一行;企业管理层正职参训须标明。"

    training_id: Annotated[
        str | None, Column("培训编号", required=True, note="须是培训活动表中已有的培训编号", width=14)
    ] = None
    uscc: Annotated[
        str | None,
        Column(
            "统一社会信用代码",
            Kind.USCC,
            required=True,
            note="参训人员所在企业",
            width=22,
            aliases=("信用代码", "社会信用代码"),
        ),
    ] = None
    name: Annotated[str | None, Column("姓名", required=True, width=10)] = None
    title: Annotated[str | None, Column("职务", width=14)] = None
    is_head: Annotated[
        str | None,
        Column("是否正职", Kind.CHOICE, choices=YES_NO, note="企业管理层正职(负责人)选“是”", width=10),
    ] = None
