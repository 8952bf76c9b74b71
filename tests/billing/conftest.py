"""Billing over real HTTP, against the real database and the in-process payment core.

* `billing`: the billing app served with uvicorn on a free port, driven by a
  FixedClock, reaching the payment core through `build_dispatcher` (the
  in-process core, PAYMENT_VIA_TEE off) exactly as in production.
* `ledger`: a second in-process core on the same database, for the test's own
  moves (registering agents, crediting them, reading balances).
* `feeds`: a real local HTTP server that plays Kraken and CoinGecko.
* `start_worker`: `python -m services.billing worker` as a real process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
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
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.engine import Engine
from support.factories import AUDIT_KEY, fund, make_core
from support.processes import ServiceProcess, spawn
from support.servers import free_port, serve
from support.tee import LossyProxy, payment_via_tee, start_tee

from services.billing.app import create_app
from services.billing.plans.service import DEFAULT_PLANS
from services.billing.settings import BillingSettings
from services.common.clock import FixedClock, rfc3339
from services.common.signing import signed_headers
from services.key_server.app import create_app as create_key_server
from services.key_server.settings import KeyServerSettings
from services.payment_tee.core.api import PaymentCore

SERVICE_TOKEN = "svc_test-service-token-0123456789"
BILLING_SECRET_KEY = Fernet.generate_key().decode()  # seals webhook secrets in these tests
ADMIN_TOKEN = "test-admin-token-0123456789"
# The key server's callback secret (tests/key_server/conftest.py uses the same value).
CALLBACK_SECRET = "test-callback-secret-0123456789abcdef"
JAN_15 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Agent:
    agent_id: uuid.UUID

    @property
    def id(self) -> str:
        return str(self.agent_id)


@dataclass
class BillingHttp:
    """The billing service over real HTTP, with the ledger next to it."""

    url: str
    http: httpx.Client
    clock: FixedClock
    ledger: PaymentCore
    engine: Engine
    server: Any = None  # the running server's context manager (make_billing)

    def stop(self) -> None:
        """Stop this instance now (a crash or a deploy: nothing of it survives)."""
        self.http.close()
        if self.server is not None:
            self.server.__exit__(None, None, None)
            self.server = None

    # --- agents and money ------------------------------------------------------------
    def agent(self, balance: int = 0) -> Agent:
        owner = uuid.uuid4()
        self.ledger.register_holder(owner)
        if balance:
            fund(self.ledger, owner, balance)
        return Agent(owner)

    def fund(self, agent: Agent, amount: int) -> None:
        fund(self.ledger, agent.agent_id, amount)

    def balance(self, agent: Agent) -> int:
        return self.ledger.balance(agent.agent_id).available

    def core_tier(self, agent: Agent) -> str:
        return self.ledger.usage(agent.agent_id).tier.value

    # --- internal API ----------------------------------------------------------------
    @property
    def service(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {SERVICE_TOKEN}"}

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def tier(self, agent: Agent) -> dict[str, Any]:
        r = self.http.get(f"/internal/agents/{agent.id}/tier", headers=self.service)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def quote(self, agent: Agent, tier: str) -> httpx.Response:
        return self.http.post(
            f"/internal/agents/{agent.id}/upgrade-quote", json={"tier": tier}, headers=self.service
        )

    def upgrade(
        self,
        agent: Agent,
        tier: str | None = None,
        quote_id: str | None = None,
        key: str | None = None,
    ) -> httpx.Response:
        body: dict[str, Any] = {}
        if tier is not None:
            body["tier"] = tier
        if quote_id is not None:
            body["quote_id"] = quote_id
        return self.http.post(
            f"/internal/agents/{agent.id}/upgrade",
            json=body,
            headers={**self.service, "Idempotency-Key": key or f"upgrade-{uuid.uuid4()}"},
        )

    def upgraded(self, agent: Agent, tier: str) -> dict[str, Any]:
        r = self.upgrade(agent, tier)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def downgrade(
        self, agent: Agent, tier: str, immediate: bool = False, key: str | None = None
    ) -> httpx.Response:
        """An immediate downgrade moves money: it gets a fresh Idempotency-Key unless given."""
        if immediate and key is None:
            key = f"down-{uuid.uuid4()}"
        headers = {**self.service, **({"Idempotency-Key": key} if key else {})}
        return self.http.post(
            f"/internal/agents/{agent.id}/downgrade",
            json={"tier": tier, "immediate": immediate},
            headers=headers,
        )

    def run_renewals(self, at: datetime | None = None) -> dict[str, Any]:
        r = self.http.post(
            "/admin/renewals/run",
            json={"at": rfc3339(at) if at else None},
            headers=self.admin,
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def walk_to(self, at: datetime) -> dict[str, Any]:
        """Move the clock and run one sweep there, like a worker would."""
        self.clock.set(at)
        return self.run_renewals()

    # --- database reads (assertions only) ----------------------------------------------
    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.text(sql), params).all())

    def subscription(self, agent: Agent) -> Any:
        found = self.rows(
            "SELECT * FROM billing.subscriptions WHERE agent_id = :a "
            "ORDER BY created_at DESC LIMIT 1",
            a=agent.agent_id,
        )
        return found[0] if found else None

    def invoices(self, agent: Agent) -> list[Any]:
        return self.rows(
            "SELECT * FROM billing.invoices WHERE agent_id = :a ORDER BY created_at, cycle",
            a=agent.agent_id,
        )

    def charges(self, agent: Agent) -> list[Any]:
        """The payment core's charge entries for the agent (read for assertions)."""
        return self.rows(
            "SELECT id, amount, idempotency_key, idempotency_scope AS scope FROM ledger.entries "
            "WHERE kind = 'charge' AND payer_owner_id = :a ORDER BY created_at",
            a=agent.agent_id,
        )

    def events(self, agent: Agent | None = None) -> list[str]:
        if agent is None:
            return [
                r.type
                for r in self.rows("SELECT type FROM billing.webhook_events ORDER BY created_at")
            ]
        return [
            r.type
            for r in self.rows(
                "SELECT type FROM billing.webhook_events WHERE agent_id = :a ORDER BY created_at",
                a=agent.agent_id,
            )
        ]

    def audit(self, agent: Agent) -> list[str]:
        return [
            r.action
            for r in self.rows(
                "SELECT action FROM billing.audit_events WHERE agent_id = :a ORDER BY id",
                a=agent.agent_id,
            )
        ]


