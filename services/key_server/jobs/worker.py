"""`python -m services.key_server worker`: the procrastinate worker.

Runs the credit and callback jobs the API defers, and a periodic sweep (every
minute) that expires charges, retries jobs of workers that died mid-job, and
re-defers outbox rows that lost their job (jobs/service.py). Its connections
use search_path = key_server, where the migration put procrastinate's tables.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

import httpx
import procrastinate
from procrastinate.jobs import Job
from prometheus_client import start_http_server

from services.common.clock import SystemClock
from services.common.database import libpq_url
from services.common.jobs import retry_stalled_jobs
from services.key_server.charges.tasks import deliver_callback
from services.key_server.deposits.tasks import credit_deposit
from services.key_server.jobs import CREDIT_DEPOSIT, DELIVER_CALLBACK, QUEUE, SWEEP
from services.key_server.jobs import service as jobs_service
from services.key_server.jobs.runtime import WorkerRuntime
from services.key_server.settings import KeyServerSettings, resolve_callback_secret
from services.payment_client.factory import build_dispatcher, tee_checker

log = logging.getLogger("sealpay.key_server.worker")

SWEEP_CRON = "* * * * *"


# procrastinate is untyped to mypy here (pyproject: follow_imports = "skip").
class Backoff(procrastinate.BaseRetryStrategy):  # type: ignore[misc]
    """Retry forever, doubling the wait from `base` up to `cap` seconds."""

    def __init__(self, base: float, cap: float) -> None:
        self.base = base
        self.cap = cap

    def get_retry_decision(
        self, *, exception: BaseException, job: Job
    ) -> procrastinate.RetryDecision | None:
        wait = min(self.cap, self.base * 2 ** min(job.attempts, 32))
        return procrastinate.RetryDecision(retry_in={"seconds": wait})


def connector(database_url: str) -> procrastinate.PsycopgConnector:
    return procrastinate.PsycopgConnector(
        conninfo=libpq_url(database_url),
        min_size=1,
        max_size=10,
        kwargs={
            "options": "-c search_path=key_server",
            "application_name": "sealpay-key-server-worker",
        },
    )


def build_job_app(
    settings: KeyServerSettings, runtime: WorkerRuntime, database_url: str
) -> procrastinate.App:
    app = procrastinate.App(connector=connector(database_url))
    backoff = Backoff(settings.key_server_retry_base_seconds, settings.key_server_retry_max_seconds)

    @app.task(name=CREDIT_DEPOSIT, queue=QUEUE, retry=backoff)  # type: ignore[untyped-decorator]
    async def credit_deposit_task(credit_id: str) -> None:
        await credit_deposit(runtime, uuid.UUID(credit_id))

    @app.task(name=DELIVER_CALLBACK, queue=QUEUE, retry=backoff)  # type: ignore[untyped-decorator]
    async def deliver_callback_task(callback_id: str) -> None:
        await deliver_callback(runtime, uuid.UUID(callback_id))

    @app.periodic(cron=SWEEP_CRON, periodic_id="sweep")  # type: ignore[untyped-decorator]
    @app.task(name=SWEEP, queue=QUEUE)  # type: ignore[untyped-decorator]
    async def sweep_task(timestamp: int) -> None:
        await retry_stalled_jobs(app, [QUEUE], log)
        report = await asyncio.to_thread(_sweep, runtime)
        if report != jobs_service.SweepReport(0, 0, 0):
            log.info("key_server.sweep", extra=report.__dict__)

    return app


def _sweep(runtime: WorkerRuntime) -> jobs_service.SweepReport:
    with runtime.engine.begin() as conn:
        return jobs_service.sweep(conn, runtime.clock.now())


async def run_worker(settings: KeyServerSettings) -> None:
    from services.key_server.app import build_engine

    engine = build_engine(settings)
    database_url = engine.url.render_as_string(hide_password=False)
    clock = SystemClock()
    dispatcher = build_dispatcher(settings, engine, clock)
    # Deposit credits are money: with PAYMENT_VIA_TEE they go only to a TEE that
    # attested (TEE_EXPECTED_MEASUREMENTS), as the gateway's and billing's do.
    checker = tee_checker(settings, dispatcher)
    callback_secret = resolve_callback_secret(
        settings.sealpay_callback_secret, settings.sealpay_env
    )
    if settings.key_server_worker_metrics_port:
        start_http_server(settings.key_server_worker_metrics_port, addr=settings.key_server_host)
    timeout = httpx.Timeout(settings.key_server_callback_timeout_seconds)
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as http:
            runtime = WorkerRuntime(engine, dispatcher, http, callback_secret, clock)
            app = build_job_app(settings, runtime, database_url)
            if checker is not None:
                checker.start()
            async with app.open_async():
                log.info("key_server.worker.started", extra={"queue": QUEUE})
                await app.run_worker_async(
                    queues=[QUEUE],
                    name="key_server",
                    concurrency=settings.key_server_worker_concurrency,
                    fetch_job_polling_interval=settings.key_server_worker_poll_seconds,
                    install_signal_handlers=True,
                    # Outbox rows keep the history; finished jobs need not.
                    delete_jobs="successful",
                )
    finally:
        if checker is not None:
            await checker.stop()
        await dispatcher.close()
        engine.dispose()
