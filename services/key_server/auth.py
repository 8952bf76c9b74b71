"""Bearer tokens: the service token (internal callers) and the operator token.

Both are compared in constant time. Chain watchers do not use tokens: their
events are signed (signing.py) and checked in events/endpoints.py.
"""

from __future__ import annotations

import hmac

from fastapi import Request

from services.common.problems import Problem


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _matches(token: str | None, expected: str) -> bool:
    return token is not None and hmac.compare_digest(token.encode(), expected.encode())


def _unauthorized(detail: str) -> Problem:
    problem = Problem(401, "unauthorized", detail)
    problem.headers["WWW-Authenticate"] = "Bearer"
    return problem


async def require_service(request: Request) -> None:
    """FastAPI dependency: SEALPAY_SERVICE_TOKEN, or 401."""
    if not _matches(_bearer(request), request.app.state.secrets.service_token):
        raise _unauthorized("service token required")


async def require_admin(request: Request) -> None:
    """FastAPI dependency: SEALPAY_ADMIN_TOKEN, or 401."""
    if not _matches(_bearer(request), request.app.state.secrets.admin_token):
        raise _unauthorized("operator token required")


async def require_admin_or_service(request: Request) -> None:
    """Reads that internal services need too (the chain list)."""
    token = _bearer(request)
    secrets = request.app.state.secrets
    if not (_matches(token, secrets.admin_token) or _matches(token, secrets.service_token)):
        raise _unauthorized("operator or service token required")
