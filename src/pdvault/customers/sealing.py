"""Turning the four personal fields into stored columns and back, under the customer's DEK.

Every field is sealed in format 2: its associated data binds the customer id, the field and
the row's ``version``, and every write re-seals all four fields under the version it writes.
A field's earlier ciphertext put back in the database therefore fails to open under the
current version (and ETag). Rows sealed before format 2 (format 1, no version bound) still
open until their next write re-seals them; a row's four fields always share one format, so a
format-1 ciphertext put into a row already in format 2 fails too (docs/decisions.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pdvault.crypto.blind_index import blind_index
from pdvault.crypto.envelope import (
    RECORD_FORMAT_VERSION,
    DecryptionError,
    decrypt_field,
    encrypt_field,
    encrypt_fields,
    new_data_keys,
)
from pdvault.crypto.provider import KeyProvider, WrappedKey
from pdvault.customers.models import Customer
from pdvault.customers.normalize import email_match_form

CIPHERTEXT_COLUMN = {
    "full_name": "full_name_ct",
    "phone": "phone_ct",
    "email": "email_ct",
    "address": "address_ct",
}
INDEXED_FIELDS = {"email": "email_bidx", "phone": "phone_bidx"}
# What an index is over, from the stored (normalised) value: an email matches in any case.
MATCH_FORM: dict[str, Callable[[str], str]] = {"email": email_match_form}
FIRST_VERSION = 1


def match_form(field: str, normalised: str) -> str:
    """What two values of ``field`` are compared as (an email in any case)."""
    form = MATCH_FORM.get(field)
    return form(normalised) if form else normalised


def index_of(keys: KeyProvider, field: str, normalised: str) -> bytes:
    """The blind index of a normalised value (the one place every index is computed)."""
    return blind_index(keys.index_key(), field, match_form(field, normalised))


async def seal_new(
    keys: KeyProvider, customer_id: uuid.UUID, values: Mapping[str, str]
) -> dict[str, Any]:
    """Columns for a new customer: a fresh data key, wrapped; every field encrypted under the
    first record version (``version`` is among the columns)."""
    return (await seal_new_many(keys, [(customer_id, values)]))[0]


async def seal_new_many(
    keys: KeyProvider, customers: Sequence[tuple[uuid.UUID, Mapping[str, str]]]
) -> list[dict[str, Any]]:
    """``seal_new``'s columns for many new customers (a batch import), in order: the data
    keys drawn and wrapped in one call each, each record sealed with one cipher."""
    data_keys = new_data_keys(len(customers))
    wrapped = await keys.wrap_data_keys(
        [(data_key, cid) for data_key, (cid, _) in zip(data_keys, customers, strict=True)]
    )
    rows: list[dict[str, Any]] = []
    for (cid, values), data_key, key in zip(customers, data_keys, wrapped, strict=True):
        columns = seal_fields(keys, data_key, cid, values, FIRST_VERSION)
        columns.update(kek_version=key.version, wrapped_dek=key.blob, version=FIRST_VERSION)
        rows.append(columns)
    return rows


def seal_fields(
    keys: KeyProvider,
    data_key: bytes,
    customer_id: uuid.UUID,
    values: Mapping[str, str],
    record_version: int,
) -> dict[str, Any]:
    """The columns of ``values``, each sealed under ``record_version`` (one cipher for the
    record), and the blind index of each indexed one."""
    sealed = encrypt_fields(data_key, customer_id, values, record_version)
    columns: dict[str, Any] = {CIPHERTEXT_COLUMN[f]: blob for f, blob in sealed.items()}
    columns.update(
        {c: index_of(keys, f, values[f]) for f, c in INDEXED_FIELDS.items() if f in values}
    )
    return columns


def reseal(
    keys: KeyProvider, data_key: bytes, customer: Customer, changes: Mapping[str, str]
) -> dict[str, Any]:
    """Columns for writing ``changes`` as version ``customer.version + 1``: every field is
    sealed again under that version (the unchanged ones opened first, which also checks them),
    so no ciphertext of an earlier version remains in the row. ``version`` is among them."""
    unchanged = [f for f in CIPHERTEXT_COLUMN if f not in changes]
    values = {**open_with(data_key, customer, unchanged), **changes}
    next_version = customer.version + 1
    columns = seal_fields(keys, data_key, customer.id, values, next_version)
    for field in unchanged:  # an unchanged value's index stays as it is
        columns.pop(INDEXED_FIELDS.get(field, ""), None)
    columns["version"] = next_version
    return columns


async def data_key_of(keys: KeyProvider, customer: Customer) -> bytes:
    if customer.wrapped_dek is None or customer.kek_version is None:
        raise LookupError("customer has no data key (erased)")
    return await keys.unwrap_data_key(
        WrappedKey(customer.kek_version, customer.wrapped_dek), customer.id
    )


def open_stored(
    data_key: bytes, customer_id: uuid.UUID, field: str, blob: bytes, version: int
) -> str:
    """One field read straight from its columns (the row's ``version`` beside it), in either
    ciphertext format. Readers of whole rows use ``open_with``, which also refuses a row whose
    fields mix formats."""
    record_version = version if blob[:1] == bytes([RECORD_FORMAT_VERSION]) else None
    return decrypt_field(data_key, customer_id, field, blob, record_version)


def open_with(data_key: bytes, customer: Customer, fields: Iterable[str]) -> dict[str, str]:
    """The plaintext of ``fields``; ``DecryptionError`` if any fails, or if the row mixes
    ciphertext formats (a format-1 value put back into a row already re-sealed)."""
    formats = {
        blob[0] for blob in (getattr(customer, c) for c in CIPHERTEXT_COLUMN.values()) if blob
    }
    if len(formats) > 1:
        raise DecryptionError("a row's fields are in different formats")
    out: dict[str, str] = {}
    for field in fields:
        blob = getattr(customer, CIPHERTEXT_COLUMN[field])
        if blob is None:
            raise DecryptionError("field has no ciphertext")
        out[field] = open_stored(data_key, customer.id, field, blob, customer.version)
    return out


# Free text about one customer (issue 14.10: a rejection reason, a read's justification) is
# sealed under that customer's data key, its associated data naming what the text is and the
# row it belongs to, so erasing the customer (its key destroyed) makes it unreadable.


async def seal_text(keys: KeyProvider, customer: Customer, context: str, text: str) -> bytes:
    data_key = await data_key_of(keys, customer)
    return encrypt_field(data_key, customer.id, context, text)


async def open_text(
    keys: KeyProvider, customer: Customer | None, context: str, blob: bytes | None
) -> str | None:
    """The text, or None: none was written, or the customer is erased (its key is gone)."""
    if blob is None or customer is None or customer.wrapped_dek is None:
        return None
    data_key = await data_key_of(keys, customer)
    return decrypt_field(data_key, customer.id, context, blob)


async def open_fields(
    keys: KeyProvider, customer: Customer, fields: Iterable[str]
) -> dict[str, str]:
    return open_with(await data_key_of(keys, customer), customer, fields)
