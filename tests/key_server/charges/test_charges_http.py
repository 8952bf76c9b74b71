"""Charges over real HTTP: a fresh address each, statuses from what arrives, expiry,
late payments, idempotent creation, and signed callbacks delivered by the worker
to a real HTTP receiver that fails first."""

import json
import threading
import time
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from support.servers import serve

from services.common.clock import parse_rfc3339
from services.common.signing import SignatureError, verify_signed_request
from services.key_server.jobs import service as jobs_service

CALLBACK_SECRET = "test-callback-secret-0123456789abcdef"  # the worker's (conftest)


def _charge(key_server, amount=10_000, **extra):
    r = key_server.create_charge(chain="tbtc", amount=amount, reference="inv-1", **extra)
    assert r.status_code == 201, r.text
    return r.json()


def _pay(key_server, charge, amount, confirmations, tx="pay", vout=0):
    r = key_server.post_event(
        key_server.event(charge["address"], amount, confirmations, key_server.txid(tx), vout)
    )
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def ready(key_server):
    key_server.chain("tbtc", confirmations=2)
    key_server.watcher()
    return key_server


def test_each_charge_gets_a_fresh_address(ready, vectors):
    first, second = _charge(ready), _charge(ready, amount=5)
    assert (first["address"], second["address"]) == (vectors.VPUB_ADDRESS_0, vectors.VPUB_ADDRESS_1)
    assert first["status"] == "pending" and first["amount"] == 10_000
    assert first["confirmations_required"] == 2 and first["txids"] == []
    expires = parse_rfc3339(first["expires_at"].replace("+00:00", "Z"))
    assert expires == ready.clock.now() + timedelta(seconds=1800)
    assert ready.get_charge(first["charge_id"]) == first
    # Deposit addresses come from the same counter: nothing is ever handed out twice.
    assert ready.deposit_address(uuid.uuid4()).json()["index"] == 2


def test_charge_refusals(ready):
    cases = [
        ({"chain": "tbtc", "amount": 0, "reference": "r"}, 422, "validation_error"),
        ({"chain": "tbtc", "amount": 1.5, "reference": "r"}, 422, "validation_error"),
        ({"chain": "tbtc", "amount": 2**53, "reference": "r"}, 422, "validation_error"),
        ({"chain": "tbtc", "amount": 1, "reference": ""}, 422, "validation_error"),
        (
            {"chain": "tbtc", "amount": 1, "reference": "r", "expires_in": 5},
            422,
            "validation_error",
        ),
        ({"chain": "tbtc", "amount": 1, "reference": "r", "callback_url": "ftp://x"}, 422, None),
        ({"chain": "nope", "amount": 1, "reference": "r"}, 404, "unknown_chain"),
    ]
    for body, status, code in cases:
        r = ready.create_charge(**body)
        assert r.status_code == status, (body, r.text)
        assert code is None or r.json()["code"] == code
    r = ready.http.post("/charges", json={"chain": "tbtc", "amount": 1, "reference": "r"})
    assert r.status_code == 401
    r = ready.http.get(f"/charges/{uuid.uuid4()}", headers=ready.service)
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    assert ready.count("addresses") == 0  # refused charges allocate nothing


def test_an_idempotency_key_returns_the_same_charge(ready):
    key = {"Idempotency-Key": "invoice-42-attempt-1"}
    first = ready.create_charge(headers=key, chain="tbtc", amount=700, reference="inv-42")
    again = ready.create_charge(headers=key, chain="tbtc", amount=700, reference="inv-42")
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    other = ready.create_charge(headers=key, chain="tbtc", amount=701, reference="inv-42")
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_key_reused")
    assert ready.count("charges") == 1 and ready.count("addresses") == 1


@pytest.mark.parametrize(
    ("payments", "statuses"),
    [
        # (amount, confirmations, tx) per event -> status after each event
        ([(10_000, 0, "a"), (10_000, 2, "a")], ["seen", "confirmed"]),
        ([(12_000, 1, "a"), (12_000, 2, "a")], ["seen", "overpaid"]),
        ([(9_000, 2, "a")], ["seen"]),  # short, but the rest may come before the expiry
        ([(6_000, 2, "a"), (4_000, 0, "b"), (4_000, 2, "b")], ["seen", "seen", "confirmed"]),
        ([(10_000, 2, "a"), (1, 2, "b")], ["confirmed", "overpaid"]),
        ([(10_000, 2, "a"), (1, 0, "b")], ["confirmed", "confirmed"]),  # unconfirmed extra
    ],
)
def test_status_follows_what_arrives(ready, payments, statuses):
    charge = _charge(ready)
    seen = []
    for amount, confirmations, tx in payments:
        _pay(ready, charge, amount, confirmations, tx)
        seen.append(ready.get_charge(charge["charge_id"])["status"])
    assert seen == statuses
    final = ready.get_charge(charge["charge_id"])
    assert final["amount_received"] == sum(
        a for a, c, _ in payments if c >= 2 and _latest(payments, _)
    )
    assert final["paid_late"] is False


