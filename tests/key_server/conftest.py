"""The key server over real HTTP on the real test database, and its worker as a real process.

`key_server` serves the app with uvicorn (support.servers.serve) and wraps the
common steps (register a chain, create a watcher, post a signed event, ...).
`start_worker` runs `python -m services.key_server worker` against the same
database, with short retry backoffs so that retries happen within a test.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from support.factories import AUDIT_KEY
from support.processes import ServiceProcess, spawn
from support.servers import free_port, serve

from services.common.clock import FixedClock
from services.common.signing import (
    KEY_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    compute_signature,
)
from services.key_server.app import create_app
from services.key_server.settings import KeyServerSettings

REPO = Path(__file__).resolve().parents[2]
SERVICE_TOKEN = "svc_test-service-token-0123456789"
ADMIN_TOKEN = "test-admin-token-0123456789"
CALLBACK_SECRET = "test-callback-secret-0123456789abcdef"
VAULT_KEY = Fernet.generate_key().decode()


class Vectors:
    """Published vectors (see tests/key_server/derivation for their sources): BIP-84's
    account 0 as a testnet vpub and a mainnet zpub (BIP-84; bip-utils test_bip84.py)
    with their first receive addresses, and bip-utils' first Monero stagenet wallet."""

    BIP84_VPUB = "vpub5Y6cjg78GGuNLsaPhmYsiw4gYX3HoQiRBiSwDaBXKUafCt9bNwWQiitDk5VZ5BVxYnQdwoTyXSs2JHRPAgjAvtbBrf8ZhDYe2jWAqvZVnsc"  # noqa: E501
    VPUB_ADDRESS_0 = "tb1q6rz28mcfaxtmd6v789l9rrlrusdprr9pqcpvkl"
    VPUB_ADDRESS_1 = "tb1qd7spv5q28348xl4myc8zmh983w5jx32cjhkn97"
    BIP84_ZPUB = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"  # noqa: E501
    BIP84_ZPRV = "zprvAdG4iTXWBoARxkkzNpNh8r6Qag3irQB8PzEMkAFeTRXxHpbF9z4QgEvBRmfvqWvGp42t42nvgGpNgYSJA9iefm1yYNZKEm7z6qUWCroSQnE"  # noqa: E501
    ZPUB_ADDRESS_0 = "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
    ZPUB_ADDRESS_1 = "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g"
    STAGENET_PRIVATE_VIEW = "b9c02bf2e8e30169cbbe2c22135a65e02cb80531f7bed1105f562cc61ce10b07"
    STAGENET_PUBLIC_SPEND = "ee3f0bbbd4ee4d30d05db97b0e28dfa1c624f436f886488fd6014a74a9c47edd"
    STAGENET_PRIMARY = "5Aro6RZf2gc9AZGHkyVLkvU4Qonc8yQ8fR4PZTy9haCVe6NHSMH4TtNLyWhovaP75PFDSUC9cAML7MAGhXS56o16H7BmpEP"  # noqa: E501
    STAGENET_SUBADDRESS_0_1 = "74oX2Dpt1g53S1AUVmcitNMaatEtSw4P79gi4Dnk8dYH7BAS9PFbcrQA27WWLurvzR9hL87soCikrb8oNvuW7bL8K2YVwh5"  # noqa: E501


@pytest.fixture
def vectors() -> type[Vectors]:
    return Vectors


@dataclass
class Watcher:
    key_id: str
    secret: str


