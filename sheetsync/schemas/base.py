"""The machinery every contract sheet is declared with.

A sheet is a pydantic model; each field carries a :class:`Column` in its ``Annotated`` metadata
that says everything the rest of sheetsync derives from it: the Chinese header, whether it is
required, how a raw cell becomes a typed value, the choice list, the note shown to submitters.
Templates, validation, the master workbook and the docs read these declarations and nothing
else, so a header or a choice list is written down exactly once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

from sheetsync import normalize
from sheetsync.normalize import CellProblem, ChoiceMatcher


class Kind(StrEnum):
    """How a column's cells are read, checked and written."""

    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    DATE = "date"
    CHOICE = "choice"
    MULTI_CHOICE = "multi-choice"
    LIST = "list"
    USCC = "uscc"
    PHONE = "phone"


KIND_LABELS: dict[Kind, str] = {
    Kind.TEXT: "文本",
    Kind.INTEGER: "整数",
    Kind.DECIMAL: "数字",
    Kind.DATE: "日期",
    Kind.CHOICE: "下拉选择",
    Kind.MULTI_CHOICE: "多选(用“、”分隔)",
    Kind.LIST: "多项(用“、”分隔)",
    Kind.USCC: "18位统一社会信用代码",
    Kind.PHONE: "电话号码(文本)",
}

DEFAULT_TEXT_LIMIT = 500


@dataclass(frozen=True)
class Column:
    """One column of a contract sheet; lives in a field's ``Annotated`` metadata."""

    header: str
    kind: Kind = Kind.TEXT
    required: bool = False
    choices: tuple[str, ...] = ()
    note: str = ""
    aliases: tuple[str, ...] = ()
    minimum: Decimal | None = None
    max_length: int = DEFAULT_TEXT_LIMIT
    width: int = 14
    matcher: ChoiceMatcher | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.choices:
            object.__setattr__(self, "matcher", ChoiceMatcher(self.choices))

    def parse(self, raw: Any) -> Any:
        """The typed value of one raw cell, or :class:`CellProblem` naming what is wrong."""
        value = self._convert(raw)
        if self.required and (value is None or value == ()):
            raise CellProblem("required")
        if self.minimum is not None and isinstance(value, int | Decimal) and value < self.minimum:
            raise CellProblem("out-of-range", value=normalize.clean_text(raw), bound=f"不小于 {self.minimum}")
        if isinstance(value, str) and len(value) > self.max_length:
            raise CellProblem("too-long", value=value[:20] + "…", length=len(value), limit=self.max_length)
        return value

    def _convert(self, raw: Any) -> Any:
        if isinstance(raw, tuple | list) and self.kind in (Kind.MULTI_CHOICE, Kind.LIST):
            raw = "、".join(str(item) for item in raw)
        match self.kind:
            case Kind.TEXT:
                return normalize.clean_text(raw)
            case Kind.INTEGER:
                return normalize.to_integer(raw)
            case Kind.DECIMAL:
                return normalize.to_decimal(raw)
            case Kind.DATE:
                return normalize.to_date(raw)
            case Kind.CHOICE:
                assert self.matcher is not None
                try:
                    return self.matcher.parse_one(raw)
                except CellProblem as problem:
                    problem.context["choices"] = self.choices_text()
                    raise
            case Kind.MULTI_CHOICE:
                assert self.matcher is not None
                try:
                    return self.matcher.parse_many(raw)
                except CellProblem as problem:
                    problem.context["choices"] = self.choices_text()
                    raise
            case Kind.LIST:
                return normalize.split_list(raw)
            case Kind.USCC:
                return normalize.to_uscc(raw)
            case Kind.PHONE:
                return normalize.to_phone(raw)
        raise AssertionError(self.kind)  # pragma: no cover

    def choices_text(self) -> str:
        """The choice list as one readable line; choices that contain 、 are set apart with /."""
        separator = " / " if any("、" in choice for choice in self.choices) else "、"
        return separator.join(self.choices)

    def type_label(self) -> str:
        return KIND_LABELS[self.kind]

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def validate(raw: Any) -> Any:
            try:
                return self.parse(raw)
            except CellProblem as problem:
                raise PydanticCustomError(problem.code, problem.code, problem.context) from None

        return core_schema.no_info_before_validator_function(validate, handler(source))


@dataclass(frozen=True)
class RuleProblem:
    """A broken cross-field rule, located at the field whose cell should be fixed."""

    code: str
    field: str
    context: dict[str, Any]


class SubmitterKind(StrEnum):
    DISTRICT = "district"
    AGENCY = "agency"
    OFFICE = "office"


SUBMITTER_KIND_LABELS: dict[SubmitterKind, str] = {
    SubmitterKind.DISTRICT: "区、县级市",
    SubmitterKind.AGENCY: "市有关部门",
    SubmitterKind.OFFICE: "市工作组办公室",
}


class SheetModel(BaseModel):
    """A contract sheet: one instance is one valid row."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sheet_name: ClassVar[str]
    key_fields: ClassVar[tuple[str, ...]]
    filled_by: ClassVar[frozenset[SubmitterKind]]
    description: ClassVar[str]

    @classmethod
    def columns(cls) -> dict[str, Column]:
        """Field name → :class:`Column`, in the contract's column order."""
        cached = cls.__dict__.get("_columns_cache")
        if cached is not None:
            return cached
        found: dict[str, Column] = {}
        for name, info in cls.model_fields.items():
            column = next((meta for meta in info.metadata if isinstance(meta, Column)), None)
            if column is None:
                raise TypeError(f"{cls.__name__}.{name} has no Column")
            found[name] = column
        cls._columns_cache = found  # type: ignore[attr-defined]
        return found

    @classmethod
    def column(cls, name: str) -> Column:
        return cls.columns()[name]

    @classmethod
    def header(cls, name: str) -> str:
        return cls.columns()[name].header

    @classmethod
    def key_headers(cls) -> tuple[str, ...]:
        return tuple(cls.header(name) for name in cls.key_fields)

    def key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.key_fields)

    def rule_problems(self) -> Iterator[RuleProblem]:
        """Cross-field rules of this sheet; every broken one is yielded, not just the first."""
        return iter(())

    # helpers for the rules of subclasses -------------------------------------------------

    def _require_when(self, condition: bool, condition_text: str, *names: str) -> Iterator[RuleProblem]:
        if not condition:
            return
        for name in names:
            value = getattr(self, name)
            if value is None or value == ():
                yield RuleProblem("required-when", name, {"condition": condition_text})

    def _dates_in_order(self, *names: str) -> Iterator[RuleProblem]:
        """Each date must not be earlier than the latest filled date before it in ``names``."""
        latest: tuple[str, Any] | None = None
        for name in names:
            value = getattr(self, name)
            if value is None:
                continue
            if latest is not None and value < latest[1]:
                yield RuleProblem(
                    "date-order",
                    name,
                    {
                        "value": value.isoformat(),
                        "earlier_header": self.header(latest[0]),
                        "earlier_value": latest[1].isoformat(),
                    },
                )
                continue
            latest = (name, value)

    def _not_more_than(self, name: str, limit_name: str) -> Iterator[RuleProblem]:
        value, limit = getattr(self, name), getattr(self, limit_name)
        if value is not None and limit is not None and value > limit:
            yield RuleProblem(
                "amount-exceeds",
                name,
                {"value": value, "limit_header": self.header(limit_name), "limit_value": limit},
            )
