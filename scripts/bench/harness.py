"""Shared pieces of the benchmarks: a fresh embedded PostgreSQL, service
processes, a lean keep-alive HTTP/1.1 load client, and the books check.

The load client is deliberately minimal (asyncio streams, no httpx): the
machine's cores are shared by client, gateway and PostgreSQL, and a heavy
client would measure itself.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from services.common import database
from services.common.migrations import upgrade_all

REPO = Path(__file__).resolve().parents[2]


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def fresh_database() -> Iterator[tuple[str, Path]]:
    """A brand-new embedded PostgreSQL in a temp dir; stopped and removed afterwards."""
    (REPO / ".data").mkdir(exist_ok=True)  # a fresh clone has none yet
    data_dir = Path(tempfile.mkdtemp(prefix="sealpay-bench-", dir=REPO / ".data"))
    try:
        url = database.start_embedded(data_dir)
        upgrade_all(url)
        yield url, data_dir
    finally:
        database.stop_embedded(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


@contextmanager
def service_process(
    module: str, env: dict[str, str], ready_url: str | None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `python -m module` until it answers `ready_url` (None: just started);
    terminate afterwards. Logs go to .data/bench-<module>[-<port>].log."""
    port = env.get("GATEWAY_PORT") or env.get("PAYMENT_TEE_PORT")
    suffix = f"-{port}" if port else ""
    log = open(REPO / ".data" / f"bench-{module.rsplit('.', 1)[-1]}{suffix}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", module], env={**os.environ, **env}, stdout=log, stderr=log, cwd=REPO
    )
    try:
        if ready_url is not None:
            wait_http_ready(ready_url, proc)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def wait_http_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}; see .data/bench-*.log")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout}s")


class RawHttp:
    """One keep-alive HTTP/1.1 connection; requests are sequential on it."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, Any]]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        payload = json.dumps(body).encode() if body is not None else b""
        lines = [
            f"{method} {path} HTTP/1.1",
            f"Host: {self.host}",
            f"Content-Length: {len(payload)}",
        ]
        if body is not None:
            lines.append("Content-Type: application/json")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        assert self.reader is not None
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        data = await self.reader.readexactly(length) if length else b""
        return status, (json.loads(data) if data else {})

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


Request = tuple[str, str, Any, dict[str, str] | None]  # method, path, body, headers


async def hammer(
    port: int, connections: int, seconds: float, next_request: Callable[[random.Random], Request]
) -> list[float]:
    """Send `next_request(rng)` from `connections` keep-alive connections, one
    request in flight on each, for `seconds`; every answer must be 2xx.
    Returns each request's latency in seconds."""
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        http = RawHttp("127.0.0.1", port)
        rng = random.Random()
        while time.monotonic() < deadline:
            method, path, body, headers = next_request(rng)
            started = time.perf_counter()
            status, answer = await http.request(method, path, body, headers)
            if not 200 <= status < 300:
                raise RuntimeError(f"{method} {path} answered {status}: {answer}")
            latencies.append(time.perf_counter() - started)
        await http.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return latencies


@dataclass
class BooksCheck:
    entries: int
    unbalanced_entries: int
    asset_totals: dict[str, int]
    cached_mismatches: int
    negative_balances: int

    @property
    def ok(self) -> bool:
        return (
            self.unbalanced_entries == 0
            and all(v == 0 for v in self.asset_totals.values())
            and self.cached_mismatches == 0
            and self.negative_balances == 0
        )


def check_books(url: str) -> BooksCheck:
    """The ledger's invariants, straight from SQL."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        entries = conn.execute(sa.text("SELECT count(*) FROM ledger.entries")).scalar_one()
        unbalanced = conn.execute(
            sa.text(
                "SELECT count(*) FROM (SELECT entry_id FROM ledger.lines GROUP BY entry_id "
                "HAVING sum(amount) <> 0) t"
            )
        ).scalar_one()
        totals = dict(
            conn.execute(
                sa.text(
                    "SELECT a.asset, sum(l.amount) FROM ledger.lines l "
                    "JOIN ledger.accounts a ON a.id = l.account_id GROUP BY a.asset"
                )
            ).all()
        )
        mismatches = conn.execute(
            sa.text(
                "SELECT count(*) FROM ledger.accounts a WHERE a.kind = 'agent' AND a.balance <> "
                "(SELECT COALESCE(sum(amount), 0) FROM ledger.lines l WHERE l.account_id = a.id)"
            )
        ).scalar_one()
        negative = conn.execute(
            sa.text("SELECT count(*) FROM ledger.accounts WHERE kind = 'agent' AND balance < 0")
        ).scalar_one()
    engine.dispose()
    return BooksCheck(
        entries, unbalanced, {k: int(v) for k, v in totals.items()}, mismatches, negative
    )


def hub_routing_batches(url: str) -> tuple[int, int]:
    """(hub-routing entries, batches that posted them): a batch stamps all its
    entries with one instant, so its batches are the distinct `created_at`s."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        entries, batches = conn.execute(
            sa.text(
                "SELECT count(*), count(DISTINCT created_at) FROM ledger.entries "
                "WHERE kind = 'hub_routing'"
            )
        ).one()
    engine.dispose()
    return int(entries), int(batches)


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[index]


class CpuMeter:
    """CPU seconds spent by each part (the gateway's process tree, PostgreSQL,
    this load generator) over a measured phase: where the time per transfer goes.
    `<part>_sys` is the kernel's share of it (system calls: sockets, polling)."""

    def __init__(self, gateway_pid: int, pgdata: Path) -> None:
        import psutil

        self._psutil = psutil
        self.gateway = psutil.Process(gateway_pid)
        self.pgdata = str(pgdata)
        self._start: dict[str, float] = {}

    def _postgres(self) -> list[Any]:
        """This benchmark's server only: its postmaster (first line of
        postmaster.pid) and the backends it forked, not any other PostgreSQL
        running on the machine."""
        pidfile = Path(self.pgdata) / "pg" / "postmaster.pid"
        try:
            postmaster = self._psutil.Process(int(pidfile.read_text().split()[0]))
            return [postmaster, *postmaster.children(recursive=True)]
        except (OSError, ValueError, self._psutil.Error):
            return []

    def _sample(self) -> dict[str, float]:
        def cpu(procs: list[Any], part: str) -> float:
            total = 0.0
            for p in procs:
                with suppress(self._psutil.Error):
                    total += getattr(p.cpu_times(), part)
            return total

        parts = {
            "gateway": [self.gateway, *self.gateway.children(recursive=True)],
            "postgres": self._postgres(),
            "client": [self._psutil.Process()],
        }
        sample = {}
        for name, procs in parts.items():
            sample[name] = cpu(procs, "user") + cpu(procs, "system")
            sample[f"{name}_sys"] = cpu(procs, "system")
        return sample

    def start(self) -> None:
        self._start = self._sample()

    def stop(self) -> dict[str, float]:
        end = self._sample()
        return {k: end[k] - self._start[k] for k in end}


def wait_metric(url: str, line: str, timeout: float = 60) -> None:
    """Wait until a service's /metrics shows `line` (e.g. "sealpay_tee_attested 1.0")."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if line in httpx.get(url, timeout=2).text.splitlines():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} never showed {line!r}")
