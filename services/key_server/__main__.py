"""`python -m services.key_server` (serve, worker, rotate-vault).

serve         the HTTP API on KEY_SERVER_HOST:KEY_SERVER_PORT (the default command)
worker        the procrastinate worker: deposit credits, charge callbacks, the sweep
rotate-vault  re-encrypt every vault row with the primary key of KEY_SERVER_VAULT_KEYS
"""

from __future__ import annotations

import asyncio

import typer
import uvicorn

from services.common.errors import ConfigError
from services.common.logs import configure_logging
from services.key_server.settings import (
    KeyServerSettings,
    resolve_callback_secret,
    resolve_secrets,
    resolve_vault_keys,
)

cli = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=False)


@cli.callback(invoke_without_command=True)
def main(context: typer.Context) -> None:
    if context.invoked_subcommand is None:
        serve()


def _refuse(exc: ConfigError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2)


@cli.command()
def serve() -> None:
    """Serve the HTTP API."""
    settings = KeyServerSettings()
    try:
        resolve_secrets(settings)  # refuse to start, clearly, before uvicorn does
    except ConfigError as exc:
        raise _refuse(exc) from None
    uvicorn.run(
        "services.key_server.app:app_from_env",
        factory=True,
        host=settings.key_server_host,
        port=settings.key_server_port,
        log_config=None,
        access_log=False,
    )


@cli.command()
def worker() -> None:
    """Run the procrastinate worker (credits, callbacks, sweep)."""
    from services.key_server.jobs.worker import run_worker

    settings = KeyServerSettings()
    configure_logging("key_server.worker", settings.log_level)
    try:
        resolve_callback_secret(settings.sealpay_callback_secret, settings.sealpay_env)
    except ConfigError as exc:
        raise _refuse(exc) from None
    asyncio.run(run_worker(settings))


@cli.command("rotate-vault")
def rotate_vault(
    batch_size: int = typer.Option(100, min=1, max=10_000, help="rows per transaction"),
) -> None:
    """Re-encrypt every vault row with the primary key (idempotent, safe to interrupt)."""
    from services.common.sealing import Vault
    from services.key_server.app import build_engine
    from services.key_server.vault.rotation import rotate_vault as rotate

    settings = KeyServerSettings()
    configure_logging("key_server.rotate_vault", settings.log_level)
    try:
        vault = Vault(resolve_vault_keys(settings.key_server_vault_keys, settings.sealpay_env))
    except ConfigError as exc:
        raise _refuse(exc) from None
    engine = build_engine(settings)
    try:
        report = rotate(engine, vault, typer.echo, batch_size=batch_size)
    finally:
        engine.dispose()
    if report.remaining:
        raise typer.Exit(1)


if __name__ == "__main__":
    cli()
