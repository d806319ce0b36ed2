"""An external key provider: OpenBao / HashiCorp Vault transit wraps and unwraps data keys.

The key-encryption keys never leave the transit server. A wrapped data key is transit's own
ciphertext (``vault:v<N>:…``), bound by associated data to its owner, and stored as bytes;
``N`` is the KEK version pdvault records. The blind-index key and the log-signing seed are
HMACs computed by transit over fixed labels under version 1 of a second key (``<key>-secrets``,
never rotated nor retired: transit refuses an HMAC under an archived version): every host
derives the same secrets, and none of them is ever written to disk.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import httpx

from pdvault.crypto.envelope import DecryptionError
from pdvault.crypto.provider import KeyUnavailableError, WrappedKey

INDEX_LABEL = b"pdvault/index-key/v1"
SIGNING_LABEL = b"pdvault/signing-seed/v1"
SECRET_VERSION = 1
# Data keys per transit request in the batch calls. OpenBao refuses a JSON body holding too
# many strings ("high complexity": 250 items of 4 strings each already are, by default).
BATCH_ITEMS = 100


def transit_context(owner: UUID) -> bytes:
    return b"pdvault/dek|transit|%s" % owner.hex.encode()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def ciphertext_version(ciphertext: str) -> int:
    prefix, _, rest = ciphertext.partition(":v")
    version, sep, _ = rest.partition(":")
    if prefix != "vault" or not sep or not version.isdigit():
        raise DecryptionError("not a transit ciphertext")
    return int(version)


class TransitKeyProvider:
    """KEKs in an OpenBao / Vault transit key. Call ``prepare()`` once before use."""

    name = "transit"

    def __init__(
        self, address: str, token: str, key: str = "pdvault", mount: str = "transit"
    ) -> None:
        self._base = f"{address.rstrip('/')}/v1/{mount.strip('/')}"
        self._key = key
        self._secrets_key = f"{key}-secrets"
        self._client = httpx.AsyncClient(headers={"X-Vault-Token": token}, timeout=5.0)
        self._latest = 0
        self._versions: list[int] = []
        self._index_key = b""
        self._signing_seed = b""

    def __repr__(self) -> str:
        return f"TransitKeyProvider(key={self._key!r}, versions={self._versions})"

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            response = await self._client.request(method, f"{self._base}/{path}", json=body)
        except httpx.HTTPError as exc:
            raise KeyUnavailableError(f"transit unreachable ({type(exc).__name__})") from None
        if response.status_code == 400 and "authentication failed" in response.text:
            raise DecryptionError("transit refused the ciphertext")
        if response.status_code >= 300:
            raise KeyUnavailableError(f"transit answered {response.status_code}")
        if not response.content:
            return {}
        return response.json().get("data") or {}

    async def prepare(self) -> None:
        await self.refresh()
        self._index_key = await self._derive(INDEX_LABEL)
        self._signing_seed = await self._derive(SIGNING_LABEL)

    async def ensure_keys(self) -> None:
        """Create the two transit keys if absent (``pdvault init``); existing ones stay."""
        for name in (self._key, self._secrets_key):
            await self._call("POST", f"keys/{name}", {"type": "aes256-gcm96"})

    async def refresh(self) -> None:
        info = await self._call("GET", f"keys/{self._key}")
        self._latest = int(info["latest_version"])
        self._versions = sorted(int(v) for v in info.get("keys", {}))

    async def close(self) -> None:
        await self._client.aclose()

    async def _derive(self, label: bytes) -> bytes:
        data = await self._call(
            "POST",
            f"hmac/{self._secrets_key}",
            {"input": _b64(label), "key_version": SECRET_VERSION},
        )
        try:
            return base64.b64decode(str(data["hmac"]).split(":", 2)[2], validate=True)
        except (KeyError, IndexError, binascii.Error):
            raise KeyUnavailableError("transit returned a malformed HMAC") from None

    @property
    def primary_version(self) -> int:
        return self._latest

    def versions(self) -> list[int]:
        return list(self._versions)

    def index_key(self) -> bytes:
        return self._index_key

    def signing_seed(self) -> bytes:
        return self._signing_seed

    def _wrapped(self, data: Any) -> WrappedKey:
        try:
            ciphertext = str(data["ciphertext"])
        except (KeyError, TypeError):
            raise KeyUnavailableError("transit returned no ciphertext") from None
        version = ciphertext_version(ciphertext)
        self._latest = max(self._latest, version)
        return WrappedKey(version, ciphertext.encode("ascii"))

    @staticmethod
    def _ciphertext(wrapped: WrappedKey) -> str:
        try:
            ciphertext = wrapped.blob.decode("ascii")
        except UnicodeDecodeError:
            raise DecryptionError("not a transit ciphertext") from None
        if ciphertext_version(ciphertext) != wrapped.version:
            raise DecryptionError("the stored version does not match the ciphertext")
        return ciphertext

    @staticmethod
    def _plaintext(data: Any) -> bytes:
        try:
            return base64.b64decode(str(data["plaintext"]), validate=True)
        except (KeyError, TypeError, binascii.Error):
            raise DecryptionError("transit returned no plaintext") from None

    async def _batch(self, operation: str, items: list[dict[str, str]]) -> list[Any]:
        """One transit call over ``batch_input``; its results, in order. A failed item makes
        transit answer 400 for the call (``_call`` raises); an item error left in a 2xx
        answer is refused here too."""
        data = await self._call("POST", f"{operation}/{self._key}", {"batch_input": items})
        results = data.get("batch_results")
        if not isinstance(results, list) or len(results) != len(items):
            raise KeyUnavailableError("transit returned a malformed batch")
        for result in results:
            if not isinstance(result, dict) or result.get("error"):
                raise KeyUnavailableError("transit refused an item of a batch")
        return results

    async def wrap_data_key(self, data_key: bytes, owner: UUID) -> WrappedKey:
        data = await self._call(
            "POST",
            f"encrypt/{self._key}",
            {"plaintext": _b64(data_key), "associated_data": _b64(transit_context(owner))},
        )
        return self._wrapped(data)

    async def unwrap_data_key(self, wrapped: WrappedKey, owner: UUID) -> bytes:
        data = await self._call(
            "POST",
            f"decrypt/{self._key}",
            {
                "ciphertext": self._ciphertext(wrapped),
                "associated_data": _b64(transit_context(owner)),
            },
        )
        return self._plaintext(data)

    async def wrap_data_keys(self, items: Sequence[tuple[bytes, UUID]]) -> list[WrappedKey]:
        # transit's batch_input, each item with its own associated data: one round trip per
        # BATCH_ITEMS keys instead of one per key.
        out: list[WrappedKey] = []
        for start in range(0, len(items), BATCH_ITEMS):
            chunk = items[start : start + BATCH_ITEMS]
            batch = [
                {"plaintext": _b64(k), "associated_data": _b64(transit_context(o))}
                for k, o in chunk
            ]
            out += [self._wrapped(r) for r in await self._batch("encrypt", batch)]
        return out

    async def unwrap_data_keys(self, items: Sequence[tuple[WrappedKey, UUID]]) -> list[bytes]:
        out: list[bytes] = []
        for start in range(0, len(items), BATCH_ITEMS):
            chunk = items[start : start + BATCH_ITEMS]
            batch = [
                {"ciphertext": self._ciphertext(w), "associated_data": _b64(transit_context(o))}
                for w, o in chunk
            ]
            out += [self._plaintext(r) for r in await self._batch("decrypt", batch)]
        return out

    # -- rotation (the KEKs live in transit, so these are transit's own operations) --------

    async def rotate(self) -> int:
        await self._call("POST", f"keys/{self._key}/rotate")
        await self.refresh()
        return self._latest

    async def retire(self, version: int) -> None:
        """Archive every version up to ``version`` (transit can only raise the floor)."""
        if version >= self._latest:
            raise KeyUnavailableError(f"key version {version} is the primary; rotate first")
        await self._call(
            "POST", f"keys/{self._key}/config", {"min_decryption_version": version + 1}
        )
        await self.refresh()