def _latest(payments, tx):
    """Whether the last report of `tx` in `payments` is confirmed (confirmations only go up)."""
    return [c for _, c, t in payments if t == tx][-1] >= 2


def test_expiry_and_a_late_payment_that_is_recorded_not_lost(ready):
    charge = _charge(ready, expires_in=600)
    ready.clock.advance(timedelta(seconds=599))
    assert ready.get_charge(charge["charge_id"])["status"] == "pending"
    ready.clock.advance(timedelta(seconds=1))
    assert ready.get_charge(charge["charge_id"])["status"] == "expired"
    _pay(ready, charge, 10_000, 0, "late")
    late = ready.get_charge(charge["charge_id"])
    assert (late["status"], late["paid_late"], late["amount_seen"]) == ("seen", True, 10_000)
    _pay(ready, charge, 10_000, 2, "late")
    late = ready.get_charge(charge["charge_id"])
    assert (late["status"], late["amount_received"], late["txids"]) == (
        "confirmed",
        10_000,
        [ready.txid("late")],
    )


def test_a_payment_seen_before_expiry_keeps_the_charge_alive(ready):
    charge = _charge(ready, expires_in=600)
    _pay(ready, charge, 10_000, 0)
    ready.clock.advance(timedelta(hours=2))
    assert ready.get_charge(charge["charge_id"])["status"] == "seen"
    _pay(ready, charge, 10_000, 2)
    after = ready.get_charge(charge["charge_id"])
    assert (after["status"], after["paid_late"]) == ("confirmed", False)


def _announced(ready, charge) -> list[str]:
    """The callbacks queued for `charge`, in order."""
    with ready.engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "SELECT event_type FROM key_server.charge_callbacks "
                    "WHERE charge_id = :c ORDER BY created_at"
                ),
                {"c": charge["charge_id"]},
            ).scalars()
        )


def test_a_short_payment_waits_for_the_rest_until_the_expiry(ready):
    """Paying in two parts is common (a withdrawal fee taken off the first): the
    first, confirmed and short, must not settle the charge as underpaid while
    time is left, or the second would only ever count as late."""
    hook = {"callback_url": "http://127.0.0.1:9/hook"}
    charge = _charge(ready, expires_in=600, **hook)
    _pay(ready, charge, 6_000, 2, "first")
    assert ready.get_charge(charge["charge_id"])["status"] == "seen"
    ready.clock.advance(timedelta(seconds=500))
    _pay(ready, charge, 4_000, 2, "second")
    paid = ready.get_charge(charge["charge_id"])
    assert (paid["status"], paid["amount_received"], paid["paid_late"]) == (
        "confirmed",
        10_000,
        False,
    )
    assert _announced(ready, charge) == ["charge.confirmed"]

    # Short at the expiry: underpaid, decided by a read or by the sweep.
    by_read = _charge(ready, expires_in=600, **hook)
    by_sweep = _charge(ready, expires_in=600, **hook)
    _pay(ready, by_read, 9_000, 2, "short-1")
    _pay(ready, by_sweep, 9_000, 2, "short-2")
    ready.clock.advance(timedelta(seconds=600))
    short = ready.get_charge(by_read["charge_id"])
    assert (short["status"], short["amount_received"]) == ("underpaid", 9_000)
    with ready.engine.begin() as conn:
        assert jobs_service.sweep(conn, ready.clock.now()).settled_charges == 1
    assert ready.get_charge(by_sweep["charge_id"])["status"] == "underpaid"
    assert _announced(ready, by_read) == _announced(ready, by_sweep) == ["charge.underpaid"]


def test_a_short_payment_still_confirming_at_the_expiry_is_decided_when_it_confirms(ready):
    charge = _charge(ready, expires_in=600)
    _pay(ready, charge, 9_000, 1, "slow")
    ready.clock.advance(timedelta(seconds=700))
    with ready.engine.begin() as conn:
        assert jobs_service.sweep(conn, ready.clock.now()).settled_charges == 0
    assert ready.get_charge(charge["charge_id"])["status"] == "seen"
    _pay(ready, charge, 9_000, 2, "slow")
    after = ready.get_charge(charge["charge_id"])
    assert (after["status"], after["paid_late"]) == ("underpaid", False)


