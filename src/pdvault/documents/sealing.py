"""A document's bytes under its own data key: AES-256-GCM bound to its row and customer.

Layout: ``version (1 byte) || nonce (12 bytes) || ciphertext+tag``. The associated data names
the format version, the document id, the customer id and, from format 2, the content type the
bytes were sniffed as: a row whose ``content_type`` was changed in the database does not open.
Format 1 (documents stored before the type was bound) still opens; its type is checked by
sniffing the bytes again (docs/decisions.md).
"""

from __future__ import annotations

import uuid

from pdvault.crypto.envelope import DecryptionError, seal, unseal
from pdvault.crypto.provider import KeyProvider, WrappedKey
from pdvault.documents.models import Document
from pdvault.documents.sniff import EXTENSION, sniff

FORMAT_VERSION = 2
LEGACY_FORMAT_VERSION = 1


def document_context(
    document_id: uuid.UUID, customer_id: uuid.UUID, version: int, content_type: str = ""
) -> bytes:
    """AES-GCM associated data: the ciphertext opens only in its own row, for its customer,
    as its own type (format 2)."""
    context = b"pdvault/document|%d|%s|%s" % (
        version,
        document_id.hex.encode(),
        customer_id.hex.encode(),
    )
    if version >= 2:
        context += b"|" + content_type.encode("utf-8")
    return context


def seal_document(
    data_key: bytes,
    document_id: uuid.UUID,
    customer_id: uuid.UUID,
    content_type: str,
    plaintext: bytes,
) -> bytes:
    context = document_context(document_id, customer_id, FORMAT_VERSION, content_type)
    return bytes([FORMAT_VERSION]) + seal(data_key, plaintext, context)


def open_document(
    data_key: bytes,
    document_id: uuid.UUID,
    customer_id: uuid.UUID,
    content_type: str,
    blob: bytes,
) -> bytes:
    if not blob or blob[0] not in (FORMAT_VERSION, LEGACY_FORMAT_VERSION):
        raise DecryptionError("unknown document ciphertext format")
    context = document_context(document_id, customer_id, blob[0], content_type)
    plaintext = unseal(data_key, blob[1:], context)
    if blob[0] == LEGACY_FORMAT_VERSION and not _is_its_type(plaintext, content_type):
        raise DecryptionError("document type does not match its bytes")
    return plaintext


def _is_its_type(plaintext: bytes, content_type: str) -> bool:
    """For a format-1 document: the stored type is one pdvault accepts, and the one its bytes
    sniff as (bytes an older, looser sniff accepted and today's refuses keep their type)."""
    if content_type not in EXTENSION:
        return False
    sniffed = sniff(plaintext)
    return sniffed is None or sniffed.content_type == content_type


async def read_plaintext(keys: KeyProvider, doc: Document, blob: bytes | None) -> bytes:
    """The original bytes; ``DecryptionError`` if the key or ciphertext fails authentication."""
    if doc.wrapped_dek is None or doc.kek_version is None or blob is None:
        raise DecryptionError("document has no key or bytes")
    data_key = await keys.unwrap_data_key(WrappedKey(doc.kek_version, doc.wrapped_dek), doc.id)
    return open_document(data_key, doc.id, doc.customer_id, doc.content_type, blob)
