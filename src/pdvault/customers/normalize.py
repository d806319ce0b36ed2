"""Canonical forms of the four personal fields. Error messages never repeat the value."""

from __future__ import annotations

import re
import unicodedata

import email_validator
import phonenumbers
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES
from phonenumbers import PhoneMetadata

DEFAULT_REGION = "VN"
NAME_MAX, ADDRESS_MAX = 200, 500


class FieldError(ValueError):
    pass


# General category Cc is exactly these 65 code points, and Unicode's stability policy freezes
# the set; a regex scan is several times faster than a category look-up per character
# (the equality with unicodedata over every code point is a test).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


# General category Cf (bidi overrides, embeddings, isolates and marks, zero-width characters
# and joiners, the BOM, the soft hyphen, tag characters): invisible, and able to make a name
# read as another. Unlike Cc the set grows with Unicode, so it is asked of unicodedata, and
# only for a text that ``str.isprintable`` (C speed, False for every Cf character) doubts:
# nearly every name and address is printable and needs no look-up. ZWJ and ZWNJ are refused
# too: Vietnamese, in Latin letters with precomposed or combining marks, and the Han or other
# scripts a customer's name might be written in here, need neither (docs/decisions.md).
def _has_format_character(text: str) -> bool:
    return not text.isprintable() and any(unicodedata.category(c) == "Cf" for c in text)


# Invisible but not Cf: Unicode's Default_Ignorable_Code_Point property less its Cf members
# (the combining grapheme joiner U+034F, the Hangul fillers U+115F, U+1160, U+3164 and U+FFA0,
# the Khmer inherent vowels U+17B4-5, the Mongolian variation selectors, the variation
# selectors U+FE00-F and U+E0100-EF, reserved ignorables), the Braille blank U+2800, and the
# line and paragraph separators U+2028-9. Each renders as nothing or as a blank, so a name or
# an email holding one reads as another (a second account for one address). Unicode keeps the
# Default_Ignorable set stable, so it is written out here (the stdlib cannot ask for it).
_INVISIBLE_EXTRA = re.compile(
    "[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2028\u2029\u2065\u2800"
    "\u3164\ufe00-\ufe0f\uffa0\ufff0-\ufff8\U000e0000-\U000e0fff]"
)


def _has_invisible_character(text: str) -> bool:
    """A format character (Cf) or another character that shows as nothing or a blank."""
    return _has_format_character(text) or _INVISIBLE_EXTRA.search(text) is not None


def _text(value: str, what: str, maximum: int) -> str:
    text = unicodedata.normalize("NFC", value).strip()
    if not text:
        raise FieldError(f"{what} must not be empty")
    if len(text) > maximum:
        raise FieldError(f"{what} must be at most {maximum} characters")
    if _CONTROL.search(text):
        raise FieldError(f"{what} must not contain control characters")
    if _has_invisible_character(text):
        raise FieldError(
            f"{what} must not contain format characters or other invisible characters "
            "(bidi controls, zero-width characters, fillers, line separators)"
        )
    return text


def full_name(value: str) -> str:
    return _text(value, "full_name", NAME_MAX)


def address(value: str) -> str:
    return _text(value, "address", ADDRESS_MAX)


def phone(value: str, region: str = DEFAULT_REGION) -> str:
    """E.164. ``0912 853 984``, ``+84 912 853 984`` and ``84912853984`` are one number.

    The common shapes of a number of the default region take a fast path that gives exactly
    what phonenumbers gives (``_phone_fast``); everything else goes to phonenumbers itself.
    """
    if region == DEFAULT_REGION:
        fast = _phone_fast(value)
        if fast is not None:
            return fast
    return _phone_slow(value, region)


