"""`python -m services.devserver`: the suite on one machine, for development.

run           migrate, then start every service and print how to use them
migrate       apply every service's migrations
stop-db       stop the embedded PostgreSQL
verify-audit  recompute the ledger's audit chains and report
"""

from __future__ import annotations

import os
import sys

import typer
from rich.console import Console

from services.common.database import DEFAULT_DATA_DIR, resolve_database_url, stop_embedded
from services.common.devsecrets import dev_secret
from services.common.migrations import upgrade_all
from services.devserver.supervisor import ServiceProcess, watch
from services.devserver.tee import LocalTee

app = typer.Typer(add_completion=False, help=__doc__)
console = Console(stderr=True, soft_wrap=True)


def _database_url() -> str:
    embedded = not os.environ.get("DATABASE_URL")
    with console.status("starting the embedded PostgreSQL…" if embedded else "connecting…"):
        url = resolve_database_url()
    where = f"embedded PostgreSQL under {DEFAULT_DATA_DIR / 'pg'}" if embedded else "DATABASE_URL"
    console.print(f"[green]database[/]: {where}")
    return url


@app.command()
def migrate() -> None:
    """Apply every service's migrations (each in its own schema)."""
    url = _database_url()
    upgrade_all(url)
    console.print("[green]migrations[/]: all schemas at head")


@app.command()
def run(
    port: int = typer.Option(int(os.environ.get("GATEWAY_PORT", "8000")), help="gateway port"),
    tee: bool = typer.Option(
        os.environ.get("PAYMENT_VIA_TEE", "true").lower() in ("1", "true", "yes"),
        help="run the payment TEE (simulated attestation) and send money through it",
    ),
) -> None:
    """Migrate, start the services, print the URL and the operator token; Ctrl-C stops."""
    env_name = os.environ.get("SEALPAY_ENV", "development")
    url = _database_url()
    upgrade_all(url)
    console.print("[green]migrations[/]: all schemas at head")
    admin_token = os.environ.get("SEALPAY_ADMIN_TOKEN") or dev_secret(
        "admin_token", env_name, prefix="dev_"
    )
    common = {
        "DATABASE_URL": url,
        "SEALPAY_ENV": env_name,
        "SEALPAY_ADMIN_TOKEN": admin_token,
        "SEALPAY_SERVICE_TOKEN": os.environ.get("SEALPAY_SERVICE_TOKEN")
        or dev_secret("service_token", env_name, prefix="svc_"),
        "SEALPAY_CALLBACK_SECRET": os.environ.get("SEALPAY_CALLBACK_SECRET")
        or dev_secret("callback_secret", env_name),
        "LEDGER_AUDIT_KEY": os.environ.get("LEDGER_AUDIT_KEY")
        or dev_secret("ledger_audit_key", env_name),
    }
    billing_port = int(os.environ.get("BILLING_PORT", "8002"))
    key_server_port = int(os.environ.get("KEY_SERVER_PORT", "8003"))
    payments = {"PAYMENT_VIA_TEE": "false"}  # how every service reaches the payment core
    services: list[ServiceProcess] = []
    if tee:
        local_tee = LocalTee.prepare(DEFAULT_DATA_DIR)
        services.append(local_tee.process(common))
        payments = local_tee.client_env()
    services += _internal_services(common | payments, billing_port, key_server_port)
    services.append(
        ServiceProcess(
            name="gateway",
            module="services.gateway",
            env={
                **common,
                **payments,
                "GATEWAY_PORT": str(port),
                "BILLING_URL": f"http://127.0.0.1:{billing_port}",
                "KEY_SERVER_URL": f"http://127.0.0.1:{key_server_port}",
            },
            ready_url=f"http://127.0.0.1:{port}/readyz",
        )
    )
    log_dir = DEFAULT_DATA_DIR / "logs"
    for svc in services:
        with console.status(f"starting {svc.name}…"):
            svc.start(log_dir)
            try:
                svc.wait_ready()
            except RuntimeError as exc:
                console.print(f"[red]{exc}[/] (log: {log_dir / (svc.name + '.log')})")
                for s in services:
                    s.stop()
                raise typer.Exit(1) from None
    _print_welcome(port, admin_token, "SEALPAY_ADMIN_TOKEN" not in os.environ, log_dir)
    _print_internal(billing_port, key_server_port)
    if tee:
        local_tee.print_summary(console)
    console.print("press Ctrl-C to stop\n")
    raise typer.Exit(watch(services))


