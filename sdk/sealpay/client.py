"""``SealpayClient``: the gateway's API as typed, verified Python calls.

Three promises hold for every call:

- **Money is ``int``** minor units. Floats, bools, and anything outside
  1..2^53-1 are refused with ``ValueError`` before a byte is sent.
- **Money moves once.** Every money-moving call sends an ``Idempotency-Key``
  (a fresh UUID4 unless the caller passes one); retrying with the same key
  returns the original receipt with ``replayed=True``. Errors carry the key.
- **Receipts are checked.** Every receipt's Ed25519 signature is verified
  (``ReceiptSignatureError`` otherwise), its amount is compared with the
  request, and with ``verify_tee=True`` it must come from the attested
  payment core (see :mod:`sealpay.tee` for exactly what that proves).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from importlib.metadata import PackageNotFoundError, version
from types import TracebackType
from typing import Any, Final, Literal, Self

import httpx
from cryptography import x509

from sealpay.attestation.document import AttestationResult
from sealpay.errors import (
    ConnectionFailed,
    ReceiptMismatchError,
    UnexpectedResponseError,
    api_error,
)
from sealpay.models import (
    AccountBalance,
    AgentInfo,
    Balance,
    IssuedApiKey,
    ReceiptPage,
    Registration,
    TierChange,
)
from sealpay.receipts import Receipt, idempotency_key_digest, verify_receipt
from sealpay.tee import TeeVerifier, parse_measurements

MAX_AMOUNT: Final = 2**53 - 1
"""The largest amount the API accepts: it survives JSON and canonicalises exactly."""
MAIN_ACCOUNT: Final = "main"
HUB_ROUTING: Final = "hub_routing"  # receipt kinds, as the payment core writes them
INTERNAL_TRANSFER: Final = "internal_transfer"
CREDIT: Final = "credit"
REPLAYED_HEADER: Final = "Idempotent-Replayed"
_IDEMPOTENCY_KEY: Final = re.compile(r"[\x21-\x7e]{8,255}")
_PROBLEM_JSON: Final = "application/problem+json"

Credential = Literal["agent", "admin", "none"]


def _user_agent() -> str:
    try:
        return f"sealpay-python/{version('sealpay')}"
    except PackageNotFoundError:
        return "sealpay-python"


class SealpayClient:
    """A synchronous client for the Sealpay gateway. Thread-safe; use as a context manager.

    - ``base_url``: the gateway, e.g. ``https://api.sealpay.dev``.
    - ``api_key``: the agent's key, for the agent endpoints.
    - ``admin_token``: the operator token, for :meth:`credit` and :meth:`set_tier`.
    - ``verify_tee``: before the first call that returns receipts (and again
      once the verified attestation is older than ``attestation_ttl``
      seconds), fetch ``/v2/tee/attestation`` with a fresh nonce and verify
      it; then accept only receipts signed by the attested payment core.
      Failures raise :class:`~sealpay.errors.TEEVerificationError`. The TLS
      binding cannot be checked through the gateway: see :mod:`sealpay.tee`.
    - ``expected_measurements``: the allowed launch measurements (48 bytes,
      or hex); required with ``verify_tee``.
    - ``simulated_ark``: trust this simulated AMD root as well (tests,
      machines without SEV-SNP); never set it in production.
    - ``timeout``: seconds, per request (default 40: longer than the gateway's
      own wait for billing, 30, so its answer arrives rather than a timeout);
      ``transport``: an httpx transport (tests, proxies, custom TLS).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        admin_token: str | None = None,
        verify_tee: bool = False,
        expected_measurements: Iterable[bytes | str] = (),
        simulated_ark: bytes | str | x509.Certificate | None = None,
        attestation_ttl: float = 300.0,
        timeout: float = 40.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        measurements = parse_measurements(expected_measurements)
        if verify_tee and not measurements:
            raise ValueError("verify_tee needs expected_measurements: an empty list allows none")
        self.base_url = base_url.rstrip("/")
        self.verify_tee = verify_tee
        self._api_key = api_key
        self._admin_token = admin_token
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": _user_agent(), "Accept": "application/json"},
        )
        self._tee = TeeVerifier(
            self._fetch_attestation_document,
            expected_measurements=measurements,
            simulated_ark=simulated_ark,
            ttl=attestation_ttl,
        )

    def __repr__(self) -> str:
        return f"SealpayClient({self.base_url!r}, verify_tee={self.verify_tee})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool. The client cannot be used afterwards."""
        self._http.close()

    # Agents -----------------------------------------------------------------

    def register_agent(self, name: str) -> Registration:
        """Register an agent; needs no credentials. Keep ``api_key``: it is shown once.

        Use it with a new client: ``SealpayClient(base_url, registration.api_key)``.
        """
        data = self._json_object(self._send("POST", "/v2/agents", "none", json={"name": name}))
        return Registration.from_wire(data)

    def me(self) -> AgentInfo:
        """The calling agent: id, name, tier and creation time."""
        return AgentInfo.from_wire(self._json_object(self._send("GET", "/v2/me", "agent")))

    def balance(self) -> Balance:
        """Available balance (summed over accounts), pending, and each account's balance."""
        return Balance.from_wire(self._json_object(self._send("GET", "/v2/me/balance", "agent")))

    def open_account(self, name: str) -> AccountBalance:
        """Open a named sub-account (``a-z0-9_-``, up to 32); every agent already has ``main``."""
        response = self._send("POST", "/v2/me/accounts", "agent", json={"name": name})
        return AccountBalance.from_wire(self._json_object(response))

    # Payments ---------------------------------------------------------------

    def pay(
        self,
        to_agent: str,
        amount: int,
        *,
        memo: str | None = None,
        idempotency_key: str | None = None,
    ) -> Receipt:
        """Pay another agent (by name or id) from ``main``; the tier's commission comes out of it.

        ``receipt.net`` is what the payee receives (``amount - fee``). A retry
        with the same ``idempotency_key`` returns the original receipt
        (``replayed=True``) and moves nothing.
        """
        body: dict[str, Any] = {"to_agent": to_agent, "amount": _amount(amount)}
        if memo is not None:
            body["memo"] = memo
        key = _idempotency_key(idempotency_key)
        receipt = self._post_money("/v2/payments/hub-routing", body, "agent", key)
        # Receipts name the payee by id: paid by id, the payee is checked too.
        payee_id = _as_uuid(to_agent)
        payee = {"to": str(payee_id)} if payee_id is not None else {}
        _expect(
            receipt,
            key,
            new_key=idempotency_key is None,
            amount=amount,
            memo=memo,
            kind=HUB_ROUTING,
            from_account=MAIN_ACCOUNT,
            to_account=MAIN_ACCOUNT,
            **payee,
        )
        return receipt

    def internal_transfer(
        self,
        from_account: str,
        to_account: str,
        amount: int,
        *,
        memo: str | None = None,
        idempotency_key: str | None = None,
    ) -> Receipt:
        """Move money between the caller's own accounts: fee-free, counts toward the tier limit."""
        body: dict[str, Any] = {
            "from_account": from_account,
            "to_account": to_account,
            "amount": _amount(amount),
        }
        if memo is not None:
            body["memo"] = memo
        key = _idempotency_key(idempotency_key)
        receipt = self._post_money("/v2/payments/internal-transfer", body, "agent", key)
        _expect(
            receipt,
            key,
            new_key=idempotency_key is None,
            amount=amount,
            memo=memo,
            kind=INTERNAL_TRANSFER,
            from_account=from_account,
            to_account=to_account,
        )
        return receipt

    def payments(self, limit: int = 20, cursor: str | None = None) -> ReceiptPage:
        """One page of the caller's payments (as payer or payee), newest first."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError("limit must be a positive int")
        self._require_attestation()
        params: dict[str, str | int] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        data = self._json_object(self._send("GET", "/v2/payments", "agent", params=params))
        items = data.get("data")
        next_cursor = data.get("next_cursor")
        if not isinstance(items, list) or not (next_cursor is None or isinstance(next_cursor, str)):
            raise UnexpectedResponseError(
                "a payments page is {data: [...], next_cursor: str | null}", status=200
            )
        receipts = tuple(self._receipt(_mapping(item), replayed=False) for item in items)
        return ReceiptPage(receipts=receipts, next_cursor=next_cursor)

    def iter_payments(self, page_size: int = 100) -> Iterator[Receipt]:
        """Every payment of the caller, newest first, fetching pages as the iteration goes."""
        cursor: str | None = None
        while True:
            page = self.payments(limit=page_size, cursor=cursor)
            yield from page.receipts
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def payment(self, payment_id: str | uuid.UUID) -> Receipt:
        """One receipt; only its payer and payee may read it (others get ``NotFound``)."""
        self._require_attestation()
        wanted = str(uuid.UUID(str(payment_id)))
        response = self._send("GET", f"/v2/payments/{wanted}", "agent")
        receipt = self._receipt(self._json_object(response), replayed=False)
        if receipt.payment_id != wanted:  # another (validly signed) payment is not this one
            raise ReceiptMismatchError(
                f"asked for payment {wanted}, got a receipt for {receipt.payment_id}",
                receipt=receipt,
            )
        return receipt

    # Operator ---------------------------------------------------------------

    def credit(
        self,
        agent_id: str | uuid.UUID,
        amount: int,
        *,
        account: str = MAIN_ACCOUNT,
        memo: str | None = None,
        idempotency_key: str | None = None,
    ) -> Receipt:
        """Operator: credit an agent's account (a real, idempotent ledger posting)."""
        agent = str(uuid.UUID(str(agent_id)))
        body: dict[str, Any] = {"agent_id": agent, "amount": _amount(amount), "account": account}
        if memo is not None:
            body["memo"] = memo
        key = _idempotency_key(idempotency_key)
        receipt = self._post_money("/v2/admin/credits", body, "admin", key)
        _expect(
            receipt,
            key,
            new_key=idempotency_key is None,
            amount=amount,
            memo=memo,
            kind=CREDIT,
            to=agent,
            to_account=account,
        )
        return receipt

    def set_tier(self, agent_id: str | uuid.UUID, tier: str) -> TierChange:
        """Operator: set an agent's tier (``free``, ``pro`` or ``enterprise``)."""
        path = f"/v2/admin/agents/{uuid.UUID(str(agent_id))}/tier"
        return TierChange.from_wire(
            self._json_object(self._send("POST", path, "admin", json={"tier": tier}))
        )

    def issue_api_key(
        self, agent_id: str | uuid.UUID, *, revoke_existing: bool = True
    ) -> IssuedApiKey:
        """Operator: a new API key for an agent (shown once). By default the agent's
        other keys are revoked: the way back after a lost registration answer or a
        leaked key. Asking again issues another key (not idempotent, by design)."""
        path = f"/v2/admin/agents/{uuid.UUID(str(agent_id))}/api-keys"
        body = {"revoke_existing": bool(revoke_existing)}
        return IssuedApiKey.from_wire(
            self._json_object(self._send("POST", path, "admin", json=body))
        )

    # Attestation ------------------------------------------------------------

    def attestation(self, *, refresh: bool = False) -> AttestationResult:
        """The payment core's verified attestation (cached for ``attestation_ttl``).

        Works with ``verify_tee=False`` too, to inspect the TEE; raises
        :class:`~sealpay.errors.TEEVerificationError` when it does not verify.
        """
        return self._tee.attest(refresh=refresh)

    # Plumbing ---------------------------------------------------------------

    def _require_attestation(self) -> None:
        if self.verify_tee:
            self._tee.attest()

    def _post_money(
        self, path: str, body: Mapping[str, Any], credential: Credential, key: str
    ) -> Receipt:
        self._require_attestation()
        response = self._send("POST", path, credential, json=body, idempotency_key=key)
        replayed = response.headers.get(REPLAYED_HEADER, "").lower() == "true"
        data = self._json_object(response, idempotency_key=key)
        return self._receipt(data, replayed=replayed, idempotency_key=key)

    def _receipt(
        self, data: Mapping[str, Any], *, replayed: bool, idempotency_key: str | None = None
    ) -> Receipt:
        receipt = verify_receipt(data, replayed=replayed, idempotency_key=idempotency_key)
        if self.verify_tee:
            self._tee.check_receipt(receipt, idempotency_key=idempotency_key)
        return receipt

    def _fetch_attestation_document(self, nonce: bytes) -> Mapping[str, object]:
        response = self._send("GET", "/v2/tee/attestation", "none", params={"nonce": nonce.hex()})
        return self._json_object(response)

    def _send(
        self,
        method: str,
        path: str,
        credential: Credential,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, str | int] | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        headers = {}
        token = self._credential(credential)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        try:
            response = self._http.request(method, path, json=json, params=params, headers=headers)
        except httpx.TransportError as exc:
            raise ConnectionFailed(
                f"{method} {path} got no answer from {self.base_url}: {exc!r}",
                idempotency_key=idempotency_key,
            ) from exc
        if response.is_success:
            return response
        raise _error(response, idempotency_key)

    def _credential(self, credential: Credential) -> str | None:
        if credential == "agent":
            if self._api_key is None:
                raise ValueError("this call needs the client's api_key")
            return self._api_key
        if credential == "admin":
            if self._admin_token is None:
                raise ValueError("this operator call needs the client's admin_token")
            return self._admin_token
        return None

    @staticmethod
    def _json_object(
        response: httpx.Response, *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError as exc:
            raise UnexpectedResponseError(
                f"{response.request.method} {response.request.url.path} answered "
                f"{response.status_code} without a JSON body",
                status=response.status_code,
                body=response.text,
                idempotency_key=idempotency_key,
            ) from exc
        if not isinstance(data, dict):
            raise UnexpectedResponseError(
                f"{response.request.url.path} answered JSON that is not an object",
                status=response.status_code,
                body=response.text,
                idempotency_key=idempotency_key,
            )
        return data


def _error(response: httpx.Response, idempotency_key: str | None) -> Exception:
    """The typed error for a non-2xx answer: ``ApiError`` for a problem, else unexpected."""
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    problem: object = None
    if content_type in (_PROBLEM_JSON, "application/json"):
        try:
            problem = response.json()
        except ValueError:
            problem = None
    if isinstance(problem, dict) and isinstance(problem.get("code"), str):
        return api_error(
            response.status_code,
            problem,
            idempotency_key=idempotency_key,
            retry_after=_retry_after(response.headers.get("retry-after")),
        )
    return UnexpectedResponseError(
        f"{response.request.method} {response.request.url.path} failed with HTTP "
        f"{response.status_code} and no problem+json body",
        status=response.status_code,
        body=response.text,
        idempotency_key=idempotency_key,
    )


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds; the HTTP-date form is ignored (the gateway sends seconds)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _amount(value: object) -> int:
    """Refuse anything but an int of minor units in 1..2^53-1, before it is sent."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(
            f"amount must be an int of minor units, not {type(value).__name__} ({value!r})"
        )
    if not 1 <= value <= MAX_AMOUNT:
        raise ValueError(f"amount must be between 1 and {MAX_AMOUNT} minor units, got {value}")
    return value


def _idempotency_key(key: str | None) -> str:
    if key is None:
        return str(uuid.uuid4())
    if not isinstance(key, str) or not _IDEMPOTENCY_KEY.fullmatch(key):
        raise ValueError("idempotency_key must be 8-255 printable ASCII characters, no spaces")
    return key


def _mapping(value: object) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise UnexpectedResponseError("a receipt must be a JSON object", status=200)
    return value


def _as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return None


def _expect(
    receipt: Receipt,
    idempotency_key: str,
    *,
    new_key: bool,
    amount: int,
    memo: str | None,
    **fields: str,
) -> None:
    """A correctly signed receipt must still describe the request that was sent.

    Catches a relay (proxy, compromised gateway) that changed the amount, memo,
    kind, accounts or (paid by id) payee before the payment core signed what it
    was given, or that answered with the genuine receipt of another request
    (the receipt carries the SHA-256 of the idempotency key it was posted under).
    """
    wanted: dict[str, object] = {"amount": amount, "memo": memo, **fields}
    if receipt.idempotency_key_sha256 is not None or not receipt.replayed or new_key:
        # Absent only on receipts signed before servers added it, so only a replay
        # of a payment that old may lack it: never a payment posted now, and
        # never an answer to a key made for this very call (nothing can replay
        # it). Otherwise it must be this request's key.
        wanted["idempotency_key_sha256"] = idempotency_key_digest(idempotency_key)
    got = {name: getattr(receipt, name) for name in wanted}
    if got != wanted:
        differing = sorted(name for name in wanted if got[name] != wanted[name])
        raise ReceiptMismatchError(
            f"receipt {receipt.payment_id} does not match the request ({', '.join(differing)}); "
            "the payment it describes may have happened",
            receipt=receipt,
            idempotency_key=idempotency_key,
        )
