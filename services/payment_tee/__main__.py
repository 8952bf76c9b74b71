"""`python -m services.payment_tee`: the confidential payment service.

With TEE_ENFORCE_BOUNDARY=1 the import guard checks every loaded module once
the server's code is imported, then guards every later import.
"""

from __future__ import annotations

import asyncio
import sys

from services.common.errors import ConfigError
from services.common.logs import configure_logging
from services.payment_tee import guard
from services.payment_tee.settings import TeeSettings


def main() -> int:
    try:
        settings = TeeSettings.from_env()
    except ConfigError as exc:
        print(f"payment_tee: {exc}", file=sys.stderr)
        return 2
    configure_logging("payment_tee", settings.log_level)
    from services.payment_tee.server.app import serve  # everything the server will run

    if settings.enforce_boundary:
        try:
            guard.enforce()
        except guard.BoundaryViolation as exc:
            print(f"payment_tee: {exc}", file=sys.stderr)
            return 3
    try:
        asyncio.run(serve(settings))
    except ConfigError as exc:
        print(f"payment_tee: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
