"""Billing's HTTP client of the key server (service token): chains and charges.

Billing never reads the key server's schema (DESIGN.md rule 4); it asks over
HTTP. Outcomes are sorted in two: a definite refusal (404, 409, 422: nothing
was created) is `KeyServerRefused` with the key server's status and code; a
transport error, a 5xx, or a 401/403 (our token is wrong: a configuration
fault, not the agent's) is `KeyServerUnavailable`, after which the charge may
or may not exist, so the caller keeps its intent and retries with the same
Idempotency-Key.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from services.billing.errors import (
    ChainDisabled,
    KeyServerRefused,
    KeyServerUnavailable,
    UnknownChain,
)
from services.common.clock import parse_rfc3339

log = logging.getLogger("sealpay.billing.key_server")

_PROBLEM_MEMBERS = ("type", "title", "status", "detail", "instance", "code", "request_id")


@dataclass(frozen=True)
class Chain:
    id: str
    asset: str
    confirmations: int


@dataclass(frozen=True)
class KeyServerCharge:
    charge_id: uuid.UUID
    chain: str
    address: str
    amount: int
    reference: str
    expires_at: datetime
    status: str


@dataclass(frozen=True)
class ChargeRequest:
    """What billing asks the key server for; identical on every retry of one invoice."""

    chain: str
    amount: int
    reference: str
    expires_in: int
    callback_url: str
    idempotency_key: str

    def body(self) -> dict[str, Any]:
        return {
            "chain": self.chain,
            "amount": self.amount,
            "reference": self.reference,
            "expires_in": self.expires_in,
            "callback_url": self.callback_url,
        }


class KeyServerClient:
    def __init__(self, base_url: str, service_token: str, timeout_seconds: float) -> None:
        self.http = httpx.AsyncClient(
            base_url=base_url,
            headers={
                "Authorization": f"Bearer {service_token}",
                "user-agent": "sealpay-billing/1 (key server)",
            },
            timeout=timeout_seconds,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def chain(self, chain_id: str) -> Chain:
        """The chain a charge would be on: 404 unknown_chain (deleted included),
        409 chain_disabled."""
        body = await self._call("GET", "/chains")
        for item in body.get("chains", []):
            if item.get("id") != chain_id:
                continue
            if not item.get("enabled", False):
                raise ChainDisabled(f"chain {chain_id} is disabled", chain=chain_id)
            return Chain(str(item["id"]), str(item["asset"]), int(item["confirmations"]))
        raise UnknownChain(f"no chain {chain_id!r} on the key server", chain=chain_id)

    async def create_charge(self, request: ChargeRequest) -> KeyServerCharge:
        """POST /charges with the invoice's Idempotency-Key: a retry returns the same charge."""
        body = await self._call(
            "POST",
            "/charges",
            json=request.body(),
            headers={"Idempotency-Key": request.idempotency_key},
        )
        try:
            charge = KeyServerCharge(
                charge_id=uuid.UUID(str(body["charge_id"])),
                chain=str(body["chain"]),
                address=str(body["address"]),
                amount=int(body["amount"]),
                reference=str(body["reference"]),
                expires_at=parse_rfc3339(str(body["expires_at"])),
                status=str(body["status"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise KeyServerUnavailable(
                f"the key server answered an unreadable charge: {exc}"
            ) from None
        if (charge.chain, charge.amount, charge.reference) != (
            request.chain,
            request.amount,
            request.reference,
        ):
            # Never hand out an address for another amount than the invoice's.
            raise KeyServerUnavailable(
                "the key server answered a charge that does not match the request",
                charge_id=str(charge.charge_id),
            )
        return charge

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        try:
            response = await self.http.request(method, path, json=json, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("billing.key_server.unreachable", extra={"path": path, "error": str(exc)})
            raise KeyServerUnavailable(
                f"the key server cannot be reached ({type(exc).__name__}); nothing was charged"
            ) from None
        if response.is_success:
            try:
                found: dict[str, Any] = response.json()
            except ValueError:
                raise KeyServerUnavailable("the key server answered something not JSON") from None
            return found
        problem = _problem(response)
        status = response.status_code
        if status in (401, 403) or status >= 500 or problem is None:
            log.error(
                "billing.key_server.failed",
                extra={"path": path, "status_code": status, "code": (problem or {}).get("code")},
            )
            raise KeyServerUnavailable(f"the key server answered {status}; nothing was charged")
        extra = {k: v for k, v in problem.items() if k not in _PROBLEM_MEMBERS}
        detail = str(problem.get("detail", ""))
        raise KeyServerRefused(status, str(problem["code"]), detail, **extra)


def _problem(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict) or "code" not in body:
        return None
    return body
