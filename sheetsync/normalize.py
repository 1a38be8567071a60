"""Turn whatever a submitter typed into a cell into one clean, typed value.

Submitters type dates as text, paste numbers with full-width digits, leave stray spaces and
let Excel turn phone numbers into floats.  Every function here takes one raw cell value (as
python-calamine, openpyxl or the csv module hands it over) and returns the clean value or
raises :class:`CellProblem` with a stable error code.  Pure functions: no I/O, no globals.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sheetsync.uscc import check_character, uscc_problem


class CellProblem(ValueError):
    """A cell that cannot be turned into a valid value; ``code`` is a key of the error catalogue."""

    def __init__(self, code: str, **context: Any) -> None:
        super().__init__(code)
        self.code = code
        self.context = context


_SPACES = re.compile(r"[\s\u00a0\u3000\u200b\ufeff]+")
_EXCEL_ERRORS = frozenset(
    {"#N/A", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#NULL!", "#GETTING_DATA"}
)


def canonical(text: str) -> str:
    """Fold width, case and white space so that two spellings of the same label compare equal."""
    folded = unicodedata.normalize("NFKC", text)
    return _SPACES.sub("", folded).lower()


def is_blank(raw: Any) -> bool:
    if raw is None:
        return True
    if isinstance(raw, str):
        return _SPACES.sub("", raw) == ""
    return False


FORMULA_STARTS = frozenset("=+-@\t\r")
"""First characters that make a spreadsheet application run a cell as a formula (or a DDE call):
text from a submitter starting with one of them is written as text, quote-prefixed, never as a formula."""


def clean_text(raw: Any) -> str | None:
    """Text as the submitter meant it: trimmed, inner runs of blanks folded to one space.

    Integral floats come back without ``.0`` because calamine hands a typed number such as a
    project code 2014001 over as 2014001.0.
    """
    if raw.__class__ is str and raw.isprintable():
        # the usual cell, one line with no exotic blanks: the only white space a printable
        # string can hold is the ASCII space, so trimming and folding runs of it is all there
        # is to do (the general path below gives the same text, several passes slower)
        text = raw.strip()
        if not text:
            return None
        if text in _EXCEL_ERRORS:
            raise CellProblem("excel-error", value=text)
        return _SPACES.sub(" ", text) if "  " in text else text
    if is_blank(raw):
        return None
    if isinstance(raw, bool):
        return "是" if raw else "否"
    if isinstance(raw, float):
        if raw.is_integer():
            return str(int(raw))
        return repr(raw)
    if isinstance(raw, datetime):
        return raw.date().isoformat() if raw.time() == time(0) else raw.isoformat(sep=" ")
    if isinstance(raw, date):
        return raw.isoformat()
    text = str(raw)
    if text.strip() in _EXCEL_ERRORS:
        raise CellProblem("excel-error", value=text.strip())
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    text = "\n".join(line for line in lines if line)
    return text or None


def display_text(raw: Any) -> str | None:
    """A cell as text for a message or a label: like :func:`clean_text`, but never raising.

    An Excel error value (``#N/A``) is shown as itself; :func:`clean_text` rejects it, which
    is right for a data cell and wrong for a header or a stamp cell that is only shown.
    """
    try:
        return clean_text(raw)
    except CellProblem:
        return str(raw).strip() or None


def _ascii_digits(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


_NUMBER_TEXT = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def to_decimal(raw: Any) -> Decimal | None:
    """A number, whether typed, stored as text, full-width or with thousands separators."""
    if is_blank(raw):
        return None
    if isinstance(raw, bool):
        raise CellProblem("not-a-number", value=raw)
    if isinstance(raw, int):
        return Decimal(raw)
    if isinstance(raw, float):
        if raw != raw or raw in (float("inf"), float("-inf")):
            raise CellProblem("not-a-number", value=raw)
        # repr gives the shortest text that round-trips, so 0.1 stays 0.1 and not 0.1000000000000000055
        return Decimal(repr(raw))
    if isinstance(raw, Decimal):
        if not _sane(raw):
            raise CellProblem("not-a-number", value=str(raw))
        return raw
    if isinstance(raw, date | datetime | time | timedelta):
        raise CellProblem("not-a-number", value=raw)
    text = clean_text(raw)
    assert text is not None
    folded = _ascii_digits(text)
    folded = folded.replace(",", "").replace("，", "").replace(" ", "").replace("_", "")
    if not _NUMBER_TEXT.match(folded):
        raise CellProblem("not-a-number", value=text)
    try:
        number = Decimal(folded)
    except InvalidOperation as exc:  # pragma: no cover - the pattern above already rules this out
        raise CellProblem("not-a-number", value=text) from exc
    if not _sane(number):
        # "1e999999999" is a number to Decimal, but turning it into an int or printing it in full
        # would take forever; nothing a spreadsheet can hold is that large or that small
        raise CellProblem("not-a-number", value=text)
    return number


_LARGEST_EXPONENT = 308  # Excel's numbers are IEEE doubles: nothing beyond ~1.8e308
_SMALLEST_EXPONENT = -330  # ... nor closer to zero than ~4.9e-324


def _sane(number: Decimal) -> bool:
    exponent = number.as_tuple().exponent
    return (
        number.is_finite()
        and isinstance(exponent, int)
        and exponent >= _SMALLEST_EXPONENT
        and number.adjusted() <= _LARGEST_EXPONENT
    )


def to_integer(raw: Any) -> int | None:
    number = to_decimal(raw)
    if number is None:
        return None
    if number != number.to_integral_value():
        raise CellProblem("not-an-integer", value=clean_text(raw))
    return int(number)


# 1900 date system: serial 1 is 1900-01-01 and Excel counts a 29 Feb 1900 that never was (serial 60).
_EPOCH_1900 = date(1899, 12, 30)
_EPOCH_1904 = date(1904, 1, 1)
_FIRST_SENSIBLE_SERIAL = 1
_LAST_SENSIBLE_SERIAL = 2958465  # 9999-12-31
_DAYS_1900_TO_1904 = 1462  # the 1904 system's serial of a day is this much smaller


def from_excel_serial(serial: float, *, date1904: bool = False) -> date:
    """The calendar date of an Excel serial number, honouring both date systems."""
    if not math.isfinite(serial):
        raise CellProblem("not-a-date", value=serial)
    whole = int(serial)
    last = _LAST_SENSIBLE_SERIAL - (_DAYS_1900_TO_1904 if date1904 else 0)
    if whole < _FIRST_SENSIBLE_SERIAL - (1 if date1904 else 0) or whole > last:
        raise CellProblem("not-a-date", value=serial)
    if date1904:
        return _EPOCH_1904 + timedelta(days=whole)
    if whole == 60:
        raise CellProblem("not-a-date", value=serial, reason="1900-02-29")
    if whole < 60:
        return date(1899, 12, 31) + timedelta(days=whole)
    return _EPOCH_1900 + timedelta(days=whole)


_DATE_PATTERNS = (
    re.compile(r"^(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?$"),
    re.compile(r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})$"),
)
_TIME_TAIL = re.compile(r"[ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$")


def to_date(raw: Any, *, date1904: bool = False) -> date | None:
    """A calendar date from a real date, an Excel serial or text such as ``2014年5月31日``."""
    if is_blank(raw):
        return None
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    if isinstance(raw, bool):
        raise CellProblem("not-a-date", value=raw)
    if isinstance(raw, Decimal) and not raw.is_finite():
        raise CellProblem("not-a-date", value=str(raw))
    if isinstance(raw, int | float | Decimal):
        # a fraction of a day is a time on that day; the date part is what counts
        try:
            serial = float(raw)
        except OverflowError as exc:
            raise CellProblem("not-a-date", value=str(raw)) from exc
        return from_excel_serial(serial, date1904=date1904)
    if isinstance(raw, time | timedelta):
        raise CellProblem("not-a-date", value=str(raw))
    text = clean_text(raw)
    assert text is not None
    folded = _ascii_digits(text).strip()
    folded = _TIME_TAIL.sub("", folded)
    for pattern in _DATE_PATTERNS:
        found = pattern.match(folded)
        if found:
            try:
                return date(int(found["y"]), int(found["m"]), int(found["d"]))
            except ValueError as exc:
                raise CellProblem("not-a-date", value=text) from exc
    if re.fullmatch(r"\d{5}(\.\d+)?", folded):
        # a date cell formatted as text keeps Excel's serial number
        return from_excel_serial(float(folded), date1904=date1904)
    raise CellProblem("not-a-date", value=text)


def to_uscc(raw: Any) -> str | None:
    """A 统一社会信用代码, upper-cased, with its GB 32100-2015 check character verified."""
    text = clean_text(raw)
    if text is None:
        return None
    code = _ascii_digits(text).replace(" ", "").replace("-", "").upper()
    problem = uscc_problem(code)
    if problem == "uscc-checksum":
        raise CellProblem(problem, value=text, expected=check_character(code[:17]))
    if problem is not None:
        raise CellProblem(problem, value=text)
    return code


_PHONE = re.compile(r"^[0-9+()\-\s转#,，、/;；extEXT.]+$")


def to_phone(raw: Any) -> str | None:
    """Phone numbers stay text so leading zeros (020-, 0755) survive."""
    text = clean_text(raw)
    if text is None:
        return None
    folded = _ascii_digits(text)
    if not _PHONE.match(folded) or not re.search(r"\d{5,}", folded.replace("-", "").replace(" ", "")):
        raise CellProblem("not-a-phone", value=text)
    return folded


def _choice_forms(choice: str) -> tuple[str, ...]:
    """Spellings accepted for one choice: the choice itself and, for ``C 制造业``, ``C`` and ``制造业``."""
    forms = [canonical(choice)]
    parts = choice.split(" ", 1)
    if len(parts) == 2 and len(parts[0]) <= 2 and parts[0].isascii():
        forms.extend([canonical(parts[0]), canonical(parts[1])])
    return tuple(forms)


@dataclass(frozen=True)
class ChoiceMatcher:
    """Matches typed text to a fixed choice list, tolerant of width, spacing and short forms."""

    choices: tuple[str, ...]
    _forms: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        forms: dict[str, str] = {}
        for choice in self.choices:
            for form in _choice_forms(choice):
                forms.setdefault(form, choice)
        object.__setattr__(self, "_forms", forms)

    def match(self, text: str) -> str | None:
        return self._forms.get(canonical(text))

    def parse_one(self, raw: Any) -> str | None:
        text = clean_text(raw)
        if text is None:
            return None
        found = self.match(text)
        if found is None:
            raise CellProblem("not-in-choices", value=text)
        return found

    def parse_many(self, raw: Any) -> tuple[str, ...]:
        """Several choices in one cell, separated by 、 , ; / or line breaks.

        Choice names may themselves contain 、 (``A 农、林、牧、渔业``), so each piece is matched
        greedily against the longest choice spelling before falling back to splitting at 、.
        """
        text = clean_text(raw)
        if text is None:
            return ()
        found: list[str] = []
        for piece in _split_outer(text):
            rest = canonical(piece)
            while rest:
                hit = self._longest_prefix(rest)
                if hit is None:
                    bad, _, rest = rest.partition("、")
                    raise CellProblem("not-in-choices", value=bad or piece)
                choice, length = hit
                if choice not in found:
                    found.append(choice)
                rest = rest[length:].lstrip("、")
        return tuple(found)

    def _longest_prefix(self, text: str) -> tuple[str, int] | None:
        best: tuple[str, int] | None = None
        for form, choice in self._forms.items():
            if text.startswith(form) and (len(text) == len(form) or text[len(form)] == "、"):
                if best is None or len(form) > best[1]:
                    best = (choice, len(form))
        return best


_OUTER_SEPARATORS = re.compile(r"[,，;；/\n]+")


def _split_outer(text: str) -> list[str]:
    return [piece.strip() for piece in _OUTER_SEPARATORS.split(text) if piece.strip()]


def split_list(raw: Any) -> tuple[str, ...]:
    """A free-text list (names or codes) separated by 、 , ; / or line breaks."""
    text = clean_text(raw)
    if text is None:
        return ()
    pieces = re.split(r"[、,，;；/\n]+", text)
    return tuple(dict.fromkeys(piece.strip() for piece in pieces if piece.strip()))


def join_list(values: Sequence[str]) -> str:
    return "、".join(values)
