"""Canonical forms of the four personal fields. Error messages never repeat the value."""

from __future__ import annotations

import unicodedata

import phonenumbers
from email_validator import EmailNotValidError, validate_email

DEFAULT_REGION = "VN"
NAME_MAX, ADDRESS_MAX = 200, 500


class FieldError(ValueError):
    pass


def _text(value: str, what: str, maximum: int) -> str:
    text = unicodedata.normalize("NFC", value).strip()
    if not text:
        raise FieldError(f"{what} must not be empty")
    if len(text) > maximum:
        raise FieldError(f"{what} must be at most {maximum} characters")
    if any(unicodedata.category(c) == "Cc" for c in text):
        raise FieldError(f"{what} must not contain control characters")
    return text


def full_name(value: str) -> str:
    return _text(value, "full_name", NAME_MAX)


def address(value: str) -> str:
    return _text(value, "address", ADDRESS_MAX)


def phone(value: str, region: str = DEFAULT_REGION) -> str:
    """E.164. ``0912 853 984``, ``+84 912 853 984`` and ``84912853984`` are one number."""
    raw = unicodedata.normalize("NFKC", value).strip()
    if not raw or len(raw) > 32:
        raise FieldError("phone is not a valid phone number")
    candidates = [raw]
    digits = "".join(c for c in raw if c.isdigit())
    if not raw.startswith(("+", "0")) and digits == raw.replace(" ", ""):
        candidates.append("+" + digits)  # an international number typed without its '+'
    for candidate in candidates:
        try:
            parsed = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
    raise FieldError("phone is not a valid phone number")


def email(value: str) -> str:
    """Syntax-checked, domain lower-cased (IDNA), local part kept as given."""
    raw = unicodedata.normalize("NFC", value).strip()
    if not raw or len(raw) > 254:
        raise FieldError("email is not a valid email address")
    try:
        result = validate_email(raw, check_deliverability=False)
    except EmailNotValidError:
        raise FieldError("email is not a valid email address") from None
    return f"{result.local_part}@{result.domain.lower()}"
