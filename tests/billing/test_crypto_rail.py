"""Issue 5's crypto rail: an upgrade paid by a crypto invoice instead of the balance.

A real key server (its app over real HTTP, and `python -m services.key_server
worker` as a real process where callbacks must arrive for real) runs next to
billing on the same database: quote -> 202 invoice with a charge address ->
signed watcher event -> confirmed charge -> signed callback -> tier applied,
exactly once, whatever is delivered twice and whatever restarts in between.
The deterministic cases post callbacks signed exactly like the key server's
(`signed_headers`, key id `key_server`).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from support.factories import books
from support.servers import free_port
from support.tee import payment_via_tee

from services.common.clock import rfc3339
from services.common.signing import compute_signature, signed_headers

# The addresses of the rail's chain (tbtc: BIP-84 vpub of "abandon ... about", account 0).
VPUB_ADDRESS_0 = "tb1q6rz28mcfaxtmd6v789l9rrlrusdprr9pqcpvkl"
VPUB_ADDRESS_1 = "tb1qd7spv5q28348xl4myc8zmh983w5jx32cjhkn97"
# BIP-84 Litecoin account 0 (bip-utils test_bip84.py): a chain whose asset is LTC. (The
# testnet ttub is the vpub's key material, which the key server refuses to register twice.)
LTC_ZPUB = (
    "zpub6rPo5mF47z5coVm5rvWv7fv181awb7Vckn5Cf3xQXBVKu18kuBHDhNi1Jrb4br6vVD3ZbrnXemEsWJoR18mZ"
    "wkUdzwD8TQnHDUCGxqZ6swA"
)
# $29 at the static 60,000 USD/BTC: 2,900 * 10^8 / (100 * 60,000) = 48,333.33 -> 48,333 sat.
PRO_SAT = 48_333
PRO_XMR = 193_333_333_333  # $29 at 150 USD/XMR, half up
CHARGE_TTL = 1800
JAN_15 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)  # billing's clock in these tests
JAN_15_RFC = "2026-01-15T12:00:00.000000Z"


def txid(n: int | str) -> str:
    return str(n).encode().hex().rjust(64, "0")[-64:]


def charge_event(
    invoice: dict[str, Any],
    status: str = "confirmed",
    received: int = PRO_SAT,
    txids: list[str] | None = None,
    paid_late: bool = False,
    event_id: str | None = None,
) -> bytes:
    """A callback body as the key server writes it (charges/callbacks.py)."""
    pay_to = invoice["pay_to"]
    return json.dumps(
        {
            "type": f"charge.{status}",
            "event_id": event_id or str(uuid.uuid4()),
            "charge_id": pay_to["charge_id"],
            "reference": invoice["invoice_id"],
            "chain": pay_to["chain"],
            "amount_expected": pay_to["amount"],
            "amount_received": received,
            "txids": txids if txids is not None else [txid("pay")],
            "status": status,
            "at": rfc3339(datetime.now(UTC)),
            "paid_late": paid_late,
        },
        separators=(",", ":"),
    ).encode()


@dataclass
class Counts:
    subscriptions: int
    paid_invoices: int
    events: dict[str, int] = field(default_factory=dict)


def counts(rail: Any, agent: Any) -> Counts:
    events: dict[str, int] = {}
    for name in rail.billing.events(agent):
        events[name] = events.get(name, 0) + 1
    paid = [i for i in rail.billing.invoices(agent) if i.status == "paid"]
    return Counts(len(rail.subscriptions(agent)), len(paid), events)


ONCE = Counts(1, 1, {"subscription.created": 1, "invoice.paid": 1, "tier.changed": 1})


# --- the invoice ---------------------------------------------------------------------------


def test_a_crypto_upgrade_answers_an_invoice_to_pay_at_a_fresh_address(rail):
    rail.chain()
    agent = rail.billing.agent(balance=10**12)
    quote = rail.billing.quote(agent, "pro").json()
    assert quote["charge_now"] == {"usd_cents": 2_900, "asset": "XMR", "amount": PRO_XMR}
    r = rail.upgrade(agent, quote_id=quote["quote_id"], key="crypto-upgrade-0001")
    assert r.status_code == 202, r.text
    body = r.json()
    invoice = body["invoice"]
    pay_to = invoice["pay_to"]
    assert body == {
        "tier": "pro",
        "pay_with": "crypto",
        "invoice": {
            "invoice_id": invoice["invoice_id"],
            "status": "open",
            "usd_cents": 2_900,
            "asset": "BTC",
            "amount": PRO_SAT,
            "rate": {
                "value": "60000",
                "source": "static",
                "fetched_at": JAN_15_RFC,
                "stale": False,
            },
            "pay_to": {
                "chain": "tbtc",
                "address": VPUB_ADDRESS_0,
                "amount": PRO_SAT,
                "expires_at": rfc3339(rail.ks_clock.now() + timedelta(seconds=CHARGE_TTL)),
                "charge_id": pay_to["charge_id"],
            },
        },
    }
    charge = rail.charge(pay_to["charge_id"])
    assert (charge["reference"], charge["amount"], charge["status"]) == (
        invoice["invoice_id"],
        PRO_SAT,
        "pending",
    )
    assert charge["callback_url"] == f"{rail.billing.url}/internal/charge-events"

    # Nothing is charged and the tier does not change before the payment.
    assert rail.billing.balance(agent) == 10**12 and rail.billing.charges(agent) == []
    tier = rail.billing.tier(agent)
    assert (tier["tier"], tier["subscription"]) == ("free", None)
    assert rail.billing.core_tier(agent) == "free"
    assert rail.billing.events(agent) == []
    assert rail.billing.audit(agent) == ["invoice.issued"]
    (row,) = rail.billing.invoices(agent)
    assert (row.rail, row.status, row.asset, row.amount_minor, row.usd_cents) == (
        "crypto",
        "open",
        "BTC",
        PRO_SAT,
        2_900,
    )

    # The same Idempotency-Key replays the 202 and never asks for a second charge.
    again = rail.upgrade(agent, quote_id=quote["quote_id"], key="crypto-upgrade-0001")
    assert again.status_code == 202 and again.json() == body
    assert again.headers["Idempotent-Replayed"] == "true"
    assert rail.ks_charge_count() == 1
    other = rail.upgrade(
        agent, quote_id=quote["quote_id"], key="crypto-upgrade-0001", chain=None, pay_with="balance"
    )
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_key_reused")

    # By tier: quoted in the chain's asset at once, at the next address.
    bob = rail.billing.agent()
    by_tier = rail.invoiced(bob, "pro")["invoice"]
    assert (by_tier["asset"], by_tier["amount"], by_tier["pay_to"]["address"]) == (
        "BTC",
        PRO_SAT,
        VPUB_ADDRESS_1,
    )
    enterprise = rail.invoiced(rail.billing.agent(), "enterprise")["invoice"]
    # $999 at 60,000 USD/BTC: 99,900 * 10^8 / 6,000,000 = 1,665,000 sat exactly.
    assert enterprise["amount"] == 1_665_000


def test_crypto_upgrades_are_refused_clearly_and_leave_nothing_behind(rail, make_billing):
    rail.chain()
    agent = rail.billing.agent()
    r = rail.upgrade(agent, "pro", chain=None)
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")
    r = rail.upgrade(agent, "pro", pay_with="balance")  # a chain without crypto
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")
    r = rail.upgrade(agent, "pro", chain="nope")
    assert (r.status_code, r.json()["code"], r.json()["chain"]) == (404, "unknown_chain", "nope")
    r = rail.ks.post(
        "/admin/chains",
        json={"id": "ltc", "coin": "litecoin", "network": "mainnet", "xpub": LTC_ZPUB},
        headers=rail.admin,
    )
    assert r.status_code == 201 and r.json()["asset"] == "LTC"
    r = rail.upgrade(agent, "pro", chain="ltc")
    assert (r.status_code, r.json()["code"], r.json()["asset"]) == (422, "unsupported_asset", "LTC")
    rail.ks.patch("/admin/chains/tbtc", json={"enabled": False}, headers=rail.admin)
    r = rail.upgrade(agent, "pro")
    assert (r.status_code, r.json()["code"]) == (409, "chain_disabled")
    rail.ks.patch("/admin/chains/tbtc", json={"enabled": True}, headers=rail.admin)
    no_btc_rate = make_billing(
        key_server_url=str(rail.ks.base_url).rstrip("/"), rate_static="XMR-USD:150.00"
    )
    r = no_btc_rate.http.post(
        f"/internal/agents/{agent.id}/upgrade",
        json={"tier": "pro", "pay_with": "crypto", "chain": "tbtc"},
        headers={**rail.billing.service, "Idempotency-Key": "no-btc-rate-01"},
    )
    assert (r.status_code, r.json()["code"]) == (503, "rate_unavailable")
    assert rail.billing.invoices(agent) == [] and rail.ks_charge_count() == 0
    assert rail.billing.rows("SELECT * FROM billing.upgrade_requests") == []
    assert rail.billing.tier(agent)["tier"] == "free"


def test_an_unreachable_key_server_keeps_the_intent_and_a_retry_gets_the_same_charge(rail):
    rail.chain()
    alice, bob, carol = rail.billing.agent(), rail.billing.agent(), rail.billing.agent()
    rail.link.fault = "down"  # not even the chain can be looked up: nothing is recorded
    r = rail.upgrade(carol, "pro", key="carol-crypto-01")
    assert (r.status_code, r.json()["code"]) == (503, "key_server_unavailable")
    assert r.headers["Retry-After"] == "5"
    assert rail.billing.invoices(carol) == []

    # The key server creates alice's charge, but its answer is lost on the way back.
    rail.link.fault = "lose_answer"
    r = rail.upgrade(alice, "pro", key="alice-crypto-01")
    assert (r.status_code, r.json()["code"]) == (503, "key_server_unavailable")
    (invoice,) = rail.billing.invoices(alice)
    (pending,) = rail.billing.rows(
        "SELECT * FROM billing.crypto_charges WHERE invoice_id = :i", i=invoice.id
    )
    assert (invoice.status, pending.charge_id, pending.amount_minor) == ("open", None, PRO_SAT)
    assert rail.ks_charge_count() == 1
    again = rail.upgrade(alice, "pro", key="alice-crypto-01")  # the same, still failing
    assert (again.status_code, again.json()["code"]) == (503, "key_server_unavailable")
    assert rail.ks_charge_count() == 1
    # Bob's charge is never created while the key server is down.
    rail.link.fault = "charges_down"
    assert rail.upgrade(bob, "pro", key="bob-crypto-0001").status_code == 503
    assert rail.ks_charge_count() == 1 and rail.billing.tier(alice)["tier"] == "free"

    rail.link.fault = None
    r = rail.upgrade(alice, "pro", key="alice-crypto-01")
    assert r.status_code == 202, r.text
    (created,) = rail.billing.rows("SELECT id FROM key_server.charges")
    assert r.json()["invoice"]["pay_to"]["charge_id"] == str(created.id)  # the one created
    assert r.json()["invoice"]["invoice_id"] == str(invoice.id)
    # Bob's intent is completed by the sweep, with no request from him.
    report = rail.billing.run_renewals()
    assert [a["action"] for a in report["actions"]] == ["settled_crypto_upgrade"]
    r = rail.upgrade(bob, "pro", key="bob-crypto-0001")
    assert r.status_code == 202 and r.headers["Idempotent-Replayed"] == "true"
    assert rail.ks_charge_count() == 2  # one per invoice, whatever was retried
    assert len(rail.billing.invoices(alice)) == len(rail.billing.invoices(bob)) == 1


# --- payments through the key server worker --------------------------------------------------


def test_a_confirmed_payment_reported_by_the_watcher_upgrades_once(rail, ks_worker, eventually):
    ks_worker()
    rail.chain()
    agent = rail.billing.agent(balance=10**12)
    invoice = rail.invoiced(agent)["invoice"]
    address = invoice["pay_to"]["address"]
    seen = rail.watch(address, PRO_SAT, 1, txid("alice-pays"))
    assert (seen["matched"], seen["charge_status"]) == ("charge", "seen")
    time.sleep(0.5)
    assert rail.billing.tier(agent)["tier"] == "free" and rail.ks_callbacks() == []

    confirmed = rail.watch(address, PRO_SAT, 2, txid("alice-pays"))
    assert confirmed["charge_status"] == "confirmed"
    eventually(lambda: rail.billing.tier(agent)["tier"] == "pro", timeout=30, what="the upgrade")
    tier = rail.billing.tier(agent)
    assert tier["subscription"] == {
        "status": "active",
        "current_period_end": "2026-02-15T12:00:00.000000Z",
        "grace_until": None,
    }
    assert rail.billing.core_tier(agent) == "pro"
    assert rail.billing.balance(agent) == 10**12 and rail.billing.charges(agent) == []
    (row,) = rail.billing.invoices(agent)
    assert (row.status, row.rail, row.amount_minor, row.cycle) == ("paid", "crypto", PRO_SAT, 1)
    assert rail.billing.audit(agent) == [
        "invoice.issued",
        "subscription.created",
        "invoice.paid",
        "tier.changed",
    ]
    (paid,) = rail.audit_details(agent, "invoice.paid")
    assert paid["paid_with"] == "crypto" and paid["amount"] == PRO_SAT
    assert paid["payment"] | {"event_id": None} == {
        "rail": "crypto",
        "chain": "tbtc",
        "charge_id": invoice["pay_to"]["charge_id"],
        "address": address,
        "status": "confirmed",
        "amount_expected": PRO_SAT,
        "amount_received": PRO_SAT,
        "txids": [txid("alice-pays")],
        "paid_late": False,
        "event_id": None,
    }

    # The watcher reports the same output again: the key server sends nothing new.
    assert rail.watch(address, PRO_SAT, 2, txid("alice-pays"))["outcome"] == "unchanged"
    # The key server delivers its callback a second time (same event id, fresh signature).
    (callback,) = rail.ks_callbacks()
    eventually(lambda: rail.ks_callbacks()[0].status == "delivered", what="delivery recorded")
    again = rail.callback(callback.body.encode())
    assert again.status_code == 200, again.text
    assert (again.json()["outcome"], again.json()["first_outcome"]) == ("duplicate", "applied")
    time.sleep(0.5)
    assert counts(rail, agent) == ONCE
    assert len(rail.billing.rows("SELECT * FROM billing.charge_events")) == 1
    books(rail.engine).assert_balanced()


def test_billing_restarted_between_charge_and_callback_applies_it_once(rail, ks_worker, eventually):
    ks_worker()
    rail.chain()
    agent = rail.billing.agent()
    invoice = rail.invoiced(agent)["invoice"]
    rail.billing.stop()  # billing is down (a crash, a deploy) when the payment confirms
    rail.watch(invoice["pay_to"]["address"], PRO_SAT, 2, txid("while-down"))
    eventually(
        lambda: any(c.attempts >= 2 for c in rail.ks_callbacks()),
        timeout=30,
        what="the key server retrying its callback",
    )
    (callback,) = rail.ks_callbacks()
    assert callback.status == "pending" and "ConnectError" in callback.last_error
    billing = rail.restart_billing()  # a new app instance, same URL, same database
    eventually(lambda: billing.tier(agent)["tier"] == "pro", timeout=30, what="the upgrade")
    eventually(lambda: rail.ks_callbacks()[0].status == "delivered", what="delivery recorded")
    time.sleep(0.5)
    assert counts(rail, agent) == ONCE
    assert billing.core_tier(agent) == "pro"
    again = rail.callback(callback.body.encode())
    assert again.json()["outcome"] == "duplicate" and counts(rail, agent) == ONCE


def test_an_expired_charge_voids_the_invoice_and_a_late_payment_is_only_recorded(
    rail, ks_worker, eventually
):
    ks_worker()
    rail.chain()
    agent = rail.billing.agent(balance=10**12)
    invoice = rail.invoiced(agent)["invoice"]
    rail.ks_clock.advance(timedelta(seconds=CHARGE_TTL))
    assert rail.charge(invoice["pay_to"]["charge_id"])["status"] == "expired"
    eventually(
        lambda: rail.billing.invoices(agent)[0].status == "void", timeout=30, what="the void"
    )
    assert rail.billing.tier(agent)["tier"] == "free" and rail.billing.core_tier(agent) == "free"
    assert rail.billing.events(agent) == ["invoice.voided"]
    (voided,) = rail.audit_details(agent, "invoice.voided")
    assert (voided["reason"], voided["status"], voided["payment"]["amount_received"]) == (
        "charge_expired",
        "void",
        0,
    )

    # Money arrives after the expiry: recorded and surfaced, never applied by itself.
    rail.ks_clock.advance(timedelta(minutes=10))
    rail.watch(invoice["pay_to"]["address"], PRO_SAT, 2, txid("too-late"))
    eventually(
        lambda: "invoice.late_payment" in rail.billing.events(agent), timeout=30, what="late"
    )
    (late,) = rail.audit_details(agent, "invoice.late_payment")
    assert late["reason"] == "invoice_void" and late["status"] == "void"
    assert (late["payment"]["amount_received"], late["payment"]["paid_late"]) == (PRO_SAT, True)
    assert late["payment"]["txids"] == [txid("too-late")]
    assert rail.billing.events(agent) == ["invoice.voided", "invoice.late_payment"]
    assert rail.billing.tier(agent)["tier"] == "free" and rail.subscriptions(agent) == []
    assert rail.billing.balance(agent) == 10**12


# --- callbacks, deterministically -----------------------------------------------------------


def test_the_same_callback_twice_or_after_a_restart_changes_nothing_more(rail):
    rail.chain()
    agent = rail.billing.agent()
    invoice = rail.invoiced(agent)["invoice"]
    event_id = str(uuid.uuid4())
    body = charge_event(invoice, event_id=event_id)
    first = rail.callback(body)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "event_id": event_id,
        "charge_id": invoice["pay_to"]["charge_id"],
        "invoice_id": invoice["invoice_id"],
        "outcome": "applied",
        "first_outcome": None,
    }
    assert rail.billing.tier(agent)["tier"] == "pro"
    second = rail.callback(body)
    assert (second.status_code, second.json()["outcome"]) == (200, "duplicate")
    # Another event for the same charge (more arrived: overpaid) pays nothing twice.
    more = rail.callback(charge_event(invoice, "overpaid", received=PRO_SAT + 1_000))
    assert (more.status_code, more.json()["outcome"]) == (200, "already_paid")
    rail.billing.stop()
    rail.restart_billing()
    after = rail.callback(body)
    assert (after.status_code, after.json()["outcome"]) == (200, "duplicate")
    assert counts(rail, agent) == ONCE
    (row,) = rail.billing.rows("SELECT * FROM billing.crypto_charges")
    assert (row.charge_status, row.amount_received) == ("overpaid", PRO_SAT + 1_000)


def test_unsigned_forged_or_stale_callbacks_are_401_and_change_nothing(rail):
    rail.chain()
    agent = rail.billing.agent()
    invoice = rail.invoiced(agent)["invoice"]
    body = charge_event(invoice)
    now = time.time()
    refused = [
        rail.billing.http.post("/internal/charge-events", content=body),  # unsigned
        rail.callback(body, secret="not-the-callback-secret-0123456789abcdef"),
        rail.callback(body, key_id="watcher-1"),
        # Well outside the 300 s window on the real clock: a slow machine may
        # spend seconds between `now` and a request.
        rail.callback(body, at=now - 330),
        rail.callback(body, at=now + 330),
        rail.billing.http.post(  # signed, then tampered with
            "/internal/charge-events",
            content=body.replace(b'"confirmed"', b'"overpaid"'),
            headers=signed_headers("key_server", rail.callback_secret, body, now),
        ),
        rail.billing.http.post(  # a bearer token is no substitute for the signature
            "/internal/charge-events",
            content=body,
            headers={
                **rail.billing.service,
                "X-Sealpay-Key-Id": "key_server",
                "X-Sealpay-Timestamp": str(int(now)),
                "X-Sealpay-Signature": compute_signature("x" * 32, str(int(now)), body),
            },
        ),
    ]
    assert [(r.status_code, r.json()["code"]) for r in refused] == [(401, "bad_signature")] * 7
    assert rail.billing.invoices(agent)[0].status == "open"
    assert rail.billing.rows("SELECT * FROM billing.charge_events") == []
    assert rail.billing.tier(agent)["tier"] == "free" and rail.billing.events(agent) == []
    ok = rail.callback(body, at=time.time() - 270)  # old, but inside the window
    assert (ok.status_code, ok.json()["outcome"]) == (200, "applied")


def test_callbacks_for_unknown_or_mismatched_charges_change_nothing(rail):
    rail.chain()
    agent = rail.billing.agent()
    invoice = rail.invoiced(agent)["invoice"]
    unknown = {**invoice, "pay_to": {**invoice["pay_to"], "charge_id": str(uuid.uuid4())}}
    r = rail.callback(charge_event(unknown))
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    other = {**invoice, "invoice_id": str(uuid.uuid4())}
    r = rail.callback(charge_event(other))
    assert (r.status_code, r.json()["code"]) == (409, "event_conflict")
    short = {**invoice, "pay_to": {**invoice["pay_to"], "amount": 1}}
    assert rail.callback(charge_event(short)).status_code == 409
    r = rail.callback(b'{"type": "charge.confirmed"}')
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")
    assert rail.billing.invoices(agent)[0].status == "open"
    assert rail.billing.tier(agent)["tier"] == "free"


def test_an_underpaid_charge_voids_the_invoice_with_what_arrived(rail):
    rail.chain()
    agent = rail.billing.agent()
    invoice = rail.invoiced(agent)["invoice"]
    r = rail.callback(charge_event(invoice, "underpaid", received=PRO_SAT - 1))
    assert r.json()["outcome"] == "voided"
    (voided,) = rail.audit_details(agent, "invoice.voided")
    assert voided["reason"] == "charge_underpaid"
    assert voided["payment"]["amount_received"] == PRO_SAT - 1
    # A top-up later completes the charge: recorded as a late payment, not applied.
    r = rail.callback(charge_event(invoice, "confirmed"))
    assert r.json()["outcome"] == "late_payment"
    assert rail.billing.events(agent) == ["invoice.voided", "invoice.late_payment"]
    assert rail.billing.tier(agent)["tier"] == "free"


def test_a_payment_confirmed_after_the_charge_expired_is_not_applied(rail):
    rail.chain()
    agent = rail.billing.agent()
    invoice = rail.invoiced(agent)["invoice"]
    # The late "confirmed" overtakes the "expired" callback: the outcome is the same.
    r = rail.callback(charge_event(invoice, paid_late=True))
    assert r.json()["outcome"] == "late_payment"
    assert rail.callback(charge_event(invoice, "expired", received=0)).json()["outcome"] == (
        "ignored"
    )
    (late,) = rail.audit_details(agent, "invoice.late_payment")
    assert late["reason"] == "paid_after_expiry"
    assert rail.billing.events(agent) == ["invoice.voided", "invoice.late_payment"]
    assert rail.billing.tier(agent)["tier"] == "free" and rail.subscriptions(agent) == []


def test_a_payment_for_an_upgrade_overtaken_by_another_is_recorded_not_applied(rail):
    rail.chain()
    agent = rail.billing.agent(balance=10**12)
    invoice = rail.invoiced(agent)["invoice"]
    assert rail.billing.upgraded(agent, "pro")["tier"] == "pro"  # paid from the balance meanwhile
    r = rail.callback(charge_event(invoice))
    assert r.json()["outcome"] == "unapplied"
    (late,) = rail.audit_details(agent, "invoice.late_payment")
    assert late["reason"] == "superseded" and late["payment"]["amount_received"] == PRO_SAT
    assert len(rail.subscriptions(agent)) == 1 and rail.billing.tier(agent)["tier"] == "pro"
    assert rail.billing.balance(agent) == 10**12 - PRO_XMR  # charged once, from the balance
    # The clock is fixed, so both invoices share created_at: compare without order.
    invoices = sorted((i.rail, i.status) for i in rail.billing.invoices(agent))
    assert invoices == [("balance", "paid"), ("crypto", "void")]


def test_a_crypto_paid_period_renews_from_the_balance_and_is_not_refunded(rail):
    rail.chain()
    alice, bob = rail.billing.agent(balance=10**12), rail.billing.agent(balance=10**12)
    for agent in (alice, bob):
        invoice = rail.invoiced(agent)["invoice"]
        assert rail.callback(charge_event(invoice)).json()["outcome"] == "applied"
    # Immediate downgrade: the on-chain payment is not refunded automatically.
    r = rail.billing.downgrade(alice, "free", immediate=True)
    assert r.status_code == 200 and r.json()["refund"] is None
    assert rail.billing.balance(alice) == 10**12 and rail.billing.tier(alice)["tier"] == "free"
    (withheld,) = rail.audit_details(alice, "invoice.refund_withheld")
    assert (withheld["usd_cents"], withheld["asset"], withheld["amount_paid"]) == (
        2_900,
        "BTC",
        PRO_SAT,
    )
    # Renewal: charged from the balance, in the ledger's asset, like any subscription.
    report = rail.billing.walk_to(JAN_15 + timedelta(days=31))
    assert [a["action"] for a in report["actions"]] == ["renewed"]
    assert rail.billing.balance(bob) == 10**12 - PRO_XMR
    paid = [(i.rail, i.asset, i.amount_minor, i.cycle) for i in rail.billing.invoices(bob)]
    assert paid == [("crypto", "BTC", PRO_SAT, 1), ("balance", "XMR", PRO_XMR, 2)]
    assert rail.billing.tier(bob)["tier"] == "pro"


# --- intents the key server has not answered ------------------------------------------------


def lost_answer_invoice(rail, agent) -> dict[str, Any]:
    """An upgrade whose charge the key server created but whose answer was lost: the
    invoice as a callback for it would describe it (billing has no charge id yet)."""
    rail.link.fault = "lose_answer"
    r = rail.upgrade(agent, "pro", key="lost-answer-01")
    assert (r.status_code, r.json()["code"]) == (503, "key_server_unavailable")
    rail.link.fault = None
    (invoice,) = rail.billing.invoices(agent)
    (charge,) = rail.billing.rows("SELECT id FROM key_server.charges WHERE reference = :r",
                                  r=str(invoice.id))  # fmt: skip
    pay_to = {"chain": "tbtc", "amount": PRO_SAT, "charge_id": str(charge.id)}
    return {"invoice_id": str(invoice.id), "pay_to": pay_to}


def test_a_callback_that_overtakes_the_lost_answer_pays_the_invoice_once(rail):
    rail.chain()
    agent = rail.billing.agent()
    invoice = lost_answer_invoice(rail, agent)
    r = rail.callback(charge_event(invoice))  # found by its reference, the invoice id
    assert (r.status_code, r.json()["outcome"]) == (200, "applied"), r.text
    assert rail.billing.tier(agent)["tier"] == "pro"
    # The client's retry completes the request with the same charge, now paid.
    again = rail.upgrade(agent, "pro", key="lost-answer-01")
    assert again.status_code == 202, again.text
    assert again.json()["invoice"]["status"] == "paid"
    assert again.json()["invoice"]["pay_to"]["charge_id"] == invoice["pay_to"]["charge_id"]
    assert again.json()["invoice"]["pay_to"]["address"] == VPUB_ADDRESS_0
    assert rail.ks_charge_count() == 1 and counts(rail, agent) == ONCE


def test_an_intent_left_unanswered_past_the_quote_is_abandoned_not_opened_late(rail):
    rail.chain()
    agent = rail.billing.agent()
    invoice = lost_answer_invoice(rail, agent)
    rail.billing.clock.advance(timedelta(seconds=301))  # longer than a quote lives
    report = rail.billing.run_renewals()
    assert [a["action"] for a in report["actions"]] == ["abandoned_crypto_upgrade"]
    (row,) = rail.billing.invoices(agent)
    assert row.status == "void"
    (voided,) = rail.audit_details(agent, "invoice.voided")
    assert voided["reason"] == "intent_expired"
    assert rail.billing.rows("SELECT * FROM billing.upgrade_requests") == []
    # The charge the lost answer created is paid anyway: recorded, never applied.
    r = rail.callback(charge_event(invoice))
    assert r.json()["outcome"] == "late_payment"
    assert rail.billing.tier(agent)["tier"] == "free" and rail.subscriptions(agent) == []
    # The same Idempotency-Key may ask again: a new invoice at today's price.
    fresh = rail.upgrade(agent, "pro", key="lost-answer-01")
    assert fresh.status_code == 202, fresh.text
    assert fresh.json()["invoice"]["invoice_id"] != invoice["invoice_id"]
    assert rail.ks_charge_count() == 2


def test_an_intent_whose_invoice_was_voided_meanwhile_never_gets_an_address(rail):
    rail.chain()
    agent = rail.billing.agent(balance=10**12)
    assert rail.billing.upgraded(agent, "pro")["tier"] == "pro"
    rail.link.fault = "charges_down"  # no charge is created for the enterprise proration
    r = rail.upgrade(agent, "enterprise", key="voided-first-1")
    assert r.status_code == 503
    plan = rail.billing.http.post(  # an operator ends the subscription while it is down
        f"/internal/agents/{agent.id}/plan", json={"tier": "free"}, headers=rail.billing.service
    )
    assert plan.status_code == 200, plan.text
    crypto = [i for i in rail.billing.invoices(agent) if i.rail == "crypto"]
    assert [i.status for i in crypto] == ["void"]
    rail.link.fault = None
    report = rail.billing.run_renewals()
    assert [a["action"] for a in report["actions"]] == ["abandoned_crypto_upgrade"]
    assert rail.ks_charge_count() == 0  # no address was handed out for a void invoice
    assert (
        rail.billing.rows("SELECT * FROM billing.upgrade_requests WHERE pay_with = 'crypto'") == []
    )
    assert rail.billing.tier(agent)["tier"] == "free"


def test_a_callback_reporting_paid_with_less_than_the_amount_changes_nothing(rail):
    rail.chain()
    agent = rail.billing.agent()
    invoice = rail.invoiced(agent)["invoice"]
    r = rail.callback(charge_event(invoice, received=PRO_SAT - 1))
    assert (r.status_code, r.json()["code"]) == (409, "event_conflict")
    assert rail.billing.invoices(agent)[0].status == "open"
    assert rail.billing.tier(agent)["tier"] == "free"


def test_more_than_asked_is_paid_once_and_the_excess_recorded(rail):
    rail.chain()
    agent = rail.billing.agent()
    invoice = rail.invoiced(agent)["invoice"]
    r = rail.callback(charge_event(invoice, "overpaid", received=PRO_SAT + 2_500))
    assert r.json()["outcome"] == "applied"
    (excess,) = rail.audit_details(agent, "invoice.overpaid")
    assert excess["excess"] == 2_500 and excess["payment"]["amount_received"] == PRO_SAT + 2_500
    assert counts(rail, agent) == ONCE


def test_a_balance_upgrade_overtaken_by_a_crypto_payment_is_voided_and_refunded(rail, lose_answer):
    """A balance upgrade's charge posts in the TEE but its answer is lost, so its
    intent stays open; then the crypto invoice for the same plan is paid and
    applied. The intent, resumed by the agent's next request, must not apply a
    second purchase of the same period: its invoice is voided and the lost
    charge refunded in full, once. (Before, it was applied: the agent paid for
    pro twice and the crypto-paid subscription was cancelled.)"""
    rail.chain()
    agent = rail.billing.agent(balance=10**12)
    crypto = rail.invoiced(agent)["invoice"]
    lose_answer(
        agent,
        lambda billing: billing.upgrade(agent, "pro", key="balance-upgrade-01"),
        "SELECT 1 FROM billing.upgrade_requests WHERE agent_id = :a AND response IS NULL",
        key_server_url=rail.link.url,
    )
    (lost,) = rail.billing.charges(agent)
    (intent,) = rail.billing.rows(
        "SELECT * FROM billing.upgrade_requests WHERE idempotency_key = 'balance-upgrade-01'"
    )
    assert rail.billing.balance(agent) == 10**12 - PRO_XMR

    r = rail.callback(charge_event(crypto))
    assert r.status_code == 200 and r.json()["outcome"] == "applied", r.text
    assert rail.billing.tier(agent)["tier"] == "pro"

    r = rail.billing.upgrade(agent, "pro", key="balance-upgrade-01")  # resumes the intent first
    assert (r.status_code, r.json()["code"]) == (409, "not_an_upgrade"), r.text
    statuses = {i.id: (i.status, i.refunded_minor) for i in rail.billing.invoices(agent)}
    assert statuses == {
        uuid.UUID(crypto["invoice_id"]): ("paid", 0),
        intent.invoice_id: ("void", PRO_XMR),  # the lost charge, found and refunded
    }
    assert (
        rail.billing.rows("SELECT * FROM billing.upgrade_requests WHERE pay_with = 'balance'") == []
    )
    assert rail.billing.charges(agent) == [lost]  # never charged a second time
    assert rail.billing.balance(agent) == 10**12
    (sub,) = rail.subscriptions(agent)
    assert (sub.status, sub.plan_code) == ("active", "pro")  # the crypto-paid one, kept
    events = rail.billing.events(agent)
    assert (events.count("invoice.voided"), events.count("invoice.refunded")) == (1, 1)
    assert rail.billing.run_renewals()["counts"] == {}  # nothing left to settle or refund
    assert rail.billing.balance(agent) == 10**12
    books(rail.engine).assert_balanced()


def test_a_crypto_payment_landing_while_a_downgrade_is_in_flight_is_not_applied(rail, lose_answer):
    """An immediate downgrade's refund posts in the TEE but its answer is lost, so
    the downgrade stays pending; then a crypto invoice for enterprise, issued
    before, is paid. Applied, it would upgrade a subscription the pending
    downgrade then closes: enterprise bought and taken away at once. The
    downgrade in flight wins; the payment is recorded for the operator, as any
    payment for an upgrade overtaken by another change."""
    rail.chain()
    agent = rail.billing.agent(balance=10**13)
    rail.billing.upgraded(agent, "pro")
    crypto = rail.invoiced(agent, "enterprise")["invoice"]
    lose_answer(
        agent,
        lambda billing: billing.downgrade(agent, "free", immediate=True, key="downgrade-now-01"),
        "SELECT 1 FROM billing.downgrades WHERE agent_id = :a AND status = 'pending'",
        key_server_url=rail.link.url,
    )
    (refund,) = rail.billing.rows(
        "SELECT amount FROM ledger.entries WHERE kind = 'refund' AND payee_owner_id = :a",
        a=agent.agent_id,
    )
    assert refund.amount > 0

    paid = charge_event(crypto, received=crypto["pay_to"]["amount"])
    r = rail.callback(paid)
    assert r.status_code == 200 and r.json()["outcome"] == "unapplied", r.text
    (late,) = rail.audit_details(agent, "invoice.late_payment")
    assert late["reason"] == "downgrade_pending"

    r = rail.billing.downgrade(agent, "free", immediate=True, key="downgrade-now-01")
    assert r.status_code == 200, r.text
    assert rail.billing.tier(agent)["tier"] == "free" and rail.billing.core_tier(agent) == "free"
    assert [s.status for s in rail.subscriptions(agent)] == ["cancelled"]
    assert sorted((i.rail, i.status) for i in rail.billing.invoices(agent)) == [
        ("balance", "paid"),
        ("crypto", "void"),
    ]
    refunds = rail.billing.rows(
        "SELECT amount FROM ledger.entries WHERE kind = 'refund' AND payee_owner_id = :a",
        a=agent.agent_id,
    )
    assert refunds == [refund]  # posted once, by the TEE, and recorded on the replay
    assert rail.billing.balance(agent) == 10**13 - PRO_XMR + refund.amount
    books(rail.engine).assert_balanced()


def test_a_crypto_payment_landing_while_a_renewal_is_in_flight_is_not_applied(
    rail, make_billing, mtls
):
    """The renewal was invoiced at pro but the payment core could not be reached;
    then the crypto proration to enterprise, quoted minutes before the period
    ended, is paid. Applied, it would be overwritten by the renewal at pro once
    that is charged: the subscription back on pro, the tier left on enterprise."""
    rail.chain()
    agent = rail.billing.agent(balance=10**13)
    rail.billing.upgraded(agent, "pro")  # to Feb 15 12:00
    period_end = datetime(2026, 2, 15, 12, tzinfo=UTC)
    rail.billing.clock.set(period_end - timedelta(minutes=10))
    crypto = rail.invoiced(agent, "enterprise")["invoice"]
    dark = make_billing(
        key_server_url=rail.link.url,
        **payment_via_tee(mtls, f"127.0.0.1:{free_port()}", timeout=1),
    )
    assert dark.walk_to(period_end + timedelta(minutes=1))["counts"] == {"core_unavailable": 1}
    dark.stop()

    r = rail.callback(charge_event(crypto, received=crypto["pay_to"]["amount"]))
    assert r.status_code == 200 and r.json()["outcome"] == "unapplied", r.text
    (late,) = rail.audit_details(agent, "invoice.late_payment")
    assert late["reason"] == "renewal_pending"

    assert rail.billing.walk_to(period_end + timedelta(minutes=2))["counts"] == {"renewed": 1}
    sub = rail.billing.subscription(agent)
    assert (sub.plan_code, sub.cycle) == ("pro", 2)
    assert rail.billing.tier(agent)["tier"] == "pro" and rail.billing.core_tier(agent) == "pro"
    assert rail.billing.balance(agent) == 10**13 - 2 * PRO_XMR
    books(rail.engine).assert_balanced()


def test_a_crypto_intent_overtaken_while_the_key_server_was_down_is_never_opened(rail):
    """The crypto intent could not reach the key server; meanwhile the agent bought
    the same plan from its balance. Retried, the intent must not hand out an
    address for a payment that could never be applied."""
    rail.chain()
    agent = rail.billing.agent(balance=10**13)
    rail.link.fault = "charges_down"
    r = rail.upgrade(agent, "pro", key="crypto-first-01")
    assert (r.status_code, r.json()["code"]) == (503, "key_server_unavailable")
    assert rail.billing.upgraded(agent, "pro")["tier"] == "pro"  # the intent waits meanwhile
    rail.link.fault = None

    r = rail.upgrade(agent, "pro", key="crypto-first-01")  # resumes the intent first
    assert (r.status_code, r.json()["code"]) == (409, "not_an_upgrade"), r.text
    assert rail.ks_charge_count() == 0
    assert sorted((i.rail, i.status) for i in rail.billing.invoices(agent)) == [
        ("balance", "paid"),
        ("crypto", "void"),
    ]
    assert (
        rail.billing.rows("SELECT * FROM billing.upgrade_requests WHERE pay_with = 'crypto'") == []
    )
    assert rail.billing.balance(agent) == 10**13 - PRO_XMR
