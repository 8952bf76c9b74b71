"""The CPU floor of a transfer on this machine, and the ratio it allows.

    python -m scripts.bench.floor [--seconds 10] [--connections 8] [--accounts 10000]

`make bench` says how fast transfers go; this says how fast they could go at
best, from the two costs no gateway design in this stack can avoid:

1. http: the gateway's CPU per request for GET /healthz (uvicorn, FastAPI, the
   request-context middleware, a constant answer): the least any request costs.
2. core: the payment core alone, in this process, posting hub-routing
   transfers from C concurrent tasks (no HTTP): its CPU and PostgreSQL's per
   transfer, at the batch sizes C callers make.

A transfer costs at least http + core in the gateway, plus PostgreSQL's share
and the load client's. One gateway process cannot use more than one core; the
machine has `os.cpu_count()`. The lower of the two bounds, over pgbench TPS on
the same server, is the best ratio `make bench` could print here. The real
request also parses and validates a body, authenticates, resolves the payee
and serialises a receipt, so the true ceiling is lower than this one.
The last line is `ceiling_ratio=<value>`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
import uuid

import sqlalchemy as sa

from scripts.bench.harness import CpuMeter, fresh_database, hammer, hub_routing_batches, say
from scripts.bench.transfers import AUDIT_KEY, gateway_process, run_pgbench, setup_agents
from services.common.clock import SystemClock
from services.payment_client.local import in_process_core
from services.payment_tee.core.api import PaymentCore
from services.payment_tee.core.commands import TransferCommand, TransferKind
from services.payment_tee.core.records import MAIN_ACCOUNT, AccountRef
from services.payment_tee.core.transfers import PostTransfer

HEALTHZ = ("GET", "/healthz", None, None)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--port", type=int, default=18300)
    return parser.parse_args()


async def post_in_process(
    core: PaymentCore, owners: list[uuid.UUID], connections: int, seconds: float, meter: CpuMeter
) -> tuple[int, dict[str, float]]:
    """Post transfers from `connections` tasks; CPU is read before the core's
    connections close (a backend's CPU is only seen while it runs)."""

    async def post(rng: random.Random) -> None:
        payer, payee = rng.sample(owners, 2)
        cmd = TransferCommand(
            kind=TransferKind.HUB_ROUTING,
            payer=AccountRef(payer, MAIN_ACCOUNT, core.default_asset),
            payee=AccountRef(payee, MAIN_ACCOUNT, core.default_asset),
            amount=rng.randint(1_000, 1_000_000),
            idempotency_key=uuid.uuid4().hex,
            memo=None,
        )
        await core.submit_async(PostTransfer(cmd))

    await post(random.Random())  # opens the batch connection before the measurement
    posted = 0
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal posted
        rng = random.Random()
        while time.monotonic() < deadline:
            await post(rng)
            posted += 1

    meter.start()
    await asyncio.gather(*(worker() for _ in range(connections)))
    cpu = meter.stop()
    await core.aclose()
    return posted, cpu


def per_op(cpu: dict[str, float], count: int, part: str) -> float:
    return cpu[part] / max(count, 1) * 1e6


def main() -> None:
    args = parse_args()
    cores = os.cpu_count() or 1
    with fresh_database() as (url, data_dir):
        with gateway_process(url, args.port, workers=1) as gateway:
            say(f"creating {args.accounts} agents")
            agents = asyncio.run(setup_agents(args.port, args.accounts, args.connections))
            say(f"http floor: GET /healthz from {args.connections} connections")
            meter = CpuMeter(gateway.pid, data_dir)
            meter.start()
            requests = len(
                asyncio.run(hammer(args.port, args.connections, args.seconds, lambda _: HEALTHZ))
            )
            http_cpu = meter.stop()

        say(f"core floor: in-process transfers from {args.connections} tasks")
        engine = sa.create_engine(url)
        core = in_process_core(engine, AUDIT_KEY.encode(), SystemClock(), "XMR")
        owners = [uuid.UUID(agent_id) for agent_id, _ in agents]
        posted, core_cpu = asyncio.run(
            post_in_process(
                core, owners, args.connections, args.seconds, CpuMeter(os.getpid(), data_dir)
            )
        )
        engine.dispose()
        entries, batches = hub_routing_batches(url)
        say(f"pgbench tpcb-like: {args.connections} clients for {args.seconds:.0f}s")
        tps = run_pgbench(url, args.connections, args.seconds)

    http_us = per_op(http_cpu, requests, "gateway")
    client_us = per_op(http_cpu, requests, "client")
    core_us = per_op(core_cpu, posted, "client")  # this process is the core
    pg_us = per_op(core_cpu, posted, "postgres")
    gateway_us = http_us + core_us
    one_process = 1e6 / gateway_us
    machine = cores * 1e6 / (gateway_us + pg_us + client_us)
    ceiling = min(one_process, machine)
    print(f"http_floor_us={http_us:.0f} (gateway CPU per GET /healthz; client {client_us:.0f})")
    print(
        f"core_us={core_us:.0f} postgres_us={pg_us:.0f} per transfer "
        f"({posted} in-process transfers, mean batch {entries / max(batches, 1):.1f})"
    )
    print(f"gateway_floor_us={gateway_us:.0f} (http + core)")
    print(
        f"ceiling_per_s={ceiling:.0f} (one gateway process: {one_process:.0f}; "
        f"{cores} cores: {machine:.0f})"
    )
    print(f"pgbench_tps={tps:.1f}")
    print(f"ceiling_ratio={ceiling / tps:.3f}")


if __name__ == "__main__":
    main()
