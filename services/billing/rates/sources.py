"""Exchange-rate sources: configurable HTTP feeds and the development `static` source.

RATE_SOURCES is a comma-separated list of `kind[@base_url]`, tried in order:

* `static`: the rates in RATE_STATIC (`XMR-USD:150.00,BTC-USD:60000`); every
  audit records source `static`. Refused in production.
* `kraken`: Kraken's public ticker, `{base}/0/public/Ticker?pair=XMRUSD`
  (default base https://api.kraken.com); the last trade price `c[0]`.
* `coingecko`: CoinGecko's simple price,
  `{base}/api/v3/simple/price?ids=monero&vs_currencies=usd`
  (default base https://api.coingecko.com).

Every value is parsed straight into a Decimal (JSON numbers too): no floats.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

import httpx

from services.common.errors import ConfigError


class RateSourceError(Exception):
    """This source has no usable rate now; the next one is tried."""


class RateSource(Protocol):
    @property
    def name(self) -> str: ...

    async def fetch(self, asset: str, http: httpx.AsyncClient) -> Decimal: ...


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise RateSourceError(f"not a decimal: {value!r}")
    try:
        return Decimal(value)
    except InvalidOperation:
        raise RateSourceError(f"not a decimal: {value!r}") from None


async def _get_json(http: httpx.AsyncClient, url: str, query: dict[str, str]) -> Any:
    try:
        response = await http.get(url, params=query)
    except httpx.HTTPError as exc:
        raise RateSourceError(f"{type(exc).__name__}: {exc}") from None
    if response.status_code != 200:
        raise RateSourceError(f"HTTP {response.status_code}")
    try:
        return json.loads(response.content, parse_float=Decimal, parse_int=Decimal)
    except ValueError:
        raise RateSourceError("the answer is not JSON") from None


@dataclass(frozen=True)
class StaticSource:
    rates: dict[str, Decimal]
    name: str = "static"

    async def fetch(self, asset: str, http: httpx.AsyncClient) -> Decimal:
        try:
            return self.rates[asset]
        except KeyError:
            raise RateSourceError(f"RATE_STATIC has no {asset}-USD") from None


@dataclass(frozen=True)
class KrakenSource:
    base_url: str = "https://api.kraken.com"
    name: str = "kraken"
    pairs: tuple[tuple[str, str], ...] = (("XMR", "XMRUSD"), ("BTC", "XBTUSD"))

    async def fetch(self, asset: str, http: httpx.AsyncClient) -> Decimal:
        pair = dict(self.pairs).get(asset)
        if pair is None:
            raise RateSourceError(f"no Kraken pair for {asset}")
        body = await _get_json(http, f"{self.base_url.rstrip('/')}/0/public/Ticker", {"pair": pair})
        try:
            if body.get("error"):
                raise RateSourceError(f"Kraken error {body['error']!r}")
            (ticker,) = body["result"].values()
            return _decimal(ticker["c"][0])
        except (AttributeError, KeyError, IndexError, TypeError, ValueError):
            raise RateSourceError("unexpected Kraken ticker format") from None


@dataclass(frozen=True)
class CoinGeckoSource:
    base_url: str = "https://api.coingecko.com"
    name: str = "coingecko"
    ids: tuple[tuple[str, str], ...] = (("XMR", "monero"), ("BTC", "bitcoin"))

    async def fetch(self, asset: str, http: httpx.AsyncClient) -> Decimal:
        coin = dict(self.ids).get(asset)
        if coin is None:
            raise RateSourceError(f"no CoinGecko id for {asset}")
        url = f"{self.base_url.rstrip('/')}/api/v3/simple/price"
        body = await _get_json(http, url, {"ids": coin, "vs_currencies": "usd"})
        try:
            return _decimal(body[coin]["usd"])
        except (KeyError, TypeError):
            raise RateSourceError("unexpected CoinGecko format") from None


_STATIC_ENTRY = re.compile(r"([A-Z][A-Z0-9]{1,9})-USD:(\d{1,12}(?:\.\d{1,18})?)")


def parse_static_rates(text: str) -> dict[str, Decimal]:
    """RATE_STATIC: `XMR-USD:150.00,BTC-USD:60000` -> {"XMR": Decimal("150.00"), ...}."""
    rates: dict[str, Decimal] = {}
    for raw in text.split(","):
        match = _STATIC_ENTRY.fullmatch(raw.strip())
        if match is None:
            raise ConfigError(f"RATE_STATIC: {raw.strip()!r} is not like XMR-USD:150.00")
        rates[match.group(1)] = Decimal(match.group(2))
    return rates


def parse_rate_sources(spec: str, static_rates: str, *, production: bool) -> list[RateSource]:
    """RATE_SOURCES -> sources in the order they are tried."""
    sources: list[RateSource] = []
    for raw in spec.split(","):
        kind, _, base_url = raw.strip().partition("@")
        if kind == "static":
            if production:
                raise ConfigError("RATE_SOURCES: the static source is refused in production")
            if base_url:
                raise ConfigError("RATE_SOURCES: the static source takes no URL")
            sources.append(StaticSource(parse_static_rates(static_rates)))
        elif kind == "kraken":
            sources.append(KrakenSource(base_url) if base_url else KrakenSource())
        elif kind == "coingecko":
            sources.append(CoinGeckoSource(base_url) if base_url else CoinGeckoSource())
        else:
            raise ConfigError(
                f"RATE_SOURCES: unknown source {kind!r} (static, kraken, coingecko; "
                "optionally kind@base_url)"
            )
        if base_url and not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"RATE_SOURCES: {base_url!r} is not an http(s) URL")
    if not sources:
        raise ConfigError("RATE_SOURCES names no source")
    return sources