def test_a_payment_recorded_after_its_charge_expired_is_late_whatever_its_stamp(ready):
    """An event stamped before the expiry but recorded after the expiry was
    announced (it waited in a queue meanwhile) is late: the payer's side already
    heard `charge.expired`, and `paid_late` must agree with it."""
    charge = _charge(ready, expires_in=600)
    ready.clock.advance(timedelta(seconds=600))
    assert ready.get_charge(charge["charge_id"])["status"] == "expired"
    ready.clock.advance(timedelta(seconds=-5))  # the event's own time, before the expiry
    _pay(ready, charge, 10_000, 2, "queued")
    late = ready.get_charge(charge["charge_id"])
    assert (late["status"], late["paid_late"]) == ("confirmed", True)


class Receiver:
    """A real HTTP endpoint that checks signatures with the shipped verifier and answers
    500 to the first delivery of each event, 200 afterwards."""

    def __init__(self) -> None:
        self.deliveries: list[dict] = []
        self.lock = threading.Lock()
        self.app = FastAPI()
        self.app.post("/hooks/key-server")(self.receive)

    async def receive(self, request: Request) -> JSONResponse:
        body = await request.body()
        try:
            verify_signed_request(
                request.headers, body, {"key_server": CALLBACK_SECRET}, time.time()
            )
            verified = True
        except SignatureError:
            verified = False
        event = json.loads(body)
        with self.lock:
            attempt = 1 + sum(
                1 for d in self.deliveries if d["event"]["event_id"] == event["event_id"]
            )
            self.deliveries.append({"event": event, "verified": verified, "attempt": attempt})
        return JSONResponse({}, status_code=500 if attempt == 1 else 200)

    def delivered(self) -> list[dict]:
        with self.lock:
            return [d for d in self.deliveries if d["attempt"] > 1]


def test_callbacks_are_signed_retried_until_2xx_and_verifiable(ready, start_worker, wait_until):
    receiver = Receiver()
    with serve(receiver.app) as receiver_url:
        url = f"{receiver_url}/hooks/key-server"
        paid = _charge(ready, amount=10_000, callback_url=url)
        lapsing = _charge(ready, amount=500, callback_url=url, expires_in=60)
        silent = _charge(ready, amount=500, expires_in=60)  # no callback_url: nothing sent
        start_worker()
        _pay(ready, paid, 10_000, 0, "cb")  # seen: not announced
        _pay(ready, paid, 10_000, 2, "cb")  # confirmed: announced
        ready.clock.advance(timedelta(seconds=61))
        assert ready.get_charge(lapsing["charge_id"])["status"] == "expired"
        assert ready.get_charge(silent["charge_id"])["status"] == "expired"
        wait_until(lambda: len(receiver.delivered()) == 2, timeout=30, what="two deliveries")
        time.sleep(0.5)  # nothing more arrives
    assert len(receiver.deliveries) == 4  # each event: a 500, then a 200
    assert all(d["verified"] for d in receiver.deliveries)
    events = {d["event"]["charge_id"]: d["event"] for d in receiver.delivered()}
    confirmed = events[paid["charge_id"]]
    assert {k: v for k, v in confirmed.items() if k not in ("event_id", "at")} == {
        "type": "charge.confirmed",
        "charge_id": paid["charge_id"],
        "reference": "inv-1",
        "chain": "tbtc",
        "amount_expected": 10_000,
        "amount_received": 10_000,
        "txids": [ready.txid("cb")],
        "status": "confirmed",
        "paid_late": False,
    }
    assert events[lapsing["charge_id"]]["type"] == "charge.expired"
    assert events[lapsing["charge_id"]]["amount_received"] == 0
    # The retry was the same event (same id, same body).
    first_try = [d["event"] for d in receiver.deliveries if d["attempt"] == 1]
    assert sorted(first_try, key=lambda e: e["event_id"]) == sorted(
        events.values(), key=lambda e: e["event_id"]
    )
    import sqlalchemy as sa

    with ready.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT status, attempts, last_status_code FROM key_server.charge_callbacks")
        ).all()
    assert sorted(tuple(r) for r in rows) == [("delivered", 2, 200), ("delivered", 2, 200)]


