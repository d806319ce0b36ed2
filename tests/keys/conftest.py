"""Fixtures for the key-rotation tests: a keyring file that rotation can change, and a shop
(the app in-process, with a token per role) that creates and reads customers through the API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pdvault.config import Settings
from pdvault.crypto.keyring import Keyring, write_keyring
from pdvault.keys.ops import usage_of
from pdvault.main import create_app
from pdvault.policy import Role
from pdvault.principals import service as principals
from pdvault.principals.schemas import PrincipalIn
from tests.conftest import customer_body, truncate_all


@pytest.fixture
def keyed_settings(database_url: str, tmp_path: Path, keyring: Keyring) -> Settings:
    """Settings whose keys come from a keyring file (so rotation has a file to change)."""
    path = tmp_path / "keyring.json"
    write_keyring(path, keyring)
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        keyring=path,
        _env_file=None,  # type: ignore[call-arg]
    )


class Shop:
    def __init__(self, app: Any, client: httpx.AsyncClient, headers: dict[str, dict[str, str]]):
        self.app, self.client, self.headers = app, client, headers

    async def create(self, n: int) -> list[str]:
        ids: list[str] = []
        for start in range(0, n, 1000):
            items = [customer_body() for _ in range(min(1000, n - start))]
            r = await self.client.post(
                "/v1/customers/batch", json={"items": items}, headers=self.headers["storefront"]
            )
            assert r.status_code == 200, r.text
            ids += [x["id"] for x in r.json()["results"] if x["status"] == 201]
        return ids

    async def read(self, cid: str) -> httpx.Response:
        return await self.client.get(
            f"/v1/customers/{cid}",
            params={"purpose": "order_confirmation"},
            headers=self.headers["employee"],
        )


@pytest.fixture
async def shop(keyed_settings: Settings, database_url: str) -> AsyncIterator[Shop]:
    await truncate_all(database_url)
    app = create_app(keyed_settings)
    async with app.router.lifespan_context(app):
        headers: dict[str, dict[str, str]] = {}
        async with app.state.runtime.sessions() as session:
            for role in ("storefront", "employee", "admin"):
                p = await principals.create_principal(
                    session, PrincipalIn(name=f"rot-{role}", role=Role(role))
                )
                issued = await principals.issue_token(session, p, 1)
                headers[role] = {"Authorization": f"Bearer {issued.token}"}
            await session.commit()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield Shop(app, c, headers)


async def usage(settings: Settings) -> dict[int, int]:
    found = await usage_of(settings)
    return {v: found.total(v) for v in found.by_version}
