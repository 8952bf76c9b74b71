"""Outgoing webhooks: written with the state change (outbox), signed with Standard
Webhooks, delivered by a real worker process to a real receiver that verifies
every signature, retried after 500s, recorded per attempt, replayable."""

import asyncio
import base64
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from support.servers import serve

from services.billing.webhooks.service import signed_headers, signing_secret
from services.common.sealing import Vault, VaultError, key_id


@dataclass
class Receiver:
    url: str = ""
    secret: str = ""
    fail_first: int = 0
    always_fail: bool = False
    hang_first: float = 0  # seconds the first call waits before answering
    calls: list[dict[str, Any]] = field(default_factory=list)

    def verified(self) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["verified"]]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    app = FastAPI()

    @app.post("/hooks")
    async def hook(request: Request) -> JSONResponse:
        body = await request.body()
        headers = dict(request.headers)
        try:
            payload = Webhook(state.secret).verify(body, headers)
            verified = True
        except WebhookVerificationError:
            payload, verified = None, False
        state.calls.append(
            {
                "verified": verified,
                "id": headers.get("webhook-id"),
                "payload": payload,
                "at": time.monotonic(),
            }
        )
        if len(state.calls) == 1 and state.hang_first:
            await asyncio.sleep(state.hang_first)
        failing = state.always_fail or len(state.calls) <= state.fail_first
        return JSONResponse({"ok": not failing}, status_code=500 if failing else 200)

    with serve(app) as url:
        state.url = url + "/hooks"
        yield state


def register(billing, url: str, **extra: Any) -> dict[str, Any]:
    r = billing.http.post(
        "/admin/webhooks/endpoints", json={"url": url, **extra}, headers=billing.admin
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def deliveries(billing, **query: str) -> list[dict[str, Any]]:
    r = billing.http.get("/admin/webhooks/deliveries", params=query, headers=billing.admin)
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()
    return found


def test_endpoints_are_registered_listed_and_removed_by_operators(billing):
    created = register(billing, "https://example.com/hook")
    assert created["secret"].startswith("whsec_") and created["events"] is None
    Webhook(created["secret"])  # a valid Standard Webhooks secret
    listed = billing.http.get("/admin/webhooks/endpoints", headers=billing.admin).json()
    assert listed == [{**created, "secret": None}]  # shown once
    own = register(
        billing, "https://example.com/b", secret=created["secret"], events=["tier.changed"]
    )
    assert own["secret"] == created["secret"] and own["events"] == ["tier.changed"]
    for bad in ({"secret": "hunter2"}, {"events": ["invoice.exploded"]}, {"events": []}):
        r = billing.http.post(
            "/admin/webhooks/endpoints",
            json={"url": "https://example.com/c", **bad},
            headers=billing.admin,
        )
        assert (r.status_code, r.json()["code"]) == (422, "validation_error"), bad
    r = billing.http.post(
        "/admin/webhooks/endpoints", json={"url": "not a url"}, headers=billing.admin
    )
    assert r.status_code == 422
    r = billing.http.delete(
        f"/admin/webhooks/endpoints/{created['endpoint_id']}", headers=billing.admin
    )
    assert r.status_code == 204
    r = billing.http.delete(
        f"/admin/webhooks/endpoints/{created['endpoint_id']}", headers=billing.admin
    )
    assert r.status_code == 404
    r = billing.http.get("/admin/webhooks/endpoints", headers=billing.service)
    assert r.status_code == 401


def test_events_are_written_with_the_change_and_not_without_it(billing):
    register(billing, "https://example.com/all")
    register(billing, "https://example.com/tiers", events=["tier.changed"])
    poor = billing.agent(balance=1)
    assert billing.upgrade(poor, "pro").status_code == 402
    assert billing.events() == [] and deliveries(billing) == []
    assert billing.rows("SELECT * FROM billing.procrastinate_jobs") == []
    rich = billing.agent(balance=10**13)
    billing.upgraded(rich, "pro")
    found = deliveries(billing)
    assert sorted(d["event_type"] for d in found) == [
        "invoice.paid",
        "subscription.created",
        "tier.changed",
        "tier.changed",
    ]
    assert {d["status"] for d in found} == {"pending"}
    jobs = billing.rows(
        "SELECT task_name, status, args FROM billing.procrastinate_jobs "
        "WHERE task_name <> 'billing.sync_tier' ORDER BY id"
    )
    assert len(jobs) == 4 and {j.task_name for j in jobs} == {"billing.deliver_webhook"}
    assert {j.args["delivery_id"] for j in jobs} == {d["delivery_id"] for d in found}
    # and the tier push's check-up (customers/service.py), which is not an event
    check_ups = billing.rows(
        "SELECT args FROM billing.procrastinate_jobs WHERE task_name = 'billing.sync_tier'"
    )
    assert [j.args["agent_id"] for j in check_ups] == [rich.id]


def test_a_worker_delivers_signed_events_retrying_after_500s(
    billing, receiver, start_worker, eventually
):
    receiver.fail_first = 2
    receiver.secret = register(billing, receiver.url, events=["tier.changed"])["secret"]
    start_worker()
    agent = billing.agent(balance=10**13)
    started = time.monotonic()
    billing.upgraded(agent, "pro")
    eventually(lambda: len(receiver.calls) >= 3, timeout=30, what="three delivery attempts")
    elapsed = time.monotonic() - started
    assert [c["verified"] for c in receiver.calls] == [True, True, True]
    assert len({c["id"] for c in receiver.calls}) == 1  # the same webhook-id on every attempt
    payload = receiver.calls[-1]["payload"]
    assert payload["type"] == "tier.changed"
    assert payload["data"] == {
        "agent_id": agent.id,
        "from": "free",
        "to": "pro",
        "reason": "upgrade",
    }
    gaps = [b["at"] - a["at"] for a, b in zip(receiver.calls, receiver.calls[1:], strict=False)]
    assert gaps[0] >= 0.4 and gaps[1] >= 0.9  # backoff 0.5 s, then 1 s
    eventually(lambda: deliveries(billing, status="succeeded") != [], timeout=10, what="the record")
    (delivery,) = deliveries(billing)
    assert (delivery["status"], delivery["attempts"]) == ("succeeded", 3)
    assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 500, 200]
    assert delivery["delivered_at"] is not None
    print(f"\nwebhook delivered after two 500s in {elapsed:.2f} s")

    r = billing.http.post(
        f"/admin/webhooks/deliveries/{delivery['delivery_id']}/replay", headers=billing.admin
    )
    assert r.status_code == 202 and r.json()["replay_of"] == delivery["delivery_id"]
    eventually(lambda: len(receiver.calls) == 4, timeout=15, what="the replay")
    assert receiver.calls[-1]["verified"] and receiver.calls[-1]["id"] == receiver.calls[0]["id"]
    assert len(deliveries(billing, endpoint_id=delivery["endpoint_id"])) == 2


