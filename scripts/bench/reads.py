"""Read throughput over real HTTP: who am I, my balance, my payment history.

    python -m scripts.bench.reads [--seconds 10] [--connections 8] [--accounts 1000]

Starts a fresh embedded PostgreSQL and the gateway (in-process payment core),
registers and funds N agents, has each pay another once (so every history has
entries), then for each read endpoint sends requests as random agents from C
keep-alive connections for S seconds and prints requests/s, p50/p99 latency
and CPU per request by process (gateway, PostgreSQL, this load client).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid

from scripts.bench.harness import (
    CpuMeter,
    RawHttp,
    Request,
    fresh_database,
    hammer,
    percentile,
    say,
)
from scripts.bench.transfers import gateway_process, setup_agents

ENDPOINTS = ("/v2/me", "/v2/me/balance", "/v2/payments?limit=20")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--port", type=int, default=18400)
    return parser.parse_args()


async def pay_each_once(port: int, agents: list[tuple[str, str]], connections: int) -> None:
    """Each agent pays the next one (round robin) once."""
    queue = list(range(len(agents)))

    async def worker() -> None:
        http = RawHttp("127.0.0.1", port)
        while queue:
            i = queue.pop()
            payee = agents[(i + 1) % len(agents)][0]
            status, body = await http.request(
                "POST",
                "/v2/payments/hub-routing",
                {"to_agent": payee, "amount": 10_000},
                {"Authorization": f"Bearer {agents[i][1]}", "Idempotency-Key": uuid.uuid4().hex},
            )
            if status != 201:
                raise RuntimeError(f"payment failed: {status} {body}")
        await http.close()

    await asyncio.gather(*(worker() for _ in range(connections)))


def main() -> None:
    args = parse_args()
    with fresh_database() as (url, data_dir), gateway_process(url, args.port, 1) as gateway:
        say(f"creating {args.accounts} agents, each paying another once")
        agents = asyncio.run(setup_agents(args.port, args.accounts, args.connections))
        asyncio.run(pay_each_once(args.port, agents, args.connections))
        keys = [key for _, key in agents]
        for path in ENDPOINTS:
            say(f"{path}: {args.connections} connections for {args.seconds:.0f}s")

            def read(rng: random.Random, path: str = path) -> Request:
                return ("GET", path, None, {"Authorization": f"Bearer {rng.choice(keys)}"})

            meter = CpuMeter(gateway.pid, data_dir)
            meter.start()
            started = time.monotonic()
            latencies = asyncio.run(hammer(args.port, args.connections, args.seconds, read))
            elapsed = time.monotonic() - started
            cpu = meter.stop()
            latencies.sort()
            count = max(len(latencies), 1)
            per_request = {part: round(v / count * 1e6) for part, v in cpu.items()}
            print(
                f"{path} requests_per_s={len(latencies) / elapsed:.1f} "
                f"p50_ms={percentile(latencies, 50) * 1000:.2f} "
                f"p99_ms={percentile(latencies, 99) * 1000:.2f} "
                f"cpu_us_per_request={per_request}"
            )


if __name__ == "__main__":
    main()
