"""年度目标: the office's yearly targets per submitter and metric, and the metric catalogue."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, ClassVar

from sheetsync.schemas.base import Column, Kind, SheetModel, SubmitterKind

CITY_WIDE = "全市"


@dataclass(frozen=True)
class Metric:
    """A programme target metric: the name officers see, its unit, and how it adds up."""

    name: str
    unit: str
    note: str
    is_rate: bool = False


METRICS: tuple[Metric, ...] = (
    Metric("覆盖企业数", "家", "企业名录中登记的企业"),
    Metric("启动审核企业数", "家", "已启动全面审核的企业"),
    Metric("通过验收企业数", "家", "验收结论为“通过”的企业"),
    Metric("实地评估企业数", "家", "完成实地评估的企业"),
    Metric("强制审核完成数", "家", "强制审核企业中通过验收的"),
    Metric("星级酒店审核数", "家", "已启动审核的星级酒店"),
    Metric("农业示范企业数", "家", "通过验收的农业生产企业"),
    Metric("技改项目数", "个", "未撤销的技改项目"),
    Metric("年节能量", "吨标准煤", "技改项目年节能量合计"),
    Metric("年减排二氧化碳", "吨", "技改项目年减排二氧化碳合计"),
    Metric("年削减化学需氧量", "吨", "技改项目年削减化学需氧量合计"),
    Metric("年削减二氧化硫", "吨", "技改项目年削减二氧化硫合计"),
    Metric("培训期数", "期", "培训活动期数"),
    Metric("培训人次", "人次", "培训活动参训人次合计"),
    Metric("参训企业数", "家", "有人参训的企业"),
    Metric("正职参训企业数", "家", "管理层正职参加过培训的企业"),
    Metric("园区审核率", "%", "园区内规模以上工业企业中启动审核的比例", is_rate=True),
)
METRIC_NAMES: tuple[str, ...] = tuple(metric.name for metric in METRICS)
METRICS_BY_NAME: dict[str, Metric] = {metric.name: metric for metric in METRICS}


class Target(SheetModel):
    sheet_name: ClassVar[str] = "年度目标"
    key_fields: ClassVar[tuple[str, ...]] = ("year", "district", "metric")
    filled_by: ClassVar[frozenset[SubmitterKind]] = frozenset({SubmitterKind.OFFICE})
    description: ClassVar[str] = "各填报单位(或全市)每年的目标值,覆盖规则方案中的默认目标。"

    year: Annotated[
        int | None,
        Column("年度", Kind.INTEGER, required=True, minimum=Decimal(2000), note="如 2014", width=8),
    ] = None
    district: Annotated[
        str | None, Column("区县", required=True, note=f"填报单位名称,全市目标填“{CITY_WIDE}”", width=12)
    ] = None
    metric: Annotated[
        str | None, Column("指标", Kind.CHOICE, required=True, choices=METRIC_NAMES, width=18)
    ] = None
    value: Annotated[
        Decimal | None,
        Column(
            "目标值",
            Kind.DECIMAL,
            required=True,
            minimum=Decimal(0),
            note="比率类指标填百分数,如 90",
            width=10,
        ),
    ] = None
