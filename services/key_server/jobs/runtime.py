"""What the worker's tasks run with: built once per worker process."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy import Engine

from services.common.clock import Clock
from services.payment_client.base import PaymentDispatcher


@dataclass(frozen=True)
class WorkerRuntime:
    engine: Engine
    dispatcher: PaymentDispatcher
    http: httpx.AsyncClient
    callback_secret: str
    clock: Clock
