"""Blind indexes: HMAC-SHA256 under a separate index key over a normalised value.

Equality lookups by email or phone without storing or hashing the value in the clear.
The field name is part of the MAC input so equal strings in different fields never collide.
"""

from __future__ import annotations

import hmac


def blind_index(index_key: bytes, field: str, normalised_value: str) -> bytes:
    message = field.encode("utf-8") + b"\x00" + normalised_value.encode("utf-8")
    return hmac.digest(index_key, message, "sha256")  # one-shot: no HMAC object per value
