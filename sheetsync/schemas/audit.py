"""审核进度: one row per audit round of an enterprise, its lifecycle dates in order."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Annotated, ClassVar

from sheetsync.schemas.base import Column, Kind, RuleProblem, SheetModel, SubmitterKind

AUDIT_FULL = "全面审核"
AUDIT_ONSITE = "实地评估"
AUDIT_METHODS: tuple[str, ...] = (AUDIT_FULL, AUDIT_ONSITE)
REPORT_GRADES: tuple[str, ...] = ("优秀", "良好", "合格", "不合格")
ACCEPTANCE_PASSED = "通过"
ACCEPTANCE_RESULTS: tuple[str, ...] = (ACCEPTANCE_PASSED, "不通过", "限期整改")
CERT_PARTICIPATION = "参与清洁生产行动证书"
CERT_EXCELLENT = "清洁生产(优秀)企业"
CERTIFICATE_TYPES: tuple[str, ...] = (CERT_PARTICIPATION, CERT_EXCELLENT)

# The lifecycle order the dates of one round must respect (DOMAIN.md, "The audit lifecycle").
LIFECYCLE_DATES: tuple[str, ...] = (
    "started_on",
    "report_on",
    "evaluated_on",
    "accepted_on",
    "certified_on",
    "valid_until",
)


class Audit(SheetModel):
    sheet_name: ClassVar[str] = "审核进度"
    key_fields: ClassVar[tuple[str, ...]] = ("uscc", "round")
    filled_by: ClassVar[frozenset[SubmitterKind]] = frozenset(
        {SubmitterKind.DISTRICT, SubmitterKind.AGENCY, SubmitterKind.OFFICE}
    )
    description: ClassVar[str] = "每家企业每一轮审核(或实地评估)一行,按进展逐项填写各阶段日期。"

    uscc: Annotated[
        str | None,
        Column(
            "统一社会信用代码",
            Kind.USCC,
            required=True,
            note="须已在企业名录中登记",
            width=22,
            aliases=("信用代码", "社会信用代码"),
        ),
    ] = None
    round: Annotated[
        int | None,
        Column(
            "审核轮次",
            Kind.INTEGER,
            required=True,
            minimum=Decimal(1),
            note="第一轮填 1,持续审核依次加 1",
            width=10,
        ),
    ] = None
    method: Annotated[
        str | None, Column("审核方式", Kind.CHOICE, required=True, choices=AUDIT_METHODS, width=12)
    ] = None
    agency: Annotated[str | None, Column("咨询机构", note="承担审核的咨询(技术服务)机构全称", width=24)] = (
        None
    )
    started_on: Annotated[date | None, Column("启动日期", Kind.DATE, width=12)] = None
    contract_filed_on: Annotated[
        date | None, Column("合同备案日期", Kind.DATE, note="咨询合同和审核登记表备案日期", width=14)
    ] = None
    report_on: Annotated[date | None, Column("报告提交日期", Kind.DATE, width=14)] = None
    evaluated_on: Annotated[date | None, Column("评估日期", Kind.DATE, width=12)] = None
    grade: Annotated[str | None, Column("评估等级", Kind.CHOICE, choices=REPORT_GRADES, width=10)] = None
    accepted_on: Annotated[date | None, Column("验收日期", Kind.DATE, width=12)] = None
    acceptance: Annotated[
        str | None, Column("验收结论", Kind.CHOICE, choices=ACCEPTANCE_RESULTS, width=10)
    ] = None
    certificate: Annotated[
        str | None, Column("证书类型", Kind.CHOICE, choices=CERTIFICATE_TYPES, width=22)
    ] = None
    certified_on: Annotated[date | None, Column("发证日期", Kind.DATE, width=12)] = None
    valid_until: Annotated[date | None, Column("证书有效期至", Kind.DATE, width=14)] = None
    remark: Annotated[str | None, Column("备注", max_length=2000, width=24)] = None

    def rule_problems(self) -> Iterator[RuleProblem]:
        yield from self._dates_in_order(*LIFECYCLE_DATES)
        yield from self._dates_in_order("contract_filed_on", "report_on")
        yield from self._require_when(self.grade is not None, "已填写评估等级", "evaluated_on")
        yield from self._require_when(self.acceptance is not None, "已填写验收结论", "accepted_on")
        yield from self._require_when(self.certificate is not None, "已填写证书类型", "certified_on")
        yield from self._require_when(self.certified_on is not None, "已填写发证日期", "certificate")
