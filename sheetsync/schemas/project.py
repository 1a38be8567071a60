"""技改项目: retrofit projects, their money and the savings they bring."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Annotated, ClassVar

from sheetsync.schemas.base import Column, Kind, RuleProblem, SheetModel, SubmitterKind

PROJECT_CATEGORIES: tuple[str, ...] = (
    "节能",
    "节水",
    "减污",
    "资源综合利用",
    "清洁能源替代",
    "工艺设备改造",
    "其他",
)
OPTION_TYPES: tuple[str, ...] = ("无低费", "中高费")
PROJECT_STATUSES: tuple[str, ...] = ("申报", "已批准", "实施中", "已完工", "已验收", "已变更", "已撤销")

ZERO = Decimal(0)


def _money(header: str, note: str = "") -> Column:
    return Column(header, Kind.DECIMAL, minimum=ZERO, note=note or "单位:万元,填数字", width=14)


def _amount(header: str) -> Column:
    return Column(header, Kind.DECIMAL, minimum=ZERO, note="每年的量,填数字", width=16)


class Project(SheetModel):
    sheet_name: ClassVar[str] = "技改项目"
    key_fields: ClassVar[tuple[str, ...]] = ("project_id",)
    filled_by: ClassVar[frozenset[SubmitterKind]] = frozenset(
        {SubmitterKind.DISTRICT, SubmitterKind.AGENCY, SubmitterKind.OFFICE}
    )
    description: ClassVar[str] = "清洁生产技术改造项目,每个项目一行;补助分两期拨付。"

    project_id: Annotated[
        str | None,
        Column("项目编号", required=True, note="全市唯一,请以本单位简称开头,如 YX-2014-001", width=14),
    ] = None
    uscc: Annotated[
        str | None,
        Column(
            "统一社会信用代码",
            Kind.USCC,
            required=True,
            note="实施项目的企业,须已在企业名录中登记",
            width=22,
            aliases=("信用代码", "社会信用代码"),
        ),
    ] = None
    name: Annotated[str | None, Column("项目名称", required=True, width=30)] = None
    category: Annotated[
        str | None, Column("项目类别", Kind.CHOICE, required=True, choices=PROJECT_CATEGORIES, width=14)
    ] = None
    option_type: Annotated[str | None, Column("方案类型", Kind.CHOICE, choices=OPTION_TYPES, width=10)] = None
    investment: Annotated[Decimal | None, _money("总投资(万元)")] = None
    subsidy_requested: Annotated[Decimal | None, _money("申请补助(万元)")] = None
    subsidy_approved: Annotated[Decimal | None, _money("核定补助(万元)", "单位:万元,不得大于总投资")] = None
    started_on: Annotated[date | None, Column("开工日期", Kind.DATE, width=12)] = None
    finished_on: Annotated[date | None, Column("完工日期", Kind.DATE, width=12)] = None
    energy_saved_tce: Annotated[Decimal | None, _amount("年节能量(吨标准煤)")] = None
    water_saved_t: Annotated[Decimal | None, _amount("年节水量(吨)")] = None
    co2_cut_t: Annotated[Decimal | None, _amount("年减排二氧化碳(吨)")] = None
    cod_cut_t: Annotated[Decimal | None, _amount("年削减化学需氧量(吨)")] = None
    so2_cut_t: Annotated[Decimal | None, _amount("年削减二氧化硫(吨)")] = None
    first_paid_on: Annotated[date | None, Column("一期拨付日期", Kind.DATE, width=14)] = None
    first_paid: Annotated[Decimal | None, _money("一期拨付金额(万元)")] = None
    performance_accepted_on: Annotated[date | None, Column("绩效验收日期", Kind.DATE, width=14)] = None
    second_paid_on: Annotated[date | None, Column("二期拨付日期", Kind.DATE, width=14)] = None
    second_paid: Annotated[Decimal | None, _money("二期拨付金额(万元)")] = None
    status: Annotated[str | None, Column("项目状态", Kind.CHOICE, choices=PROJECT_STATUSES, width=10)] = None

    def rule_problems(self) -> Iterator[RuleProblem]:
        yield from self._not_more_than("subsidy_approved", "investment")
        yield from self._not_more_than("subsidy_requested", "investment")
        yield from self._dates_in_order("started_on", "finished_on")
        yield from self._dates_in_order("first_paid_on", "second_paid_on")
        yield from self._require_when(self.first_paid is not None, "已填写一期拨付金额", "first_paid_on")
        yield from self._require_when(self.second_paid is not None, "已填写二期拨付金额", "second_paid_on")
