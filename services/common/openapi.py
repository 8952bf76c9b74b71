"""OpenAPI helpers shared by every HTTP service: errors documented as problem+json."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

ProblemResponses = Callable[..., dict[int | str, dict[str, Any]]]


class ProblemDetails(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    instance: str
    code: str


def problem_responses_for(descriptions: Mapping[int, str]) -> ProblemResponses:
    """`problem_responses(401, 409)` for a route, with this service's descriptions."""

    def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
        return {
            status: {
                "model": ProblemDetails,
                "description": descriptions.get(status, "error"),
                "content": {"application/problem+json": {}},
            }
            for status in statuses
        }

    return problem_responses
