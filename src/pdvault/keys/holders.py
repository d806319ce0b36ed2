"""Every table that stores data keys wrapped by a KEK version: what rotation must visit.

Each holder has an ``id`` (the owner bound into the wrap's associated data), a
``kek_version`` and a ``wrapped_dek``; a shredded row has both NULL and is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pdvault.customers.models import Customer
from pdvault.documents.models import Document
from pdvault.governance.models import Complaint


@dataclass(frozen=True)
class KeyHolder:
    name: str
    model: Any


HOLDERS: tuple[KeyHolder, ...] = (
    KeyHolder("customers", Customer),
    KeyHolder("documents", Document),
    KeyHolder("complaints", Complaint),
)
