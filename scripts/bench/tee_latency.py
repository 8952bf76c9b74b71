"""Transfer latency through the TEE path vs the in-process path.

    python -m scripts.bench.tee_latency [--payments 500] [--agents 50] [--connections 1]

Starts a fresh embedded PostgreSQL, the payment TEE (simulated attestation,
import guard on, mTLS) and two gateways on the same database: one with
PAYMENT_VIA_TEE=true, one running the core in-process. Each gateway gets the
same workload (hub-routing payments between random funded agents, keep-alive
HTTP, one request in flight per connection), so the difference between the
medians is what the extra gRPC-over-mTLS hop costs. Prints p50/p90/p99 for
both and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
import uuid
from pathlib import Path

from scripts import mtls_material
from scripts.bench.harness import (
    RawHttp,
    check_books,
    fresh_database,
    percentile,
    say,
    service_process,
    wait_metric,
)
from services.payment_tee.attestation.providers import load_or_create_simulated_chain
from services.payment_tee.settings import DEFAULT_SIMULATED_MEASUREMENT

ADMIN = "bench-admin-token-0123456789"
AUDIT_KEY = "bench-audit-key-0123456789abcdefghij"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--payments", type=int, default=500, help="per path")
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--connections", type=int, default=1)
    return parser.parse_args()


async def setup_agents(port: int, count: int) -> list[tuple[str, str]]:
    http = RawHttp("127.0.0.1", port)
    agents = []
    for _n in range(count):
        status, body = await http.request(
            "POST", "/v2/agents", {"name": f"lat-{uuid.uuid4().hex[:12]}"}
        )
        assert status == 201, body
        status, credit = await http.request(
            "POST",
            "/v2/admin/credits",
            {"agent_id": body["agent_id"], "amount": 10**12},
            {"Authorization": f"Bearer {ADMIN}", "Idempotency-Key": f"fund-{body['agent_id']}"},
        )
        assert status == 201, credit
        agents.append((body["agent_id"], body["api_key"]))
    await http.close()
    return agents


async def measure(
    port: int, agents: list[tuple[str, str]], payments: int, connections: int
) -> list[float]:
    latencies: list[float] = []
    remaining = payments

    async def worker() -> None:
        nonlocal remaining
        http = RawHttp("127.0.0.1", port)
        rng = random.Random()
        while remaining > 0:
            remaining -= 1
            payer, payee = rng.sample(agents, 2)
            started = time.perf_counter()
            status, body = await http.request(
                "POST",
                "/v2/payments/hub-routing",
                {"to_agent": payee[0], "amount": 1_000},
                {"Authorization": f"Bearer {payer[1]}", "Idempotency-Key": uuid.uuid4().hex},
            )
            latencies.append(time.perf_counter() - started)
            assert status == 201, body
        await http.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return sorted(latencies)


def main() -> None:
    args = parse_args()
    with fresh_database() as (url, _data_dir), tempfile.TemporaryDirectory() as tmp:
        mtls = Path(tmp) / "mtls"
        mtls_material.write_material(mtls, mtls_material.generate_all(), force=False)
        say("generating a simulated AMD chain (RSA-4096)…")
        load_or_create_simulated_chain(Path(tmp) / "simulated")
        common = {
            "DATABASE_URL": url,
            "SEALPAY_ENV": "test",
            "SEALPAY_ADMIN_TOKEN": ADMIN,
            "LEDGER_AUDIT_KEY": AUDIT_KEY,
            "LOG_LEVEL": "WARNING",
        }
        tee_env = {
            **common,
            "PAYMENT_TEE_PORT": "18551",
            "ATTESTATION_PORT": "18552",
            "TEE_TLS_CERT": str(mtls / "server.pem"),
            "TEE_TLS_KEY": str(mtls / "server.key"),
            "TEE_CLIENT_CA": str(mtls / "ca.pem"),
            "TEE_ATTESTATION_PROVIDER": "simulated",
            "TEE_SIMULATED_DIR": str(Path(tmp) / "simulated"),
            "TEE_ENFORCE_BOUNDARY": "1",
        }
        via_tee = {
            **common,
            "GATEWAY_PORT": "18553",
            "PAYMENT_VIA_TEE": "true",
            "PAYMENT_TEE_FALLBACK": "false",
            "PAYMENT_TEE_TARGET": "127.0.0.1:18551",
            "PAYMENT_TEE_CA": str(mtls / "ca.pem"),
            "PAYMENT_TEE_CLIENT_CERT": str(mtls / "client.pem"),
            "PAYMENT_TEE_CLIENT_KEY": str(mtls / "client.key"),
            "TEE_EXPECTED_MEASUREMENTS": DEFAULT_SIMULATED_MEASUREMENT,
            "TEE_SIMULATED_ARK": str(Path(tmp) / "simulated" / "ark.pem"),
        }
        local = {**common, "GATEWAY_PORT": "18554", "PAYMENT_VIA_TEE": "false"}
        tee_ready = "http://127.0.0.1:18553/readyz"
        with (
            service_process("services.payment_tee", tee_env, None),
            service_process("services.gateway", via_tee, tee_ready),
            service_process("services.gateway", local, "http://127.0.0.1:18554/readyz"),
        ):
            say("waiting for the gateway to verify the TEE's attestation…")
            wait_metric("http://127.0.0.1:18553/metrics", "sealpay_tee_attested 1.0")
            results = {}
            for name, port in (("tee", 18553), ("in_process", 18554)):
                agents = asyncio.run(setup_agents(port, args.agents))
                asyncio.run(measure(port, agents, 50, args.connections))  # warm up
                say(f"{name}: {args.payments} payments over {args.connections} connection(s)")
                results[name] = asyncio.run(measure(port, agents, args.payments, args.connections))
        books = check_books(url)
    for name, lat in results.items():
        print(
            f"{name}: p50_ms={percentile(lat, 50) * 1000:.2f} "
            f"p90_ms={percentile(lat, 90) * 1000:.2f} p99_ms={percentile(lat, 99) * 1000:.2f}"
        )
    tee_p50, local_p50 = percentile(results["tee"], 50), percentile(results["in_process"], 50)
    print(f"books_balance={'yes' if books.ok else 'NO'} entries={books.entries}")
    print(f"tee_overhead_ms={(tee_p50 - local_p50) * 1000:.2f}")
    print(f"median_ratio={tee_p50 / local_p50:.2f}")


if __name__ == "__main__":
    main()
