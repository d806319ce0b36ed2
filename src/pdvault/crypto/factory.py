"""Which key provider the settings name, opened ready for use: the one place the server, the
command line and every job outside a request get their keys from."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pdvault.config import Settings
from pdvault.crypto.envelope import DecryptionError
from pdvault.crypto.keyring import KeyringError
from pdvault.crypto.provider import KeyProvider, KeyUnavailableError, LocalKeyProvider


def load_key_provider(settings: Settings) -> KeyProvider:
    """Raises ``KeyringError`` with one clear line when the keys cannot be used.

    A provider must be ``await prepare()``-d before use (``open_key_provider`` does both).
    """
    if settings.key_provider == "transit":
        from pdvault.crypto.transit import TransitKeyProvider

        token = settings.transit.token
        if token is None:
            raise KeyringError("key provider is transit but PDVAULT_TRANSIT__TOKEN is not set")
        return TransitKeyProvider(
            settings.transit.addr,
            token.get_secret_value(),
            key=settings.transit.key,
            mount=settings.transit.mount,
        )
    if settings.keys_json is not None:
        return LocalKeyProvider.from_json(settings.keys_json.get_secret_value())
    return LocalKeyProvider.from_file(settings.keyring_path)


async def open_key_provider(settings: Settings) -> KeyProvider:
    """A provider ready for use; a transit server that cannot be used is a ``KeyringError``."""
    provider = load_key_provider(settings)
    try:
        await provider.prepare()
    except (KeyUnavailableError, DecryptionError) as exc:
        await provider.close()
        raise KeyringError(f"key provider {provider.name} unusable: {exc}") from None
    return provider


@asynccontextmanager
async def opened_key_provider(settings: Settings) -> AsyncIterator[KeyProvider]:
    """``open_key_provider`` for the length of a job, closed after it (transit: its client)."""
    provider = await open_key_provider(settings)
    try:
        yield provider
    finally:
        await provider.close()
