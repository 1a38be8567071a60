"""The register's canonical JSON through orjson against the stdlib encoder and decoder it replaces.

Every content hash and ``data_json`` text already in a register was written by
``json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))``, so
:func:`sheetsync.store.dumps` must give exactly its text for every value the stdlib accepts (and
the stdlib's error for every value it refuses), and :func:`sheetsync.store._loads` exactly what
``json.loads`` gives: same types, equal floats, keys in the text's order. Each known difference
between orjson and the stdlib is pinned here, with the fast path shown to be the one taken on
real records. Hypothesis is bounded (a few hundred examples, derandomized, no deadline) for CI.
"""

from __future__ import annotations

import collections
import enum
import hashlib
import json
import math
import sys
from pathlib import Path
from typing import Any, NamedTuple

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sheetsync import store
from sheetsync.demo import build_demo_drive
from sheetsync.drive import Drive
from sheetsync.profile import load_profile
from sheetsync.store import _loads, content_hash, decode_key, dumps, encode_key
from sheetsync.validate import validate_file

STDLIB = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))
PROFILE = load_profile("guangzhou-2013")
BOUNDED = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def outcome(encode: Any, value: Any) -> tuple[str, Any]:
    """The text an encoder gives, or the type of what it raises."""
    try:
        return "text", encode(value)
    except (TypeError, ValueError, RecursionError) as error:
        return "raises", type(error)


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down: floats by value (NaN with NaN, -0.0 only
    with -0.0), dicts with their keys in the same order."""
    if type(a) is not type(b):
        return False
    if type(a) is float:
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if type(a) is dict:
        return list(a) == list(b) and all(same(a[key], b[key]) for key in a)
    if type(a) is list:
        return len(a) == len(b) and all(map(same, a, b))
    return a == b


def decodes_as_stdlib(text: str) -> None:
    try:
        expected = json.loads(text)
    except (ValueError, RecursionError) as error:
        with pytest.raises(type(error)):
            _loads(text)
        return
    assert same(_loads(text), expected)


# Strategies -----------------------------------------------------------------------------------

# Text with every kind of character: controls, quotes and backslashes, U+007F, U+2028/U+2029,
# CJK, emoji, lone surrogates (which the stdlib writes as they are and orjson refuses).
SPECIAL_CHARS = '\x00\x01\x08\t\n\x0b\x0c\r\x1b\x1f"\\/\x7f\x80\xa0\u2028\u2029\ufeff\uffff'
CHARS = st.one_of(
    st.sampled_from(SPECIAL_CHARS),
    st.sampled_from("清洁生产审核广州市天河区有限公司、“”()"),
    st.sampled_from(["😀", "𠀋", "\U0010ffff", "\ud800", "\udfff", "\ud83d"]),
    st.characters(exclude_categories=()),  # the whole of Unicode, surrogates included
)
TEXT = st.text(CHARS, max_size=12) | st.sampled_from(["", "u", "\\u0041", "a\\/b", "C:\\users"])
INTEGERS = st.integers() | st.sampled_from(
    [0, -1, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**40, -(10**40)]
)
FLOATS = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [0.0, -0.0, 1e-7, 1e16, 1e15, 1e22, 1e-5, 1e-4, 5e-324, 1.7976931348623157e308, 0.1, 1 / 3, 2.0**63]
)
SCALARS = st.one_of(st.none(), st.booleans(), INTEGERS, FLOATS, TEXT)
PLAIN_SCALARS = st.one_of(st.none(), st.booleans(), INTEGERS, TEXT)  # what orjson may encode


def json_like(scalars: st.SearchStrategy[Any], keys: st.SearchStrategy[Any] = TEXT) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=5)
            | st.lists(inner, max_size=3).map(tuple)
            | st.dictionaries(keys, inner, max_size=6)
        ),
        max_leaves=25,
    )


class Colour(enum.Enum):
    RED = "红"


class Level(enum.IntEnum):
    HIGH = 3


class Kind(enum.StrEnum):
    TEXT = "text"


class Text(str):
    pass


class Number(int):
    pass


class Mapping(dict):  # type: ignore[type-arg]
    pass


class Items(list):  # type: ignore[type-arg]
    pass


class Pair(NamedTuple):
    a: Any
    b: Any


ODD_VALUES = st.sampled_from(
    [
        Colour.RED,
        Level.HIGH,
        Kind.TEXT,
        Text("子类"),
        Number(7),
        Mapping(b=1, a=2),
        collections.OrderedDict(b=1, a=2),
        Items([1, "a"]),
        Pair("x", 1),
        True,
        False,
        1,
        0,
        1.0,
        b"bytes",
        object(),
        {1, 2},
    ]
)
NON_STR_KEYS = st.one_of(
    TEXT, INTEGERS, st.booleans(), st.none(), FLOATS, st.sampled_from([Text("k"), Kind.TEXT])
)


# dumps against the stdlib encoder --------------------------------------------------------------


@BOUNDED
@given(json_like(SCALARS))
def test_dumps_equals_the_stdlib_encoder(value: Any) -> None:
    assert outcome(dumps, value) == outcome(STDLIB.encode, value)


@BOUNDED
@given(json_like(PLAIN_SCALARS))
def test_dumps_equals_the_stdlib_encoder_on_values_orjson_may_encode(value: Any) -> None:
    assert outcome(dumps, value) == outcome(STDLIB.encode, value)
    assert outcome(lambda v: content_hash(dumps(v)), value) == outcome(
        lambda v: hashlib.sha256(STDLIB.encode(v).encode("utf-8")).hexdigest(), value
    )  # a lone surrogate cannot be hashed either way


@BOUNDED
@given(json_like(st.one_of(SCALARS, ODD_VALUES), keys=NON_STR_KEYS))
def test_dumps_equals_the_stdlib_encoder_on_odd_types_and_keys(value: Any) -> None:
    """Subclasses, enums, bools among ints, non-str keys, sets, bytes: the stdlib's text or error."""
    assert outcome(dumps, value) == outcome(STDLIB.encode, value)


