"""Helpers shared by tests across capabilities: one copy each (fixtures stay in conftest)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from types import EllipsisType
from typing import Any

import httpx
import pytest

from pdvault.db import utcnow

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
