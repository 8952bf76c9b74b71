from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from support.factories import ADMIN_TOKEN, AUDIT_KEY, MARCH_15, SERVICE_TOKEN
from support.servers import serve

from services.common.clock import FixedClock
from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings


@dataclass
class Agent:
    agent_id: str
    name: str
    api_key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


@dataclass
class Gateway:
    """A real gateway over real HTTP, with helpers for the common steps."""

    url: str
    http: httpx.Client
    clock: FixedClock

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def register(self, name: str) -> Agent:
        r = self.http.post("/v2/agents", json={"name": name})
        assert r.status_code == 201, r.text
        body = r.json()
        return Agent(body["agent_id"], body["name"], body["api_key"])

    def credit(self, agent: Agent, amount: int, key: str | None = None) -> httpx.Response:
        r = self.http.post(
            "/v2/admin/credits",
            json={"agent_id": agent.agent_id, "amount": amount},
            headers={**self.admin, "Idempotency-Key": key or f"credit-{uuid.uuid4()}"},
        )
        assert r.status_code == 201, r.text
        return r

    def pay(
        self, payer: Agent, to: str, amount: int, key: str | None = None, **extra: Any
    ) -> httpx.Response:
        return self.http.post(
            "/v2/payments/hub-routing",
            json={"to_agent": to, "amount": amount, **extra},
            headers={**payer.auth, "Idempotency-Key": key or f"pay-{uuid.uuid4()}"},
        )

    def balance(self, agent: Agent) -> int:
        r = self.http.get("/v2/me/balance", headers=agent.auth)
        assert r.status_code == 200, r.text
        available: int = r.json()["available"]
        return available


@pytest.fixture
def gateway_settings(database_url: str, billing_url: str) -> GatewaySettings:
    return GatewaySettings(
        sealpay_env="test",
        database_url=database_url,
        sealpay_admin_token=ADMIN_TOKEN,
        sealpay_service_token=SERVICE_TOKEN,
        billing_url=billing_url,
        ledger_audit_key=AUDIT_KEY.decode(),
        auth_cache_seconds=0,
    )


@pytest.fixture
def make_gateway(
    db, gateway_settings: GatewaySettings
) -> Callable[..., AbstractContextManager[Gateway]]:
    """`with make_gateway(**settings) as gateway:` a gateway with settings overridden."""

    @contextmanager
    def start(**overrides: Any) -> Iterator[Gateway]:
        clock = FixedClock(MARCH_15)
        settings = gateway_settings.model_copy(update=overrides)
        app = create_app(settings, engine=db, clock=clock)
        with serve(app) as url, httpx.Client(base_url=url, timeout=10) as http:
            yield Gateway(url, http, clock)

    return start


@pytest.fixture
def gateway(make_gateway: Callable[..., AbstractContextManager[Gateway]]) -> Iterator[Gateway]:
    with make_gateway() as started:
        yield started
