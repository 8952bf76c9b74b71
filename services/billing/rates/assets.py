"""What billing knows about each asset: its minor unit and a sane USD price range.

A source quoting outside the range is wrong (a broken feed, a unit mix-up, a
decimal point lost), not a market move: the rate is rejected and the next
source tried.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class AssetSpec:
    code: str
    decimals: int  # minor units per whole unit = 10 ** decimals
    min_usd: Decimal  # sanity bounds on USD per whole unit, inclusive
    max_usd: Decimal

    def accepts(self, usd_per_unit: Decimal) -> bool:
        return usd_per_unit.is_finite() and self.min_usd <= usd_per_unit <= self.max_usd


ASSETS: dict[str, AssetSpec] = {
    "XMR": AssetSpec("XMR", 12, Decimal("1"), Decimal("100000")),  # piconero
    "BTC": AssetSpec("BTC", 8, Decimal("100"), Decimal("10000000")),  # satoshi
}
