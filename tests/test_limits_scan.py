"""The bulk bounding of plain cells finds exactly what the cell-by-cell scan finds."""

from __future__ import annotations

from dataclasses import asdict

from hypothesis import given, settings
from hypothesis import strategies as st

from sheetsync.limits import _PartScanner

LETTERS = st.sampled_from(["A", "B", "Z", "AA", "AZ", "XFD", "XFE", "ZZZZ"])
ROWS = st.integers(min_value=1, max_value=2_000_000)
CELL = st.tuples(
    LETTERS,
    ROWS,
    st.sampled_from(["", ' t="s"', ' s="3" t="e"', ' t="n"', " t='e'"]),
    st.sampled_from(["<v>1</v>", "<v>#N/A</v>", "<v>#DIV/0!</v>", "<v>60</v>", ""]),
    st.sampled_from(["plain", "plain", "plain", "prefixed", "ref-last", "no-ref"]),
)


OTHER_ATTR = ' s="1"'


def _cell(letters: str, row: int, attrs: str, value: str, form: str) -> bytes:
    if form == "prefixed":
        text = f'<x:c r="{letters}{row}"{attrs}>{value}</x:c>'
    elif form == "ref-last":
        text = f'<c{attrs or OTHER_ATTR} r="{letters}{row}">{value}</c>'
    elif form == "no-ref":
        text = f"<c{attrs}>{value}</c>"
    else:
        text = f'<c r="{letters}{row}"{attrs}>{value}</c>' if value else f'<c r="{letters}{row}"{attrs}/>'
    return text.encode()


def _scan(data: bytes, *, plain: bool) -> tuple[bool, dict]:
    scanner = _PartScanner("xl/worksheets/sheet1.xml", cells=True, full_up_to=1 << 30)
    taken = scanner._bound_plain(data) if plain else (scanner._bound_any(data) or True)
    return taken, asdict(scanner.sheet)


@settings(max_examples=300, deadline=None)
@given(cells=st.lists(CELL, max_size=30))
def test_bulk_bounding_matches_the_cell_by_cell_scan(cells: list[tuple]) -> None:
    data = b'<row r="1">' + b"".join(_cell(*cell) for cell in cells) + b"</row>"
    taken, bulk = _scan(data, plain=True)
    _, one_by_one = _scan(data, plain=False)
    all_plain = all(cell[4] == "plain" for cell in cells)
    assert taken == all_plain
    if taken:
        assert bulk == one_by_one
