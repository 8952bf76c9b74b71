"""Calls from the gateway to internal services (billing, key_server) over HTTP.

Authenticated with the shared service token. Their problem+json answers pass
through to the agent unchanged (same status, same `code`); a service that
cannot be reached is 503 `<service>_unavailable`, never a silent success.
"""

from __future__ import annotations

from typing import Any

import httpx

from services.common.problems import Problem

FORWARDED_HEADERS = ("Idempotent-Replayed", "Retry-After")


class InternalService:
    def __init__(self, name: str, base_url: str, token: str, timeout: float = 30.0) -> None:
        self.name = name
        self.client = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """(body, forwarded headers) of a 2xx answer; a Problem otherwise. `timeout`
        shortens the client's own for a call whose answer is only nice to have."""
        try:
            response = await self.client.request(
                method,
                path,
                json=json,
                headers=headers,
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.HTTPError as exc:
            raise Problem(
                503, f"{self.name}_unavailable", f"the {self.name} service cannot be reached: {exc}"
            ) from None
        forwarded = {h: response.headers[h] for h in FORWARDED_HEADERS if h in response.headers}
        if response.is_success:
            try:
                body: dict[str, Any] = response.json()
            except ValueError:  # a broken or impostor service: nothing to forward
                raise Problem(
                    503,
                    f"{self.name}_unavailable",
                    f"the {self.name} service answered {response.status_code} without JSON",
                ) from None
            return body, forwarded
        raise _problem_from(self.name, response, forwarded)

    async def close(self) -> None:
        await self.client.aclose()


def _problem_from(name: str, response: httpx.Response, headers: dict[str, str]) -> Problem:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict) or "code" not in body:
        return Problem(502, f"{name}_error", f"the {name} service answered {response.status_code}")
    extra = {
        k: v
        for k, v in body.items()
        if k not in ("type", "title", "status", "detail", "instance", "code", "request_id")
    }
    problem = Problem(response.status_code, body["code"], body.get("detail", ""), **extra)
    problem.headers.update(headers)
    return problem