def test_a_delivery_fails_after_its_last_attempt(billing, receiver, start_worker, eventually):
    receiver.always_fail = True
    receiver.secret = register(billing, receiver.url, events=["invoice.paid"])["secret"]
    start_worker(WEBHOOK_MAX_ATTEMPTS="2")
    billing.upgraded(billing.agent(balance=10**13), "pro")
    eventually(lambda: deliveries(billing, status="failed") != [], timeout=30, what="failure")
    (delivery,) = deliveries(billing)
    assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 500]
    assert len(receiver.calls) == 2 and all(c["verified"] for c in receiver.calls)
    time.sleep(1.5)
    assert len(receiver.calls) == 2  # no third attempt


def test_a_delivery_cut_off_when_its_worker_died_is_sent_by_another(
    billing, receiver, start_worker, eventually
):
    """The worker is killed while its delivery is in flight: the job stays `doing`
    and procrastinate alone would never run it again. Another worker sees the
    dead one's silence and puts the job back; the event arrives, once, signed."""
    receiver.hang_first = 60
    receiver.secret = register(billing, receiver.url, events=["tier.changed"])["secret"]
    first = start_worker(BILLING_WORKER_STALLED_SECONDS="2")
    billing.upgraded(billing.agent(balance=10**13), "pro")
    eventually(lambda: len(receiver.calls) == 1, timeout=30, what="the first attempt")
    first.kill()  # mid-attempt: nothing of it is recorded
    assert deliveries(billing)[0]["status"] == "pending"

    start_worker(BILLING_WORKER_STALLED_SECONDS="2")
    eventually(lambda: len(receiver.calls) == 2, timeout=30, what="the retried delivery")
    eventually(lambda: deliveries(billing, status="succeeded") != [], timeout=10, what="success")
    (delivery,) = deliveries(billing)
    assert receiver.calls[1]["verified"] and receiver.calls[1]["id"] == receiver.calls[0]["id"]
    assert [a["status_code"] for a in delivery["attempt_log"]] == [200]


