"""Turning the four personal fields into stored columns and back, under the customer's DEK."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pdvault.crypto.blind_index import blind_index
from pdvault.crypto.envelope import decrypt_field, encrypt_field, new_data_key
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


def index_of(keys: KeyProvider, field: str, normalised: str) -> bytes:
    """The blind index of a normalised value (the one place every index is computed)."""
    match_form = MATCH_FORM.get(field)
    return blind_index(
        keys.index_key(), field, match_form(normalised) if match_form else normalised
    )


async def seal_new(
    keys: KeyProvider, customer_id: uuid.UUID, values: Mapping[str, str]
) -> dict[str, Any]:
    """Columns for a new customer: a fresh data key, wrapped; every field encrypted."""
    data_key = new_data_key()
    wrapped = await keys.wrap_data_key(data_key, customer_id)
    columns: dict[str, Any] = {"kek_version": wrapped.version, "wrapped_dek": wrapped.blob}
    columns.update(seal_fields(keys, data_key, customer_id, values))
    return columns


def seal_fields(
    keys: KeyProvider, data_key: bytes, customer_id: uuid.UUID, values: Mapping[str, str]
) -> dict[str, Any]:
    columns: dict[str, Any] = {}
    for field, value in values.items():
        columns[CIPHERTEXT_COLUMN[field]] = encrypt_field(data_key, customer_id, field, value)
        if field in INDEXED_FIELDS:
            columns[INDEXED_FIELDS[field]] = index_of(keys, field, value)
    return columns


async def data_key_of(keys: KeyProvider, customer: Customer) -> bytes:
    if customer.wrapped_dek is None or customer.kek_version is None:
        raise LookupError("customer has no data key (erased)")
    return await keys.unwrap_data_key(
        WrappedKey(customer.kek_version, customer.wrapped_dek), customer.id
    )


async def open_fields(
    keys: KeyProvider, customer: Customer, fields: Iterable[str]
) -> dict[str, str]:
    data_key = await data_key_of(keys, customer)
    out: dict[str, str] = {}
    for field in fields:
        blob = getattr(customer, CIPHERTEXT_COLUMN[field])
        out[field] = decrypt_field(data_key, customer.id, field, blob)
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