@pytest.fixture
def billing_db(db: Engine) -> Engine:
    """Empty tables, with the plans the initial migration seeds (the wipe removed them)."""
    now = datetime.now(UTC)
    with db.begin() as conn:
        for code, label, rank, price, limit, bps in DEFAULT_PLANS:
            conn.execute(
                sa.text(
                    "INSERT INTO billing.plans (code, label, rank, price_usd_cents, "
                    "monthly_transfer_limit, fee_bps, updated_at) VALUES "
                    "(:c, :l, :r, :p, :lim, :b, :u)"
                ),
                {"c": code, "l": label, "r": rank, "p": price, "lim": limit, "b": bps, "u": now},
            )
    return db


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(JAN_15)


def settings_for(database_url: str, **overrides: Any) -> BillingSettings:
    values: dict[str, Any] = {
        "sealpay_env": "test",
        "database_url": database_url,
        "sealpay_service_token": SERVICE_TOKEN,
        "sealpay_admin_token": ADMIN_TOKEN,
        "ledger_audit_key": AUDIT_KEY.decode(),
        "payment_via_tee": False,
        "rate_sources": "static",
        "rate_static": "XMR-USD:150.00,BTC-USD:60000",
        "billing_renewal_cron": "",
        "sealpay_callback_secret": CALLBACK_SECRET,
        "billing_secret_keys": BILLING_SECRET_KEY,
        **overrides,
    }
    return BillingSettings(**values)


@pytest.fixture
def billing_settings(database_url: str) -> BillingSettings:
    return settings_for(database_url)


@pytest.fixture
def ledger(billing_db: Engine, clock: FixedClock) -> Iterator[PaymentCore]:
    core = make_core(billing_db, clock)
    yield core
    core.close()


@pytest.fixture
def make_billing(
    billing_db: Engine, clock: FixedClock, ledger: PaymentCore, database_url: str
) -> Iterator[Callable[..., BillingHttp]]:
    """Start billing apps (over real HTTP) with settings overrides; all stopped at the end.

    `port` serves it on that port (so a restarted instance keeps its URL);
    `stop()` on the result stops that instance early."""
    stack: list[Any] = []

    def start(port: int | None = None, **overrides: Any) -> BillingHttp:
        app = create_app(settings_for(database_url, **overrides), engine=billing_db, clock=clock)
        server = serve(app, port)
        url = server.__enter__()
        stack.append(server)
        http = httpx.Client(base_url=url, timeout=30)
        stack.append(http)
        return BillingHttp(url, http, clock, ledger, billing_db, server)

    yield start
    for item in reversed(stack):
        if isinstance(item, httpx.Client):
            item.close()
        else:
            item.__exit__(None, None, None)


