"""Liveness (the process answers) and readiness (the database answers)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get

from service.core.database import Pool
from service.core.problems import problem_responses, unavailable


class Health(msgspec.Struct):
    status: str


@get(
    "/health/live",
    operation_id="live",
    tags=["health"],
    summary="Is the process up",
    description="Always 200 while the process serves requests; does not touch the database.",
)
async def live() -> Health:
    return Health("ok")


@get(
    "/health/ready",
    operation_id="ready",
    tags=["health"],
    summary="Can the service reach its database",
    description="200 when a pooled connection answers `select 1` within a second, else 503.",
    responses=problem_responses(),
)
async def ready(request: Request[Any, Any, Any]) -> Health:
    pool: Pool = request.app.state.pool
    try:
        async with pool.acquire(timeout=1.0) as conn:
            await conn.fetchval("select 1", timeout=1.0)
    except Exception as exc:
        raise unavailable() from exc
    return Health("ok")
