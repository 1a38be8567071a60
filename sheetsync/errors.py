"""The catalogue of problems sheetsync reports, each with a stable code and a Chinese fix-it text.

Modelled on frictionless-py's error catalogue: every problem names its file, sheet and cell
(A1 form), the header and the value seen, and says in Chinese what the submitter should do.
Codes never change once published: feedback workbooks, receipts and scripts key on them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter


class Severity(StrEnum):
    ERROR = "error"  # the row (or the file) is kept out of the register
    WARNING = "warning"  # reported, nothing is kept out


class Scope(StrEnum):
    FILE = "file"
    SHEET = "sheet"
    ROW = "row"


@dataclass(frozen=True)
class ErrorType:
    code: str
    title: str
    template: str
    scope: Scope
    severity: Severity = Severity.ERROR


_CATALOGUE: tuple[ErrorType, ...] = (
    ErrorType(
        "unreadable-file",
        "文件无法读取",
        "无法打开此文件({reason})。请用 Excel 或 WPS 另存为 .xlsx 后重新提交。",
        Scope.FILE,
    ),
    ErrorType(
        "unsupported-file",
        "文件类型不支持",
        "不支持“{suffix}”类型的文件。请提交 .xlsx、.xlsm、.xls、.ods 或 .csv 文件。",
        Scope.FILE,
    ),
    ErrorType(
        "no-contract-sheet",
        "没有可识别的工作表",
        "文件中没有找到任何约定的工作表({expected})。请使用下发的填报模板填写。",
        Scope.FILE,
    ),
    ErrorType(
        "submitter-mismatch",
        "填报单位不一致",
        "文件标记的填报单位是“{stamped}”,但它放在“{expected}”的文件夹中。请使用本单位的模板,或把文件放入正确的文件夹。",
        Scope.FILE,
    ),
    ErrorType(
        "unknown-submitter",
        "未知的填报单位",
        "“{submitter}”不在本方案的填报单位名单中。请核对文件夹名称或模板中的填报单位。",
        Scope.FILE,
    ),
    ErrorType(
        "missing-stamp",
        "缺少填报信息",
        "文件中没有“填报信息”工作表,无法确认填报单位和填报期间;已按所在文件夹认定为“{expected}”。建议使用下发的模板填写。",
        Scope.FILE,
        Severity.WARNING,
    ),
    ErrorType(
        "unknown-sheet",
        "无法识别的工作表",
        "工作表“{sheet}”不是约定的工作表,其内容未被读取。如需提交,请把数据复制到模板中对应的工作表。",
        Scope.SHEET,
        Severity.WARNING,
    ),
    ErrorType(
        "sheet-not-allowed",
        "无权填报此表",
        "“{submitter}”({kind})不负责填报“{sheet}”,此表内容未被接收。该表由{owners}填报。",
        Scope.SHEET,
    ),
    ErrorType(
        "missing-header",
        "缺少必填列",
        "找不到必填列“{header}”。请不要删除或改写模板的表头,把该列补回第{header_row}行。",
        Scope.SHEET,
    ),
    ErrorType(
        "missing-optional-header",
        "缺少列",
        "找不到列“{header}”,该列的已有数据将保持不变。如需填报,请把该列补回表头。",
        Scope.SHEET,
        Severity.WARNING,
    ),
    ErrorType(
        "unknown-header",
        "无法识别的列",
        "列标题“{value}”不是约定的列,该列内容未被读取。请核对列名是否写错,或删除该列。",
        Scope.SHEET,
        Severity.WARNING,
    ),
    ErrorType(
        "duplicate-header",
        "列标题重复",
        "列“{header}”出现了不止一次(另见 {other_cell})。请删除重复的列。",
        Scope.SHEET,
    ),
    ErrorType("required", "必填项为空", "“{header}”为必填项,请填写。", Scope.ROW),
    ErrorType("required-when", "条件必填项为空", "{condition}时,“{header}”必须填写。", Scope.ROW),
    ErrorType(
        "not-a-date",
        "日期格式错误",
        "“{value}”不是有效日期。请填写如 2014-05-31 或 2014年5月31日 的日期。",
        Scope.ROW,
    ),
    ErrorType(
        "not-a-number",
        "数字格式错误",
        "“{value}”不是数字。请只填写数字(可带小数点),不要带单位或文字。",
        Scope.ROW,
    ),
    ErrorType("not-an-integer", "应为整数", "“{value}”不是整数。请填写整数。", Scope.ROW),
    ErrorType("out-of-range", "数值超出范围", "“{value}”超出允许范围,应{bound}。", Scope.ROW),
    ErrorType(
        "not-in-choices", "不在可选值中", "“{value}”不是可选值。请从下拉列表中选择:{choices}。", Scope.ROW
    ),
    ErrorType(
        "not-a-phone",
        "电话号码格式错误",
        "“{value}”不像电话号码。请填写数字,区号可用“-”分隔,多个号码用“、”分隔。",
        Scope.ROW,
    ),
    ErrorType(
        "not-a-period",
        "填报期间格式错误",
        "“{value}”不是有效的填报期间。请填写如 2026-11(月报)或 2026-Q4(季报)。",
        Scope.ROW,
    ),
    ErrorType("too-long", "内容过长", "内容长度为{length}个字符,超过上限{limit}。请精简后再填。", Scope.ROW),
    ErrorType(
        "excel-error",
        "单元格为错误值",
        "单元格显示错误值“{value}”,通常是公式出错。请改为直接填写数值。",
        Scope.ROW,
    ),
    ErrorType(
        "uscc-format",
        "信用代码格式错误",
        "“{value}”不是18位统一社会信用代码。请核对位数,且只含数字和大写字母(不含 I、O、S、V、Z)。",
        Scope.ROW,
    ),
    ErrorType(
        "uscc-checksum",
        "信用代码校验位错误",
        "“{value}”的校验位不正确(按 GB 32100-2015 计算应为“{expected}”),多半是抄错了某一位。请对照营业执照核对。",
        Scope.ROW,
    ),
    ErrorType(
        "duplicate-key",
        "记录重复",
        "与本表第{other_row}行的{key}相同,同一记录只能填一行。请合并或删除重复行。",
        Scope.ROW,
    ),
    ErrorType(
        "date-order",
        "日期先后顺序错误",
        "“{header}”({value})早于“{earlier_header}”({earlier_value})。审核各阶段日期不能倒退,请核对。",
        Scope.ROW,
    ),
    ErrorType(
        "amount-exceeds",
        "金额超出上限",
        "“{header}”({value})不能大于“{limit_header}”({limit_value})。请核对金额。",
        Scope.ROW,
    ),
    ErrorType(
        "unknown-reference",
        "引用的记录不存在",
        "“{value}”在“{target_sheet}”中找不到。请先在“{target_sheet}”中登记,或核对编号。",
        Scope.ROW,
    ),
    ErrorType("invalid-value", "内容无效", "“{value}”无法识别({detail})。请按填报说明填写。", Scope.ROW),
    ErrorType(
        "not-owner",
        "无权修改此记录",
        "{reason}。本行未被接收,已列入总台账“冲突待处理”表,由市工作组办公室处理;如确属本单位,请联系办公室更正。",
        Scope.ROW,
    ),
    ErrorType(
        "not-processed",
        "文件未能处理",
        "处理此文件时出错({reason}),其数据本次没有写入台账,台账中已有的数据不受影响。文件会在下次汇总时重试;如一再出现,请联系市工作组办公室。",
        Scope.FILE,
    ),
)

CATALOGUE: dict[str, ErrorType] = {error.code: error for error in _CATALOGUE}


class _SafeDict(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render_message(code: str, context: dict[str, Any]) -> str:
    """The Chinese fix-it text for ``code`` with its context filled in."""
    return CATALOGUE[code].template.format_map(_SafeDict({k: _display(v) for k, v in context.items()}))


def _display(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple | list):
        return "、".join(_display(v) for v in value)
    return str(value)


class Problem(BaseModel):
    """One thing wrong with a submission, located as precisely as the problem allows."""

    model_config = ConfigDict(frozen=True)

    code: str
    severity: Severity
    title: str
    message: str
    file: str
    sheet: str | None = None
    cell: str | None = None
    row: int | None = None
    header: str | None = None
    value: str | None = None
    # the key of the record the row writes (``not-owner``: which record the office has to settle)
    record_key: str | None = None

    @classmethod
    def make(
        cls,
        code: str,
        *,
        file: str,
        sheet: str | None = None,
        cell: str | None = None,
        row: int | None = None,
        header: str | None = None,
        value: Any = None,
        severity: Severity | None = None,
        record_key: str | None = None,
        **context: Any,
    ) -> Problem:
        kind = CATALOGUE[code]
        context = {"header": header, "value": value, "sheet": sheet, **context}
        return cls(
            code=code,
            severity=severity or kind.severity,
            title=kind.title,
            message=render_message(code, context),
            file=file,
            sheet=sheet,
            cell=cell,
            row=row,
            header=header,
            value=None if value is None else _display(value),
            record_key=record_key,
        )

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def where(self) -> str:
        """``文件 › 工作表 › 单元格`` as an officer reads it."""
        return " › ".join(part for part in (self.file, self.sheet, self.cell) if part)


# a list of problems as the register and the run log keep them, (de)serialised in one call
PROBLEM_LIST: TypeAdapter[list[Problem]] = TypeAdapter(list[Problem])


def problems_as_json(problems: Iterable[Problem]) -> list[dict[str, Any]]:
    """Each problem's ``model_dump(mode="json")``, in one pydantic call for the whole list.

    A night writes every problem twice (its submission's row and the run's summary), 95,000 of
    them at national scale; one serialiser call per problem cost several times the list's.
    """
    return PROBLEM_LIST.dump_python(list(problems), mode="json")
