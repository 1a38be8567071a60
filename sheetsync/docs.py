"""The workbook contract and error catalogue as Markdown, generated from the schemas.

``docs/workbook-contract.md`` is this module's output; a test regenerates it and fails when the
committed copy is stale, so the documentation can never drift from the code.
"""

from __future__ import annotations

from sheetsync.errors import CATALOGUE, Severity
from sheetsync.schemas import SHEETS, SheetModel
from sheetsync.schemas.base import SUBMITTER_KIND_LABELS
from sheetsync.schemas.stamp import STAMP_LABELS, STAMP_SHEET, TEMPLATE_VERSION


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _sheet_section(model: type[SheetModel]) -> list[str]:
    owners = "、".join(SUBMITTER_KIND_LABELS[kind] for kind in sorted(model.filled_by))
    lines = [
        f"## {model.sheet_name}",
        "",
        model.description,
        "",
        f"- 主键:{'+'.join(model.key_headers())}",
        f"- 填报:{owners}",
        "",
        "| 列名 | 必填 | 类型 | 可选值 | 说明 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for column in model.columns().values():
        lines.append(
            f"| {_cell(column.header)} | {'是' if column.required else ''} | {column.type_label()} "
            f"| {_cell(column.choices_text())} | {_cell(column.note)} |"
        )
    return [*lines, ""]


def contract_markdown() -> str:
    lines = [
        f"# 填报工作簿约定 {TEMPLATE_VERSION}",
        "",
        "本文件由 `sheetsync docs` 根据 `sheetsync/schemas/` 自动生成,请勿手工修改。",
        "",
        "表头在各工作表第1行;列名匹配时忽略空格、换行、全角半角和开头的“*”。",
        "日期可填真日期、Excel 序列号或 2014-5-31、2014/05/31、2014年5月31日 等文本。",
        "",
    ]
    for model in SHEETS:
        lines.extend(_sheet_section(model))
    lines.extend(
        [
            f"## {STAMP_SHEET}(隐藏)",
            "",
            "模板中隐藏的工作表,A列为项目、B列为值:" + "、".join(STAMP_LABELS) + "。",
            "",
            "## 问题代码",
            "",
            "| 代码 | 级别 | 名称 | 提示 |",
            "| --- | --- | --- | --- |",
        ]
    )
    for error in CATALOGUE.values():
        level = "错误" if error.severity is Severity.ERROR else "提示"
        lines.append(f"| `{error.code}` | {level} | {error.title} | {_cell(error.template)} |")
    return "\n".join(lines) + "\n"
