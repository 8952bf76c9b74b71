"""RFC 9457 problem+json for every error an HTTP service returns.

One exception type (`Problem`) for HTTP-level refusals, one table mapping the
payment core's refusals to HTTP, and handlers that render both. Each problem
carries a stable `code`; the public list is docs/errors.md.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.common.logs import request_id_var
from services.payment_client.errors import PaymentCoreUnavailable
from services.payment_tee.core.errors import PaymentError

PROBLEM_TYPE_BASE = "https://docs.sealpay.dev/errors/"
PROBLEM_JSON = "application/problem+json"

UPGRADE_URL = "/v2/me/upgrade"


class Problem(Exception):
    def __init__(self, status: int, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.extra = extra
        self.headers: dict[str, str] = {}


# core code -> (HTTP status, public code)
_CORE_TO_HTTP: dict[str, tuple[int, str]] = {
    "validation_error": (422, "validation_error"),
    "invalid_amount": (422, "validation_error"),
    "self_transfer": (422, "self_transfer"),
    "asset_mismatch": (422, "asset_mismatch"),
    "fee_exceeds_amount": (422, "fee_exceeds_amount"),
    "unknown_tier": (422, "unknown_tier"),
    "insufficient_funds": (402, "insufficient_funds"),
    "account_exists": (409, "account_exists"),
    "idempotency_key_reused": (409, "idempotency_key_reused"),
    "refund_exceeds_charge": (409, "refund_exceeds_charge"),
    "charge_cancelled": (409, "charge_cancelled"),
    "tier_limit_reached": (429, "tier_limit_reached"),
    "unknown_holder": (404, "not_found"),
    "not_found": (404, "not_found"),
}


def problem_from_payment_error(exc: PaymentError) -> Problem:
    if exc.code == "unknown_account":
        if exc.details.get("side") == "payee":
            return Problem(404, "unknown_recipient", exc.message)
        return Problem(404, "not_found", exc.message)
    status, code = _CORE_TO_HTTP.get(exc.code, (422, exc.code))
    extra = {k: v for k, v in exc.details.items() if k not in ("side",)}
    if code == "tier_limit_reached":
        extra["upgrade_url"] = UPGRADE_URL
    return Problem(status, code, exc.message, **extra)


def render(problem: Problem, request: Request) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + problem.code,
        "title": problem.code.replace("_", " "),
        "status": problem.status,
        "detail": problem.detail,
        "instance": request.url.path,
        "code": problem.code,
        **problem.extra,
    }
    if (rid := request_id_var.get()) is not None:
        body["request_id"] = rid
    return JSONResponse(
        body, status_code=problem.status, media_type=PROBLEM_JSON, headers=problem.headers
    )


def install(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return render(exc, request)

    async def on_payment_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, PaymentError)
        return render(problem_from_payment_error(exc), request)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", "")}
            for e in exc.errors()
        ]
        return render(
            Problem(422, "validation_error", "the request is not valid", errors=errors), request
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400:
            # FastAPI's answer to a body it could not parse for a reason other than
            # JSON syntax (bytes that are not UTF-8, an integer too long to
            # convert): as malformed as any other body, so the documented 422.
            return render(
                Problem(422, "validation_error", "the request body could not be parsed"), request
            )
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(
            exc.status_code, "http_error"
        )
        return render(Problem(exc.status_code, code, str(exc.detail)), request)

    async def on_core_unavailable(request: Request, exc: Exception) -> JSONResponse:
        problem = Problem(
            503,
            "payment_core_unavailable",
            "the payment core did not answer; retry with the same Idempotency-Key: if the "
            "request was posted before the answer was lost, the retry returns its receipt, "
            "and otherwise it is posted then, never twice",
        )
        problem.headers["Retry-After"] = "1"
        return render(problem, request)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette logs the traceback; the caller gets a problem, never a stack.
        return render(Problem(500, "internal_error", "an unexpected error occurred"), request)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(PaymentCoreUnavailable, on_core_unavailable)
    app.add_exception_handler(Exception, on_unexpected)
    app.add_exception_handler(PaymentError, on_payment_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
