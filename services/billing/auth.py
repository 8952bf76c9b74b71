"""Bearer tokens: the service token (the gateway calling /internal/*) and the
operator token (/admin/*). Compared in constant time; 401 problem otherwise."""

from __future__ import annotations

import hmac

from fastapi import Request

from services.common.problems import Problem


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("missing bearer token")
    return token.strip()


def _unauthorized(detail: str) -> Problem:
    problem = Problem(401, "unauthorized", detail)
    problem.headers["WWW-Authenticate"] = "Bearer"
    return problem


def _check(request: Request, expected: str, detail: str) -> None:
    if not hmac.compare_digest(_bearer(request).encode(), expected.encode()):
        raise _unauthorized(detail)


async def require_service(request: Request) -> None:
    """FastAPI dependency: SEALPAY_SERVICE_TOKEN, or 401."""
    _check(request, request.app.state.service_token, "service token required")


async def require_admin(request: Request) -> None:
    """FastAPI dependency: SEALPAY_ADMIN_TOKEN, or 401."""
    _check(request, request.app.state.admin_token, "operator token required")
