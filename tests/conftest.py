"""Helpers that write small real workbooks for the tests: the files a submitter would send."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import xlsxwriter

from tests.hostile.make_hostile import write_stamp

# Real credit codes (public registrations), all with a valid GB 32100-2015 check character.
REAL_CODES = (
    "914403001922038216",  # 华为技术有限公司
    "9144030071526726XG",  # 深圳市腾讯计算机系统有限公司
    "91330100799655058B",  # 阿里巴巴(中国)有限公司
    "91110000710925462X",  # 中国石油天然气股份有限公司
    "91440101MA5CJQ4N59",  # 广州市越秀区, organisation code with letters
    "91350200MA2YJ1XR9G",
    "91350503MA31DKY80A",
    "123502001549897397",  # 事业单位 (registration authority 1)
)


def write_xlsx(
    path: Path,
    sheets: Mapping[str, Sequence[Sequence[Any]]],
    *,
    stamp: Mapping[str, str] | None = None,
) -> Path:
    """Write rows as given: str as text, numbers as numbers, dates as real dates."""
    book = xlsxwriter.Workbook(str(path))
    date_format = book.add_format({"num_format": "yyyy-mm-dd"})
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, datetime | date):
                    sheet.write_datetime(r, c, value, date_format)
                elif isinstance(value, str):
                    sheet.write_string(r, c, value)
                else:
                    sheet.write(r, c, value)
    if stamp is not None:
        write_stamp(book, stamp)
    book.close()
    return path


@pytest.fixture
def xlsx(tmp_path: Path):
    def make(name: str, sheets: Mapping[str, Sequence[Sequence[Any]]], **kwargs: Any) -> Path:
        return write_xlsx(tmp_path / name, sheets, **kwargs)

    return make


# LibreOffice fixtures are session-wide: one fresh profile (recalculate on load) for the whole run.
from tests.libreoffice import lo_profile, soffice  # noqa: E402, F401