def _internal_services(
    env: dict[str, str], billing_port: int, key_server_port: int
) -> list[ServiceProcess]:
    """Billing and the key server, each an API process and a worker process.

    Billing creates charges on the key server (the crypto rail), which calls it
    back at http://127.0.0.1:BILLING_PORT (billing's default public URL)."""
    billing = {
        **env,
        "BILLING_PORT": str(billing_port),
        "KEY_SERVER_URL": f"http://127.0.0.1:{key_server_port}",
    }
    keys = {**env, "KEY_SERVER_PORT": str(key_server_port)}
    return [
        ServiceProcess(
            "billing", "services.billing", billing, f"http://127.0.0.1:{billing_port}/readyz"
        ),
        ServiceProcess("billing-worker", "services.billing", billing, None, args=("worker",)),
        ServiceProcess(
            "key_server",
            "services.key_server",
            keys,
            f"http://127.0.0.1:{key_server_port}/readyz",
        ),
        ServiceProcess("key_server-worker", "services.key_server", keys, None, args=("worker",)),
    ]


def _print_welcome(port: int, token: str, generated: bool, log_dir: object) -> None:
    base = f"http://127.0.0.1:{port}"
    console.print(f"\n[bold green]Sealpay is running[/]: {base}  (API docs: {base}/docs)")
    source = (
        "generated for development, kept in .data/dev-secrets.json" if generated else "from env"
    )
    console.print(f"operator token ({source}): [bold]{token}[/]")
    console.print(f"logs: {log_dir}/\n")
    console.print("try:")
    console.print(
        f"  curl -s -X POST {base}/v2/agents "
        "-H 'content-type: application/json' -d '{\"name\":\"alice\"}'"
    )


def _print_internal(billing_port: int, key_server_port: int) -> None:
    """Where billing and the key server listen, and where billing's rates come from."""
    from services.billing.settings import BillingSettings

    console.print(
        f"billing: http://127.0.0.1:{billing_port}  key server: http://127.0.0.1:{key_server_port}"
        "  (operator token; docs at /docs)"
    )
    billing = BillingSettings()
    sources = billing.rate_source_spec()
    if sources.strip() == "static":
        console.print(
            f"exchange rates: [yellow]static[/] ({billing.rate_static}), recorded as source "
            "`static` in every invoice; set RATE_SOURCES for live feeds\n"
        )
    else:
        console.print(f"exchange rates: {sources}\n")


@app.command("stop-db")
def stop_db() -> None:
    """Stop the embedded PostgreSQL (it keeps running between `make run`s)."""
    stopped = stop_embedded()
    console.print("stopped" if stopped else "not running")


@app.command("verify-audit")
def verify_audit() -> None:
    """Recompute every audit chain with LEDGER_AUDIT_KEY and report any break."""
    import sqlalchemy as sa

    from services.payment_tee.core.audit import verify_audit_chain
    from services.payment_tee.core.keys import audit_key_from_settings

    env_name = os.environ.get("SEALPAY_ENV", "development")
    key = audit_key_from_settings(os.environ.get("LEDGER_AUDIT_KEY"), env_name)
    engine = sa.create_engine(_database_url())
    with engine.connect() as conn:
        result = verify_audit_chain(conn, key)
    console.print(f"chains: {result.chains}, rows: {result.rows}")
    for problem in result.problems:
        console.print(f"[red]{problem}[/]")
    if not result.ok:
        sys.exit(1)
    console.print("[green]audit log intact[/]")


def main() -> None:
    app()
