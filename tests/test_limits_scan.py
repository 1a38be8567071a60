"""The bulk bounding of plain cells finds exactly what the cell-by-cell scan finds."""

from __future__ import annotations

from dataclasses import asdict

from hypothesis import given, settings
from hypothesis import strategies as st

from sheetsync.limits import _PartScanner

LETTERS = st.sampled_from(["A", "B", "Z", "AA", "AZ", "XFD", "XFE", "ZZZZ"])
ROWS = st.integers(min_value=1, max_value=2_000_000)
ATTRS = st.sampled_from(["", ' t="s"', ' s="3" t="e"', ' t="n"', " t='e'"])
VALUES = st.sampled_from(["<v>1</v>", "<v>#N/A</v>", "<v>#DIV/0!</v>", "<v>60</v>", ""])
FORMS = st.sampled_from(["plain", "plain", "plain", "prefixed", "ref-last", "no-ref"])
CELL = st.tuples(LETTERS, ROWS, ATTRS, VALUES, FORMS)
# rows close together, so that a second chunk often meets the first one's far edge
NEAR_CELL = st.tuples(LETTERS, st.integers(min_value=1, max_value=4), ATTRS, VALUES, st.just("plain"))


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


def _scan(*chunks: bytes, plain: bool) -> tuple[bool, dict]:
    scanner = _PartScanner("xl/worksheets/sheet1.xml", cells=True, full_up_to=1 << 30)
    taken = True
    for data in chunks:  # later chunks start from what the earlier ones found
        taken = (scanner._bound_plain(data) if plain else (scanner._bound_any(data) or True)) and taken
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


@settings(max_examples=300, deadline=None)
@given(first=st.lists(NEAR_CELL, max_size=20), second=st.lists(NEAR_CELL, max_size=20))
def test_bulk_bounding_matches_the_cell_by_cell_scan_chunk_after_chunk(
    first: list[tuple], second: list[tuple]
) -> None:
    chunks = [b"".join(_cell(*cell) for cell in cells) for cells in (first, second)]
    taken, bulk = _scan(*chunks, plain=True)
    _, one_by_one = _scan(*chunks, plain=False)
    assert taken and bulk == one_by_one
