"""`make run` as a new user meets it: every service a real process (payment TEE,
billing API and worker, key server API and worker, gateway), then each issue's
"done when" walk over real HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sealpay import SealpayClient, TEEVerificationError
from support.servers import free_port
from support.tee import SIMULATED_MEASUREMENT

from services.common.migrations import ALL_SCHEMAS
from services.common.signing import signed_headers

REPO = Path(__file__).resolve().parents[2]
# BIP84 test vector (the "abandon ... about" mnemonic), testnet account 0.
VPUB = (
    "vpub5Y6cjg78GGuNLsaPhmYsiw4gYX3HoQiRBiSwDaBXKUafCt9bNwWQiitDk5VZ5BVxYnQdwo"
    "TyXSs2JHRPAgjAvtbBrf8ZhDYe2jWAqvZVnsc"
)
VPUB_FIRST_ADDRESS = "tb1q6rz28mcfaxtmd6v789l9rrlrusdprr9pqcpvkl"

pytestmark = pytest.mark.e2e


@dataclass
class Suite:
    gateway: str
    billing: str
    key_server: str
    data_dir: Path
    process: subprocess.Popen[str]

    @property
    def secrets(self) -> dict[str, str]:
        loaded: dict[str, str] = json.loads((self.data_dir / "dev-secrets.json").read_text())
        return loaded

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secrets['admin_token']}"}


def _wait(url: str, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"make run exited: {proc.stdout.read() if proc.stdout else ''}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise AssertionError(f"{url} did not become ready")


@pytest.fixture(scope="module")
def suite(engine, database_url, tmp_path_factory) -> Iterator[Suite]:
    with engine.begin() as conn:  # start from empty tables, like a new user
        tables = conn.execute(
            sa.text(
                "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
                "WHERE schemaname = ANY(:s) AND tablename <> 'alembic_version' "
                "AND tablename NOT LIKE 'procrastinate%'"
            ),
            {"s": [s.schema for s in ALL_SCHEMAS]},
        ).scalars()
        conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} CASCADE"))
    data_dir = tmp_path_factory.mktemp("make-run") / "data"
    ports = {name: free_port() for name in ("gateway", "billing", "key_server")}
    env = {
        **os.environ,
        "SEALPAY_DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url,
        "GATEWAY_PORT": str(ports["gateway"]),
        "BILLING_PORT": str(ports["billing"]),
        "KEY_SERVER_PORT": str(ports["key_server"]),
        "KEY_SERVER_WORKER_METRICS_PORT": str(free_port()),
        "PAYMENT_TEE_PORT": str(free_port()),
        "ATTESTATION_PORT": str(free_port()),
    }
    for inherited in ("SEALPAY_ADMIN_TOKEN", "SEALPAY_SERVICE_TOKEN", "PAYMENT_VIA_TEE"):
        env.pop(inherited, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.devserver", "run"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    suite = Suite(
        f"http://127.0.0.1:{ports['gateway']}",
        f"http://127.0.0.1:{ports['billing']}",
        f"http://127.0.0.1:{ports['key_server']}",
        data_dir,
        proc,
    )
    _wait(f"{suite.gateway}/readyz", proc)
    yield suite
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)


def _agent(suite: Suite, prefix: str, credit: int = 0) -> tuple[str, str]:
    reg = SealpayClient(suite.gateway).register_agent(f"{prefix}-{uuid.uuid4().hex[:6]}")
    if credit:
        with SealpayClient(suite.gateway, admin_token=suite.secrets["admin_token"]) as operator:
            operator.credit(reg.agent_id, credit)
    return reg.agent_id, reg.api_key


def test_issue_3_pay_through_the_tee_and_verify_it(suite):
    ark = (suite.data_dir / "tee-simulated" / "ark.pem").read_text()
    _, alice_key = _agent(suite, "alice", credit=1_000_000)
    bob_id, _ = _agent(suite, "bob")
    with SealpayClient(
        suite.gateway,
        alice_key,
        verify_tee=True,
        expected_measurements=[SIMULATED_MEASUREMENT],
        simulated_ark=ark,
    ) as client:
        receipt = client.pay(bob_id, 10_000)
        assert (receipt.signer, receipt.fee, receipt.net) == ("tee", 30, 9_970)
        assert client.attestation().mode == "simulated"
    flipped = bytearray(SIMULATED_MEASUREMENT)
    flipped[-1] ^= 0x80
    with SealpayClient(
        suite.gateway,
        alice_key,
        verify_tee=True,
        expected_measurements=[bytes(flipped)],
        simulated_ark=ark,
    ) as client:
        with pytest.raises(TEEVerificationError) as refused:
            client.pay(bob_id, 10_000)
        assert refused.value.code == "measurement_not_allowed"
    with SealpayClient(suite.gateway, alice_key) as plain:
        assert plain.balance().available == 990_000  # the refused payment never left


def test_issue_4_upgrade_then_lapse_then_upgrade_again(suite):
    agent_id, key = _agent(suite, "carol", credit=10**12)  # 1 XMR
    bob_id, _ = _agent(suite, "dave")
    auth = {"Authorization": f"Bearer {key}"}
    http = httpx.Client(base_url=suite.gateway, timeout=20)
    quote = http.post("/v2/me/upgrade-quote", json={"tier": "PRO"}, headers=auth).json()
    assert quote["tier"] == "pro" and quote["charge_now"]["usd_cents"] == 2_900
    assert quote["rate"]["source"] == "static"
    # $29 at the static 150 USD/XMR: 0.19333... XMR, half-up to the piconero.
    assert quote["charge_now"]["amount"] == 193_333_333_333
    up = http.post(
        "/v2/me/upgrade",
        json={"quote_id": quote["quote_id"]},
        headers={**auth, "Idempotency-Key": "upgrade-carol-1"},
    )
    assert up.status_code == 200, up.text
    assert up.json()["tier"] == "pro"
    tier = http.get("/v2/me/tier", headers=auth).json()
    assert tier["tier"] == "pro" and tier["subscription"]["status"] == "active"
    fee = http.post(
        "/v2/payments/hub-routing",
        json={"to_agent": bob_id, "amount": 10_000},
        headers={**auth, "Idempotency-Key": "carol-pays-1"},
    ).json()
    assert (fee["fee_bps"], fee["fee"]) == (10, 10)

    # Spend everything, then walk the renewal worker across the next month.
    balance = http.get("/v2/me/balance", headers=auth).json()["available"]
    spent = http.post(
        "/v2/payments/hub-routing",
        json={"to_agent": bob_id, "amount": balance},
        headers={**auth, "Idempotency-Key": "carol-spends-all"},
    )
    assert spent.status_code == 201, spent.text
    period_end = datetime.fromisoformat(
        tier["subscription"]["current_period_end"].replace("Z", "+00:00")
    )
    billing = httpx.Client(base_url=suite.billing, headers=suite.admin, timeout=30)

    def sweep(at: datetime) -> None:
        r = billing.post("/admin/renewals/run", json={"at": at.isoformat()})
        assert r.status_code == 200, r.text

    sweep(period_end + timedelta(seconds=1))
    tier = http.get("/v2/me/tier", headers=auth).json()
    assert tier["subscription"]["status"] == "past_due" and tier["tier"] == "pro"  # grace
    for hours in (1, 3, 9, 24, 24 * 3):
        sweep(period_end + timedelta(hours=hours))
    sweep(period_end + timedelta(days=7, seconds=1))
    tier = http.get("/v2/me/tier", headers=auth).json()
    assert tier["subscription"]["status"] == "lapsed" and tier["tier"] == "free"
    assert tier["limit"] == 100

    # Top up and upgrade again.
    with SealpayClient(suite.gateway, admin_token=suite.secrets["admin_token"]) as operator:
        operator.credit(agent_id, 10**12)
    again = http.post(
        "/v2/me/upgrade",
        json={"tier": "pro"},
        headers={**auth, "Idempotency-Key": "upgrade-carol-2"},
    )
    assert again.status_code == 200, again.text
    assert http.get("/v2/me/tier", headers=auth).json()["tier"] == "pro"


def test_issue_4_tier_limit_429_carries_a_pro_quote(suite):
    _, key = _agent(suite, "erin", credit=10**9)
    bob_id, _ = _agent(suite, "frank")
    http = httpx.Client(base_url=suite.gateway, timeout=20)
    auth = {"Authorization": f"Bearer {key}"}
    for n in range(100):
        r = http.post(
            "/v2/payments/hub-routing",
            json={"to_agent": bob_id, "amount": 1_000},
            headers={**auth, "Idempotency-Key": f"erin-{n:04d}"},
        )
        assert r.status_code == 201
    refused = http.post(
        "/v2/payments/hub-routing",
        json={"to_agent": bob_id, "amount": 1_000},
        headers={**auth, "Idempotency-Key": "erin-0100"},
    )
    assert refused.status_code == 429
    body = refused.json()
    assert body["code"] == "tier_limit_reached" and body["upgrade_quote"]["tier"] == "pro"


@dataclass
class BtcTestnet:
    """The tbtc chain (BIP-84 vpub) and a watcher allowed to report on it."""

    key_server: str
    watcher: dict[str, str]

    def report(self, address: str, amount: int, txid: str, confirmations: int = 2) -> None:
        event = {"chain": "tbtc", "txid": txid, "vout": 0, "address": address,
                 "amount": amount, "confirmations": confirmations}  # fmt: skip
        body = json.dumps(event).encode()
        headers = signed_headers(self.watcher["key_id"], self.watcher["secret"], body, time.time())
        r = httpx.post(
            f"{self.key_server}/internal/chain-events",
            content=body,
            headers={**headers, "content-type": "application/json"},
        )
        assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def testnet(suite: Suite) -> BtcTestnet:
    keys = httpx.Client(base_url=suite.key_server, headers=suite.admin, timeout=20)
    chain = keys.post(
        "/admin/chains",
        json={
            "id": "tbtc",
            "coin": "bitcoin",
            "network": "testnet",
            "xpub": VPUB,
            "confirmations": 2,
        },
    )
    assert chain.status_code == 201, chain.text
    watcher = keys.post("/admin/watchers", json={"name": "btc-testnet"})
    assert watcher.status_code == 201, watcher.text
    return BtcTestnet(suite.key_server, watcher.json())


def _until(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def test_issue_5_testnet_deposit_credits_once(suite, testnet):
    _, key = _agent(suite, "gina")
    http = httpx.Client(base_url=suite.gateway, timeout=20)
    auth = {"Authorization": f"Bearer {key}"}
    address = http.post("/v2/deposits/address", json={"chain": "tbtc"}, headers=auth)
    assert address.status_code == 200, address.text
    assert address.json()["address"] == VPUB_FIRST_ADDRESS

    testnet.report(VPUB_FIRST_ADDRESS, 250_000, "ab" * 32)

    def btc_balance() -> int:
        r = http.get("/v2/me/balance", params={"asset": "BTC"}, headers=auth)
        assert r.status_code == 200, r.text
        available: int = r.json()["available"]
        return available

    _until(lambda: btc_balance() == 250_000, "the deposit credit")
    assert btc_balance() == 250_000
    testnet.report(VPUB_FIRST_ADDRESS, 250_000, "ab" * 32)  # the same event, delivered again
    time.sleep(2)
    assert btc_balance() == 250_000
    assert http.get("/v2/me/balance", headers=auth).json()["available"] == 0  # XMR untouched


def test_issue_5_an_upgrade_paid_by_crypto_invoice_applies_once(suite, testnet, engine):
    agent_id, key = _agent(suite, "hugo")  # no balance at all: the chain pays
    http = httpx.Client(base_url=suite.gateway, timeout=20)
    auth = {"Authorization": f"Bearer {key}"}
    upgrade = {"tier": "pro", "pay_with": "crypto", "chain": "tbtc"}
    r = http.post("/v2/me/upgrade", json=upgrade, headers={**auth, "Idempotency-Key": "hugo-pro-1"})
    assert r.status_code == 202, r.text
    invoice = r.json()["invoice"]
    # $29 at make run's static 60,000 USD/BTC: 48,333.33 sat, half up.
    assert (invoice["status"], invoice["asset"], invoice["amount"]) == ("open", "BTC", 48_333)
    assert invoice["rate"]["source"] == "static"
    pay_to = invoice["pay_to"]
    assert pay_to["address"].startswith("tb1q") and pay_to["amount"] == 48_333
    assert http.get("/v2/me/tier", headers=auth).json()["tier"] == "free"

    def tier() -> dict[str, Any]:
        body: dict[str, Any] = http.get("/v2/me/tier", headers=auth).json()
        return body

    testnet.report(pay_to["address"], 48_333, "cd" * 32)
    _until(lambda: tier()["tier"] == "pro", "the upgrade paid on-chain")
    assert tier()["subscription"]["status"] == "active"
    # The same confirmation again, and the client's retry: nothing more happens.
    testnet.report(pay_to["address"], 48_333, "cd" * 32)
    again = http.post(
        "/v2/me/upgrade", json=upgrade, headers={**auth, "Idempotency-Key": "hugo-pro-1"}
    )
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    time.sleep(2)
    with engine.connect() as conn:
        paid = conn.execute(
            sa.text(
                "SELECT count(*) FILTER (WHERE status = 'paid'), count(*) "
                "FROM billing.invoices WHERE agent_id = :a"
            ),
            {"a": agent_id},
        ).one()
        subscriptions = conn.execute(
            sa.text("SELECT count(*) FROM billing.subscriptions WHERE agent_id = :a"),
            {"a": agent_id},
        ).scalar_one()
    assert (tuple(paid), subscriptions) == ((1, 1), 1)
    assert http.get("/v2/me/balance", headers=auth).json()["available"] == 0
