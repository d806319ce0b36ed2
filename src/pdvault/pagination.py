"""Opaque cursors for ``{"items": [...], "next_cursor": ...}`` lists."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable, Sequence
from typing import Annotated, TypeVar

from fastapi import Query

from pdvault.errors import Unprocessable

Limit = Annotated[int, Query(ge=1, le=500, description="Page size (default 50, max 500)")]
T = TypeVar("T")

Cursor = Annotated[str | None, Query(max_length=200, description="From the previous page")]


def encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return base64.urlsafe_b64decode(padded.encode("ascii")).decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise _invalid_cursor() from None


def _invalid_cursor() -> Unprocessable:
    return Unprocessable(
        "The cursor is not valid.", errors=[{"loc": ["query", "cursor"], "msg": "invalid"}]
    )


def uuid_after(cursor: str | None) -> uuid.UUID | None:
    """The id a page of an id-ordered list starts after (None: from the start)."""
    if cursor is None:
        return None
    try:
        return uuid.UUID(decode_cursor(cursor))
    except ValueError:
        raise _invalid_cursor() from None


def int_after(cursor: str | None) -> int:
    """The number (seq, id) a page of a number-ordered list starts after (0: from the start)."""
    if cursor is None:
        return 0
    try:
        value = int(decode_cursor(cursor))
    except ValueError:
        raise _invalid_cursor() from None
    if not 0 <= value < 2**63:  # a seq or id is a 64-bit integer on both engines
        raise _invalid_cursor()
    return value


def split_page(
    rows: Sequence[T], limit: int, key: Callable[[T], object]
) -> tuple[list[T], str | None]:
    """Rows fetched with ``LIMIT limit + 1``: the page, and the cursor if more follow."""
    page = list(rows[:limit])
    more = len(rows) > limit
    return page, encode_cursor(str(key(page[-1]))) if more else None
