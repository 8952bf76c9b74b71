"""Transfer throughput over real HTTP, as a ratio to pgbench on the same server.

    python -m scripts.bench.transfers [--seconds 20] [--connections 8] [--accounts 10000]

Starts a fresh embedded PostgreSQL, migrates it, starts the gateway (in-process
payment core) as a real process, registers and funds N agents over HTTP, then
drives hub-routing payments between random agents from C keep-alive
connections for S seconds. Then runs pgbench (tpcb-like, the pgbench shipped
with the embedded PostgreSQL) against the same server for the same time and
connections, checks that the books balance, and prints the figures. The last
line is `ratio=<transfers/s ÷ pgbench TPS>`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from scripts.bench.harness import (
    CpuMeter,
    RawHttp,
    check_books,
    fresh_database,
    hub_routing_batches,
    percentile,
    say,
    service_process,
)
from services.common.database import libpq_url

ADMIN = "bench-admin-token-0123456789"
AUDIT_KEY = "bench-audit-key-0123456789abcdefghij"
INITIAL_BALANCE = 10**12  # 1 XMR each, in piconero


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        # On a 2-core machine shared with PostgreSQL one worker (the gateway's own
        # default) posts the most: it batches twice as many postings per
        # transaction as two workers each do, and their CPU per posting adds up.
        help="gateway worker processes (default 1, as GATEWAY_WORKERS)",
    )
    parser.add_argument("--port", type=int, default=18000)
    return parser.parse_args()


async def setup_agents(port: int, count: int, connections: int) -> list[tuple[str, str]]:
    """Register and fund `count` agents; returns (agent_id, api_key) pairs."""
    agents: list[tuple[str, str]] = []
    queue = list(range(count))
    started = time.monotonic()

    async def worker() -> None:
        http = RawHttp("127.0.0.1", port)
        while queue:
            n = queue.pop()
            status, body = await http.request("POST", "/v2/agents", {"name": f"bench-{n}"})
            if status != 201:
                raise RuntimeError(f"register failed: {status} {body}")
            status, credit = await http.request(
                "POST",
                "/v2/admin/credits",
                {"agent_id": body["agent_id"], "amount": INITIAL_BALANCE},
                {"Authorization": f"Bearer {ADMIN}", "Idempotency-Key": f"fund-{body['agent_id']}"},
            )
            if status != 201:
                raise RuntimeError(f"credit failed: {status} {credit}")
            agents.append((body["agent_id"], body["api_key"]))
            if len(agents) % 1000 == 0:
                say(f"  {len(agents)}/{count} agents ({time.monotonic() - started:.1f}s)")
        await http.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return agents


async def drive_payments(
    port: int, agents: list[tuple[str, str]], connections: int, seconds: float
) -> tuple[int, dict[int, int], list[float]]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        http = RawHttp("127.0.0.1", port)
        rng = random.Random()
        while time.monotonic() < deadline:
            payer, payee = rng.sample(agents, 2)
            t0 = time.perf_counter()
            status, _ = await http.request(
                "POST",
                "/v2/payments/hub-routing",
                {"to_agent": payee[0], "amount": rng.randint(1_000, 1_000_000)},
                {"Authorization": f"Bearer {payer[1]}", "Idempotency-Key": uuid.uuid4().hex},
            )
            latencies.append(time.perf_counter() - t0)
            statuses[status] = statuses.get(status, 0) + 1
        await http.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return statuses.get(201, 0), statuses, latencies


Counters = dict[str, dict[str, float]]  # worker (its process start time) -> counter -> value


def worker_counters(port: int, workers: int) -> Counters | None:
    """The posting batchers' and agent lookups' cumulative counters of every
    gateway worker. Each worker keeps its own metrics and a scrape reaches
    whichever worker accepts it, so scrape on fresh connections until every
    worker (told apart by its process start time) has answered; None if one
    never does."""
    import httpx

    seen: dict[str, dict[str, float]] = {}
    for _ in range(workers * 20):
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        totals = {}
        worker = ""
        for line in text.splitlines():
            if line.startswith("process_start_time_seconds "):
                worker = line.split()[-1]
            for name in ("size", "seconds"):
                for part in ("sum", "count"):
                    if line.startswith(f"sealpay_posting_batch_{name}_{part} "):
                        totals[f"{name}_{part}"] = float(line.split()[-1])
            for name in ("rounds", "questions"):
                if line.startswith(f"sealpay_agent_lookup_{name}_total "):
                    totals[f"lookup_{name}"] = float(line.split()[-1])
        seen[worker] = totals
        if len(seen) == workers:
            return seen
    return None


def _delta(before: Counters, after: Counters, name: str) -> float:
    return sum(after[w].get(name, 0.0) - before.get(w, {}).get(name, 0.0) for w in after)


def worker_split(before: Counters | None, after: Counters | None) -> str:
    """Operations posted by each worker: keep-alive connections stay on the
    worker that accepted them, so with few connections the split is uneven
    and differs from run to run, one source of run-to-run variation."""
    if before is None or after is None:
        return "n/a"
    ops = [after[w].get("size_sum", 0.0) - before.get(w, {}).get("size_sum", 0.0) for w in after]
    return "/".join(f"{n:.0f}" for n in sorted(ops, reverse=True))


def batch_stats(url: str, before: Counters | None, after: Counters | None) -> str:
    """Batches of the measured phase (setup excluded). Count and size come from
    the ledger, which sees every worker: a batch stamps all its entries with one
    instant, so the measured phase's batches are its distinct hub-routing
    `created_at` values. The mean time needs every worker's metrics."""
    entries, batches = hub_routing_batches(url)
    if not batches:
        return "n/a"
    text = f"{batches} batches, mean {entries / batches:.1f} ops"
    if before is not None and after is not None:
        count = _delta(before, after, "seconds_count")
        seconds = _delta(before, after, "seconds_sum")
        if count:
            text += f", mean {seconds / count * 1000:.2f} ms"
    return text


