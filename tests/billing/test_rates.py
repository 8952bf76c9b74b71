"""Exchange rates from feeds faked at the HTTP boundary: a real local server that
answers like Kraken and CoinGecko, failing, stale, zero, negative and absurd."""

import uuid
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

from services.billing.rates.sources import (
    CoinGeckoSource,
    KrakenSource,
    StaticSource,
    parse_rate_sources,
    parse_static_rates,
)
from services.common.errors import ConfigError
from services.payment_tee.core.commands import CreditCommand
from services.payment_tee.core.records import AccountRef


def minor_for_cents(usd_cents: int, usd_per_unit: str, decimals: int = 12) -> int:
    exact = Fraction(usd_cents, 100) / Fraction(usd_per_unit) * 10**decimals
    return int((exact * 2 + 1) // 2)


def test_the_first_source_that_answers_sanely_prices_the_quote(make_billing, feeds):
    billing = make_billing(rate_sources=feeds.sources)
    feeds.kraken = ("status", 500)
    q = billing.quote(billing.agent(), "pro").json()
    assert q["rate"]["source"] == "coingecko" and q["rate"]["value"] == "151.25"
    assert q["charge_now"]["amount"] == minor_for_cents(2_900, "151.25")
    assert feeds.hits == {"kraken": 1, "coingecko": 1}


@pytest.mark.parametrize(
    "bad",
    [
        "0",
        "-150.00",
        "0.0000001",  # a lost decimal point or a unit mix-up: below the XMR floor of $1
        "150000000",  # above the XMR ceiling of $100,000
        ("raw", "not json"),
        ("raw", '{"error":[],"result":{}}'),
        ("raw", '{"error":["EQuery:Unknown asset pair"],"result":{}}'),
        ("raw", '{"error":[],"result":{"XXMRZUSD":{"c":[]}}}'),
        ("raw", '{"error":[],"result":{"XXMRZUSD":{"c":[true,"1"]}}}'),
        ("raw", '{"error":[],"result":{"XXMRZUSD":{"c":["NaN","1"]}}}'),
        ("status", 429),
    ],
)
def test_a_zero_negative_absurd_or_broken_rate_is_rejected_and_the_next_source_used(
    make_billing, feeds, bad
):
    billing = make_billing(rate_sources=feeds.sources)
    feeds.kraken = bad
    q = billing.quote(billing.agent(), "pro").json()
    assert q["rate"]["source"] == "coingecko", q


def test_kraken_is_used_when_it_answers(make_billing, feeds):
    billing = make_billing(rate_sources=feeds.sources)
    q = billing.quote(billing.agent(), "enterprise").json()
    assert (q["rate"]["source"], q["rate"]["value"]) == ("kraken", "150.00")
    assert feeds.hits == {"kraken": 1, "coingecko": 0}


def test_a_rate_is_fresh_for_five_minutes(make_billing, feeds, clock):
    billing = make_billing(rate_sources=feeds.sources)
    agent = billing.agent()
    first = billing.quote(agent, "pro").json()
    clock.advance(timedelta(minutes=4, seconds=59))
    feeds.kraken = "160.00"
    second = billing.quote(agent, "pro").json()
    assert second["rate"] == first["rate"] and feeds.hits["kraken"] == 1
    clock.advance(timedelta(seconds=2))
    third = billing.quote(agent, "pro").json()
    assert third["rate"]["value"] == "160.00" and third["rate"]["stale"] is False
    assert feeds.hits["kraken"] == 2


def test_a_cached_rate_is_usable_but_stale_for_24_hours_and_flagged(make_billing, feeds, clock):
    billing = make_billing(rate_sources=feeds.sources)
    agent = billing.agent(balance=10**13)
    billing.quote(agent, "pro")  # caches kraken's 150.00 at Jan 15 12:00
    feeds.kraken = feeds.coingecko = ("status", 503)
    clock.advance(timedelta(hours=23, minutes=59))
    q = billing.quote(agent, "pro").json()
    assert q["rate"] == {
        "value": "150.00",
        "source": "kraken",
        "fetched_at": "2026-01-15T12:00:00.000000Z",
        "stale": True,
    }
    body = billing.upgrade(agent, quote_id=q["quote_id"]).json()
    assert body["invoice"]["rate"]["stale"] is True
    (invoice,) = billing.invoices(agent)
    assert (invoice.rate_stale, invoice.rate_source) == (True, "kraken")


def test_beyond_24_hours_nothing_is_quoted_or_charged(make_billing, feeds, clock):
    billing = make_billing(rate_sources=feeds.sources)
    agent = billing.agent(balance=10**13)
    billing.quote(agent, "pro")
    feeds.kraken = "0"
    feeds.coingecko = ("status", 500)
    clock.advance(timedelta(hours=24, seconds=1))
    r = billing.quote(agent, "pro")
    assert r.status_code == 503
    assert r.json()["code"] == "rate_unavailable" and r.headers["Retry-After"]
    r = billing.upgrade(agent, "pro", key="no-rate-upgrade")
    assert (r.status_code, r.json()["code"]) == (503, "rate_unavailable")
    assert billing.invoices(agent) == [] and billing.charges(agent) == []
    assert billing.balance(agent) == 10**13 and billing.core_tier(agent) == "free"
    feeds.coingecko = "151.25"
    assert billing.upgrade(agent, "pro", key="no-rate-upgrade").status_code == 200


def test_with_no_source_and_no_cache_the_answer_is_503(make_billing, feeds):
    billing = make_billing(rate_sources=feeds.sources)
    feeds.kraken = "-1"
    feeds.coingecko = "1000000000"
    r = billing.quote(billing.agent(), "pro")
    assert (r.status_code, r.json()["code"]) == (503, "rate_unavailable")


def test_the_static_source_is_recorded_as_static(billing):
    q = billing.quote(billing.agent(), "pro").json()
    assert (q["rate"]["source"], q["rate"]["value"]) == ("static", "150.00")


def test_btc_balances_convert_to_satoshi(make_billing, ledger):
    billing = make_billing(ledger_default_asset="BTC")
    owner = uuid.uuid4()
    ledger.register_holder(owner, asset="BTC")
    ledger.credit(
        CreditCommand(
            AccountRef(owner, "main", "BTC"), 10**8, "btc-fund-1", "credits:manual", "admin", "test"
        )
    )
    agent = type(billing.agent())(owner)
    q = billing.quote(agent, "pro").json()
    assert q["charge_now"] == {"usd_cents": 2_900, "asset": "BTC", "amount": 48_333}
    assert billing.upgrade(agent, quote_id=q["quote_id"]).status_code == 200
    assert ledger.balance(owner, "BTC").available == 10**8 - 48_333


def test_rate_configuration_is_checked_at_start():
    sources = parse_rate_sources(
        "kraken,coingecko@http://127.0.0.1:9/cg,static", "XMR-USD:150.00", production=False
    )
    assert [type(s) for s in sources] == [KrakenSource, CoinGeckoSource, StaticSource]
    assert sources[0].base_url == "https://api.kraken.com"
    assert sources[1].base_url == "http://127.0.0.1:9/cg"
    assert parse_static_rates("XMR-USD:150.00,BTC-USD:60000") == {
        "XMR": Decimal("150.00"),
        "BTC": Decimal("60000"),
    }
    for spec, static in [
        ("bloomberg", ""),
        ("static@http://x", "XMR-USD:1"),
        ("static", "XMR:150"),
        ("static", "XMR-USD:1.5e2"),
        ("kraken@ftp://x", ""),
        ("", ""),
    ]:
        with pytest.raises(ConfigError):
            parse_rate_sources(spec, static, production=False)
    with pytest.raises(ConfigError, match="production"):
        parse_rate_sources("kraken,static", "XMR-USD:150.00", production=True)
