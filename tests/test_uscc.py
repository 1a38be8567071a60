from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sheetsync.uscc import ALPHABET, WEIGHTS, check_character, is_valid_uscc, uscc_problem
from tests.conftest import REAL_CODES


def test_weights_follow_the_standard() -> None:
    assert WEIGHTS == (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    assert len(ALPHABET) == 31 and not set("IOSVZ") & set(ALPHABET)


@pytest.mark.parametrize("code", REAL_CODES)
def test_real_codes_are_valid(code: str) -> None:
    assert is_valid_uscc(code)


@pytest.mark.parametrize("code", [c for c in REAL_CODES if not c[8:17].isdigit()])
def test_real_codes_with_letters_in_the_organisation_code(code: str) -> None:
    assert check_character(code[:17]) == code[17]


def test_codes_whose_leading_characters_are_letters() -> None:
    # registration authorities A, N and Y are allowed; the check covers letters in any position
    for first17 in ("N2440101MA5CJQ4N5", "Y1440104MA5CJQ4N5", "A1440104000000000"):
        code = first17 + check_character(first17)
        assert is_valid_uscc(code), code


def test_known_non_conforming_codes_are_rejected() -> None:
    # early pilot codes that do not follow GB 32100-2015 (documented by other validators)
    assert uscc_problem("91350211M00013FA1N") == "uscc-checksum"
    assert uscc_problem("91350203M0001QAY9B") == "uscc-checksum"


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("91440101MA5CJQ4N5", "uscc-format"),  # 17 characters
        ("91440101MA5CJQ4N590", "uscc-format"),  # 19
        ("B1440101MA5CJQ4N59", "uscc-format"),  # B is no registration authority
        ("91440101MA5CJQ4NI9", "uscc-format"),  # I is not in the alphabet
        ("9144A101MA5CJQ4N59", "uscc-format"),  # division code must be digits
        ("91440101MA5CJQ4N58", "uscc-checksum"),
    ],
)
def test_bad_codes(code: str, problem: str) -> None:
    assert uscc_problem(code) == problem


def test_single_character_changes_are_always_caught() -> None:
    code = "91440101MA5CJQ4N59"
    for position in range(17):
        for char in ALPHABET:
            if char == code[position]:
                continue
            changed = code[:position] + char + code[position + 1 :]
            if position == 0 and char not in "123456789ANY":
                continue
            if 2 <= position < 8 and not char.isdigit():
                continue
            assert not is_valid_uscc(changed), changed


def _reference_problem(code: str) -> str | None:
    """The standard's rules spelt out one by one, to hold the one-regex check to."""
    if len(code) != 18 or any(char not in ALPHABET for char in code) or code[0] not in "123456789ANY":
        return "uscc-format"
    if not code[2:8].isdigit():
        return "uscc-format"
    total = sum(ALPHABET.index(char) * weight for char, weight in zip(code[:17], WEIGHTS, strict=True))
    return None if ALPHABET[(31 - total % 31) % 31] == code[17] else "uscc-checksum"


@given(
    st.one_of(
        st.text(alphabet=ALPHABET + "IOSVZ a-\n０１", min_size=16, max_size=19),
        st.text(min_size=0, max_size=20),
        st.lists(st.sampled_from(ALPHABET), min_size=17, max_size=17)
        .map("".join)
        .map(lambda first17: first17 + check_character(first17)),
    )
)
def test_the_format_match_and_checksum_agree_with_the_rules_spelt_out(code: str) -> None:
    assert uscc_problem(code) == _reference_problem(code)
