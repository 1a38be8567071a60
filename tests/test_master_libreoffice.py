"""The master in a real spreadsheet application: LibreOffice recalculates every formula of it.

Each formula cell's recalculated value must equal the value sheetsync computed in Python for the
same as_of (its cached value): on the demo drive at two days, and on a register built to hit every
corner of the progress rules. Moving 基准日期 on 概览 and recalculating must give the domain engine's
numbers for the new day, which shows the formulas carry the rules and not just today's answers.
概览 is rendered through PDF to a PNG (kept at ``/tmp/overview.png`` for a person to look at).
"""

from __future__ import annotations

import math
import re
import shutil
import zipfile
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from sheetsync.consolidate import Consolidation, consolidate
from sheetsync.demo import build_demo_drive
from sheetsync.drive import Drive
from sheetsync.master.overview import OVERVIEW_SHEET
from sheetsync.profile import load_profile
from sheetsync.render_master import PROGRESS_SHEET
from tests import test_render_master as render_tests
from tests.libreoffice import (
    compare_recalculated,
    formula_cells,
    pdf_text,
    png_is_blank,
    recalculate,
    render_sheet_png,
)
from tests.test_master_formulas import LATER, tricky_view, write_tricky

PROFILE = load_profile("guangzhou-2013")
DEMO_AS_OF = date(2014, 11, 30)
LATE_AS_OF = date(2016, 2, 15)  # more than a year on: deadlines passed, titles of 2013/14 lapsing
OVERVIEW_PNG = Path("/tmp/overview.png")
MANY_FORMULAS = 200

# openpyxl reads the files LibreOffice saves and drops the parts it does not know, noisily
pytestmark = pytest.mark.filterwarnings("ignore:.*extension is not supported:UserWarning")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Consolidation, Consolidation, Path]:
    """The demo drive consolidated at the demo's day and again at a later one (two masters kept)."""
    base = tmp_path_factory.mktemp("master-lo")
    root = base / "drive"
    build_demo_drive(root, as_of=DEMO_AS_OF)
    first = consolidate(Drive(root), PROFILE, as_of=DEMO_AS_OF)
    kept = base / "kept" / "总台账.xlsx"
    kept.parent.mkdir()
    shutil.copy(first.master_path, kept)
    later = consolidate(Drive(root), PROFILE, as_of=LATE_AS_OF)
    return first, later, kept


def assert_recalculates_to_what_was_cached(master: Path, out_dir: Path, profile: Path) -> int:
    recalculated = recalculate(master, out_dir, profile)
    mismatches = compare_recalculated(master, recalculated)
    assert mismatches == [], "\n".join(str(m) for m in mismatches[:20])
    return len(formula_cells(master))


def test_demo_master_recalculates_to_the_values_sheetsync_computed(
    demo: tuple[Consolidation, Consolidation, Path], lo_profile: Path, tmp_path: Path
) -> None:
    first, _, kept = demo
    assert first.view is not None
    compared = assert_recalculates_to_what_was_cached(kept, tmp_path, lo_profile)
    assert compared > MANY_FORMULAS


def test_demo_master_at_a_later_day_recalculates_too(
    demo: tuple[Consolidation, Consolidation, Path], lo_profile: Path, tmp_path: Path
) -> None:
    _, later, _ = demo
    assert later.view is not None
    assert later.view.certificates_due > 0 and later.view.open_overdue > 0
    compared = assert_recalculates_to_what_was_cached(later.master_path, tmp_path, lo_profile)
    assert compared > MANY_FORMULAS


def tricky_master(folder: Path) -> Path:
    folder.mkdir(parents=True)
    return write_tricky(folder / "总台账.xlsx")


def test_every_corner_of_the_rules_recalculates_the_same(lo_profile: Path, tmp_path: Path) -> None:
    master = tricky_master(tmp_path / "in")
    compared = assert_recalculates_to_what_was_cached(master, tmp_path / "out", lo_profile)
    assert compared > MANY_FORMULAS


