"""`python -m services.gateway`: serve the gateway with uvicorn.

GATEWAY_WORKERS > 1 runs several worker processes, each building its own app
from the environment (`app_from_env`).
"""

from __future__ import annotations

import uvicorn

from services.common.http_protocol import CorkedHttpToolsProtocol
from services.gateway.settings import GatewaySettings


def main() -> None:
    settings = GatewaySettings()
    uvicorn.run(
        "services.gateway.app:app_from_env",
        factory=True,
        host=settings.gateway_host,
        port=settings.gateway_port,
        workers=settings.gateway_workers,
        log_config=None,
        access_log=False,
        loop="uvloop",
        http=CorkedHttpToolsProtocol,
    )


if __name__ == "__main__":
    main()