def test_a_secret_no_key_opens_fails_the_delivery_instead_of_leaving_it_pending(
    billing, receiver, start_worker, eventually
):
    """The endpoint's secret is sealed by a key this worker does not have (removed too
    early): every attempt is recorded as failed, and the last one ends the delivery."""
    receiver.secret = register(billing, receiver.url, events=["invoice.paid"])["secret"]
    start_worker(WEBHOOK_MAX_ATTEMPTS="2", BILLING_SECRET_KEYS=Fernet.generate_key().decode())
    billing.upgraded(billing.agent(balance=10**13), "pro")
    eventually(lambda: deliveries(billing, status="failed") != [], timeout=30, what="failure")
    (delivery,) = deliveries(billing)
    assert [a["status_code"] for a in delivery["attempt_log"]] == [None, None]
    assert all(a["error"].startswith("signing secret unavailable") for a in delivery["attempt_log"])
    assert receiver.calls == []  # nothing unsigned ever left


def test_a_tampered_body_fails_verification():
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    headers = signed_headers(secret, "evt_1", '{"a":1}', datetime.now(UTC))
    assert Webhook(secret).verify('{"a":1}', headers) == {"a": 1}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify('{"a":2}', headers)


# --- signing secrets at rest ---------------------------------------------------------------


def stored_secrets(billing) -> list[Any]:
    return billing.rows(
        "SELECT id, secret, secret_key_id FROM billing.webhook_endpoints ORDER BY created_at, id"
    )


def test_a_signing_secret_is_stored_sealed_never_in_plaintext(billing, billing_secret_key):
    created = register(billing, "https://example.com/sealed")
    (row,) = stored_secrets(billing)
    assert created["secret"] not in row.secret and created["secret"][6:] not in row.secret
    assert row.secret_key_id == key_id(billing_secret_key)
    # Sealed for this endpoint only: moved onto another row, it does not open.
    with pytest.raises(VaultError, match="another row"):
        signing_secret(Vault([billing_secret_key]), uuid.uuid4(), row.secret, row.secret_key_id)
    assert (
        signing_secret(Vault([billing_secret_key]), row.id, row.secret, row.secret_key_id)
        == (created["secret"])
    )


def test_rotation_seals_old_plaintext_and_moves_secrets_to_the_new_key(
    billing, receiver, start_worker, eventually, billing_cli, billing_secret_key
):
    # An endpoint registered before sealing: its plaintext secret, no key id.
    receiver.secret = "whsec_" + base64.b64encode(b"l" * 32).decode()
    legacy = register(billing, receiver.url, events=["tier.changed"])
    with billing.engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE billing.webhook_endpoints SET secret = :s, secret_key_id = NULL "
                "WHERE id = :i"
            ),
            {"s": receiver.secret, "i": legacy["endpoint_id"]},
        )
    (row,) = stored_secrets(billing)
    assert (row.secret, row.secret_key_id) == (receiver.secret, None)
    new_key = Fernet.generate_key().decode()
    both = f"{new_key},{billing_secret_key}"
    first = billing_cli("rotate-secrets", BILLING_SECRET_KEYS=both)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"webhook secrets sealed under key {key_id(new_key)}: 1"
    (row,) = stored_secrets(billing)
    assert row.secret_key_id == key_id(new_key) and receiver.secret not in row.secret
    again = billing_cli("rotate-secrets", BILLING_SECRET_KEYS=both)
    assert again.stdout.strip().endswith(": 0")  # nothing left to do
    # The old key can go: a worker with only the new key signs with the same secret.
    start_worker(BILLING_SECRET_KEYS=new_key)
    billing.upgraded(billing.agent(balance=10**13), "pro")
    eventually(lambda: receiver.verified() != [], timeout=30, what="a verified delivery")
    # A key list that opens nothing refuses and changes nothing.
    wrong = billing_cli("rotate-secrets", BILLING_SECRET_KEYS=Fernet.generate_key().decode())
    assert wrong.returncode == 1 and "nothing was changed" in wrong.stderr
    assert stored_secrets(billing) == [row]
