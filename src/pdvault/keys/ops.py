"""Key operations outside a request, for the command line: rotate, rewrap, status, retire."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any

from pdvault.config import Settings
from pdvault.crypto.keyring import Keyring, KeyringError, load_keyring, write_keyring
from pdvault.crypto.provider import KeyUnavailableError
from pdvault.crypto.transit import TransitKeyProvider
from pdvault.db import make_engine, make_sessionmaker
from pdvault.keys.rotation import Usage, key_usage, pending_rewrap, rewrap


def _file_keyring(settings: Settings) -> Keyring:
    if settings.keys_json is not None:
        raise KeyringError(
            "the keyring comes from PDVAULT_KEYS_JSON: change it where it is kept, then restart"
        )
    return load_keyring(settings.keyring_path)


async def _transit(settings: Settings) -> TransitKeyProvider | None:
    if settings.key_provider != "transit":
        return None
    from pdvault.crypto.factory import open_key_provider

    provider = await open_key_provider(settings)
    if not isinstance(provider, TransitKeyProvider):  # chosen by key_provider: never
        raise KeyringError(f"key provider {provider.name} is not transit")
    return provider


async def rotate(settings: Settings) -> int:
    """Add a new KEK version and make it primary. A local keyring file is re-read by running
    workers within 1 s; transit rotates its key, and wraps use the new version at once."""
    transit = await _transit(settings)
    if transit is not None:
        try:
            return await transit.rotate()
        finally:
            await transit.close()
    rotated = _file_keyring(settings).rotated()
    write_keyring(settings.keyring_path, rotated, replace=True)
    return rotated.primary


async def usage_of(settings: Settings) -> Usage:
    """Data keys per KEK version, read in a short session of its own."""
    engine = make_engine(settings.effective_database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            usage = await key_usage(session)
            await session.rollback()
    finally:
        await engine.dispose()
    return usage


async def status(settings: Settings) -> dict[str, Any]:
    from pdvault.crypto.factory import open_key_provider

    keys = await open_key_provider(settings)
    engine = make_engine(settings.effective_database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            usage = await key_usage(session)
            waiting = await pending_rewrap(session, keys.primary_version)
            await session.rollback()
    finally:
        await engine.dispose()
        await keys.close()
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


def yield_cpu(niceness: int) -> None:
    """Lower this process's priority by ``niceness`` for the rest of its life (the command's
    own process; 0 leaves it as it is)."""
    if niceness <= 0:
        return
    with contextlib.suppress(AttributeError, OSError):  # no nice() here, or not allowed
        os.nice(niceness)


async def run_rewrap(
    settings: Settings,
    batch: int,
    on_start: Callable[[int], None] | None = None,
    progress: Callable[[int], None] | None = None,
    niceness: int = 0,
) -> int:
    """Re-wrap every data key under the primary version; how many moved. ``niceness``: how
    far to lower this process's CPU priority first (``pdvault keys rewrap`` lowers it by 10:
    the rewrap runs beside the servers and is in no hurry, so their requests keep the cores
    and it takes what they leave)."""
    from pdvault.crypto.factory import open_key_provider

    yield_cpu(niceness)
    keys = await open_key_provider(settings)
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
        await keys.close()


async def retire(settings: Settings, version: int) -> None:
    """Destroy a KEK version, refused while any data key is still wrapped under it.

    Transit can only archive from the oldest version up: ``version`` and all below it.
    """
    transit = await _transit(settings)
    if transit is not None and version >= transit.primary_version:
        await transit.close()
        raise KeyringError(f"key version {version} is the primary (or newer); rotate first")
    remaining = None if transit else _file_keyring(settings).without(version)
    usage = await usage_of(settings)
    doomed = [v for v in usage.by_version if v <= version] if transit else [version]
    in_use = sum(usage.total(v) for v in doomed)
    if in_use:
        if transit:
            await transit.close()
        raise KeyringError(
            f"key version {version} still wraps {in_use} data keys; run 'pdvault keys rewrap'"
        )
    if transit is not None:
        try:
            await transit.retire(version)
        except KeyUnavailableError as exc:
            raise KeyringError(str(exc)) from None
        finally:
            await transit.close()
        return
    if remaining is None:  # a local keyring always has its remaining versions
        raise KeyringError("no keyring versions left to write")
    write_keyring(settings.keyring_path, remaining, replace=True)
