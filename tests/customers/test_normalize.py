"""The canonical forms of the four personal fields (customers/normalize.py), without HTTP."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pdvault.customers import normalize
from pdvault.customers.normalize import FieldError

NFD_NAME = unicodedata.normalize("NFD", "Nguyễn Văn Mẫu")
NFC_NAME = unicodedata.normalize("NFC", "Nguyễn Văn Mẫu")

# Vietnamese mobile prefixes (after the trunk 0) that libphonenumber accepts as valid.
MOBILE_PREFIXES = ["86", "88", "90", "91", "93", "94", "96", "97", "98", "70", "79", "81", "83"]


# -- phone ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    [
        "0912 853 984",
        "+84 912 853 984",
        "84912853984",
        "0912853984",
        "+84912853984",
        "(091) 285-3984",
        "091.285.3984",
        "".join(chr(0xFF10 + int(d)) for d in "0912853984"),  # full-width digits (NFKC)
    ],
)
def test_phone_spellings_give_one_e164(spelling: str) -> None:
    assert normalize.phone(spelling) == "+84912853984"


@settings(max_examples=150, deadline=None)
@given(prefix=st.sampled_from(MOBILE_PREFIXES), rest=st.integers(0, 9_999_999))
def test_phone_three_spellings_agree(prefix: str, rest: int) -> None:
    national = f"{prefix}{rest:07d}"
    local = f"0{national[:3]} {national[3:6]} {national[6:]}"
    international = f"+84 {national[:3]} {national[3:6]} {national[6:]}"
    bare = f"84{national}"
    expected = f"+84{national}"
    assert normalize.phone(local) == expected
    assert normalize.phone(international) == expected
    assert normalize.phone(bare) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "12345",
        "abc",
        "0912 853 98",  # a digit short
        "0912 853 98x",
        "0000000000",
        "+1 202 555",
        "84 912 853 984 999",
        "0912853984" * 4,  # over the length cap
    ],
)
def test_invalid_phone_rejected_without_echo(bad: str) -> None:
    with pytest.raises(FieldError) as info:
        normalize.phone(bad)
    if bad.strip():
        assert bad.strip() not in str(info.value)


def test_phone_of_another_region_keeps_its_country_code() -> None:
    assert normalize.phone("+44 20 7946 0958") == "+442079460958"


# -- email ---------------------------------------------------------------------------------


def test_email_domain_lowercased_local_part_kept() -> None:
    assert normalize.email("Khach.Mau@EXAMPLE.Com") == "Khach.Mau@example.com"


def test_email_surrounding_whitespace_stripped() -> None:
    assert normalize.email("  khach.mau@Example.COM ") == "khach.mau@example.com"


def test_email_same_address_any_domain_case_is_equal() -> None:
    assert normalize.email("a.b@EXAMPLE.COM") == normalize.email("a.b@example.com")


@pytest.mark.parametrize(
    "bad",
    ["", " ", "khong-hop-le", "a@", "@example.com", "a@@example.com", "a b@example.com", "a@b"],
)
def test_invalid_email_rejected_without_echo(bad: str) -> None:
    with pytest.raises(FieldError) as info:
        normalize.email(bad)
    if bad.strip():
        assert bad.strip() not in str(info.value)


def test_overlong_email_rejected() -> None:
    with pytest.raises(FieldError):
        normalize.email("a" * 250 + "@example.com")


# -- names and addresses --------------------------------------------------------------------


def test_nfd_name_stored_as_nfc() -> None:
    assert NFD_NAME != NFC_NAME
    out = normalize.full_name(NFD_NAME)
    assert out == NFC_NAME
    assert unicodedata.is_normalized("NFC", out)


def test_nfd_address_stored_as_nfc() -> None:
    raw = unicodedata.normalize("NFD", "Số 1 Đường Ví Dụ, Hà Nội")
    assert normalize.address(raw) == unicodedata.normalize("NFC", raw)


def test_name_surrounding_whitespace_stripped() -> None:
    assert normalize.full_name("  Trần Thị Mẫu \t") == "Trần Thị Mẫu"


def test_name_length_boundary() -> None:
    assert normalize.full_name("a" * 200) == "a" * 200
    with pytest.raises(FieldError):
        normalize.full_name("a" * 201)


def test_name_length_counts_characters_after_nfc() -> None:
    # 200 precomposed letters are 400 code points in NFD: the limit applies to the NFC form.
    decomposed = unicodedata.normalize("NFD", "ễ" * 200)
    assert len(decomposed) > 200
    assert normalize.full_name(decomposed) == "ễ" * 200


def test_address_length_boundary() -> None:
    assert normalize.address("b" * 500) == "b" * 500
    with pytest.raises(FieldError):
        normalize.address("b" * 501)


@pytest.mark.parametrize("blank", ["", " ", "\u3000", "   \u00a0 "])
@pytest.mark.parametrize("func", [normalize.full_name, normalize.address])
def test_empty_or_whitespace_rejected(func: object, blank: str) -> None:
    with pytest.raises(FieldError):
        func(blank)  # type: ignore[operator]


@pytest.mark.parametrize(
    "bad", ["Nguyễn\x00Văn", "Nguyễn\nVăn", "Nguyễn\tVăn", "Mẫu\x1b[31m", "A\x7fB"]
)
@pytest.mark.parametrize("func", [normalize.full_name, normalize.address])
def test_control_characters_rejected(func: object, bad: str) -> None:
    with pytest.raises(FieldError) as info:
        func(bad)  # type: ignore[operator]
    assert bad not in str(info.value)


@settings(max_examples=150, deadline=None)
@given(st.text(min_size=1, max_size=300))
def test_name_result_is_always_clean(value: str) -> None:
    """Whatever comes in, an accepted name is NFC, trimmed, 1-200 chars, no control chars."""
    try:
        out = normalize.full_name(value)
    except FieldError as exc:
        message = str(exc)
    else:
        message = ""
    if message:
        assert value not in message or not value.strip()
        return
    assert 1 <= len(out) <= 200
    assert out == out.strip()
    assert unicodedata.is_normalized("NFC", out)
    assert not any(unicodedata.category(c) == "Cc" for c in out)