def _phone_slow(value: str, region: str = DEFAULT_REGION) -> str:
    """The library path: phonenumbers' parse and is_valid_number, for any spelling."""
    raw = unicodedata.normalize("NFKC", value).strip()
    if not raw or len(raw) > 32:
        raise FieldError("phone is not a valid phone number")
    if any(c.isalpha() for c in raw):
        # phonenumbers reads letters as keypad digits ("0912 NGUYEN"): a name typed into the
        # phone field would be stored as a number nobody gave.
        raise FieldError("phone must be written in digits (letters are not read as keypad digits)")
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

    Kept as given is how it is stored; matching ignores case (``email_match_form``).

    Look-alikes are refused rather than folded (docs/decisions.md): an invisible character,
    a compatibility form (full-width letters, ligatures) in the local part, or letters of
    mixed scripts in the local part or in one domain label (a Cyrillic a among Latin
    letters). An accepted address is one exact string, so it can never match another
    spelling in search or duplicate detection, and no two accepted addresses look alike
    letter for letter within one script.

    A plain ASCII address takes a fast path that gives exactly what the library path gives
    (``_email_fast``); anything else, and anything doubtful, goes to ``_email_slow``.
    """
    fast = _email_fast(value)
    return fast if fast is not None else _email_slow(value)


def _email_slow(value: str) -> str:
    """The library path: email_validator (no DNS), then the look-alike rules."""
    raw = unicodedata.normalize("NFC", value).strip()
    if not raw or len(raw) > 254:
        raise FieldError("email is not a valid email address")
    if any(unicodedata.category(c) in _INVISIBLE for c in raw) or _INVISIBLE_EXTRA.search(raw):
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


def email_match_form(canonical: str) -> str:
    """The form duplicate detection and search compare: the whole canonical address lower-cased.

    One person writes ``Nhung@Example.com`` one day and ``nhung@example.com`` the next; mail
    providers treat the two as one mailbox, so the vault does too (docs/decisions.md). The
    address is still stored and returned as given: only its blind index is over this form.
    """
    return unicodedata.normalize("NFC", canonical.lower())


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


# -- fast paths --------------------------------------------------------------------------------
# Each returns the exact result of the library path for the inputs it takes, or None to leave
# the input (valid or not) to the library path: a fast path never refuses anything itself.
# tests/customers/test_normalize.py compares both paths on generated inputs and near misses.


def _national_validator(region: str) -> re.Pattern[str] | None:
    """One pattern for "phonenumbers calls this national number valid", from its metadata.

    phonenumbers' is_valid_number is: the number matches the region's general description, and
    at least one number type's (premium rate, toll free, ..., fixed line, mobile), where a
    description matches when the length is among its possible lengths (none listed: any) and
    its pattern matches the whole number. The fast path only sees national numbers of
    ``_FAST_NATIONAL_LENGTH`` digits, so the lengths are settled here, once, and what remains
    is a regex. None when the region's metadata is not of the shape the fast path assumes.
    """
    meta = PhoneMetadata.metadata_for_region(region)
    if meta is None or meta.general_desc is None:
        return None
    code = meta.country_code
    if code is None or phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code) != (region,):
        return None  # shared calling code: which region a number belongs to needs the library
    if (
        meta.national_prefix != "0"
        or meta.national_prefix_for_parsing not in (None, "0")
        or meta.national_prefix_transform_rule
        or meta.international_prefix != "00"
    ):
        return None  # the "0" trunk and "+cc" shapes below assume exactly these

    def allows(desc: object) -> str | None:
        pattern = getattr(desc, "national_number_pattern", None)
        lengths = getattr(desc, "possible_length", ())
        if not pattern or (lengths and _FAST_NATIONAL_LENGTH not in lengths):
            return None
        return str(pattern)

    general = allows(meta.general_desc)
    kinds = [
        meta.premium_rate,
        meta.toll_free,
        meta.shared_cost,
        meta.voip,
        meta.personal_number,
        meta.pager,
        meta.uan,
        meta.voicemail,
        meta.fixed_line,
    ]
    if not meta.same_mobile_and_fixed_line_pattern:
        kinds.append(meta.mobile)
    typed = [p for p in map(allows, kinds) if p is not None]
    if general is None or not typed:
        return None
    # The national number never starts with 0 here, so the trunk prefix is never ambiguous.
    either = "|".join(f"(?:{p})" for p in typed)
    return re.compile(f"(?=(?:{general})\\Z)(?:{either})\\Z", re.ASCII)


_FAST_NATIONAL_LENGTH = 9
_FAST_COUNTRY_CODE = phonenumbers.country_code_for_region(DEFAULT_REGION)
_FAST_NATIONAL = _national_validator(DEFAULT_REGION)
# "0" or "+84", then the nine digits of the national number (the first not 0), each digit
# possibly after one ASCII space: 0912853984, 0912 853 984, +84 912 853 984, +84912853984.
_FAST_PHONE = re.compile(
    rf"(?:0|\+{_FAST_COUNTRY_CODE}) ?([1-9](?: ?[0-9]){{{_FAST_NATIONAL_LENGTH - 1}}})",
    re.ASCII,
)


def _phone_fast(value: str) -> str | None:
    if _FAST_NATIONAL is None or not value.isascii():
        return None  # non-ASCII: NFKC may change it (full-width digits); the library decides
    shape = _FAST_PHONE.fullmatch(value.strip())
    if shape is None:
        return None
    national = shape.group(1).replace(" ", "")
    if not _FAST_NATIONAL.match(national):
        return None  # not valid by the metadata: the library path refuses it, with its message
    return f"+{_FAST_COUNTRY_CODE}{national}"


# A dot-atom local part (RFC 5322 atext) and letter-digit-hyphen labels, the last all letters.
_FAST_EMAIL = re.compile(
    r"([A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*)"
    r"@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})",
    re.ASCII,
)
_FAST_EMAIL_MAILBOXES = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)


def _email_fast(value: str) -> str | None:
    """What email_validator (check_deliverability=False) does with a plain ASCII address.

    For such an address it checks, and changes, only this: no display name or quotes (none of
    ``<"\\``, spaces or controls can be in the shape), a dot-atom local part (no leading,
    trailing or double dot), at most 254 characters in all, a domain of at most 253 with labels
    of 1-63 letters, digits and hyphens (no hyphen at either end, no ``ab--`` label, Punycode
    ``xn--`` decoded), a dot in the domain, a last character that is a letter, no special-use
    domain (``.test``, ``.local``, ...), the domain lower-cased, and the RFC 2142 mailbox names
    (``Info@``, ``Abuse@``) lower-cased. The shape here is narrower: the top-level label all
    letters, the local part at most 64 characters (the library, not strict, allows longer), and
    anything with ``--``, a special-use domain or an RFC 2142 name is left to the library.
    ASCII letters are all Latin and NFKC leaves ASCII as it is, so the look-alike rules pass.
    """
    if not value.isascii():
        return None
    raw = value.strip()  # NFC leaves ASCII as it is
    if len(raw) > 254:
        return None
    shape = _FAST_EMAIL.fullmatch(raw)
    if shape is None:
        return None
    local, domain = shape.group(1), shape.group(2).lower()
    if len(local) > 64 or len(domain) > 253 or "--" in domain:
        return None
    if local.lower() in _FAST_EMAIL_MAILBOXES:
        return None
    for special in email_validator.SPECIAL_USE_DOMAIN_NAMES:  # read each call: a module setting
        if domain == special or domain.endswith("." + special):
            return None
    return f"{local}@{domain}"
