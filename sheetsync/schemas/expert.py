"""专家库: the municipal expert pool panels are drawn from (kept by the office)."""

from __future__ import annotations

from typing import Annotated, ClassVar

from sheetsync.schemas.base import Column, Kind, SheetModel, SubmitterKind
from sheetsync.schemas.enterprise import INDUSTRY_SECTIONS

SPECIALTY_PROCESS = "工艺"
SPECIALTY_ENERGY = "节能"
SPECIALTY_ENVIRONMENT = "环保"
SPECIALTIES: tuple[str, ...] = (SPECIALTY_PROCESS, SPECIALTY_ENERGY, SPECIALTY_ENVIRONMENT, "财务", "审核")
EXPERT_ACTIVE = "在库"
EXPERT_STATUSES: tuple[str, ...] = (EXPERT_ACTIVE, "暂停", "退出")


class Expert(SheetModel):
    sheet_name: ClassVar[str] = "专家库"
    key_fields: ClassVar[tuple[str, ...]] = ("expert_id",)
    filled_by: ClassVar[frozenset[SubmitterKind]] = frozenset({SubmitterKind.OFFICE})
    description: ClassVar[str] = "市清洁生产专家库,评估、验收专家从状态为“在库”的专家中随机抽取。"

    expert_id: Annotated[str | None, Column("专家编号", required=True, width=12)] = None
    name: Annotated[str | None, Column("姓名", required=True, width=10)] = None
    employer: Annotated[
        str | None, Column("工作单位", required=True, note="用于回避本单位参与的审核", width=26)
    ] = None
    district: Annotated[str | None, Column("所在区县", width=10)] = None
    industry_fields: Annotated[
        tuple[str, ...],
        Column(
            "专业领域",
            Kind.MULTI_CHOICE,
            choices=INDUSTRY_SECTIONS,
            note="熟悉的行业门类,可只填字母,如“C、D”",
            width=26,
        ),
    ] = ()
    specialties: Annotated[
        tuple[str, ...],
        Column(
            "专长",
            Kind.MULTI_CHOICE,
            required=True,
            choices=SPECIALTIES,
            note="可填多个,如“工艺、节能”",
            width=16,
        ),
    ] = ()
    title: Annotated[str | None, Column("职称", width=12)] = None
    related: Annotated[
        tuple[str, ...],
        Column("关联单位", Kind.LIST, note="须回避的单位名称或统一社会信用代码", max_length=2000, width=30),
    ] = ()
    status: Annotated[
        str | None, Column("状态", Kind.CHOICE, required=True, choices=EXPERT_STATUSES, width=8)
    ] = None
    phone: Annotated[str | None, Column("联系电话", Kind.PHONE, width=16)] = None
