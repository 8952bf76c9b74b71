"""The callback job: POST a charge's signed status change until it is answered 2xx.

Each attempt signs the stored body afresh (the timestamp must be within the
receiver's window); anything but a 2xx (redirects included: they are not
followed) raises, and procrastinate retries with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

import httpx

from services.common.signing import signed_headers
from services.key_server.charges import repository as repo
from services.key_server.charges.callbacks import CALLBACK_KEY_ID
from services.key_server.charges.repository import CallbackRow
from services.key_server.jobs.runtime import WorkerRuntime
from services.key_server.metrics import CALLBACKS

log = logging.getLogger("sealpay.key_server.callbacks")


class CallbackFailed(Exception):
    """The receiver did not answer 2xx; the job is retried."""


async def deliver_callback(runtime: WorkerRuntime, callback_id: uuid.UUID) -> None:
    callback = await asyncio.to_thread(_load, runtime, callback_id)
    if callback is None or callback.status == "delivered":
        return
    body = callback.body.encode("utf-8")
    headers = {
        **signed_headers(CALLBACK_KEY_ID, runtime.callback_secret, body, runtime.clock.now()),
        "Content-Type": "application/json",
        "User-Agent": "sealpay-key-server",
    }
    try:
        response = await runtime.http.post(callback.url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        await _failed(runtime, callback, None, f"{type(exc).__name__}: {exc}"[:500])
        raise CallbackFailed(f"callback {callback_id}: {type(exc).__name__}") from exc
    if not response.is_success:
        await _failed(runtime, callback, response.status_code, f"HTTP {response.status_code}")
        raise CallbackFailed(f"callback {callback_id}: HTTP {response.status_code}")
    await asyncio.to_thread(_delivered, runtime, callback_id, response.status_code)
    CALLBACKS.labels("delivered").inc()
    log.info(
        "key_server.callback.delivered",
        extra={"callback_id": str(callback_id), "type": callback.event_type},
    )


async def _failed(
    runtime: WorkerRuntime, callback: CallbackRow, status_code: int | None, error: str
) -> None:
    CALLBACKS.labels("failed").inc()
    log.warning(
        "key_server.callback.failed",
        extra={"callback_id": str(callback.id), "status_code": status_code, "error": error},
    )
    await asyncio.to_thread(_record, runtime, callback.id, status_code, error)


def _load(runtime: WorkerRuntime, callback_id: uuid.UUID) -> CallbackRow | None:
    with runtime.engine.connect() as conn:
        return repo.get_callback(conn, callback_id)


def _record(
    runtime: WorkerRuntime, callback_id: uuid.UUID, status_code: int | None, error: str
) -> None:
    with runtime.engine.begin() as conn:
        repo.record_callback_attempt(conn, callback_id, status_code, error)


def _delivered(runtime: WorkerRuntime, callback_id: uuid.UUID, status_code: int) -> None:
    with runtime.engine.begin() as conn:
        repo.mark_callback_delivered(conn, callback_id, status_code, runtime.clock.now())
