"""A document's bytes under its own data key: AES-256-GCM bound to its row and customer.

Layout: ``version (1 byte) || nonce (12 bytes) || ciphertext+tag``; the associated data names
the format version, the document id and the customer id.
"""

from __future__ import annotations

import uuid

from pdvault.crypto.envelope import DecryptionError, seal, unseal
from pdvault.crypto.provider import KeyProvider, WrappedKey
from pdvault.documents.models import Document

FORMAT_VERSION = 1


def document_context(document_id: uuid.UUID, customer_id: uuid.UUID, version: int) -> bytes:
    """AES-GCM associated data: the ciphertext opens only in its own row, for its customer."""
    return b"pdvault/document|%d|%s|%s" % (
        version,
        document_id.hex.encode(),
        customer_id.hex.encode(),
    )


def seal_document(
    data_key: bytes, document_id: uuid.UUID, customer_id: uuid.UUID, plaintext: bytes
) -> bytes:
    context = document_context(document_id, customer_id, FORMAT_VERSION)
    return bytes([FORMAT_VERSION]) + seal(data_key, plaintext, context)


def open_document(
    data_key: bytes, document_id: uuid.UUID, customer_id: uuid.UUID, blob: bytes
) -> bytes:
    if not blob or blob[0] != FORMAT_VERSION:
        raise DecryptionError("unknown document ciphertext format")
    return unseal(data_key, blob[1:], document_context(document_id, customer_id, blob[0]))


async def read_plaintext(keys: KeyProvider, doc: Document, blob: bytes | None) -> bytes:
    """The original bytes; ``DecryptionError`` if the key or ciphertext fails authentication."""
    if doc.wrapped_dek is None or doc.kek_version is None or blob is None:
        raise DecryptionError("document has no key or bytes")
    data_key = await keys.unwrap_data_key(WrappedKey(doc.kek_version, doc.wrapped_dek), doc.id)
    return open_document(data_key, doc.id, doc.customer_id, blob)
