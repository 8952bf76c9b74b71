"""The SDK's exception hierarchy.

Everything the client raises on purpose derives from :class:`SealpayError`
(apart from ``ValueError`` for arguments refused before anything is sent):

- :class:`ApiError` and its subclasses: the gateway answered with an RFC 9457
  problem (``application/problem+json``). Branch on the class or on ``.code``
  (stable, listed in the gateway's docs/errors.md), never on ``.detail``.
- :class:`UnexpectedResponseError`: an answer that is not what the API
  promises (an HTML error page from a proxy, a 2xx without JSON, a malformed
  receipt).
- :class:`ConnectionFailed`: no answer at all (refused, reset, timed out).
- :class:`ReceiptSignatureError`, :class:`ReceiptMismatchError` and
  :class:`TEEVerificationError`: the server answered, but what it answered
  cannot be trusted.

Errors raised by a money-moving call carry the ``idempotency_key`` it was
sent with: on a timeout, a connection failure or a 5xx, repeating the call
with that key is safe (the ledger returns the original receipt instead of
paying twice). Errors raised *after* the server answered with a receipt
(signature, mismatch, TEE checks) mean the money may have moved: they carry
what the server returned so the caller can reconcile.

Importing this module imports neither httpx nor the receipt crypto, so it is
cheap to import anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from sealpay.attestation.errors import AttestationError

if TYPE_CHECKING:
    from sealpay.receipts import Receipt


class SealpayError(Exception):
    """Base class of every error the SDK raises about a request it sent."""

    idempotency_key: str | None = None


class ConnectionFailed(SealpayError):
    """The request got no HTTP answer (connection refused or reset, timeout, TLS failure).

    For a money-moving call the outcome is unknown: retry with the same
    ``idempotency_key`` to learn it without paying twice.
    """

    def __init__(self, message: str, *, idempotency_key: str | None = None) -> None:
        super().__init__(message)
        self.idempotency_key = idempotency_key


class UnexpectedResponseError(SealpayError):
    """The server answered, but not in the API's format (no problem+json, no JSON, bad shape).

    ``status`` is the HTTP status (``None`` when the fault was found after
    the response, e.g. in a receipt's members) and ``body`` the start of the
    body, for diagnosis.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None,
        body: str = "",
        idempotency_key: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = body[:2000]
        self.idempotency_key = idempotency_key


class ApiError(SealpayError):
    """The gateway refused the request with an RFC 9457 problem.

    ``status`` is the HTTP status, ``code`` the stable error code, ``detail``
    the human explanation, ``problem`` the whole problem object (extra
    members such as ``available`` or ``upgrade_url`` live there too),
    ``request_id`` the gateway's request id, for support, and ``retry_after``
    the seconds of a ``Retry-After`` header, when the gateway sent one.
    """

    default_code: ClassVar[str] = "api_error"

    def __init__(
        self,
        status: int,
        problem: Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.retry_after = retry_after
        self.problem: dict[str, Any] = dict(problem)
        code = problem.get("code")
        self.code: str = code if isinstance(code, str) else self.default_code
        detail = problem.get("detail")
        self.detail: str = detail if isinstance(detail, str) else ""
        request_id = problem.get("request_id")
        self.request_id: str | None = request_id if isinstance(request_id, str) else None
        self.idempotency_key = idempotency_key
        super().__init__(f"{status} {self.code}: {self.detail}" if self.detail else self.code)

    def _int_member(self, name: str) -> int | None:
        value = self.problem.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def _str_member(self, name: str) -> str | None:
        value = self.problem.get(name)
        return value if isinstance(value, str) else None


class InvalidRequest(ApiError):
    """400/422: the request is malformed or refused as invalid (``validation_error``,
    ``idempotency_key_required``, ``self_transfer``, ``fee_exceeds_amount``, ...)."""

    @property
    def errors(self) -> list[Any]:
        """The per-field errors of a ``validation_error``, when the gateway sent them."""
        value = self.problem.get("errors")
        return value if isinstance(value, list) else []


class Unauthorized(ApiError):
    """401 ``unauthorized``: missing, unknown or revoked API key, or no operator token."""


class InsufficientFunds(ApiError):
    """402 ``insufficient_funds``: the paying account holds less than the amount. Nothing moved."""

    @property
    def available(self) -> int | None:
        return self._int_member("available")

    @property
    def amount(self) -> int | None:
        return self._int_member("amount")


class NotFound(ApiError):
    """404: no such resource (``not_found``), or a receipt the caller is not party to."""


class UnknownRecipient(NotFound):
    """404 ``unknown_recipient``: ``to_agent`` names no agent. Nothing moved."""


class Conflict(ApiError):
    """409: conflicts with existing state (``agent_name_taken``, ``account_exists``, ...)."""


class IdempotencyKeyReused(Conflict):
    """409 ``idempotency_key_reused``: this key was used before with different parameters.

    ``payment_id`` is the payment the key belongs to. Nothing new moved.
    """

    @property
    def payment_id(self) -> str | None:
        return self._str_member("payment_id")


class TierLimitReached(ApiError):
    """429 ``tier_limit_reached``: the free tier's monthly transfers are used up. Nothing moved."""

    @property
    def current_count(self) -> int | None:
        return self._int_member("current_count")

    @property
    def limit(self) -> int | None:
        return self._int_member("limit")

    @property
    def tier(self) -> str | None:
        return self._str_member("tier")

    @property
    def upgrade_url(self) -> str | None:
        return self._str_member("upgrade_url")


class ServerError(ApiError):
    """5xx: the gateway failed. Unless a receipt came back, retrying with the same key is safe."""


class PaymentCoreUnavailable(ServerError):
    """503 ``payment_core_unavailable``: the payment core is unreachable and fallback is off."""


_BY_CODE: Mapping[str, type[ApiError]] = {
    "unauthorized": Unauthorized,
    "insufficient_funds": InsufficientFunds,
    "not_found": NotFound,
    "unknown_recipient": UnknownRecipient,
    "idempotency_key_reused": IdempotencyKeyReused,
    "tier_limit_reached": TierLimitReached,
    "payment_core_unavailable": PaymentCoreUnavailable,
}

_BY_STATUS: Mapping[int, type[ApiError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    402: InsufficientFunds,
    404: NotFound,
    409: Conflict,
    422: InvalidRequest,
    429: TierLimitReached,
}


def api_error(
    status: int,
    problem: Mapping[str, Any],
    *,
    idempotency_key: str | None = None,
    retry_after: float | None = None,
) -> ApiError:
    """The most specific :class:`ApiError` for a problem: by ``code``, then by HTTP status."""
    code = problem.get("code")
    cls = _BY_CODE.get(code) if isinstance(code, str) else None
    if cls is None:
        cls = ServerError if status >= 500 else _BY_STATUS.get(status, ApiError)
    return cls(status, problem, idempotency_key=idempotency_key, retry_after=retry_after)


class ReceiptSignatureError(SealpayError):
    """A receipt's Ed25519 signature does not verify: it was altered after signing, or forged.

    The server may have moved money anyway: ``receipt_data`` is the object as
    received (do not trust its contents) and ``idempotency_key`` the key the
    call used, so the caller can look the payment up again.
    """

    def __init__(
        self,
        message: str,
        *,
        receipt_data: Mapping[str, Any],
        idempotency_key: str | None = None,
    ) -> None:
        super().__init__(message)
        self.receipt_data: dict[str, Any] = dict(receipt_data)
        self.idempotency_key = idempotency_key


class ReceiptMismatchError(SealpayError):
    """A correctly signed receipt describes something other than what was asked for.

    E.g. a different amount than the one sent: whoever relayed the request
    changed it. The money described by ``receipt`` may have moved.
    """

    def __init__(
        self, message: str, *, receipt: Receipt, idempotency_key: str | None = None
    ) -> None:
        super().__init__(message)
        self.receipt = receipt
        self.idempotency_key = idempotency_key


class TEEVerificationError(SealpayError):
    """``verify_tee=True`` could not establish that the attested payment core acted.

    Two situations, told apart by ``receipt``:

    - ``receipt is None``: the attestation itself failed (or could not be
      fetched), before the request was sent. Nothing moved. ``code`` is the
      :class:`~sealpay.attestation.AttestationError` code (e.g.
      ``measurement_not_allowed``, ``nonce_mismatch``) or
      ``attestation_unavailable``; ``attestation_error`` is the original.
    - ``receipt`` is set: the server *did* answer with a validly signed
      receipt, but not one signed by the attested TEE (``code`` is
      ``receipt_not_from_tee``, e.g. the gateway's in-process fallback signed
      it, or ``receipt_key_not_attested``). The money may have moved: use the
      receipt to reconcile.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str,
        receipt: Receipt | None = None,
        attestation_error: AttestationError | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.receipt = receipt
        self.attestation_error = attestation_error
        self.idempotency_key = idempotency_key
