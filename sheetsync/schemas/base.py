"""The machinery every contract sheet is declared with.

A sheet is a pydantic model; each field carries a :class:`Column` in its ``Annotated`` metadata
that says everything the rest of sheetsync derives from it: the Chinese header, whether it is
required, how a raw cell becomes a typed value, the choice list, the note shown to submitters.
Templates, validation, the master workbook and the docs read these declarations and nothing
else, so a header or a choice list is written down exactly once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar, Self, TypeVar

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

# Python types Column.parse returns per kind (besides None): what the field's annotation is
# checked against before a record is built without pydantic (SheetModel.from_parsed).
KIND_TYPES: dict[Kind, type] = {
    Kind.TEXT: str,
    Kind.INTEGER: int,
    Kind.DECIMAL: Decimal,
    Kind.DATE: date,
    Kind.CHOICE: str,
    Kind.MULTI_CHOICE: tuple,
    Kind.LIST: tuple,
    Kind.USCC: str,
    Kind.PHONE: str,
}

# A column remembers this many parsed cells, then starts afresh: enough for a choice list or
# the dates of a night, bounded for a process that stays up (``sheetsync run``).
PARSE_CACHE_SIZE = 50_000


class CellFailure:
    """What :meth:`Column.parse` raised for a cell, kept as a value (see :meth:`Column.outcome`)."""

    __slots__ = ("code", "context")

    def __init__(self, code: str, context: dict[str, Any]) -> None:
        self.code = code
        self.context = context

    def __repr__(self) -> str:
        return f"CellFailure({self.code!r}, {self.context!r})"


class NeedsModelValidation(Exception):
    """A cell :meth:`Column.outcome` cannot vouch for: the caller must use ``model_validate``.

    Raised when ``parse`` fails with something other than :class:`CellProblem` (pydantic would
    turn a ValueError into its own error type, and let anything else through), or returns a value
    of a type the field does not hold as it is; the reference path then decides what happens.
    """


_MISS = object()


def _cache_key(raw: Any) -> Any:
    """The cache key of a raw cell, or ``_MISS`` when equal values might parse differently.

    The type is part of the key (``1``, ``1.0`` and ``True`` are equal in Python but not in a
    cell); ``-0.0`` equals ``0.0`` and NaN equals nothing, so floats that are zero or NaN are
    not cached, nor are aware datetimes (equal instants in two zones print differently).
    """
    kind = raw.__class__
    if kind is str or kind is int or kind is bool or raw is None or kind is date:
        return (kind, raw)
    if kind is float:
        return (kind, raw) if raw == raw and raw != 0.0 else _MISS
    if kind is datetime and raw.tzinfo is None:
        return (kind, raw)
    return _MISS


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
    # raw cell → parsed value or CellFailure; plain str cells have a dict of their own (the
    # usual case, looked up without building a key)
    _text_outcomes: dict[str, Any] = field(default_factory=dict, init=False, compare=False, repr=False)
    _other_outcomes: dict[Any, Any] = field(default_factory=dict, init=False, compare=False, repr=False)

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

    def outcome(self, raw: Any) -> Any:
        """:meth:`parse` as a value: the typed value, or a :class:`CellFailure` instead of raising.

        ``parse`` is a pure function of the cell, so the outcome of a cell value seen before is
        taken from a cache: a choice, a district or a date is parsed once a night, not once a row.
        Raises :class:`NeedsModelValidation` for a cell only ``model_validate`` can judge.
        """
        if raw.__class__ is str:
            found = self._text_outcomes.get(raw, _MISS)
            if found is _MISS:
                found = self._remember(self._text_outcomes, raw, raw)
            return found
        key = _cache_key(raw)
        if key is _MISS:
            return self._attempt(raw)
        found = self._other_outcomes.get(key, _MISS)
        if found is _MISS:
            found = self._remember(self._other_outcomes, key, raw)
        return found

    def forget_outcomes(self) -> None:
        """Let go of the remembered cells: worth it between sheets, not between rows.

        Each remembered cell keeps its raw text and parsed value alive; for a column of names or
        credit codes that is up to ``PARSE_CACHE_SIZE`` entries nobody will ask for again once
        the sheet is done, a few hundred MB over a national night's columns.
        """
        self._text_outcomes.clear()
        self._other_outcomes.clear()

    def _remember(self, cache: dict[Any, Any], key: Any, raw: Any) -> Any:
        found = self._attempt(raw)
        if len(cache) >= PARSE_CACHE_SIZE:
            cache.clear()
        cache[key] = found
        return found

    def _attempt(self, raw: Any) -> Any:
        try:
            value = self.parse(raw)
        except CellProblem as problem:
            return CellFailure(problem.code, problem.context)
        except Exception as error:
            raise NeedsModelValidation(self.header) from error
        if value is None:
            return None
        expected = KIND_TYPES[self.kind]
        if value.__class__ is not expected or (
            expected is tuple and any(item.__class__ is not str for item in value)
        ):
            raise NeedsModelValidation(self.header)
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

    @classmethod
    def can_build_from_parsed(cls) -> bool:
        """Whether :meth:`from_parsed` builds exactly what ``model_validate`` would, for this sheet.

        True when every field holds what its Column parses to unchanged (``str | None`` for a
        text column, ``tuple[str, ...]`` for a list, ...) and the model adds no validators of
        its own; a sheet declared otherwise is always validated through pydantic.
        """
        cached = cls.__dict__.get("_from_parsed_ok")
        if cached is None:
            cached = _builds_from_parsed(cls)
            cls._from_parsed_ok = cached  # type: ignore[attr-defined]
        return cached

    @classmethod
    def from_parsed(cls, parsed: Mapping[str, Any]) -> Self:
        """The record ``model_validate(raw)`` returns when ``parsed[name]`` is each field's parse.

        Every value must come from :meth:`Column.outcome` (which checks its type) and the sheet
        must pass :meth:`can_build_from_parsed`: pydantic would then only hand each value back
        unchanged, so the record is assembled directly (a validation per row was most of the time
        of checking a 300,000-row night).  Fields not in ``parsed`` take their default and are
        left out of the fields set, as with ``model_validate``.
        """
        defaults = _defaults_template(cls)
        fields = defaults.copy()
        fields.update(parsed)
        if len(fields) != len(defaults):  # a name that is no field: left out, as pydantic would
            fields = defaults.copy()
            fields.update((name, value) for name, value in parsed.items() if name in defaults)
        return _record(cls, fields, shared_fields_set(parsed))

    @classmethod
    def builder(cls, present: Sequence[str]) -> Callable[[Sequence[Any]], Self]:
        """:meth:`from_parsed` for one sheet's rows: ``values`` are the parses of ``present``, in order.

        Worked out once per sheet instead of once per row: where each field's value comes from
        (a parsed column, or the field's default) and the shared fields set.
        """
        names = tuple(cls.model_fields)
        filled = shared_fields_set(present)
        if tuple(present) == names:  # every column there, in the model's order: the usual case

            def build_all(values: Sequence[Any]) -> Self:
                return assembled_in_order(cls, values, filled)

            return build_all
        position = {name: index for index, name in enumerate(present)}
        sources = tuple((position.get(name, -1), info.default) for name, info in cls.model_fields.items())

        def build(values: Sequence[Any]) -> Self:
            return assembled_in_order(
                cls, [values[at] if at >= 0 else default for at, default in sources], filled
            )

        return build

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


_set_attribute = object.__setattr__
_Record = TypeVar("_Record", bound="SheetModel")


def assembled_in_order(model: type[_Record], values: Iterable[Any], filled: set[str]) -> _Record:
    """A record of ``model`` holding ``values`` (every field's, in the model's order) as they are, unvalidated.

    Pydantic's own four slots set as ``model_validate`` leaves them (``filled`` is the fields
    set): for values already known to be what validation would return, from parsed cells
    (:meth:`SheetModel.builder`) or a record pickled in a worker process. The fields go into a
    copy of the model's template dict, so every record shares its field names.
    """
    template = _field_template(model)
    fields = template.copy()
    fields.update(zip(template, values, strict=True))
    return _record(model, fields, filled)


def _record(model: type[_Record], fields: dict[str, Any], filled: set[str]) -> _Record:
    """A record of ``model`` whose ``__dict__`` is ``fields``; see :func:`assembled_in_order`."""
    record = model.__new__(model)
    _set_attribute(record, "__dict__", fields)
    _set_attribute(record, "__pydantic_fields_set__", filled)
    _set_attribute(record, "__pydantic_extra__", None)
    _set_attribute(record, "__pydantic_private__", None)
    return record


def _field_template(model: type[SheetModel]) -> dict[str, Any]:
    """A dict of ``model``'s fields in order whose copies share one table of keys.

    A record's fields live in its ``__dict__``; a plain dict of 15 fields takes 464 bytes, a
    copy of this one 296, as CPython keeps the keys of an instance dict made attribute by
    attribute once for the class and only the values in each copy. A national night holds
    its 900,000 typed records through the writing of the master: about 150 MB less.
    Where the interpreter does not share keys this is an ordinary dict, and copies of it
    ordinary dicts.
    """
    template = model.__dict__.get("_field_template")
    if template is None:
        prototype = model.__new__(model)
        for name in model.model_fields:
            _set_attribute(prototype, name, None)
        template = prototype.__dict__
        model._field_template = template  # type: ignore[attr-defined]
    return template


def _defaults_template(model: type[SheetModel]) -> dict[str, Any]:
    """:func:`_field_template` holding each field's default: a record's fields before its cells."""
    template = model.__dict__.get("_defaults_template")
    if template is None:
        template = _field_template(model).copy()
        template.update((name, info.default) for name, info in model.model_fields.items())
        model._defaults_template = template  # type: ignore[attr-defined]
    return template


# One fields set per distinct set of field names, shared by every record built with it.
_FIELDS_SETS: dict[tuple[str, ...], set[str]] = {}


def shared_fields_set(names: Iterable[str]) -> set[str]:
    """The ``__pydantic_fields_set__`` for records filled in ``names``, one object for them all.

    A set per record was about a fifth of a typed record's memory (a million records at national
    scale).  Sharing is safe because contract models are frozen (pydantic only adds to the set
    on attribute assignment) and ``model_copy`` gives the copy a set of its own before updating it.
    """
    key = tuple(names)
    found = _FIELDS_SETS.get(key)
    if found is None:
        found = _FIELDS_SETS[key] = set(key)
    return found


def _builds_from_parsed(model: type[SheetModel]) -> bool:
    decorators = model.__pydantic_decorators__
    if (
        decorators.model_validators
        or decorators.field_validators
        or decorators.validators
        or decorators.root_validators
        or model.__pydantic_post_init__ is not None
        or model.__private_attributes__
        or model.model_config.get("extra") != "forbid"
    ):
        return False
    for name, info in model.model_fields.items():
        column = model.columns()[name]
        if info.default_factory is not None or len(info.metadata) != 1:
            return False  # a constraint beside the Column (Field(gt=...)) is pydantic's to check
        expected = KIND_TYPES[column.kind]
        if expected is tuple:
            if info.annotation != tuple[str, ...] or info.default != ():
                return False
        elif info.annotation != (expected | None) or info.default is not None:
            return False
    return True
