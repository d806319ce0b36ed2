"""Key operations outside a request, for the command line: rotate, rewrap, status, retire."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pdvault.config import Settings
from pdvault.crypto.keyring import Keyring, KeyringError, load_keyring, write_keyring
from pdvault.db import make_engine, make_sessionmaker
from pdvault.keys.rotation import key_usage, pending_rewrap, rewrap


def _file_keyring(settings: Settings) -> Keyring:
    if settings.keys_json is not None:
        raise KeyringError(
            "the keyring comes from PDVAULT_KEYS_JSON: change it where it is kept, then restart"
        )
    return load_keyring(settings.keyring_path)


def rotate(settings: Settings) -> int:
    """Add a new KEK version and make it primary; running workers pick it up within 1 s."""
    rotated = _file_keyring(settings).rotated()
    write_keyring(settings.keyring_path, rotated, replace=True)
    return rotated.primary


async def status(settings: Settings) -> dict[str, Any]:
    from pdvault.main import load_key_provider

    keys = load_key_provider(settings)
    engine = make_engine(settings.effective_database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            usage = await key_usage(session)
            waiting = await pending_rewrap(session, keys.primary_version)
            await session.rollback()
    finally:
        await engine.dispose()
    versions = sorted(set(keys.versions()) | set(usage.by_version))
    return {
        "provider": keys.name,
        "primary": keys.primary_version,
        "to_rewrap": waiting,
        "versions": [
            {
                "version": v,
                "primary": v == keys.primary_version,
                "held": v in keys.versions(),
                "data_keys": usage.total(v),
                "by_table": usage.by_version.get(v, {}),
            }
            for v in versions
        ],
    }


async def run_rewrap(
    settings: Settings,
    batch: int,
    on_start: Callable[[int], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    from pdvault.main import load_key_provider

    keys = load_key_provider(settings)
    engine = make_engine(settings.effective_database_url, pool_size=2)
    try:
        sessions = make_sessionmaker(engine)
        if on_start is not None:
            async with sessions() as session:
                on_start(await pending_rewrap(session, keys.primary_version))
                await session.rollback()
        return await rewrap(sessions, keys, batch=batch, progress=progress)
    finally:
        await engine.dispose()


async def retire(settings: Settings, version: int) -> None:
    """Destroy a KEK version, refused while any data key is still wrapped under it."""
    remaining = _file_keyring(settings).without(version)  # refuses the primary, unknowns
    engine = make_engine(settings.effective_database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            in_use = (await key_usage(session)).total(version)
            await session.rollback()
    finally:
        await engine.dispose()
    if in_use:
        raise KeyringError(
            f"key version {version} still wraps {in_use} data keys; run 'pdvault keys rewrap'"
        )
    write_keyring(settings.keyring_path, remaining, replace=True)
