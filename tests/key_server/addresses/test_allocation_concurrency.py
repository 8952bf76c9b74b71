"""Index allocation under concurrency: many threads, and several server processes, over
real HTTP on one chain. Every index is handed out exactly once, with no gaps, and
every address is the one the published key derives at that index."""

import os
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import sqlalchemy as sa
from support.servers import free_port

from services.key_server.derivation import ChainSpec, derive_address, parse_account_key

REPO = Path(__file__).resolve().parents[3]


def _allocate(http: httpx.Client, service: dict, n: int) -> dict:
    """A fresh deposit address for a new agent on even n, a charge on odd n."""
    if n % 2:
        r = http.post(
            "/charges",
            json={"chain": "tbtc", "amount": 1_000 + n, "reference": f"inv-{n}"},
            headers=service,
        )
        assert r.status_code == 201, r.text
        return {"address": r.json()["address"]}
    r = http.post(
        f"/internal/agents/{uuid.uuid4()}/deposit-address",
        json={"chain": "tbtc", "fresh": True},
        headers=service,
    )
    assert r.status_code == 200, r.text
    return r.json()


def _check_allocations(engine, vectors, expected: int) -> None:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT derivation_index, address FROM key_server.addresses ORDER BY 1")
        ).all()
        next_index = conn.execute(
            sa.text("SELECT next_index FROM key_server.chains WHERE id = 'tbtc'")
        ).scalar_one()
    assert [r.derivation_index for r in rows] == list(range(expected))  # no gaps, no repeats
    assert len({r.address for r in rows}) == expected
    assert next_index == expected
    spec = ChainSpec.for_key(parse_account_key("bitcoin", "testnet", vectors.BIP84_VPUB))
    assert all(derive_address(spec, r.derivation_index) == r.address for r in rows)
    assert rows[0].address == vectors.VPUB_ADDRESS_0 and rows[1].address == vectors.VPUB_ADDRESS_1


def test_many_threads_allocate_gap_free_and_never_twice(key_server, vectors):
    key_server.chain("tbtc")
    total, threads = 400, 32
    clients = [httpx.Client(base_url=key_server.url, timeout=60) for _ in range(threads)]
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        results = list(
            pool.map(lambda n: _allocate(clients[n % threads], key_server.service, n), range(total))
        )
    elapsed = time.perf_counter() - start
    for client in clients:
        client.close()
    assert len({r["address"] for r in results}) == total
    _check_allocations(key_server.engine, vectors, total)
    print(
        f"\n[allocation] {total} addresses from {threads} threads over HTTP in {elapsed:.2f}s: "
        f"{total / elapsed:.0f} addresses/s"
    )


def test_concurrent_first_requests_for_one_agent_get_one_address(key_server):
    key_server.chain("tbtc")
    agent = uuid.uuid4()
    barrier = threading.Barrier(24)

    def ask(_: int) -> dict:
        with httpx.Client(base_url=key_server.url, timeout=60) as http:
            barrier.wait()
            r = http.post(
                f"/internal/agents/{agent}/deposit-address",
                json={"chain": "tbtc"},
                headers=key_server.service,
            )
            assert r.status_code == 200, r.text
            return r.json()

    with ThreadPoolExecutor(24) as pool:
        answers = list(pool.map(ask, range(24)))
    assert len({a["address"] for a in answers}) == 1
    assert sum(a["created"] for a in answers) == 1
    assert key_server.count("addresses") == 1


def _start_server(
    database_url: str, vault_key: str, tmp_path: Path
) -> tuple[subprocess.Popen, str, Path]:
    port = free_port()
    log = tmp_path / f"server-{port}.log"
    handle = open(log, "wb")  # noqa: SIM115 - owned by the child
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SEALPAY_ENV": "test",
        "KEY_SERVER_PORT": str(port),
        "SEALPAY_SERVICE_TOKEN": "svc_test-service-token-0123456789",
        "SEALPAY_ADMIN_TOKEN": "test-admin-token-0123456789",
        "SEALPAY_CALLBACK_SECRET": "test-callback-secret-0123456789abcdef",
        "KEY_SERVER_VAULT_KEYS": vault_key,
        "DB_POOL_SIZE": "8",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "services.key_server"],
        env=env,
        cwd=REPO,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    return process, f"http://127.0.0.1:{port}", log


def test_several_server_processes_share_one_gap_free_sequence(
    key_server, database_url, tmp_path, vectors, ks_settings
):
    key_server.chain("tbtc")
    vault_key = ks_settings.key_server_vault_keys
    servers = [_start_server(database_url, vault_key, tmp_path) for _ in range(3)]
    try:
        urls = [key_server.url]
        for process, url, log in servers:
            deadline = time.monotonic() + 30
            while True:
                assert process.poll() is None, log.read_text()
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            urls.append(url)
        total, threads = 400, 32
        clients = [httpx.Client(base_url=urls[i % len(urls)], timeout=60) for i in range(threads)]
        start = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(
                pool.map(
                    lambda n: _allocate(clients[n % threads], key_server.service, n), range(total)
                )
            )
        elapsed = time.perf_counter() - start
        for client in clients:
            client.close()
    finally:
        for process, _, _ in servers:
            process.terminate()
            process.wait(timeout=20)
    _check_allocations(key_server.engine, vectors, total)
    print(
        f"\n[allocation] {total} addresses from {threads} threads over 4 server processes in "
        f"{elapsed:.2f}s: {total / elapsed:.0f} addresses/s"
    )
