"""SQL for outgoing webhooks: endpoints, events, deliveries and their attempts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from psycopg.rows import class_row

from services.billing.dbtypes import Conn, columns, insert_sql, params

PENDING = "pending"
SUCCEEDED = "succeeded"
FAILED = "failed"


@dataclass(frozen=True)
class Endpoint:
    id: uuid.UUID
    url: str
    # The signing secret sealed with BILLING_SECRET_KEYS (services.common.sealing),
    # or, for an endpoint registered before sealing (secret_key_id NULL), the
    # plaintext until `python -m services.billing rotate-secrets` seals it.
    secret: str
    secret_key_id: str | None
    events: list[str] | None
    created_at: datetime
    deleted_at: datetime | None


@dataclass(frozen=True)
class Event:
    id: uuid.UUID
    type: str
    agent_id: uuid.UUID | None
    body: str
    created_at: datetime


@dataclass(frozen=True)
class Delivery:
    id: uuid.UUID
    event_id: uuid.UUID
    endpoint_id: uuid.UUID
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    replay_of: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True)
class Attempt:
    delivery_id: uuid.UUID
    attempt: int
    status_code: int | None
    error: str | None
    duration_ms: int
    at: datetime


@dataclass(frozen=True)
class DeliveryView:
    """A delivery with what sending it needs."""

    id: uuid.UUID
    status: str
    attempts: int
    event_id: uuid.UUID
    event_type: str
    body: str
    endpoint_id: uuid.UUID
    url: str
    secret: str
    secret_key_id: str | None
    endpoint_deleted: bool


_ENDPOINT = ", ".join(columns(Endpoint))
_DELIVERY = ", ".join(columns(Delivery))


async def insert_endpoint(conn: Conn, endpoint: Endpoint) -> None:
    await conn.execute(insert_sql("billing.webhook_endpoints", Endpoint), params(endpoint))


async def list_endpoints(conn: Conn) -> list[Endpoint]:
    async with conn.cursor(row_factory=class_row(Endpoint)) as cur:
        await cur.execute(
            f"SELECT {_ENDPOINT} FROM billing.webhook_endpoints "
            "WHERE deleted_at IS NULL ORDER BY created_at, id"
        )
        return await cur.fetchall()


async def endpoints_to_seal(conn: Conn, primary_key_id: str) -> list[Endpoint]:
    """Endpoints whose secret is plaintext or sealed with a key other than the primary."""
    async with conn.cursor(row_factory=class_row(Endpoint)) as cur:
        await cur.execute(
            f"SELECT {_ENDPOINT} FROM billing.webhook_endpoints "
            "WHERE secret_key_id IS DISTINCT FROM %s ORDER BY created_at, id FOR UPDATE",
            (primary_key_id,),
        )
        return await cur.fetchall()


async def update_secret(conn: Conn, endpoint_id: uuid.UUID, secret: str, key_id: str) -> None:
    await conn.execute(
        "UPDATE billing.webhook_endpoints SET secret = %s, secret_key_id = %s WHERE id = %s",
        (secret, key_id, endpoint_id),
    )


async def delete_endpoint(conn: Conn, endpoint_id: uuid.UUID, now: datetime) -> bool:
    cur = await conn.execute(
        "UPDATE billing.webhook_endpoints SET deleted_at = %s WHERE id = %s AND deleted_at IS NULL",
        (now, endpoint_id),
    )
    return cur.rowcount == 1


async def subscribed_endpoint_ids(conn: Conn, event_type: str) -> list[uuid.UUID]:
    cur = await conn.execute(
        "SELECT id FROM billing.webhook_endpoints WHERE deleted_at IS NULL "
        "AND (events IS NULL OR %s = ANY(events)) ORDER BY created_at, id",
        (event_type,),
    )
    return [row[0] for row in await cur.fetchall()]


async def insert_event(conn: Conn, event: Event) -> None:
    await conn.execute(insert_sql("billing.webhook_events", Event), params(event))


async def insert_delivery(conn: Conn, delivery: Delivery) -> None:
    await conn.execute(insert_sql("billing.webhook_deliveries", Delivery), params(delivery))


async def get_delivery(conn: Conn, delivery_id: uuid.UUID) -> Delivery | None:
    async with conn.cursor(row_factory=class_row(Delivery)) as cur:
        await cur.execute(
            f"SELECT {_DELIVERY} FROM billing.webhook_deliveries WHERE id = %s", (delivery_id,)
        )
        return await cur.fetchone()


async def delivery_view(conn: Conn, delivery_id: uuid.UUID) -> DeliveryView | None:
    async with conn.cursor(row_factory=class_row(DeliveryView)) as cur:
        await cur.execute(
            "SELECT d.id, d.status, d.attempts, e.id AS event_id, e.type AS event_type, e.body, "
            "p.id AS endpoint_id, p.url, p.secret, p.secret_key_id, "
            "p.deleted_at IS NOT NULL AS endpoint_deleted "
            "FROM billing.webhook_deliveries d "
            "JOIN billing.webhook_events e ON e.id = d.event_id "
            "JOIN billing.webhook_endpoints p ON p.id = d.endpoint_id "
            "WHERE d.id = %s",
            (delivery_id,),
        )
        return await cur.fetchone()


async def record_attempt(
    conn: Conn, attempt: Attempt, status: str, delivered_at: datetime | None
) -> None:
    await conn.execute(insert_sql("billing.webhook_attempts", Attempt), params(attempt))
    await conn.execute(
        "UPDATE billing.webhook_deliveries SET attempts = %s, last_status_code = %s, "
        "last_error = %s, status = %s, updated_at = %s, delivered_at = %s WHERE id = %s",
        (
            attempt.attempt,
            attempt.status_code,
            attempt.error,
            status,
            attempt.at,
            delivered_at,
            attempt.delivery_id,
        ),
    )


async def list_deliveries(
    conn: Conn, endpoint_id: uuid.UUID | None, status: str | None, limit: int
) -> list[Delivery]:
    async with conn.cursor(row_factory=class_row(Delivery)) as cur:
        await cur.execute(
            f"SELECT {_DELIVERY} FROM billing.webhook_deliveries "
            "WHERE (%(endpoint)s::uuid IS NULL OR endpoint_id = %(endpoint)s) "
            "AND (%(status)s::text IS NULL OR status = %(status)s) "
            "ORDER BY created_at DESC, id DESC LIMIT %(limit)s",
            {"endpoint": endpoint_id, "status": status, "limit": limit},
        )
        return await cur.fetchall()


async def attempts_of(conn: Conn, delivery_ids: list[uuid.UUID]) -> list[Attempt]:
    async with conn.cursor(row_factory=class_row(Attempt)) as cur:
        await cur.execute(
            f"SELECT {', '.join(columns(Attempt))} FROM billing.webhook_attempts "
            "WHERE delivery_id = ANY(%s) ORDER BY delivery_id, attempt",
            (delivery_ids,),
        )
        return await cur.fetchall()


async def event_types_of(conn: Conn, delivery_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    cur = await conn.execute(
        "SELECT d.id, e.type FROM billing.webhook_deliveries d "
        "JOIN billing.webhook_events e ON e.id = d.event_id WHERE d.id = ANY(%s)",
        (delivery_ids,),
    )
    return {row[0]: row[1] for row in await cur.fetchall()}
