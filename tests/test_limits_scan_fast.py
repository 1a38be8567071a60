"""The bulk paths of the worksheet scan find exactly what the cell-by-cell reference finds.

The fast paths of :mod:`sheetsync.limits` (one regex pass over a chunk's cell references, C-level
splits into rows and columns, the 1900-02-29 serials found from their literal tail) must give the
same verdict as looking at every cell: the reference here is the same scanner with the bulk
bounding turned off and ``_SERIAL_60.finditer`` over the whole chunk, fed the same XML cut at the
same places, anywhere, in the middle of a tag included.
"""

from __future__ import annotations

from dataclasses import asdict
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from sheetsync import limits
from sheetsync.limits import _SERIAL_60, _PartScanner, _serials_60

LETTERS = st.sampled_from(["A", "B", "C", "Z", "AA", "AZ", "BA", "XFD", "ZZZ", "ABCDEFG", "ABCDEFGH", "a"])
ROWS = st.one_of(
    st.integers(min_value=1, max_value=6),
    st.integers(min_value=1, max_value=2_000_000),
    st.integers(min_value=0, max_value=99_999_999_999),
)
ATTRS = st.sampled_from(["", ' t="s"', ' s="3" t="e"', ' t="n"', " t='e'", ' t="inlineStr"', ' x="a>b"'])
VALUES = st.sampled_from(
    [
        "<v>1</v>",
        "<v>#N/A</v>",
        "<v> #REF! </v>",
        "<f>A1</f><v>#DIV/0!</v>",
        "<v>60</v>",
        "<v>60.25</v>",
        '<v xml:space="preserve">60</v>',
        "<x:v>60</x:v>",
        "<is><t>x:c t=&quot;e&quot; &gt;60</t></is>",  # looks like markup, is text
        "",
    ]
)
FORMS = st.sampled_from(["plain"] * 8 + ["prefixed", "ref-last", "no-ref", "single-quoted", "tab"])
CELL = st.tuples(LETTERS, ROWS, ATTRS, VALUES, FORMS)
OTHER_ATTR = ' s="1"'
HEADS = st.sampled_from(["<worksheet>", '<worksheet xmlns:x="urn:x">', '<worksheet a="x:c b">'])


def _cell(letters: str, row: int, attrs: str, value: str, form: str) -> str:
    ref = f"{letters}{row}"
    if form == "prefixed":
        return f'<x:c r="{ref}"{attrs}>{value}</x:c>'
    if form == "ref-last":
        return f'<c{attrs or OTHER_ATTR} r="{ref}">{value}</c>'
    if form == "no-ref":
        return f"<c{attrs}>{value}</c>"
    if form == "single-quoted":
        return f"<c r='{ref}'{attrs}>{value}</c>"
    if form == "tab":
        return f'<c\tr="{ref}"{attrs}>{value}</c>'
    return f'<c r="{ref}"{attrs}>{value}</c>' if value else f'<c r="{ref}"{attrs}/>'


class _CellByCell(_PartScanner):
    """The reference: every chunk bounded one cell at a time."""

    def _bound_plain(self, data: bytes) -> bool:
        return False


def _scan(scanner: _PartScanner, chunks: list[bytes]) -> dict:
    for chunk in chunks:
        scanner.feed(chunk)
    scanner.finish()
    return asdict(scanner.sheet)


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    edges = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    return [data[start:end] for start, end in zip(edges, edges[1:], strict=False)]


@settings(max_examples=400, deadline=None)
@given(
    head=HEADS,
    cells=st.lists(CELL, max_size=40),
    row_tags=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=1 << 16), max_size=8),
    full=st.sampled_from([1 << 30, 1 << 30, 0]),
)
def test_the_scan_matches_the_cell_by_cell_reference_across_chunks(
    head: str, cells: list[tuple], row_tags: bool, cuts: list[int], full: int
) -> None:
    body = "".join(
        f'<row r="{n + 1}">{_cell(*cell)}</row>' if row_tags else _cell(*cell) for n, cell in enumerate(cells)
    )
    data = f"{head}<sheetData>{body}</sheetData></worksheet>".encode()
    chunks = _chunks(data, cuts)
    fast = _scan(_PartScanner("xl/worksheets/sheet1.xml", cells=True, full_up_to=full), chunks)
    with mock.patch.object(limits, "_serials_60", _SERIAL_60.finditer):
        reference = _scan(_CellByCell("xl/worksheets/sheet1.xml", cells=True, full_up_to=full), chunks)
    assert fast == reference


@settings(max_examples=300, deadline=None)
@given(
    first=st.lists(st.tuples(LETTERS, ROWS), max_size=25),
    second=st.lists(st.tuples(LETTERS, ROWS), max_size=25),
    noise=st.sampled_from(["", "<is><t>a:c</t></is>", '<v x:c="1">2</v>']),
)
def test_plain_chunks_are_bounded_in_bulk_out_of_order(
    first: list[tuple[str, int]], second: list[tuple[str, int]], noise: str
) -> None:
    """Rows and columns in any order, over two chunks: same extents and far reference.

    ``noise`` puts a ``:c`` that is no cell into the chunk, which takes the prefix-aware regex.
    """
    fast = _PartScanner("xl/worksheets/sheet1.xml", cells=True, full_up_to=1 << 30)
    reference = _PartScanner("xl/worksheets/sheet1.xml", cells=True, full_up_to=1 << 30)
    for cells in (first, second):
        chunk = "".join(f'<c r="{letters}{row}">{noise}</c>' for letters, row in cells).encode()
        plain = all(letters.isupper() and len(letters) <= 7 and 1 <= row < 10**10 for letters, row in cells)
        assert fast._bound_plain(chunk) == plain
        if not plain:
            return
        reference._bound_any(chunk)
        assert asdict(fast.sheet) == asdict(reference.sheet)


SERIAL_PIECES = st.sampled_from(
    ["<v>", "<x:v>", "<a:b:v>", '<v a="b">', '<v a="x>y">', "<v <v>", "<vv>", "<v", ">", "60", "6", "0"]
    + [".", ".5", "1", "</v>", "</", "<", "/", " ", "<c r='A1'>", "</c>", ">60</", ">60.0</"]
)


@settings(max_examples=1000, deadline=None)
@given(pieces=st.lists(SERIAL_PIECES, max_size=30))
def test_serials_found_from_their_tail_are_those_finditer_finds(pieces: list[str]) -> None:
    data = "".join(pieces).encode()
    assert [m.span() for m in _serials_60(data)] == [m.span() for m in _SERIAL_60.finditer(data)]
