from __future__ import annotations

from pathlib import Path

from sheetsync.docs import contract_markdown
from sheetsync.errors import CATALOGUE
from sheetsync.schemas import SHEETS

DOC = Path(__file__).resolve().parent.parent / "docs" / "workbook-contract.md"


def test_committed_contract_doc_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == contract_markdown(), (
        "run `sheetsync docs` and commit the result"
    )


def test_doc_names_every_header_and_code() -> None:
    text = contract_markdown()
    for model in SHEETS:
        for column in model.columns().values():
            assert f"| {column.header} |" in text
    for code in CATALOGUE:
        assert f"`{code}`" in text