@pytest.mark.parametrize("programme", ["beijing", "guangzhou"])
def test_the_render_tests_registers_recalculate_the_same(
    programme: str, lo_profile: Path, tmp_path: Path
) -> None:
    """Beijing's fixed-date timeline and sectors with their own targets; Guangzhou's certificates."""
    records, view = {
        "beijing": (render_tests.beijing_register, render_tests.beijing_view),
        "guangzhou": (render_tests.guangzhou_register, render_tests.guangzhou_view),
    }[programme]
    (tmp_path / "in").mkdir()
    master = render_tests.write(tmp_path / "in" / "总台账.xlsx", records=records(), view=view())
    assert assert_recalculates_to_what_was_cached(master, tmp_path / "out", lo_profile) > 50


def with_as_of(master: Path, day: date, dst: Path) -> Path:
    """A copy of the master with another day in the 基准日期 cell (B4 of 概览, the first sheet)."""
    serial = day.toordinal() - date(1899, 12, 30).toordinal()
    with zipfile.ZipFile(master) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                text, count = re.subn(r'(<c r="B4"[^>]*><v>)\d+(</v>)', rf"\g<1>{serial}\g<2>", data.decode())
                assert count == 1
                data = text.encode()
            zout.writestr(item, data)
    return dst


def test_moving_as_of_on_the_overview_gives_the_engines_progress_for_that_day(
    lo_profile: Path, tmp_path: Path
) -> None:
    master = tricky_master(tmp_path / "in")
    (tmp_path / "moved").mkdir()
    moved = with_as_of(master, LATER, tmp_path / "moved" / "总台账.xlsx")
    recalculated = recalculate(moved, tmp_path / "out", lo_profile)
    sheet = openpyxl.load_workbook(recalculated, data_only=True)[PROGRESS_SHEET]
    before, after = tricky_view().progress, tricky_view(LATER).progress
    changed = 0
    scopes = [after.city, *after.submitters, *after.sectors]
    expected = [(scope.scope, metric) for scope in scopes for metric in scope.metrics]
    for row, (scope, metric) in enumerate(expected, start=2):
        got = [sheet.cell(row=row, column=col).value for col in (1, 3, 5, 6, 7)]
        assert got[:2] == [scope, metric.metric]
        for value, want in zip(got[2:], (metric.done, metric.target, metric.ratio), strict=True):
            if want is None:
                assert value in (None, ""), (scope, metric.metric)
            else:
                assert math.isclose(float(value), float(want), abs_tol=1e-9), (
                    scope,
                    metric.metric,
                    value,
                    want,
                )
    for old, new in zip([before.city, *before.submitters], [after.city, *after.submitters], strict=True):
        changed += sum(1 for a, b in zip(old.metrics, new.metrics, strict=True) if a.done != b.done)
    assert changed > 0  # the later day really counts more (rounds started, a training held)


def test_the_overview_renders_with_its_chinese_title(
    demo: tuple[Consolidation, Consolidation, Path], lo_profile: Path, tmp_path: Path
) -> None:
    _, _, kept = demo
    png = render_sheet_png(kept, OVERVIEW_SHEET, tmp_path, lo_profile, dpi=96)
    assert not png_is_blank(png)
    text = pdf_text(png.with_suffix(".pdf"))
    assert PROFILE.title in text and "全市目标完成情况" in text
    shutil.copy(png, OVERVIEW_PNG)


def test_a_split_master_recalculates_the_same(lo_profile: Path, tmp_path: Path) -> None:
    """Split per submitter, the master's formulas no longer reach the register: what is left agrees."""
    (tmp_path / "in").mkdir()
    master = render_tests.write(
        tmp_path / "in" / "总台账.xlsx",
        records=render_tests.guangzhou_register(),
        view=render_tests.guangzhou_view(),
        max_register_rows=3,
    )
    assert len(list((tmp_path / "in").glob("总台账_*.xlsx"))) == 3
    assert assert_recalculates_to_what_was_cached(master, tmp_path / "out", lo_profile) > 50
