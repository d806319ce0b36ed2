"""Key providers: where key-encryption keys live. Callers see only this interface.

A KMS provider (OpenBao / Vault transit, a cloud KMS) implements the same protocol; wrapping
and unwrapping are async because such a provider makes a network call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from uuid import UUID

from pdvault.crypto.envelope import DecryptionError, seal, seal_many, unseal, unseal_many
from pdvault.crypto.keyring import Keyring, KeyringError, load_keyring, parse_keyring
from pdvault.errors import StorageFault


class KeyUnavailableError(StorageFault):
    """A key version needed to unwrap a data key is not held by the provider."""


@dataclass(frozen=True)
class WrappedKey:
    version: int
    blob: bytes


def data_key_context(customer_id: UUID, version: int) -> bytes:
    return b"pdvault/dek|%d|%s" % (version, customer_id.hex.encode())


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_ino)


class KeyProvider(Protocol):
    name: str

    @property
    def primary_version(self) -> int: ...

    def versions(self) -> list[int]: ...

    def index_key(self) -> bytes: ...

    def signing_seed(self) -> bytes: ...

    async def wrap_data_key(self, data_key: bytes, owner: UUID) -> WrappedKey: ...

    async def unwrap_data_key(self, wrapped: WrappedKey, owner: UUID) -> bytes: ...

    async def wrap_data_keys(self, items: Sequence[tuple[bytes, UUID]]) -> list[WrappedKey]:
        """(data key, owner) pairs wrapped under the primary, in order (rewrap's batches). A
        provider with no batch call of its own loops over ``wrap_data_key``."""
        ...

    async def unwrap_data_keys(self, items: Sequence[tuple[WrappedKey, UUID]]) -> list[bytes]:
        """(wrapped key, owner) pairs unwrapped, in order; any failure raises for the whole
        batch. A provider with no batch call of its own loops over ``unwrap_data_key``."""
        ...

    async def prepare(self) -> None:
        """Anything a provider must fetch before use (called once, at start)."""

    async def refresh(self) -> None:
        """Look again at which versions exist and which is primary."""

    async def close(self) -> None: ...


class LocalKeyProvider:
    """KEKs from a local keyring (a 0600 file, or JSON passed in the environment).

    A file-backed keyring is re-read when it changes (looked at no more than once a second,
    and at once when a key version is missing), so ``pdvault keys rotate`` takes effect in
    every running worker without a restart.
    """

    name = "local"
    RELOAD_SECONDS = 1.0

    def __init__(
        self,
        keyring: Keyring,
        path: Path | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._keyring = keyring
        self._path = path
        self._stamp = _stamp(path) if path is not None else None
        self.clock = clock  # when to look at the file again (a test advances a fake one)
        self._checked = clock()

    @classmethod
    def from_file(cls, path: object) -> LocalKeyProvider:
        location = Path(str(path))
        return cls(load_keyring(location), location)

    @classmethod
    def from_json(cls, text: str) -> LocalKeyProvider:
        return cls(parse_keyring(text))

    def _refresh(self, force: bool = False) -> None:
        if self._path is None:
            return
        now = self.clock()
        if not force and now - self._checked < self.RELOAD_SECONDS:
            return
        self._checked = now
        stamp = _stamp(self._path)
        if stamp == self._stamp:
            return
        try:
            self._keyring = load_keyring(self._path)
        except KeyringError:
            return  # a half-written or broken file: keep serving with the keys held
        self._stamp = stamp

    @property
    def primary_version(self) -> int:
        self._refresh()
        return self._keyring.primary

    def versions(self) -> list[int]:
        self._refresh()
        return sorted(self._keyring.keks)

    def index_key(self) -> bytes:
        return self._keyring.index_key

    def signing_seed(self) -> bytes:
        return self._keyring.signing_seed

    async def wrap_data_key(self, data_key: bytes, owner: UUID) -> WrappedKey:
        self._refresh()
        version = self._keyring.primary
        kek = self._keyring.keks[version]
        return WrappedKey(version, seal(kek, data_key, data_key_context(owner, version)))

    def _kek(self, version: int) -> bytes:
        kek = self._keyring.keks.get(version)
        if kek is None:
            self._refresh(force=True)  # rotated elsewhere moments ago?
            kek = self._keyring.keks.get(version)
        if kek is None:
            raise KeyUnavailableError(f"key version {version} is not in the keyring")
        return kek

    async def unwrap_data_key(self, wrapped: WrappedKey, owner: UUID) -> bytes:
        kek = self._kek(wrapped.version)
        return unseal(kek, wrapped.blob, data_key_context(owner, wrapped.version))

    async def wrap_data_keys(self, items: Sequence[tuple[bytes, UUID]]) -> list[WrappedKey]:
        # Synchronous and in one go: a local wrap is a few microseconds of AES-GCM, less than
        # the await it would otherwise cost per key.
        self._refresh()
        version = self._keyring.primary
        blobs = seal_many(
            self._keyring.keks[version],
            ((data_key, data_key_context(owner, version)) for data_key, owner in items),
        )
        return [WrappedKey(version, blob) for blob in blobs]

    async def unwrap_data_keys(self, items: Sequence[tuple[WrappedKey, UUID]]) -> list[bytes]:
        positions: dict[int, list[int]] = {}
        for i, (wrapped, _owner) in enumerate(items):
            positions.setdefault(wrapped.version, []).append(i)
        opened: list[bytes] = [b""] * len(items)
        for version, where in positions.items():
            pairs = [(items[i][0].blob, data_key_context(items[i][1], version)) for i in where]
            for i, data_key in zip(where, unseal_many(self._kek(version), pairs), strict=True):
                opened[i] = data_key
        return opened

    async def prepare(self) -> None:
        return None

    async def refresh(self) -> None:
        self._refresh(force=True)

    async def close(self) -> None:
        return None

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
