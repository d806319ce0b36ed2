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
    """Syntax-checked, domain lower-cased (IDNA), local part kept as given (NFC).

    Look-alikes are refused rather than folded (docs/decisions.md): an invisible character,
    a compatibility form (full-width letters, ligatures) in the local part, or letters of
    mixed scripts in the local part or in one domain label (a Cyrillic a among Latin
    letters). An accepted address is one exact string, so it can never match another
    spelling in search or duplicate detection, and no two accepted addresses look alike
    letter for letter within one script.
    """
    raw = unicodedata.normalize("NFC", value).strip()
    if not raw or len(raw) > 254:
        raise FieldError("email is not a valid email address")
    if any(unicodedata.category(c) in _INVISIBLE for c in raw):
        raise FieldError("email must not contain invisible or control characters")
    try:
        result = validate_email(raw, check_deliverability=False)
    except EmailNotValidError:
        raise FieldError("email is not a valid email address") from None
    local, domain = result.local_part, result.domain.lower()
    if unicodedata.normalize("NFKC", local) != local:
        raise FieldError("email must be written in ordinary characters (no full-width forms)")
    if not all(_single_script(part) for part in (local, *domain.split("."))):
        raise FieldError("email mixes letters of different scripts (look-alike characters)")
    return f"{local}@{domain}"


# Format (zero-width space and joiners, BOM, bidi controls), control, private-use, unassigned,
# surrogate, and every separator: nothing in an address may be invisible.
_INVISIBLE = frozenset({"Cf", "Cc", "Co", "Cn", "Cs", "Zs", "Zl", "Zp"})
# Scripts that are written together (UTS #39 "highly restrictive"); any other mix is refused.
_SCRIPT_SETS = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)


def _script(char: str) -> str | None:
    """The script of a letter, from its Unicode name (None for digits, marks, punctuation)."""
    if not unicodedata.category(char).startswith("L"):
        return None
    name = unicodedata.name(char, "")
    if not name or name.startswith("KATAKANA-HIRAGANA"):
        return None  # unnamed, or the prolonged sound mark both kana share
    first = name.split(" ", 1)[0]
    return "HAN" if first == "CJK" else first


def _single_script(part: str) -> bool:
    scripts = {s for s in map(_script, part) if s is not None}
    return len(scripts) <= 1 or any(scripts <= allowed for allowed in _SCRIPT_SETS)
