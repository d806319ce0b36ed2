"""docs/policy.md's masking table as pure functions: table-driven cases and properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pdvault.partners.masking import (
    MASKS,
    apply_masks,
    mask_address,
    mask_email,
    mask_full_name,
    mask_phone,
)

# -- docs/policy.md's own examples, exactly ------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "masked"),
    [
        ("phone", "+84912853984", "*********984"),
        ("email", "sales@tomexco.com", "s***@tomexco.com"),
        ("full_name", "Nguyễn Văn An", "N. V. An"),
        ("address", "Km 26, Khê Than, Phú Nghĩa, Chương Mỹ, Hà Nội", "Hà Nội"),
    ],
)
def test_policy_examples(field: str, value: str, masked: str) -> None:
    assert MASKS[field](value) == masked


def test_every_field_has_a_mask() -> None:
    assert set(MASKS) == {"full_name", "phone", "email", "address"}


# -- phone: all but the last three characters as '*' ----------------------------------------


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("+84912853984", "*********984"),  # Viettel/VinaPhone mobile, E.164
        ("+84281234567", "*********567"),  # a TP. Hồ Chí Minh landline
        ("+842412345678", "**********678"),  # a Hà Nội landline (10 national digits)
        ("+14155550123", "*********123"),  # United States
        ("+442071838750", "**********750"),  # United Kingdom
        ("+8613800138000", "***********000"),  # China, 11 national digits
        ("+6591234567", "********567"),  # Singapore
        ("+81312345678", "*********678"),  # Japan
        ("+855123456789", "**********789"),  # Cambodia
    ],
)
def test_mask_phone(value: str, masked: str) -> None:
    assert mask_phone(value) == masked


# -- email: first character, '***', then '@domain' ------------------------------------------


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("sales@tomexco.com", "s***@tomexco.com"),
        ("a@example.com", "a***@example.com"),
        ("nguyen.van.mau@example.com", "n***@example.com"),
        ("khach+don-hang@example.com.vn", "k***@example.com.vn"),
        ("Mau.Khach@example.com", "M***@example.com"),
        ("đức.nguyễn@example.com", "đ***@example.com"),
        ("xn@sub.example.vn", "x***@sub.example.vn"),
    ],
)
def test_mask_email(value: str, masked: str) -> None:
    assert mask_email(value) == masked


@pytest.mark.parametrize("value", ["not-an-email", "@example.com", ""])
def test_mask_email_never_echoes_a_malformed_value(value: str) -> None:
    masked = mask_email(value)
    assert masked == "***"


# -- full_name: the given (last) name kept, other words as initials -------------------------


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("Nguyễn Văn An", "N. V. An"),
        ("Nguyễn Văn Mẫu", "N. V. Mẫu"),
        ("Đặng Thị Mẫu", "Đ. T. Mẫu"),
        ("Đỗ Ưu Đàm", "Đ. Ư. Đàm"),
        ("Ưng Hoàng Phúc", "Ư. H. Phúc"),
        ("Trương Đức Ưng", "T. Đ. Ưng"),
        ("Lê  Thị   Hồng", "L. T. Hồng"),  # several spaces between words
        ("  Phạm Văn Tám  ", "P. V. Tám"),  # surrounding spaces
        ("Lê\tVăn Tám", "L. V. Tám"),  # any whitespace separates words
        ("Mẫu", "Mẫu"),  # a single word is the given name itself
        ("Nguyễn Thị Minh Khai", "N. T. M. Khai"),  # four words
        ("Tôn Nữ Thị Ninh", "T. N. T. Ninh"),
        ("Công Tằng Tôn Nữ Mẫu", "C. T. T. N. Mẫu"),  # five words
        ("Ông Ích Khiêm", "Ô. Í. Khiêm"),
        ("Lý An", "L. An"),  # two words
    ],
)
def test_mask_full_name(value: str, masked: str) -> None:
    assert mask_full_name(value) == masked


# -- address: only the last comma-separated part --------------------------------------------


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("Km 26, Khê Than, Phú Nghĩa, Chương Mỹ, Hà Nội", "Hà Nội"),
        ("Số 1 Đường Ví Dụ, Phường Mẫu, Hà Nội", "Hà Nội"),
        ("12 Nguyễn Huệ, Phường Bến Nghé, Quận 1, TP. Hồ Chí Minh", "TP. Hồ Chí Minh"),
        ("Số 5 Lý Thường Kiệt, Hoàn Kiếm, Hà Nội   ", "Hà Nội"),  # trailing spaces
        ("Số 7,Phường Mẫu,  Đà Nẵng  ", "Đà Nẵng"),  # no space after commas
        ("Ấp 3, Xã Tân Thạnh, Huyện Thới Lai, Cần Thơ", "Cần Thơ"),
        ("Thôn Mẫu, Tỉnh Thừa Thiên Huế", "Tỉnh Thừa Thiên Huế"),
        ("Số 1 Đường Ví Dụ Hà Nội", "***"),  # no comma: no part is only the province
        ("Hà Nội", "***"),
        ("Số 1, Phường Mẫu,", "***"),  # an empty last part shows nothing either
        ("Số 1, Phường Mẫu,   ", "***"),
    ],
)
def test_mask_address(value: str, masked: str) -> None:
    assert mask_address(value) == masked


# -- apply_masks: only the fields named are masked ------------------------------------------


def test_apply_masks_masks_exactly_the_named_fields() -> None:
    values = {
        "full_name": "Nguyễn Văn Mẫu",
        "phone": "+84912345678",
        "email": "khach.mau@example.com",
        "address": "Số 1 Đường Ví Dụ, Phường Mẫu, Hà Nội",
    }
    assert apply_masks(values, frozenset({"full_name", "address"})) == {
        "full_name": "N. V. Mẫu",
        "phone": "+84912345678",
        "email": "khach.mau@example.com",
        "address": "Hà Nội",
    }
    assert apply_masks(values, frozenset()) == values
    assert apply_masks(values, frozenset(values)) == {
        "full_name": "N. V. Mẫu",
        "phone": "*********678",
        "email": "k***@example.com",
        "address": "Hà Nội",
    }
    assert apply_masks({"phone": "+84912345678"}, frozenset({"email"})) == {"phone": "+84912345678"}


# -- properties ------------------------------------------------------------------------------

VI_LETTERS = (
    "aàáảãạăằắẳẵặâầấẩẫậbcdđeèéẻẽẹêềếểễệghiìíỉĩịklmnoòóỏõọôồốổỗộơờớởỡợpqrstuùúủũụưừứửữựvxyỳýỷỹỵ"
)
LETTERS = VI_LETTERS + VI_LETTERS.upper() + "fjwz"

e164 = st.integers(min_value=7, max_value=15).flatmap(
    lambda n: st.text(alphabet="0123456789", min_size=n, max_size=n).map(lambda d: "+" + d)
)


@settings(max_examples=200, deadline=None)
@given(e164)
def test_masked_phone_keeps_length_and_last_three_only(phone: str) -> None:
    masked = mask_phone(phone)
    assert len(masked) == len(phone)
    assert masked[-3:] == phone[-3:]
    assert set(masked[:-3]) == {"*"}  # no other digit (nor the '+') is revealed


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=0, max_size=40))
def test_masked_phone_never_reveals_more_than_three_characters(value: str) -> None:
    masked = mask_phone(value)
    assert len(masked) == len(value)
    assert sum(c != "*" for c in masked) <= 3


@settings(max_examples=200, deadline=None)
@given(st.emails())
def test_masked_email_keeps_domain_and_first_character_only(email: str) -> None:
    local, _, domain = email.rpartition("@")
    masked = mask_email(email)
    assert masked.endswith("@" + domain)
    shown_local = masked[: -len("@" + domain)]
    assert shown_local == local[0] + "***"  # nothing of the local part after its first char


word = st.text(alphabet=LETTERS, min_size=1, max_size=12)
separator = st.sampled_from([" ", "  ", "   ", "\t"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(word, separator), min_size=1, max_size=6), word)
def test_masked_name_hides_every_non_final_word(pairs: list[tuple[str, str]], last: str) -> None:
    words = [w for w, _ in pairs]
    name = "".join(w + sep for w, sep in pairs) + last
    masked = mask_full_name(name)
    assert masked.endswith(last)
    initials = masked[: -len(last)]
    assert initials.split() == [w[0] + "." for w in words]
    for w in words:
        if sum(c.isalpha() for c in w) >= 2:
            assert w not in initials


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=LETTERS + " .", min_size=1, max_size=15), min_size=1))
def test_masked_address_is_at_most_the_last_part(parts: list[str]) -> None:
    address = ", ".join(parts)
    masked = mask_address(address)
    assert "," not in masked
    if len(parts) >= 2 and parts[-1].strip():
        assert masked == parts[-1].strip()
    else:
        assert masked == "***"