def lookup_stats(before: Counters | None, after: Counters | None) -> str:
    """How well the gateway's agent lookups (API keys, recipients) coalesced."""
    if before is None or after is None:
        return "n/a"
    rounds = _delta(before, after, "lookup_rounds")
    questions = _delta(before, after, "lookup_questions")
    per_round = f", mean {questions / rounds:.1f} per statement" if rounds else ""
    return f"{questions:.0f} lookups in {rounds:.0f} statements{per_round}"


@contextmanager
def gateway_process(url: str, port: int, workers: int) -> Iterator[subprocess.Popen[bytes]]:
    """The gateway (in-process payment core) on `url`, serving on `port`."""
    env = {
        "DATABASE_URL": url,
        "SEALPAY_ENV": "test",
        "SEALPAY_ADMIN_TOKEN": ADMIN,
        "LEDGER_AUDIT_KEY": AUDIT_KEY,
        "GATEWAY_PORT": str(port),
        "GATEWAY_WORKERS": str(workers),
        "LOG_LEVEL": "WARNING",
    }
    with service_process("services.gateway", env, f"http://127.0.0.1:{port}/healthz") as proc:
        yield proc


def run_pgbench(url: str, connections: int, seconds: float) -> float:
    from pgserver._commands import POSTGRES_BIN_PATH

    from services.common.database import _ensure_database

    _ensure_database(url, "pgbench")
    target = re.sub(r"/[^/?]+(\?|$)", r"/pgbench\1", libpq_url(url), count=1)
    pgbench = str(POSTGRES_BIN_PATH / "pgbench")
    subprocess.run([pgbench, "-i", "-q", "-s", "10", target], check=True, capture_output=True)
    out = subprocess.run(
        [pgbench, "-c", str(connections), "-j", "2", "-T", str(int(seconds)), target],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    match = re.search(r"tps = ([\d.]+)", out)
    if not match:
        raise RuntimeError(f"could not read pgbench output:\n{out}")
    return float(match.group(1))


def main() -> None:
    args = parse_args()
    with fresh_database() as (url, data_dir):
        say(f"database: fresh embedded PostgreSQL ({libpq_url(url)})")
        with gateway_process(url, args.port, args.workers) as gateway:
            say(
                f"gateway: {args.workers} worker(s) on :{args.port}; "
                f"creating {args.accounts} agents"
            )
            agents = asyncio.run(setup_agents(args.port, args.accounts, args.connections))
            say(f"driving payments: {args.connections} connections for {args.seconds:.0f}s")
            batches_before = worker_counters(args.port, args.workers)
            meter = CpuMeter(gateway.pid, data_dir)
            meter.start()
            started = time.monotonic()
            posted, statuses, latencies = asyncio.run(
                drive_payments(args.port, agents, args.connections, args.seconds)
            )
            elapsed = time.monotonic() - started
            cpu = meter.stop()
            batches_after = worker_counters(args.port, args.workers)
            batches = batch_stats(url, batches_before, batches_after)
            lookups = lookup_stats(batches_before, batches_after)
            split = worker_split(batches_before, batches_after)
        books = check_books(url)
        say(f"pgbench tpcb-like: {args.connections} clients for {args.seconds:.0f}s")
        tps = run_pgbench(url, args.connections, args.seconds)

    latencies.sort()
    rate = posted / elapsed
    print(f"transfers_posted={posted} statuses={statuses}")
    print(f"transfers_per_s={rate:.1f}")
    print(
        f"p50_ms={percentile(latencies, 50) * 1000:.2f} "
        f"p99_ms={percentile(latencies, 99) * 1000:.2f}"
    )
    print(f"pgbench_tps={tps:.1f}")
    per_transfer = {k: round(v / max(posted, 1) * 1e6) for k, v in cpu.items()}
    print(f"cpu_us_per_transfer={per_transfer} (of {elapsed:.1f}s x cores)")
    print(f"posting_batches={batches}")
    print(f"agent_lookups={lookups}")
    print(f"transfers_by_worker={split}")
    print(
        f"books_balance={'yes' if books.ok else 'NO'} entries={books.entries} "
        f"asset_totals={books.asset_totals} cached_mismatches={books.cached_mismatches}"
    )
    print(f"ratio={rate / tps:.3f}")


if __name__ == "__main__":
    main()
