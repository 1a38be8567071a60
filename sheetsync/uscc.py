"""The 统一社会信用代码 (unified social credit code) check of GB 32100-2015.

Eighteen characters: registration authority (1-9, A, N, Y), organisation type, six-digit
division code, nine-character organisation code and a check character computed over the
first seventeen with weights 3^(i-1) mod 31 on the 31-character alphabet below.
"""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_VALUE = {char: index for index, char in enumerate(ALPHABET)}
_AUTHORITIES = frozenset("123456789ANY")


def check_character(first17: str) -> str:
    """The 18th character that GB 32100-2015 requires after these seventeen."""
    total = sum(_VALUE[char] * weight for char, weight in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def uscc_problem(code: str) -> str | None:
    """``None`` for a valid code, else the error code saying what is wrong with it."""
    if len(code) != 18 or any(char not in _VALUE for char in code) or code[0] not in _AUTHORITIES:
        return "uscc-format"
    if not code[2:8].isdigit():
        return "uscc-format"
    if check_character(code[:17]) != code[17]:
        return "uscc-checksum"
    return None


def is_valid_uscc(code: str) -> bool:
    return uscc_problem(code) is None