@dataclass
class KeyServer:
    """A real key server over real HTTP, with helpers for the common steps."""

    url: str
    http: httpx.Client
    clock: FixedClock
    engine: sa.Engine
    watchers: list[Watcher] = field(default_factory=list)

    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    service = {"Authorization": f"Bearer {SERVICE_TOKEN}"}

    @staticmethod
    def txid(n: int | str) -> str:
        """A distinct, well-formed 64-hex txid per test value."""
        return str(n).encode().hex().rjust(64, "0")[-64:]

    def register_chain(self, **body: Any) -> httpx.Response:
        return self.http.post("/admin/chains", json=body, headers=self.admin)

    def chain(self, chain_id: str = "tbtc", **extra: Any) -> dict[str, Any]:
        body = {
            "id": chain_id,
            "coin": "bitcoin",
            "network": "testnet",
            "xpub": Vectors.BIP84_VPUB,
            "confirmations": 2,
            **extra,
        }
        r = self.register_chain(**body)
        assert r.status_code == 201, r.text
        result: dict[str, Any] = r.json()
        return result

    def watcher(self, name: str = "watcher-1") -> Watcher:
        r = self.http.post("/admin/watchers", json={"name": name}, headers=self.admin)
        assert r.status_code == 201, r.text
        watcher = Watcher(r.json()["key_id"], r.json()["secret"])
        self.watchers.append(watcher)
        return watcher

    def deposit_address(
        self, agent_id: uuid.UUID | str, chain: str = "tbtc", fresh: bool = False
    ) -> httpx.Response:
        return self.http.post(
            f"/internal/agents/{agent_id}/deposit-address",
            json={"chain": chain, "fresh": fresh},
            headers=self.service,
        )

    def create_charge(self, headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
        return self.http.post("/charges", json=body, headers={**self.service, **(headers or {})})

    def get_charge(self, charge_id: str) -> dict[str, Any]:
        r = self.http.get(f"/charges/{charge_id}", headers=self.service)
        assert r.status_code == 200, r.text
        result: dict[str, Any] = r.json()
        return result

    def signed(
        self,
        body: bytes,
        watcher: Watcher | None = None,
        *,
        timestamp: int | None = None,
        key_id: str | None = None,
    ) -> dict[str, str]:
        watcher = watcher or self.watchers[0]
        ts = str(timestamp if timestamp is not None else int(self.clock.now().timestamp()))
        return {
            KEY_ID_HEADER: key_id or watcher.key_id,
            TIMESTAMP_HEADER: ts,
            SIGNATURE_HEADER: compute_signature(watcher.secret, ts, body),
            "Content-Type": "application/json",
        }

    def post_event(self, event: dict[str, Any], watcher: Watcher | None = None) -> httpx.Response:
        body = json.dumps(event).encode()
        return self.http.post(
            "/internal/chain-events", content=body, headers=self.signed(body, watcher)
        )

    def event(
        self,
        address: str,
        amount: int,
        confirmations: int,
        tx: str,
        vout: int = 0,
        chain: str = "tbtc",
    ) -> dict[str, Any]:
        return {
            "chain": chain,
            "txid": tx,
            "vout": vout,
            "address": address,
            "amount": amount,
            "confirmations": confirmations,
        }

    def metric(self, name: str, **labels: str) -> float:
        """A counter's value from this process's /metrics (0 when absent)."""
        return metric_value(self.http.get("/metrics").text, name, **labels)

    def count(self, table: str) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(sa.text(f"SELECT count(*) FROM key_server.{table}")).scalar_one()
            )


def key_server_settings(database_url: str, **overrides: Any) -> KeyServerSettings:
    values: dict[str, Any] = {
        "sealpay_env": "test",
        "database_url": database_url,
        "sealpay_service_token": SERVICE_TOKEN,
        "sealpay_admin_token": ADMIN_TOKEN,
        "sealpay_callback_secret": CALLBACK_SECRET,
        "key_server_vault_keys": VAULT_KEY,
        "ledger_audit_key": AUDIT_KEY.decode(),
        **overrides,
    }
    return KeyServerSettings(**values)


@pytest.fixture
def ks_settings(database_url: str) -> KeyServerSettings:
    return key_server_settings(database_url)


@pytest.fixture
def key_server(db, ks_settings: KeyServerSettings) -> Iterator[KeyServer]:
    clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    app = create_app(ks_settings, engine=db, clock=clock)
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        yield KeyServer(url, http, clock, db)


@dataclass
class WorkerProcess(ServiceProcess):
    metrics_port: int = 0

    def metric(self, name: str, **labels: str) -> float:
        """A counter's value from the worker's own /metrics (0 when absent)."""
        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        return metric_value(text, name, **labels)


def metric_value(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def worker_env(database_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "SEALPAY_ENV": "test",
        "LEDGER_AUDIT_KEY": AUDIT_KEY.decode(),
        "SEALPAY_CALLBACK_SECRET": CALLBACK_SECRET,
        "KEY_SERVER_VAULT_KEYS": VAULT_KEY,
        "KEY_SERVER_RETRY_BASE_SECONDS": "0.3",
        "KEY_SERVER_RETRY_MAX_SECONDS": "1",
        "KEY_SERVER_WORKER_POLL_SECONDS": "0.2",
        **extra,
    }


@pytest.fixture
def start_worker(db, database_url: str, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start `python -m services.key_server worker` (stopped after the test)."""
    started: list[WorkerProcess] = []

    def start(**extra_env: str) -> WorkerProcess:
        metrics_port = free_port()
        log = tmp_path / f"worker-{len(started)}.log"
        env = worker_env(
            database_url, KEY_SERVER_WORKER_METRICS_PORT=str(metrics_port), **extra_env
        )
        process = spawn(["services.key_server", "worker"], env, log)
        worker = WorkerProcess(process, log, metrics_port)
        started.append(worker)
        worker.wait_until(lambda: _metrics_answer(metrics_port), "the key server worker")
        return worker

    yield start
    for worker in started:
        worker.stop()


def _metrics_answer(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1)
        return True
    except httpx.HTTPError:
        return False


@pytest.fixture
def wait_until() -> Callable[..., Any]:
    return _wait_until


def _wait_until(predicate: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
