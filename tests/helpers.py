"""Helpers shared by tests across capabilities: one copy each (fixtures stay in conftest)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import EllipsisType
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from pdvault.auth.tokens import hash_token, new_token
from pdvault.config import get_settings
from pdvault.db import utcnow
from pdvault.principals.models import Token

PROBLEM_JSON = "application/problem+json"


def assert_problem(
    r: httpx.Response,
    status: int,
    reason: str | EllipsisType | None = ...,
    *,
    errors: bool = False,
    absent: Iterable[str] = (),
) -> dict[str, Any]:
    """The response is an RFC 9457 problem of this status; returns its body.

    ``reason``: the denial reason the body must carry; None: it must carry none; left out: not
    looked at. ``errors``: the body lists field errors, each with ``loc`` and ``msg``.
    ``absent``: values (personal data, secrets) that must not appear anywhere in the response.
    """
    assert r.status_code == status, r.text
    content_type = r.headers["content-type"]
    assert content_type.split(";")[0].strip() == PROBLEM_JSON, content_type
    body: dict[str, Any] = r.json()
    assert {"type", "title", "status", "detail"} <= body.keys(), body
    assert body["status"] == status
    for member in ("type", "title"):
        assert isinstance(body[member], str), body
        assert body[member], body
    assert isinstance(body["detail"], str), body
    assert "Traceback" not in r.text
    if reason is not ...:
        assert body.get("reason") == reason, body
    if errors:
        assert body.get("errors"), body
        for err in body["errors"]:
            assert set(err) >= {"loc", "msg"}, err
    for value in absent:
        assert value not in r.text, value
    return body


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the moment of asking)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeClock:
    """A clock a test moves by hand, for the components that take one (``clock`` for seconds,
    ``now`` for wall time): both start at the real time and ``advance`` moves them together."""

    def __init__(self) -> None:
        self.seconds = time.monotonic()
        self.wall = utcnow()

    def __call__(self) -> float:
        return self.seconds

    def now(self) -> datetime:
        return self.wall

    def advance(self, seconds: float) -> None:
        self.seconds += seconds
        self.wall += timedelta(seconds=seconds)


def fake_clock(monkeypatch: pytest.MonkeyPatch, *components: Any) -> FakeClock:
    """One FakeClock handed to each component in place of its real clocks, for this test."""
    clock = FakeClock()
    for component in components:
        monkeypatch.setattr(component, "clock", clock)
        if hasattr(component, "now"):
            monkeypatch.setattr(component, "now", clock.now)
    return clock


async def insert_token(app: Any, principal_id: str, expires_in: timedelta) -> str:
    """A token of ``principal_id`` written straight into the database, expiring ``expires_in``
    from now (negative: already expired); returns the token."""
    token = new_token()
    async with app.state.runtime.sessions() as session:
        session.add(
            Token(
                id=uuid.uuid4(),
                principal_id=uuid.UUID(principal_id),
                token_hash=hash_token(token),
                created_at=utcnow() - timedelta(days=2),
                expires_at=utcnow() + expires_in,
            )
        )
        await session.commit()
    return token


# -- the pdvault command --------------------------------------------------------------------


@dataclass
class Result:
    """How a ``pdvault`` command ended: exit code, standard output, standard error."""

    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]

    @property
    def out_lines(self) -> list[str]:
        return [line for line in self.out.splitlines() if line.strip()]


def cli_env(base: Mapping[str, str] | None = None, **values: str) -> dict[str, str]:
    """The inherited environment without any PDVAULT_* variable, then only ``values``."""
    inherited = os.environ if base is None else base
    env = {k: v for k, v in inherited.items() if not k.startswith("PDVAULT_")}
    env.update(values)
    return env


def invoke_cli(*args: str, env: Mapping[str, str], cwd: Path | None = None) -> Result:
    """``pdvault ARGS`` run in this process (typer's runner on ``pdvault.cli.app``), seeing
    exactly the PDVAULT_* variables of ``env``: for tests of what a command does. Whether the
    installed entry point behaves the same (exit code, output streams) is ``spawn_cli``'s."""
    from pdvault.cli import app

    # Variables the command must not see are removed for the call, like a fresh process.
    hidden = {k: None for k in os.environ if k.startswith("PDVAULT_") and k not in env}
    get_settings.cache_clear()
    try:
        with contextlib.chdir(cwd) if cwd is not None else contextlib.nullcontext():
            outcome = CliRunner().invoke(
                app, list(args), env={**hidden, **env}, prog_name="pdvault"
            )
    finally:
        get_settings.cache_clear()
    if outcome.exception is not None and not isinstance(outcome.exception, SystemExit):
        raise outcome.exception
    return Result(outcome.exit_code, outcome.stdout, outcome.stderr)


def spawn_cli(
    *args: str, env: Mapping[str, str], cwd: Path | None = None, timeout: float = 120
) -> Result:
    """``python -m pdvault ARGS`` in a process of its own: the real entry point."""
    proc = subprocess.run(
        [sys.executable, "-m", "pdvault", *args],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


ROUTE_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


def walk_routes(routes: Iterable[Any], prefix: str = "") -> list[tuple[str, str]]:
    """(method, path) of every route of an app (``app.routes``), also those left out of the
    OpenAPI document, through FastAPI's lazily included routers."""
    from fastapi.routing import APIRoute

    out: list[tuple[str, str]] = []
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:  # FastAPI's lazily included router
            context = getattr(route, "include_context", None)
            out += walk_routes(included.routes, prefix + str(getattr(context, "prefix", "") or ""))
        elif isinstance(route, APIRoute):
            out += [(m, prefix + route.path) for m in (route.methods or set()) & ROUTE_METHODS]
    return out
