"""Opaque bearer tokens: ``pdv_`` + 32 random bytes (base64url). Only the SHA-256 is stored."""

from __future__ import annotations

import base64
import hashlib
import secrets

TOKEN_PREFIX = "pdv_"  # noqa: S105 - a public prefix, not a secret  # nosec B105
TOKEN_BYTES = 32
_TOKEN_LEN = len(TOKEN_PREFIX) + 43


def new_token() -> str:
    raw = base64.urlsafe_b64encode(secrets.token_bytes(TOKEN_BYTES)).rstrip(b"=").decode()
    return TOKEN_PREFIX + raw


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def looks_like_token(candidate: str) -> bool:
    return (
        len(candidate) == _TOKEN_LEN
        and candidate.startswith(TOKEN_PREFIX)
        and all(c.isalnum() or c in "-_" for c in candidate[len(TOKEN_PREFIX) :])
        and candidate.isascii()
    )
