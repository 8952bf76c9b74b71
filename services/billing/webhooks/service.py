"""Outgoing webhooks: publish events (outbox), deliver them signed, replay on request.

* `publish` runs inside the transaction of the state change it reports: it
  writes the event, one delivery per subscribed endpoint, and defers one
  procrastinate job per delivery on the same connection. Rolled back
  together, committed together.
* `deliver` signs with the Standard Webhooks scheme (`webhook-id` = the event
  id, identical on every attempt and replay; `webhook-timestamp` = the wall
  clock at sending, since receivers check it against theirs;
  `webhook-signature` = `v1,<base64 HMAC-SHA256>`), POSTs, and records the
  attempt. A non-2xx answer or a transport error raises, and procrastinate
  retries with backoff until the last attempt, which marks the delivery
  `failed`.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import procrastinate
from prometheus_client import Counter
from standardwebhooks.webhooks import Webhook

from services.billing import jobs
from services.billing.dbtypes import Conn
from services.billing.errors import InvalidRequest, NotFound
from services.billing.webhooks import repository as repo
from services.common.clock import rfc3339
from services.common.sealing import SecretOwner, Vault, VaultError

log = logging.getLogger("sealpay.billing.webhooks")

EVENT_TYPES = (
    "subscription.created",
    "subscription.renewed",
    "subscription.renewal_failed",
    "subscription.past_due",
    "subscription.lapsed",
    "subscription.cancelled",
    "subscription.downgrade_scheduled",
    "tier.changed",
    "invoice.paid",
    "invoice.refunded",
    "invoice.voided",
    "invoice.late_payment",
)

DELIVERIES = Counter(
    "sealpay_billing_webhook_attempts_total",
    "Webhook delivery attempts by outcome (succeeded, failed_status, failed_transport).",
    ["outcome"],
)


SEALED_AS = "signing_secret"  # the name bound into each sealed secret


class DeliveryFailed(Exception):
    """The receiver did not take the event; procrastinate retries the job."""


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def check_secret(secret: str) -> None:
    try:
        Webhook(secret)
    except Exception:  # the library raises several types for a malformed secret
        raise InvalidRequest(
            "secret must be a Standard Webhooks secret: whsec_ followed by base64",
            field="secret",
        ) from None
    if not secret.startswith("whsec_") or len(secret) < 6 + 24:
        raise InvalidRequest(
            "secret must be whsec_ followed by at least 18 bytes of base64", field="secret"
        )


def check_events(events: list[str] | None) -> list[str] | None:
    if events is None:
        return None
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown or not events:
        raise InvalidRequest(
            f"events must be a non-empty list of: {', '.join(EVENT_TYPES)}", unknown=unknown
        )
    return sorted(set(events))


async def publish(
    conn: Conn,
    queue: procrastinate.App,
    event_type: str,
    *,
    agent_id: uuid.UUID | None,
    data: dict[str, Any],
    at: datetime,
) -> uuid.UUID:
    """Record an event and its deliveries, and defer their jobs, in the caller's transaction."""
    assert event_type in EVENT_TYPES, event_type
    event_id = uuid.uuid4()
    body = json.dumps(
        {"id": str(event_id), "type": event_type, "timestamp": rfc3339(at), "data": data},
        separators=(",", ":"),
        sort_keys=True,
    )
    await repo.insert_event(conn, repo.Event(event_id, event_type, agent_id, body, at))
    for endpoint_id in await repo.subscribed_endpoint_ids(conn, event_type):
        await _new_delivery(conn, queue, event_id, endpoint_id, at, replay_of=None)
    return event_id


async def _new_delivery(
    conn: Conn,
    queue: procrastinate.App,
    event_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    at: datetime,
    *,
    replay_of: uuid.UUID | None,
) -> repo.Delivery:
    delivery = repo.Delivery(
        id=uuid.uuid4(),
        event_id=event_id,
        endpoint_id=endpoint_id,
        status=repo.PENDING,
        attempts=0,
        last_status_code=None,
        last_error=None,
        replay_of=replay_of,
        created_at=at,
        updated_at=at,
        delivered_at=None,
    )
    await repo.insert_delivery(conn, delivery)
    await jobs.defer(queue, conn, jobs.DELIVER_WEBHOOK, delivery_id=str(delivery.id))
    return delivery


async def create_endpoint(
    conn: Conn,
    vault: Vault,
    url: str,
    secret: str | None,
    events: list[str] | None,
    at: datetime,
) -> tuple[repo.Endpoint, str]:
    """The endpoint as stored (its secret sealed) and the plaintext secret, shown once."""
    plaintext = secret if secret is not None else new_secret()
    check_secret(plaintext)
    endpoint_id = uuid.uuid4()
    sealed = vault.seal(_secret_owner(endpoint_id), SEALED_AS, plaintext)
    endpoint = repo.Endpoint(
        endpoint_id, url, sealed.ciphertext, sealed.key_id, check_events(events), at, None
    )
    await repo.insert_endpoint(conn, endpoint)
    return endpoint, plaintext