@pytest.fixture
def billing(make_billing: Callable[..., BillingHttp]) -> BillingHttp:
    return make_billing()


# --- fake rate feeds ------------------------------------------------------------------


@dataclass
class Feeds:
    """A real HTTP server answering like Kraken's ticker and CoinGecko's simple price.

    `kraken` / `coingecko` hold what each answers for XMR: a price string, or
    ("status", code), or ("raw", text).
    """

    url: str = ""
    kraken: Any = "150.00"
    coingecko: Any = "151.25"
    hits: dict[str, int] = field(default_factory=lambda: {"kraken": 0, "coingecko": 0})

    @property
    def sources(self) -> str:
        return f"kraken@{self.url}/kraken,coingecko@{self.url}/coingecko"


def _feed_answer(spec: Any, body: Callable[[str], Any]) -> Response:
    if isinstance(spec, tuple) and spec[0] == "status":
        return JSONResponse({"error": ["EService:Unavailable"]}, status_code=spec[1])
    if isinstance(spec, tuple) and spec[0] == "raw":
        return Response(spec[1], media_type="application/json")
    return Response(body(spec), media_type="application/json")


@pytest.fixture
def feeds() -> Iterator[Feeds]:
    state = Feeds()
    app = FastAPI()

    @app.get("/kraken/0/public/Ticker")
    async def kraken(request: Request) -> Response:
        state.hits["kraken"] += 1
        assert request.query_params["pair"] == "XMRUSD"
        return _feed_answer(
            state.kraken,
            lambda price: (
                '{"error":[],"result":{"XXMRZUSD":{"a":["' + price + '","1","1.000"],'
                '"c":["' + price + '","0.50000000"],"v":["10.0","20.0"]}}}'
            ),
        )

    @app.get("/coingecko/api/v3/simple/price")
    async def coingecko(request: Request) -> Response:
        state.hits["coingecko"] += 1
        assert request.query_params["ids"] == "monero"
        assert request.query_params["vs_currencies"] == "usd"
        return _feed_answer(state.coingecko, lambda price: '{"monero":{"usd":' + price + "}}")

    with serve(app) as url:
        state.url = url
        yield state


# --- worker processes -------------------------------------------------------------------


@dataclass
class WorkerProcess(ServiceProcess):
    def sweep_logs(self) -> list[dict[str, Any]]:
        """The worker's `billing.renewal.sweep` log lines (JSON)."""
        lines = []
        for raw in self.log_text().splitlines():
            if '"billing.renewal.sweep"' in raw:
                lines.append(json.loads(raw))
        return lines


def worker_env(database_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "SEALPAY_ENV": "test",
        "SEALPAY_SERVICE_TOKEN": SERVICE_TOKEN,
        "SEALPAY_ADMIN_TOKEN": ADMIN_TOKEN,
        "LEDGER_AUDIT_KEY": AUDIT_KEY.decode(),
        "PAYMENT_VIA_TEE": "false",
        "RATE_SOURCES": "static",
        "RATE_STATIC": "XMR-USD:150.00,BTC-USD:60000",
        "BILLING_RENEWAL_CRON": "",
        "BILLING_WORKER_POLL_SECONDS": "0.2",
        "BILLING_WORKER_CONCURRENCY": "4",
        "WEBHOOK_RETRY_BASE_SECONDS": "0.5",
        "LOG_LEVEL": "INFO",
        "SEALPAY_CALLBACK_SECRET": CALLBACK_SECRET,
        "BILLING_SECRET_KEYS": BILLING_SECRET_KEY,
        **extra,
    }


@pytest.fixture
def billing_secret_key() -> str:
    """The BILLING_SECRET_KEYS of these tests' billing apps and workers."""
    return BILLING_SECRET_KEY


