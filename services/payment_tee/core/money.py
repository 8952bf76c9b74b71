"""Integer money and the one place rounding happens.

Amounts are integers in an asset's minor unit (piconero, satoshi, ...).
The upper bound is 2**53 - 1 so every amount survives JSON (RFC 8785 numbers
are IEEE doubles) and the receipts we sign canonicalise exactly.
"""

from __future__ import annotations

import re

MAX_AMOUNT = 2**53 - 1
BPS_DENOMINATOR = 10_000

_ASSET = re.compile(r"[A-Z][A-Z0-9]{1,9}")


def round_half_up_div(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up, for numerator >= 0 and denominator > 0.

    Exact integer arithmetic: (2n + d) // 2d. No floats anywhere near money.
    """
    if numerator < 0 or denominator <= 0:
        raise ValueError("round_half_up_div expects numerator >= 0 and denominator > 0")
    return (2 * numerator + denominator) // (2 * denominator)


def is_valid_amount(amount: object) -> bool:
    return type(amount) is int and 0 < amount <= MAX_AMOUNT


def is_valid_asset(asset: str) -> bool:
    return bool(_ASSET.fullmatch(asset))
