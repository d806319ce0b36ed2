"""Key providers: where key-encryption keys live. Callers see only this interface.

A KMS provider (OpenBao / Vault transit, a cloud KMS) implements the same protocol; wrapping
and unwrapping are async because such a provider makes a network call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from pdvault.crypto.envelope import DecryptionError, seal, unseal
from pdvault.crypto.keyring import Keyring, KeyringError, load_keyring, parse_keyring


class KeyUnavailableError(Exception):
    """A key version needed to unwrap a data key is not held by the provider."""


@dataclass(frozen=True)
class WrappedKey:
    version: int
    blob: bytes


def data_key_context(customer_id: UUID, version: int) -> bytes:
    return b"pdvault/dek|%d|%s" % (version, customer_id.hex.encode())


class KeyProvider(Protocol):
    name: str

    @property
    def primary_version(self) -> int: ...

    def versions(self) -> list[int]: ...

    def index_key(self) -> bytes: ...

    def signing_seed(self) -> bytes: ...

    async def wrap_data_key(self, data_key: bytes, owner: UUID) -> WrappedKey: ...

    async def unwrap_data_key(self, wrapped: WrappedKey, owner: UUID) -> bytes: ...


class LocalKeyProvider:
    """KEKs from a local keyring (a 0600 file, or JSON passed in the environment)."""

    name = "local"

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring

    @classmethod
    def from_file(cls, path: object) -> LocalKeyProvider:
        from pathlib import Path

        return cls(load_keyring(Path(str(path))))

    @classmethod
    def from_json(cls, text: str) -> LocalKeyProvider:
        return cls(parse_keyring(text))

    @property
    def primary_version(self) -> int:
        return self._keyring.primary

    def versions(self) -> list[int]:
        return sorted(self._keyring.keks)

    def index_key(self) -> bytes:
        return self._keyring.index_key

    def signing_seed(self) -> bytes:
        return self._keyring.signing_seed

    async def wrap_data_key(self, data_key: bytes, owner: UUID) -> WrappedKey:
        version = self._keyring.primary
        kek = self._keyring.keks[version]
        return WrappedKey(version, seal(kek, data_key, data_key_context(owner, version)))

    async def unwrap_data_key(self, wrapped: WrappedKey, owner: UUID) -> bytes:
        kek = self._keyring.keks.get(wrapped.version)
        if kek is None:
            raise KeyUnavailableError(f"key version {wrapped.version} is not in the keyring")
        return unseal(kek, wrapped.blob, data_key_context(owner, wrapped.version))

    def __repr__(self) -> str:
        return f"LocalKeyProvider({self._keyring!r})"


__all__ = [
    "DecryptionError",
    "KeyProvider",
    "KeyUnavailableError",
    "KeyringError",
    "LocalKeyProvider",
    "WrappedKey",
]