@pytest.fixture
def billing_cli(database_url: str) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`python -m services.billing <args>` as an operator runs it (env overrides as kwargs)."""

    def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "services.billing", *args],
            env=worker_env(database_url, **env),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run


@pytest.fixture
def start_worker(
    billing_db: Engine, database_url: str, tmp_path: Path
) -> Iterator[Callable[..., WorkerProcess]]:
    """`python -m services.billing worker` as real processes, stopped (SIGTERM) at the end."""
    started: list[WorkerProcess] = []

    def start(**env: str) -> WorkerProcess:
        log = tmp_path / f"worker-{len(started)}.log"
        process = spawn(["services.billing", "worker"], worker_env(database_url, **env), log)
        worker = WorkerProcess(process, log)
        started.append(worker)
        worker.wait_for_log("billing.worker.started", "the billing worker")
        return worker

    yield start
    for worker in started:
        worker.stop()


def _wait_until(check: Callable[[], bool], timeout: float = 30, what: str = "condition") -> float:
    """Poll until `check()` holds; returns the seconds it took."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - started


def _in_threads(*calls: Callable[[], Any]) -> list[Any]:
    """Run calls at the same moment in threads; their results in order (exceptions raised)."""
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(calls))

    def run(i: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            results[i] = call()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    if errors:
        raise errors[0]
    return results


@pytest.fixture
def eventually() -> Callable[..., float]:
    """`eventually(check, timeout, what)`: poll until it holds; the seconds it took."""
    return _wait_until


@pytest.fixture
def together() -> Callable[..., list[Any]]:
    """`together(f, g, ...)`: call them at the same moment in threads; their results."""
    return _in_threads


@pytest.fixture
def start_api(
    billing_db: Engine, database_url: str, tmp_path: Path, clock: FixedClock, ledger: PaymentCore
) -> Iterator[Callable[..., BillingHttp]]:
    """`python -m services.billing` as a real process (its own metrics, its own
    payment dispatcher), on a free port; stopped (SIGTERM) at the end."""
    started: list[tuple[ServiceProcess, httpx.Client]] = []

    def start(**env: str) -> BillingHttp:
        port = free_port()
        log = tmp_path / f"api-{port}.log"
        env = worker_env(database_url, BILLING_PORT=str(port), **env)
        process = spawn(["services.billing"], env, log)
        api = ServiceProcess(process, log)
        url = f"http://127.0.0.1:{port}"
        http = httpx.Client(base_url=url, timeout=60)
        started.append((api, http))

        def ready() -> bool:
            try:
                return http.get("/readyz").status_code == 200
            except httpx.HTTPError:
                return False

        api.wait_until(ready, "the billing API")
        return BillingHttp(url, http, clock, ledger, billing_db)

    yield start
    for api, http in started:
        http.close()
        api.stop()


# --- the crypto rail: a real key server next to billing --------------------------------------

KEY_SERVER_VAULT_KEY = Fernet.generate_key().decode()
# BIP-84 test vector ("abandon ... about"), Bitcoin testnet account 0.
TESTNET_VPUB = (
    "vpub5Y6cjg78GGuNLsaPhmYsiw4gYX3HoQiRBiSwDaBXKUafCt9bNwWQiitDk5VZ5BVxYnQdwo"
    "TyXSs2JHRPAgjAvtbBrf8ZhDYe2jWAqvZVnsc"
)


def key_server_settings(database_url: str) -> KeyServerSettings:
    return KeyServerSettings(
        sealpay_env="test",
        database_url=database_url,
        sealpay_service_token=SERVICE_TOKEN,
        sealpay_admin_token=ADMIN_TOKEN,
        sealpay_callback_secret=CALLBACK_SECRET,
        key_server_vault_keys=KEY_SERVER_VAULT_KEY,
        ledger_audit_key=AUDIT_KEY.decode(),
    )


@dataclass
class Rail:
    """Billing and a real key server, and the steps of the crypto rail."""

    billing: BillingHttp
    restart_billing: Callable[[], BillingHttp]
    ks: httpx.Client
    ks_clock: FixedClock
    engine: Engine
    link: KeyServerLink
    watcher_key: tuple[str, str] | None = None
    callback_secret: str = CALLBACK_SECRET

    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    service = {"Authorization": f"Bearer {SERVICE_TOKEN}"}

    # key server ---------------------------------------------------------------------------
    def chain(self, chain_id: str = "tbtc", **extra: Any) -> dict[str, Any]:
        body = {
            "id": chain_id,
            "coin": "bitcoin",
            "network": "testnet",
            "xpub": TESTNET_VPUB,
            "confirmations": 2,
            **extra,
        }
        r = self.ks.post("/admin/chains", json=body, headers=self.admin)
        assert r.status_code == 201, r.text
        found: dict[str, Any] = r.json()
        return found

    def watch(self, address: str, amount: int, confirmations: int, tx: str) -> dict[str, Any]:
        """A chain watcher's signed event at the key server."""
        if self.watcher_key is None:
            r = self.ks.post("/admin/watchers", json={"name": "btc-testnet"}, headers=self.admin)
            assert r.status_code == 201, r.text
            self.watcher_key = (r.json()["key_id"], r.json()["secret"])
        key_id, secret = self.watcher_key
        event = {"chain": "tbtc", "txid": tx, "vout": 0, "address": address,
                 "amount": amount, "confirmations": confirmations}  # fmt: skip
        body = json.dumps(event).encode()
        headers = signed_headers(key_id, secret, body, self.ks_clock.now())
        r = self.ks.post(
            "/internal/chain-events",
            content=body,
            headers={**headers, "content-type": "application/json"},
        )
        assert r.status_code == 200, r.text
        answer: dict[str, Any] = r.json()
        return answer

    def charge(self, charge_id: str) -> dict[str, Any]:
        r = self.ks.get(f"/charges/{charge_id}", headers=self.service)
        assert r.status_code == 200, r.text
        found: dict[str, Any] = r.json()
        return found

    def ks_callbacks(self) -> list[Any]:
        return self.billing.rows("SELECT * FROM key_server.charge_callbacks ORDER BY created_at")

    def ks_charge_count(self) -> int:
        return len(self.billing.rows("SELECT id FROM key_server.charges"))

    # billing ------------------------------------------------------------------------------
    def upgrade(
        self,
        agent: Agent,
        tier: str | None = None,
        quote_id: str | None = None,
        chain: str | None = "tbtc",
        key: str | None = None,
        pay_with: str = "crypto",
    ) -> httpx.Response:
        body: dict[str, Any] = {"pay_with": pay_with}
        for name, value in (("tier", tier), ("quote_id", quote_id), ("chain", chain)):
            if value is not None:
                body[name] = value
        return self.billing.http.post(
            f"/internal/agents/{agent.id}/upgrade",
            json=body,
            headers={**self.billing.service, "Idempotency-Key": key or f"crypto-{uuid.uuid4()}"},
        )

    def invoiced(self, agent: Agent, tier: str = "pro") -> dict[str, Any]:
        r = self.upgrade(agent, tier)
        assert r.status_code == 202, r.text
        body: dict[str, Any] = r.json()
        return body

    def callback(
        self,
        body: bytes,
        *,
        secret: str | None = None,
        key_id: str = "key_server",
        at: float | None = None,
    ) -> httpx.Response:
        """POST a charge callback to billing, signed like the key server signs it."""
        signed_at = at if at is not None else time.time()
        headers = signed_headers(key_id, secret or self.callback_secret, body, signed_at)
        return self.billing.http.post(
            "/internal/charge-events",
            content=body,
            headers={**headers, "content-type": "application/json"},
        )

    def subscriptions(self, agent: Agent) -> list[Any]:
        return self.billing.rows(
            "SELECT * FROM billing.subscriptions WHERE agent_id = :a", a=agent.agent_id
        )

    def audit_details(self, agent: Agent, action: str) -> list[dict[str, Any]]:
        return [
            r.details
            for r in self.billing.rows(
                "SELECT details FROM billing.audit_events WHERE agent_id = :a AND action = :x "
                "ORDER BY id",
                a=agent.agent_id,
                x=action,
            )
        ]


@dataclass
class KeyServerLink:
    """Billing's path to the key server: a real HTTP hop that forwards every request,
    unless a network fault is set:

    * `down`: every request answered 503, nothing forwarded;
    * `charges_down`: POST /charges answered 503, not forwarded (no charge exists);
    * `lose_answer`: POST /charges forwarded (the charge exists), its answer lost (502).
    """

    upstream: str
    fault: str | None = None
    url: str = ""

    def app(self) -> FastAPI:
        app = FastAPI()
        forwarded = ("authorization", "idempotency-key", "content-type")

        @app.api_route("/{path:path}", methods=["GET", "POST", "PATCH", "DELETE"])
        async def forward(path: str, request: Request) -> Response:
            charges = request.method == "POST" and path == "charges"
            if self.fault == "down" or (self.fault == "charges_down" and charges):
                return Response(status_code=503)
            async with httpx.AsyncClient(base_url=self.upstream, timeout=30) as client:
                answer = await client.request(
                    request.method,
                    "/" + path,
                    params=request.query_params,
                    content=await request.body(),
                    headers={k: v for k, v in request.headers.items() if k in forwarded},
                )
            if self.fault == "lose_answer" and charges:
                return Response(status_code=502)
            return Response(
                answer.content,
                status_code=answer.status_code,
                media_type=answer.headers.get("content-type"),
            )

        return app


@pytest.fixture
def rail(
    make_billing: Callable[..., BillingHttp], billing_db: Engine, database_url: str
) -> Iterator[Rail]:
    """Billing (on a fixed port, so a restarted instance keeps its callback URL) and a
    real key server (its clock near the real time), both on the test database."""
    ks_clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    ks_app = create_key_server(key_server_settings(database_url), engine=billing_db, clock=ks_clock)
    billing_port = free_port()
    with serve(ks_app) as ks_url, httpx.Client(base_url=ks_url, timeout=30) as ks:
        link = KeyServerLink(ks_url)
        with serve(link.app()) as link_url:
            link.url = link_url

            def start_billing() -> BillingHttp:
                return make_billing(
                    port=billing_port,
                    key_server_url=link_url,
                    billing_public_callback_url=f"http://127.0.0.1:{billing_port}",
                )

            state = Rail(start_billing(), start_billing, ks, ks_clock, billing_db, link)

            def restart() -> BillingHttp:
                state.billing = start_billing()
                return state.billing

            state.restart_billing = restart
            yield state


@pytest.fixture
def ks_worker(billing_db: Engine, database_url: str, tmp_path: Path) -> Iterator[Callable[[], Any]]:
    """`python -m services.key_server worker` as a real process: it delivers the callbacks."""
    started: list[ServiceProcess] = []

    def start() -> ServiceProcess:
        metrics_port = free_port()
        log = tmp_path / "key-server-worker.log"
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "SEALPAY_ENV": "test",
            "LEDGER_AUDIT_KEY": AUDIT_KEY.decode(),
            "SEALPAY_CALLBACK_SECRET": CALLBACK_SECRET,
            "KEY_SERVER_VAULT_KEYS": KEY_SERVER_VAULT_KEY,
            "KEY_SERVER_RETRY_BASE_SECONDS": "0.3",
            "KEY_SERVER_RETRY_MAX_SECONDS": "1",
            "KEY_SERVER_WORKER_POLL_SECONDS": "0.2",
            "KEY_SERVER_WORKER_METRICS_PORT": str(metrics_port),
        }
        worker = ServiceProcess(spawn(["services.key_server", "worker"], env, log), log)
        started.append(worker)
        worker.wait_for_log("key_server.worker.started", "the key server worker")
        return worker

    yield start
    for worker in started:
        worker.stop()