class StubbornReceiver(Receiver):
    """Refuses every delivery of the charge's first event until `refusals` have
    been answered 500; accepts everything else at once."""

    def __init__(self, refusals: int) -> None:
        super().__init__()
        self.refusals = refusals

    async def receive(self, request: Request) -> JSONResponse:
        event = json.loads(await request.body())
        with self.lock:
            first = (
                not self.deliveries
                or self.deliveries[0]["event"]["event_id"] == (event["event_id"])
            )
            refused = first and sum(1 for d in self.deliveries if d["refused"]) < self.refusals
            self.deliveries.append({"event": event, "refused": refused})
        return JSONResponse({}, status_code=500 if refused else 200)


def test_a_charges_callbacks_arrive_in_order_whatever_the_retries(ready, start_worker, wait_until):
    receiver = StubbornReceiver(refusals=3)
    with serve(receiver.app) as receiver_url:
        charge = _charge(ready, amount=10_000, callback_url=f"{receiver_url}/hooks/key-server")
        start_worker()
        _pay(ready, charge, 10_000, 2, "first")  # confirmed: refused 3 times, retried
        wait_until(lambda: len(receiver.deliveries) >= 1, timeout=30, what="the first attempt")
        _pay(ready, charge, 700, 2, "more")  # overpaid: must wait for `confirmed`
        wait_until(
            lambda: sum(1 for d in receiver.deliveries if not d["refused"]) == 2,
            timeout=60,
            what="both callbacks accepted",
        )
    types = [(d["event"]["type"], d["refused"]) for d in receiver.deliveries]
    assert types == [
        ("charge.confirmed", True),
        ("charge.confirmed", True),
        ("charge.confirmed", True),
        ("charge.confirmed", False),
        ("charge.overpaid", False),
    ]
    assert receiver.deliveries[-1]["event"]["amount_received"] == 10_700


def test_a_payment_recorded_after_underpaid_was_announced_is_late_whatever_its_stamp(ready):
    """As for `expired`: once the expiry decided `underpaid`, a payment recorded
    afterwards (queued meanwhile, or stamped by a clock behind the sweep's) is late,
    and the expiry stays applied."""
    charge = _charge(ready, expires_in=600)
    _pay(ready, charge, 9_000, 2, "first-part")
    ready.clock.advance(timedelta(seconds=600))
    assert ready.get_charge(charge["charge_id"])["status"] == "underpaid"
    ready.clock.advance(timedelta(seconds=-5))  # the event's own time, before the expiry
    _pay(ready, charge, 1_000, 2, "second-part")
    late = ready.get_charge(charge["charge_id"])
    assert (late["status"], late["paid_late"], late["amount_received"]) == (
        "confirmed",
        True,
        10_000,
    )


def test_an_output_that_never_confirms_is_dropped_a_day_after_it_was_seen(ready):
    """A payment replaced by a fee bump (or evicted) stays at 0 confirmations forever
    and no watcher says so: after DROPPED_AFTER the expired charge is decided
    without it, instead of staying `seen` with no final callback."""
    from services.key_server.charges.service import DROPPED_AFTER

    charge = _charge(ready, expires_in=600)
    _pay(ready, charge, 6_000, 2, "confirmed-part")
    _pay(ready, charge, 4_000, 0, "replaced-by-fee")
    ready.clock.advance(timedelta(seconds=600))
    with ready.engine.begin() as conn:
        assert jobs_service.sweep(conn, ready.clock.now()).settled_charges == 0
    assert ready.get_charge(charge["charge_id"])["status"] == "seen"  # may still confirm
    ready.clock.advance(DROPPED_AFTER)
    with ready.engine.begin() as conn:
        assert jobs_service.sweep(conn, ready.clock.now()).settled_charges == 1
    settled = ready.get_charge(charge["charge_id"])
    assert (settled["status"], settled["amount_received"]) == ("underpaid", 6_000)
    # Should it confirm after all, the charge is decided again with it.
    _pay(ready, charge, 4_000, 2, "replaced-by-fee")
    late = ready.get_charge(charge["charge_id"])
    assert (late["status"], late["amount_received"]) == ("confirmed", 10_000)


def test_a_charge_only_a_dropped_output_reached_expires(ready):
    from services.key_server.charges.service import DROPPED_AFTER

    charge = _charge(ready, expires_in=600)
    _pay(ready, charge, 10_000, 0, "evicted")
    ready.clock.advance(timedelta(seconds=600) + DROPPED_AFTER)
    assert ready.get_charge(charge["charge_id"])["status"] == "expired"  # a read decides too
