"""Field encryption: AES-256-GCM under a per-customer data key.

Ciphertext layout: ``version (1 byte) || nonce (12 bytes) || ciphertext+tag``.
The associated data binds the customer id, the field name and the format version, so a
ciphertext copied to another customer or another column fails to decrypt. Format 2 binds a
record version too (the customer row's ``version``): a field's earlier ciphertext put back
after an update fails to decrypt. Format 1 (no record version) stays for values that have
none (complaints, erasure notes) and for customer rows sealed before format 2.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT_VERSION = 1
RECORD_FORMAT_VERSION = 2
NONCE_BYTES = 12
DATA_KEY_BYTES = 32


class DecryptionError(Exception):
    """A ciphertext failed authentication: tampered, moved, or under another key."""


def new_data_key() -> bytes:
    return secrets.token_bytes(DATA_KEY_BYTES)


def new_data_keys(count: int) -> list[bytes]:
    """``count`` data keys from one read of the system's generator (a batch import)."""
    pool = secrets.token_bytes(DATA_KEY_BYTES * count)
    return [pool[i : i + DATA_KEY_BYTES] for i in range(0, len(pool), DATA_KEY_BYTES)]


def field_context(
    customer_id: UUID,
    field: str,
    version: int = FORMAT_VERSION,
    record_version: int | None = None,
) -> bytes:
    context = b"pdvault/field|%d|%s|%s" % (version, customer_id.hex.encode(), field.encode())
    if record_version is not None:
        context += b"|%d" % record_version
    return context


def _sealed_field(
    aead: AESGCM,
    nonce: bytes,
    customer_id: UUID,
    field: str,
    plaintext: str,
    record_version: int | None,
) -> bytes:
    """One field's ciphertext: format 1 without ``record_version``; format 2, bound to that
    version, with it. The layout of every field ciphertext is written here alone."""
    version = FORMAT_VERSION if record_version is None else RECORD_FORMAT_VERSION
    context = field_context(customer_id, field, version, record_version)
    return bytes([version]) + nonce + aead.encrypt(nonce, plaintext.encode("utf-8"), context)


def encrypt_field(
    data_key: bytes,
    customer_id: UUID,
    field: str,
    plaintext: str,
    record_version: int | None = None,
) -> bytes:
    """Format 1 without ``record_version``; format 2, bound to that version, with it."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return _sealed_field(AESGCM(data_key), nonce, customer_id, field, plaintext, record_version)


def encrypt_fields(
    data_key: bytes, customer_id: UUID, values: Mapping[str, str], record_version: int
) -> dict[str, bytes]:
    """``encrypt_field`` in format 2 for each of ``values``: one cipher and one read of the
    generator for the whole record (a batch import seals thousands)."""
    aead = AESGCM(data_key)
    nonces = secrets.token_bytes(NONCE_BYTES * len(values))
    return {
        field: _sealed_field(
            aead,
            nonces[i * NONCE_BYTES : (i + 1) * NONCE_BYTES],
            customer_id,
            field,
            text,
            record_version,
        )
        for i, (field, text) in enumerate(values.items())
    }


def decrypt_field(
    data_key: bytes,
    customer_id: UUID,
    field: str,
    blob: bytes,
    record_version: int | None = None,
) -> str:
    """Opens format 1, and format 2 when ``record_version`` is the one it was sealed with."""
    if len(blob) < 1 + NONCE_BYTES + 16:
        raise DecryptionError("unknown ciphertext format")
    if blob[0] == FORMAT_VERSION:
        context = field_context(customer_id, field)
    elif blob[0] == RECORD_FORMAT_VERSION and record_version is not None:
        context = field_context(customer_id, field, RECORD_FORMAT_VERSION, record_version)
    else:
        raise DecryptionError("unknown ciphertext format")
    nonce, sealed = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
    try:
        plain = AESGCM(data_key).decrypt(nonce, sealed, context)
    except InvalidTag:
        raise DecryptionError("ciphertext failed authentication") from None
    return plain.decode("utf-8")


def seal(key: bytes, plaintext: bytes, context: bytes) -> bytes:
    """Generic AES-GCM seal used to wrap keys: ``nonce || ciphertext+tag``."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, context)


def unseal(key: bytes, blob: bytes, context: bytes) -> bytes:
    if len(blob) < NONCE_BYTES + 16:
        raise DecryptionError("sealed value too short")
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], context)
    except InvalidTag:
        raise DecryptionError("sealed value failed authentication") from None


def seal_many(key: bytes, items: Iterable[tuple[bytes, bytes]]) -> list[bytes]:
    """``seal`` for many (plaintext, context) pairs under one key: the cipher is set up once,
    which is most of the cost for a 32-byte data key (rewrap moves keys by the thousand)."""
    aead = AESGCM(key)
    pairs = list(items)
    nonces = secrets.token_bytes(NONCE_BYTES * len(pairs))  # one read of the generator
    out: list[bytes] = []
    for i, (plaintext, context) in enumerate(pairs):
        nonce = nonces[i * NONCE_BYTES : (i + 1) * NONCE_BYTES]
        out.append(nonce + aead.encrypt(nonce, plaintext, context))
    return out


def unseal_many(key: bytes, items: Iterable[tuple[bytes, bytes]]) -> list[bytes]:
    """``unseal`` for many (blob, context) pairs under one key; the first failure raises."""
    aead = AESGCM(key)
    out: list[bytes] = []
    for blob, context in items:
        if len(blob) < NONCE_BYTES + 16:
            raise DecryptionError("sealed value too short")
        try:
            out.append(aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], context))
        except InvalidTag:
            raise DecryptionError("sealed value failed authentication") from None
    return out
