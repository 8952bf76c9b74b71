"""The key server's refusals, each with a stable `code` (docs/key_server.md).

Services raise these; one handler (installed by `install`) renders them, and
the derivation package's own `DerivationError`s, as RFC 9457 problem+json.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.common.problems import Problem, render
from services.key_server.derivation import DerivationError


class KeyServerError(Exception):
    status = 400
    code = "key_server_error"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class InvalidRequest(KeyServerError):
    status = 422
    code = "validation_error"


class NotFound(KeyServerError):
    status = 404
    code = "not_found"


class UnknownChain(KeyServerError):
    status = 404
    code = "unknown_chain"


class ChainExists(KeyServerError):
    status = 409
    code = "chain_exists"


class KeyAlreadyRegistered(KeyServerError):
    status = 409
    code = "key_already_registered"


class ChainDisabled(KeyServerError):
    status = 409
    code = "chain_disabled"


class ChainExhausted(KeyServerError):
    status = 409
    code = "chain_exhausted"


class EventConflict(KeyServerError):
    status = 409
    code = "event_conflict"


class IdempotencyKeyReused(KeyServerError):
    status = 409
    code = "idempotency_key_reused"


class PayloadTooLarge(KeyServerError):
    status = 413
    code = "payload_too_large"


class BadSignature(KeyServerError):
    status = 401
    code = "bad_signature"


def problem_for(exc: KeyServerError | DerivationError) -> Problem:
    if isinstance(exc, DerivationError):
        return Problem(422, exc.code, exc.message, **exc.details)
    return Problem(exc.status, exc.code, exc.message, **exc.extra)


def install(app: FastAPI) -> None:
    async def on_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, KeyServerError | DerivationError)
        return render(problem_for(exc), request)

    app.add_exception_handler(KeyServerError, on_error)
    app.add_exception_handler(DerivationError, on_error)