# --- an answer lost on its way back from the payment TEE -------------------------------


@pytest.fixture
def lose_answer(
    make_billing: Callable[..., BillingHttp],
    billing_db: Engine,
    database_url: str,
    mtls: Any,
    simulated_chain_dir: Path,
    tmp_path: Path,
) -> Callable[..., None]:
    """`lose_answer(agent, send, recorded, **settings)`: `send(billing)` with a billing
    (`settings`: its overrides) that reaches the payment core only through a real
    TEE, whose answer to the request's posting (and only that one) is lost: the
    posting commits, billing answers 503.

    The agent's holder row is locked here, so the TEE's posting waits on it; once
    `recorded` (SQL, `:a` the agent) finds the request's intent, a proxy stops
    passing the TEE's answers and the lock is released."""

    def run(
        agent: Agent, send: Callable[[BillingHttp], httpx.Response], recorded: str, **settings: Any
    ) -> None:
        tee = start_tee(database_url, mtls, simulated_chain_dir, tmp_path)
        proxy = LossyProxy(tee.grpc_port)
        try:
            billing = make_billing(**settings, **payment_via_tee(mtls, proxy.target))
            with billing_db.connect() as conn, conn.begin():
                conn.execute(
                    sa.text("SELECT 1 FROM ledger.holders WHERE owner_id = :a FOR UPDATE"),
                    {"a": agent.agent_id},
                )
                answer: list[httpx.Response] = []
                sending = threading.Thread(target=lambda: answer.append(send(billing)))
                sending.start()
                deadline = time.monotonic() + 10
                while not billing.rows(recorded, a=agent.agent_id):
                    assert time.monotonic() < deadline, "the request's intent was never recorded"
                    time.sleep(0.01)
                proxy.holding.set()
            sending.join()
            billing.stop()
        finally:
            proxy.close()
            tee.stop()
        (r,) = answer
        assert (r.status_code, r.json()["code"]) == (503, "payment_core_unavailable"), r.text

    return run