def _secret_owner(endpoint_id: uuid.UUID) -> SecretOwner:
    return SecretOwner("webhook_endpoint", str(endpoint_id))


def signing_secret(vault: Vault, endpoint_id: uuid.UUID, stored: str, key_id: str | None) -> str:
    """The endpoint's plaintext secret; raises VaultError when no configured key opens it."""
    if key_id is None:  # registered before sealing; `rotate-secrets` seals it
        return stored
    return vault.open(_secret_owner(endpoint_id), SEALED_AS, stored)


async def seal_secrets(conn: Conn, vault: Vault) -> int:
    """Seal every endpoint secret under the primary key (plaintext ones included);
    run after adding a key in front of BILLING_SECRET_KEYS, before removing the old one."""
    resealed = 0
    for endpoint in await repo.endpoints_to_seal(conn, vault.primary_key_id):
        plaintext = signing_secret(vault, endpoint.id, endpoint.secret, endpoint.secret_key_id)
        sealed = vault.seal(_secret_owner(endpoint.id), SEALED_AS, plaintext)
        await repo.update_secret(conn, endpoint.id, sealed.ciphertext, sealed.key_id)
        resealed += 1
    return resealed


async def delete_endpoint(conn: Conn, endpoint_id: uuid.UUID, at: datetime) -> None:
    if not await repo.delete_endpoint(conn, endpoint_id, at):
        raise NotFound(f"no webhook endpoint {endpoint_id}")


async def replay(
    conn: Conn, queue: procrastinate.App, delivery_id: uuid.UUID, at: datetime
) -> repo.Delivery:
    """Send a delivery's event to its endpoint again, as a new delivery."""
    original = await repo.get_delivery(conn, delivery_id)
    if original is None:
        raise NotFound(f"no webhook delivery {delivery_id}")
    return await _new_delivery(
        conn, queue, original.event_id, original.endpoint_id, at, replay_of=original.id
    )


def signed_headers(secret: str, event_id: str, body: str, sent_at: datetime) -> dict[str, str]:
    signature = Webhook(secret).sign(msg_id=event_id, timestamp=sent_at, data=body)
    return {
        "content-type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signature,
    }


async def deliver(
    conn_factory: Any,
    http: httpx.AsyncClient,
    vault: Vault,
    delivery_id: uuid.UUID,
    *,
    last_attempt: bool,
    at: datetime,
) -> None:
    """One attempt at a delivery; raises DeliveryFailed to be retried.

    `conn_factory` is the Database's `transaction` (each step commits on its
    own: the attempt is recorded whatever happens next).
    """
    async with conn_factory() as conn:
        view = await repo.delivery_view(conn, delivery_id)
    if view is None or view.status != repo.PENDING:
        return
    attempt_no = view.attempts + 1
    if view.endpoint_deleted:
        async with conn_factory() as conn:
            await repo.record_attempt(
                conn,
                repo.Attempt(delivery_id, attempt_no, None, "endpoint deleted", 0, at),
                repo.FAILED,
                None,
            )
        return
    started = time.perf_counter()
    status_code, error = await _post(http, vault, view)
    elapsed_ms = int((time.perf_counter() - started) * 1000)
    ok = status_code is not None and 200 <= status_code < 300
    status = repo.SUCCEEDED if ok else (repo.FAILED if last_attempt else repo.PENDING)
    async with conn_factory() as conn:
        await repo.record_attempt(
            conn,
            repo.Attempt(delivery_id, attempt_no, status_code, error, elapsed_ms, at),
            status,
            at if ok else None,
        )
    DELIVERIES.labels(
        "succeeded" if ok else ("failed_status" if status_code else "failed_transport")
    ).inc()
    log.info(
        "billing.webhook.attempt",
        extra={
            "delivery_id": str(delivery_id),
            "event_type": view.event_type,
            "attempt": attempt_no,
            "status_code": status_code,
            "error": error,
            "final": ok or last_attempt,
        },
    )
    if not ok and not last_attempt:
        raise DeliveryFailed(f"attempt {attempt_no}: {status_code or error}")


async def _post(
    http: httpx.AsyncClient, vault: Vault, view: repo.DeliveryView
) -> tuple[int | None, str | None]:
    """(status code, error) of one signed POST. An attempt that could not even be
    made (no configured key opens the endpoint's secret) is a failed attempt like
    a refused connection: recorded and retried, never a delivery left pending."""
    try:
        secret = signing_secret(vault, view.endpoint_id, view.secret, view.secret_key_id)
    except VaultError as exc:
        log.error(
            "billing.webhook.secret_unavailable", extra={"endpoint_id": str(view.endpoint_id)}
        )
        return None, f"signing secret unavailable: {exc}"[:500]
    headers = signed_headers(secret, str(view.event_id), view.body, datetime.now(UTC))
    try:
        response = await http.post(view.url, content=view.body.encode(), headers=headers)
    except Exception as exc:  # any transport failure (httpx.InvalidURL is no HTTPError)
        return None, f"{type(exc).__name__}: {exc}"[:500]
    return response.status_code, None
