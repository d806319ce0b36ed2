"""Public endpoints: liveness, readiness, metrics, and the policy itself (R5.1)."""

from __future__ import annotations

import uuid
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text
from starlette.responses import Response

from pdvault.config import Controller
from pdvault.deps import RuntimeDep
from pdvault.errors import ServiceUnavailable
from pdvault.openapi_docs import problems
from pdvault.policy import RULES

router = APIRouter(tags=["public"])


class Health(BaseModel):
    status: str


class PurposeOut(BaseModel):
    purpose: str
    roles: list[str]
    fields: list[str]
    access: list[str]
    condition: str
    legal: bool
    description: str


class PolicyOut(BaseModel):
    controller: Controller
    policy_version: str
    purposes: list[PurposeOut]
    text: str


@router.get("/healthz", response_model=Health, summary="The process is alive")
async def check_health() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    summary="Database and keys usable, else 503",
    responses=problems(503),
)
async def check_readiness(runtime: RuntimeDep) -> Health:
    try:
        async with runtime.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        probe = uuid.UUID(int=0)
        wrapped = await runtime.keys.wrap_data_key(b"\0" * 32, probe)
        await runtime.keys.unwrap_data_key(wrapped, probe)
    except Exception:
        raise ServiceUnavailable(
            "Not ready: the database or the key provider is unavailable.",
            headers={"Retry-After": "1"},
        ) from None
    return Health(status="ready")


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {
            "description": "The metrics in Prometheus' text exposition format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def read_metrics(runtime: RuntimeDep) -> Response:
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@lru_cache(maxsize=4)
def _policy_text(path: str | None) -> str:
    if path:
        return Path(path).read_text(encoding="utf-8")
    return (files("pdvault.policy") / "text" / "privacy-policy.vi.txt").read_text("utf-8")


def purposes() -> list[PurposeOut]:
    return [
        PurposeOut(
            purpose=rule.purpose.value,
            roles=sorted(r.value for r in rule.roles),
            fields=list(rule.fields),
            access=sorted(a.value for a in rule.access),
            condition=rule.condition.value,
            legal=rule.legal,
            description=rule.description,
        )
        for rule in RULES.values()
    ]


@router.get("/v1/policy", response_model=PolicyOut, summary="The controller, policy and rules")
async def read_policy(runtime: RuntimeDep) -> dict[str, Any]:
    settings = runtime.settings
    text_path = str(settings.policy_text_file) if settings.policy_text_file else None
    return {
        "controller": settings.controller,
        "policy_version": settings.policy_version,
        "purposes": purposes(),
        "text": _policy_text(text_path),
    }
