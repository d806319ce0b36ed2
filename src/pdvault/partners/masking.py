"""The masked forms of docs/policy.md's masking table. Pure functions, one per field."""

from __future__ import annotations

from collections.abc import Callable

MASK = "*"


def mask_phone(value: str) -> str:
    """All but the last 3 characters as ``*``: ``+84912853984`` → ``*********984``."""
    if len(value) <= 3:
        return MASK * len(value)
    return MASK * (len(value) - 3) + value[-3:]


def mask_email(value: str) -> str:
    """First character, ``***``, then ``@domain``: ``sales@tomexco.com`` → ``s***@tomexco.com``."""
    local, at, domain = value.rpartition("@")
    if not at or not local:
        return MASK * 3
    return f"{local[0]}***@{domain}"


def mask_full_name(value: str) -> str:
    """The given (last) name kept, other words as initials: ``Nguyễn Văn An`` → ``N. V. An``."""
    words = value.split()
    if not words:
        return ""
    return " ".join([*(f"{w[0]}." for w in words[:-1]), words[-1]])


def mask_address(value: str) -> str:
    """Only the last comma-separated part (province / city): ``…, Hà Nội`` → ``Hà Nội``.

    An address with no comma has no part that is only the province, so nothing is shown.
    """
    parts = [p.strip() for p in value.split(",")]
    if len(parts) < 2 or not parts[-1]:
        return MASK * 3
    return parts[-1]


MASKS: dict[str, Callable[[str], str]] = {
    "phone": mask_phone,
    "email": mask_email,
    "full_name": mask_full_name,
    "address": mask_address,
}


def apply_masks(values: dict[str, str], masked: frozenset[str]) -> dict[str, str]:
    return {f: MASKS[f](v) if f in masked else v for f, v in values.items()}
