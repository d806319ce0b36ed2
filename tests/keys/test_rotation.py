"""Key rotation: rotate makes a new KEK version primary at once, rewrap moves every data key
to it in batches while reads go on, survives ``kill -9``, and a version still in use cannot be
destroyed. Against a real keyring file, on each engine."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
import time

import httpx
import pytest

from pdvault.config import Settings
from pdvault.crypto.keyring import Keyring, KeyringError, load_keyring
from pdvault.crypto.provider import LocalKeyProvider
from pdvault.keys import ops
from pdvault.main import create_app
from tests.helpers import cli_env, fake_clock, invoke_cli
from tests.keys.conftest import Shop, usage


async def test_rotate_and_rewrap_under_reads_lose_none(
    shop: Shop, keyed_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = fake_clock(monkeypatch, shop.app.state.runtime.keys)
    ids = await shop.create(300)
    assert await usage(keyed_settings) == {1: 300}
    stop = asyncio.Event()
    outcomes: list[int] = []
    enough, wanted = asyncio.Event(), [0]

    async def reader() -> None:
        while not stop.is_set():
            r = await shop.read(random.choice(ids))
            outcomes.append(r.status_code)
            if len(outcomes) >= wanted[0]:
                enough.set()

    async def reads_go_on() -> None:
        """Until the readers have done a few more reads (instead of waiting a set time)."""
        wanted[0] = len(outcomes) + 30
        enough.clear()
        await enough.wait()

    readers = [asyncio.create_task(reader()) for _ in range(4)]
    await reads_go_on()
    assert await ops.rotate(keyed_settings) == 2
    clock.advance(LocalKeyProvider.RELOAD_SECONDS)  # the app's provider re-reads the file
    newcomers = await shop.create(20)
    moved = await ops.run_rewrap(keyed_settings, batch=7)
    assert moved == 300
    assert await usage(keyed_settings) == {2: 320}
    await ops.retire(keyed_settings, 1)
    assert sorted(load_keyring(keyed_settings.keyring_path).keks) == [2]
    clock.advance(LocalKeyProvider.RELOAD_SECONDS)  # the app now holds only version 2
    await reads_go_on()
    stop.set()
    await asyncio.gather(*readers)
    assert len(outcomes) > 50
    assert set(outcomes) == {200}, f"failed reads: {[c for c in outcomes if c != 200][:5]}"
    # A fresh process holding only version 2 reads every customer.
    fresh = create_app(keyed_settings)
    async with fresh.router.lifespan_context(fresh):
        transport = httpx.ASGITransport(app=fresh)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            again = Shop(fresh, c, shop.headers)
            for cid in [*ids, *newcomers]:
                assert (await again.read(cid)).status_code == 200
            r = await c.get("/v1/admin/keys", headers=shop.headers["admin"])
            assert r.json()["primary_version"] == 2
            assert [(v["version"], v["customer_keys"]) for v in r.json()["versions"]] == [(2, 320)]


async def test_a_version_in_use_cannot_be_destroyed(shop: Shop, keyed_settings: Settings) -> None:
    await shop.create(5)
    with pytest.raises(KeyringError, match="primary"):
        await ops.retire(keyed_settings, 1)
    await ops.rotate(keyed_settings)
    with pytest.raises(KeyringError, match="still wraps 5 data keys"):
        await ops.retire(keyed_settings, 1)
    assert sorted(load_keyring(keyed_settings.keyring_path).keks) == [1, 2]
    with pytest.raises(KeyringError, match="not in the keyring"):
        await ops.retire(keyed_settings, 7)
    report = await ops.status(keyed_settings)
    assert report["primary"] == 2
    assert report["to_rewrap"] == 5
    assert [(v["version"], v["data_keys"]) for v in report["versions"]] == [(1, 5), (2, 0)]


async def test_rotation_refuses_keys_from_the_environment(
    keyed_settings: Settings, keyring: Keyring
) -> None:
    from pydantic import SecretStr

    env_keys = keyed_settings.model_copy(update={"keys_json": SecretStr(keyring.to_json())})
    with pytest.raises(KeyringError, match="PDVAULT_KEYS_JSON"):
        await ops.rotate(env_keys)


def env_of(settings: Settings) -> dict[str, str]:
    return cli_env(
        PDVAULT_DATABASE_URL=settings.effective_database_url,
        PDVAULT_KEYRING=str(settings.keyring_path),
        PDVAULT_DATA_DIR=str(settings.data_dir),
    )


async def test_rewrap_resumes_after_kill_9(
    shop: Shop, keyed_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = fake_clock(monkeypatch, shop.app.state.runtime.keys)
    ids = await shop.create(2000)
    env = env_of(keyed_settings)
    interrupted = False
    for _attempt in range(3):
        primary = await ops.rotate(keyed_settings)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "pdvault", "keys", "rewrap", "--batch", "5", "--quiet"),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.returncode is None:
            if (await usage(keyed_settings)).get(primary, 0) > 0:
                break
            await asyncio.sleep(0.01)
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
            await asyncio.wait_for(proc.wait(), 10)
            done = (await usage(keyed_settings)).get(primary, 0)
            if 0 < done < len(ids):
                interrupted = True
                break
        await asyncio.wait_for(proc.wait(), 60)
    assert interrupted, "rewrap finished before it could be killed, three times"
    # The killed run needed a process of its own; the run that carries it on and the status
    # after it are the commands' behaviour, run in this process.
    # --niceness 0: in this process, the command must not lower the test run's priority.
    result = await asyncio.to_thread(
        invoke_cli, "keys", "rewrap", "--quiet", "--niceness", "0", env=env
    )
    assert result.code == 0, result.err
    assert result.out.startswith("rewrapped ")
    assert await usage(keyed_settings) == {primary: 2000}
    clock.advance(LocalKeyProvider.RELOAD_SECONDS)  # the app re-reads the rotated keyring
    for cid in random.sample(ids, 100):
        assert (await shop.read(cid)).status_code == 200
    status = await asyncio.to_thread(invoke_cli, "keys", "status", env=env)
    assert status.code == 0, status.err
    assert "0 data keys wait" in status.out