@BOUNDED
@given(st.dictionaries(TEXT, PLAIN_SCALARS, max_size=12))
def test_keys_sort_as_the_stdlib_sorts_them(value: dict[str, Any]) -> None:
    """Code point order: orjson compares UTF-8 bytes, which order the same (surrogates aside)."""
    assert outcome(dumps, value) == outcome(STDLIB.encode, value)


def test_every_character_is_written_as_the_stdlib_writes_it() -> None:
    """All of Unicode but the surrogates, 64 characters a string, as values and as keys."""
    points = [point for point in range(sys.maxunicode + 1) if not 0xD800 <= point < 0xE000]
    for start in range(0, len(points), 64):
        text = "".join(map(chr, points[start : start + 64]))
        assert dumps(text) == STDLIB.encode(text)
        assert dumps({text: text, "a": 1}) == STDLIB.encode({text: text, "a": 1})


def test_orjson_escapes_as_the_stdlib_today() -> None:
    """Not relied on (``_escapes_as_stdlib`` sends any ``\\u`` to the stdlib), but pinned: the
    fallback is insurance for a later orjson, not the path control characters take today."""
    for point in [*range(0x20), 0x22, 0x2F, 0x5C, 0x7F, 0x2028, 0x2029]:
        char = chr(point)
        assert orjson.dumps(char).decode() == STDLIB.encode(char), hex(point)


@pytest.mark.parametrize(
    "value",
    [
        1e-7,
        1e16,
        1e22,
        -1e-300,
        float("nan"),
        float("inf"),
        float("-inf"),
        -0.0,
        {"x": 1e-7},
        [1.5, 2.0],
        2**64,
        -(2**63) - 1,
        10**100,
        "\ud800",
        {"\udfff": 1},
        {"a": "\x00\x1f\x7f\u2028"},
        {"é": 1, "z": 2, "\uffff": 3, "\U00010000": 4, "Z": 5},
        {1: "a", "1": "b"},
        {True: 1},
        {None: 1},
        {1.5: 1},
        Colour.RED,
        {"k": Colour.RED},
        Level.HIGH,
        Kind.TEXT,
        {Kind.TEXT: 1},
        {Text("b"): 1, "a": 2},
        Text("a\nb"),
        Number(2**70),
        Mapping(b=1, a=2),
        Items([Number(1)]),
        Pair(1, "a"),
        [True, 1, False, 0],
        (),
        {},
        [[[[]]]],
        "C:\\users\\a/b",
    ],
    ids=repr,
)
def test_each_known_difference_falls_back(value: Any) -> None:
    assert outcome(dumps, value) == outcome(STDLIB.encode, value)


def test_nesting_past_orjson_limit_and_past_the_recursion_limit() -> None:
    deep: Any = "底"
    for _ in range(300):  # orjson stops at 255 levels; the stdlib goes on
        deep = [deep]
    assert dumps(deep) == STDLIB.encode(deep)
    deeper: Any = 1
    for _ in range(sys.getrecursionlimit() + 100):
        deeper = {"a": deeper}
    assert outcome(dumps, deeper) == outcome(STDLIB.encode, deeper) == ("raises", RecursionError)


def test_a_circular_value_gives_the_stdlib_error() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        dumps(loop)


