"""`python -m services.billing`: serve the API; `python -m services.billing worker`: the worker."""

from __future__ import annotations

import sys

import uvicorn

from services.billing.settings import BillingSettings


def main(argv: list[str]) -> None:
    if argv[:1] == ["worker"]:
        from services.billing.worker import main as worker_main

        worker_main()
        return
    if argv:
        raise SystemExit("usage: python -m services.billing [worker]")
    settings = BillingSettings()
    uvicorn.run(
        "services.billing.app:app_from_env",
        factory=True,
        host=settings.billing_host,
        port=settings.billing_port,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
