"""企业名录: every enterprise in the programme, keyed by its 统一社会信用代码."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Annotated, ClassVar

from sheetsync.schemas.base import Column, Kind, RuleProblem, SheetModel, SubmitterKind

# GB/T 4754-2017 sections (门类), written "letter name" so that either half is accepted.
INDUSTRY_SECTIONS: tuple[str, ...] = (
    "A 农、林、牧、渔业",
    "B 采矿业",
    "C 制造业",
    "D 电力、热力、燃气及水生产和供应业",
    "E 建筑业",
    "F 批发和零售业",
    "G 交通运输、仓储和邮政业",
    "H 住宿和餐饮业",
    "I 信息传输、软件和信息技术服务业",
    "J 金融业",
    "K 房地产业",
    "L 租赁和商务服务业",
    "M 科学研究和技术服务业",
    "N 水利、环境和公共设施管理业",
    "O 居民服务、修理和其他服务业",
    "P 教育",
    "Q 卫生和社会工作",
    "R 文化、体育和娱乐业",
    "S 公共管理、社会保障和社会组织",
    "T 国际组织",
)

ENTERPRISE_CATEGORIES: tuple[str, ...] = (
    "规模以上工业",
    "重点商贸",
    "星级酒店",
    "医疗机构",
    "餐饮",
    "教育",
    "交通运输",
    "建筑施工",
    "农业生产",
    "其他服务业",
)

# The seeds' key industries: heavy-metal prevention and control industries, the seven
# over-capacity industries, the other key industries of 环发〔2010〕54号, or none.
HEAVY_METAL_INDUSTRIES: tuple[str, ...] = (
    "重有色金属矿采选业",
    "重有色金属冶炼业",
    "含铅蓄电池业",
    "皮革及其制品业",
    "化学原料及化学制品制造业",
)
OVERCAPACITY_INDUSTRIES: tuple[str, ...] = ("钢铁", "水泥", "平板玻璃", "煤化工", "多晶硅", "电解铝", "造船")
OTHER_KEY_INDUSTRY = "其他重点行业(环发〔2010〕54号)"
NO_KEY_INDUSTRY = "无"
KEY_INDUSTRIES: tuple[str, ...] = (
    *HEAVY_METAL_INDUSTRIES,
    *OVERCAPACITY_INDUSTRIES,
    OTHER_KEY_INDUSTRY,
    NO_KEY_INDUSTRY,
)

AUDIT_VOLUNTARY = "自愿"
AUDIT_MANDATORY = "强制"
AUDIT_TYPES: tuple[str, ...] = (AUDIT_VOLUNTARY, AUDIT_MANDATORY)
MANDATORY_REASONS: tuple[str, ...] = ("超标排放", "使用有毒有害原料", "超能耗限额", "重点行业")


class Enterprise(SheetModel):
    sheet_name: ClassVar[str] = "企业名录"
    key_fields: ClassVar[tuple[str, ...]] = ("uscc",)
    filled_by: ClassVar[frozenset[SubmitterKind]] = frozenset(
        {SubmitterKind.DISTRICT, SubmitterKind.AGENCY, SubmitterKind.OFFICE}
    )
    description: ClassVar[str] = "本单位负责推进清洁生产的企业,每家企业一行,以统一社会信用代码识别。"

    uscc: Annotated[
        str | None,
        Column(
            "统一社会信用代码",
            Kind.USCC,
            required=True,
            note="18位,见营业执照;字母须大写",
            width=22,
            aliases=("信用代码", "社会信用代码"),
        ),
    ] = None
    name: Annotated[str | None, Column("企业名称", required=True, note="与营业执照一致的全称", width=30)] = (
        None
    )
    district: Annotated[
        str | None, Column("所属区县", required=True, note="企业所在的区或县级市", width=10)
    ] = None
    park: Annotated[str | None, Column("所属园区", note="位于工业园区的填写园区名称,否则留空", width=20)] = (
        None
    )
    industry_section: Annotated[
        str | None,
        Column(
            "行业门类",
            Kind.CHOICE,
            required=True,
            choices=INDUSTRY_SECTIONS,
            note="按 GB/T 4754 选择门类,如“C 制造业”",
            width=22,
        ),
    ] = None
    industry_code: Annotated[
        str | None, Column("行业代码", note="GB/T 4754 行业代码,2至4位数字", max_length=4, width=10)
    ] = None
    category: Annotated[
        str | None, Column("企业类别", Kind.CHOICE, required=True, choices=ENTERPRISE_CATEGORIES, width=14)
    ] = None
    key_industry: Annotated[
        str | None,
        Column(
            "重点行业",
            Kind.CHOICE,
            choices=KEY_INDUSTRIES,
            note="重金属、产能过剩或其他重点行业;都不是选“无”",
            width=18,
        ),
    ] = None
    audit_type: Annotated[
        str | None,
        Column(
            "审核类型",
            Kind.CHOICE,
            required=True,
            choices=AUDIT_TYPES,
            note="列入强制审核名单的选“强制”",
            width=10,
        ),
    ] = None
    mandatory_listed_on: Annotated[
        date | None, Column("列入强制名单日期", Kind.DATE, note="审核类型为“强制”时必填", width=14)
    ] = None
    mandatory_reason: Annotated[
        str | None,
        Column(
            "强制审核原因", Kind.CHOICE, choices=MANDATORY_REASONS, note="审核类型为“强制”时必填", width=16
        ),
    ] = None
    head_name: Annotated[str | None, Column("负责人(正职)姓名", note="企业管理层正职", width=14)] = None
    contact: Annotated[str | None, Column("联系人", width=10)] = None
    phone: Annotated[
        str | None, Column("联系电话", Kind.PHONE, note="固话请带区号,如 020-83123839", width=16)
    ] = None
    remark: Annotated[str | None, Column("备注", max_length=2000, width=24)] = None

    def rule_problems(self) -> Iterator[RuleProblem]:
        yield from self._require_when(
            self.audit_type == AUDIT_MANDATORY, "审核类型为“强制”", "mandatory_listed_on", "mandatory_reason"
        )
        if self.industry_code is not None and not (
            self.industry_code.isdigit() and 2 <= len(self.industry_code) <= 4
        ):
            yield RuleProblem(
                "out-of-range", "industry_code", {"value": self.industry_code, "bound": "为2至4位数字"}
            )