def test_keys_encode_as_before() -> None:
    for key in [("91440101MA5CXXXX0X",), ("91440101MA5CXXXX0X", 2), (1, "天河区"), ("a\x00",), (2**70,)]:
        assert encode_key(key) == STDLIB.encode(list(key))
        assert decode_key(encode_key(key)) == key


# _loads against json.loads ---------------------------------------------------------------------


@BOUNDED
@given(json_like(SCALARS), st.booleans())
def test_loads_equals_json_loads(value: Any, ascii_only: bool) -> None:
    """Texts the register writes, and the same with every non-ASCII character escaped (surrogate
    pairs, lone surrogates); NaN, Infinity, floats, integers beyond 64 bits included."""
    try:
        text = json.dumps(value, ensure_ascii=ascii_only, sort_keys=False, separators=(",", ":"))
    except (TypeError, ValueError):
        return
    decodes_as_stdlib(text)
    decodes_as_stdlib("[" + ",".join([text, text]) + "]")  # as _decoded_batches joins them


@BOUNDED
@given(st.text(st.sampled_from('{}[]:,"\\ \t\n\r\x0b\xa0\ufeff-+.0123456789eEuntrfalsNIiy/ab'), max_size=20))
def test_loads_equals_json_loads_on_malformed_text(text: str) -> None:
    """Either both refuse the text, with the stdlib's error, or both give the same value."""
    decodes_as_stdlib(text)


@pytest.mark.parametrize(
    "text",
    [
        "18446744073709551615",
        "18446744073709551616",  # orjson: a float
        "-9223372036854775809",
        "[1,123456789012345678901234567890]",
        '{"n":99999999999999999999}',
        "-0",
        "-0.0",
        "1E400",
        "-1e400",
        "1e-400",
        "NaN",
        "[Infinity,-Infinity]",
        "0.1000000000000000055511151231257827021181583404541015625",
        "2.2250738585072011e-308",
        '"\\ud800"',
        '"\\ud83d\\ude00"',
        '"\\u00E9\\u00e9"',
        '"\ud800"',
        '{"b":1,"a":2,"b":3}',
        " [1] ",
        "\ufeff[1]",
        "[1] 2",
        '"\t"',
        "[" * 1100 + "]" * 1100,
        "",
        '{"城市":"广州","区":null,"n":[true,false,0]}',
    ],
    ids=repr,
)
def test_each_known_decoding_difference_falls_back(text: str) -> None:
    decodes_as_stdlib(text)


def test_the_other_decoders_equal_json_loads() -> None:
    for text in ['["91440101MA5CXXXX0X",2]', '["a\\u0000",18446744073709551616]', "[1.5]"]:
        assert same(list(decode_key(text)), json.loads(text))


# Real records ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """``model_dump(mode="json")`` of every valid row of the demo drive, as merge stores them."""
    demo = build_demo_drive(tmp_path_factory.mktemp("demo"))
    dumped = [
        row.record.model_dump(mode="json")
        for folder, path in Drive(Path(demo.root)).submissions()
        for sheet in validate_file(path, expected_submitter=folder, profile=PROFILE).sheets
        for row in sheet.valid_rows
    ]
    assert len(dumped) > 1000
    return dumped


def test_records_encode_as_the_stdlib_encodes_them(records: list[dict[str, Any]]) -> None:
    for record in records:
        expected = STDLIB.encode(record)
        assert dumps(record) == expected
        assert content_hash(dumps(record)) == hashlib.sha256(expected.encode("utf-8")).hexdigest()


def test_records_take_the_orjson_path(records: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    """The point of it all: a record is not handed to the stdlib encoder."""
    fallbacks: list[Any] = []

    class Counting(json.JSONEncoder):
        def encode(self, o: Any) -> str:
            fallbacks.append(o)
            return super().encode(o)

    monkeypatch.setattr(
        store, "_ENCODER", Counting(sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    )
    texts = [dumps(record) for record in records]
    assert texts == [STDLIB.encode(record) for record in records]
    escaped = [record for record, text in zip(records, texts, strict=True) if "\\u" in text or "\\/" in text]
    assert fallbacks == escaped
    assert len(escaped) < len(records) / 100


def test_records_decode_as_json_loads_decodes_them(records: list[dict[str, Any]]) -> None:
    texts = [dumps(record) for record in records]
    for text in texts:
        assert same(_loads(text), json.loads(text))
    for start in range(0, len(texts), store.DECODE_BATCH):
        batch = "[" + ",".join(texts[start : start + store.DECODE_BATCH]) + "]"
        decoded = _loads(batch)
        assert same(decoded, json.loads(batch))
        assert store._orjson_exact(decoded)  # decoded by orjson, not handed back to json.loads
