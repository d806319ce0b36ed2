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


# Unicode general category Cf: bidi overrides and isolates, zero-width characters and joiners,
# the BOM, the soft hyphen, word joiner, tag characters (issue 14.15).
FORMAT_CHARACTERS = [
    "\u202e",  # RIGHT-TO-LEFT OVERRIDE: "Nguyễn \u202eiH" shows as "Nguyễn Hi"
    "\u202d",
    "\u2066",  # LEFT-TO-RIGHT ISOLATE
    "\u2069",
    "\u200e",  # LEFT-TO-RIGHT MARK
    "\u061c",  # ARABIC LETTER MARK
    "\u200b",  # ZERO WIDTH SPACE
    "\u200c",  # ZERO WIDTH NON-JOINER: no script of a Vietnamese name needs it
    "\u200d",  # ZERO WIDTH JOINER
    "\u2060",
    "\ufeff",
    "\u00ad",  # SOFT HYPHEN
    "\U000e0041",  # TAG LATIN CAPITAL LETTER A
]


@pytest.mark.parametrize("char", FORMAT_CHARACTERS)
@pytest.mark.parametrize("func", [normalize.full_name, normalize.address])
def test_format_characters_rejected(func: object, char: str) -> None:
    for bad in (f"Nguyễn {char}Văn", f"{char}Nguyễn Văn", f"Nguyễn Văn{char}"):
        with pytest.raises(FieldError) as info:
            func(bad)  # type: ignore[operator]
        assert "format characters" in str(info.value)
        assert char not in str(info.value)


def test_format_character_check_is_exactly_unicode_cf() -> None:
    for point in range(0x110000):
        char = chr(point)
        is_cf = unicodedata.category(char) == "Cf"
        assert normalize._has_format_character(f"a{char}b") == is_cf, hex(point)


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
    assert not any(unicodedata.category(c) in ("Cc", "Cf") for c in out)
    assert unicodedata.is_normalized("NFC", out)
    assert not any(unicodedata.category(c) == "Cc" for c in out)


# -- fast paths against the libraries -----------------------------------------------------------
# normalize.phone and normalize.email try a fast path first (no library call) and fall back to
# the library path (_phone_slow, _email_slow). The fast path must never change an outcome: same
# value, or the same refusal with the same message, for every input. Inputs are generated around
# the fast shapes, mostly near misses.


def _outcome(func: object, value: str) -> tuple[str, str]:
    try:
        return ("ok", func(value))  # type: ignore[operator]
    except FieldError as exc:
        return ("refused", str(exc))


def _assert_fast_path_exact(fast: object, slow: object, public: object, value: str) -> None:
    expected = _outcome(slow, value)
    assert _outcome(public, value) == expected, value
    quick = fast(value)  # type: ignore[operator]
    if quick is not None:
        assert ("ok", quick) == expected, value


_PHONE_LEADS = st.sampled_from(
    ["0"] * 6
    + ["+84"] * 6
    + ["+84 ", "0 ", "84", "+840", "00", "+8", "", "+85", "+ 84"]
    + ["+84 0", "1", "+1", "(0", "+084", "0084", "+84-", "\t0", " +84"]
)
_PHONE_PREFIXES = [*MOBILE_PREFIXES, "12", "14", "18", "19", "67", "20", "24", "28", "69", "99"]
_DIGIT_RUNS = st.one_of(
    # Mostly the nine digits of a national number (a real prefix, then 7), sometimes 6-10.
    st.tuples(st.sampled_from(_PHONE_PREFIXES), st.sampled_from([7, 7, 7, 7, 6, 8, 5, 9])).flatmap(
        lambda pl: st.text("0123456789", min_size=pl[1], max_size=pl[1]).map(lambda r: pl[0] + r)
    ),
    st.text("0123456789", min_size=6, max_size=12),
)


@st.composite
def phone_near_misses(draw: st.DrawFn) -> str:
    digits = draw(_DIGIT_RUNS)
    style = draw(st.sampled_from(["none", "none", "spaces", "spaces", "any"]))
    if style == "none":
        seps = [""] * len(digits)
    else:
        pool = ["", "", " "] if style == "spaces" else ["", "", " ", "  ", "-", ".", "\u00a0", "x"]
        seps = draw(st.lists(st.sampled_from(pool), min_size=len(digits), max_size=len(digits)))
    body = "".join(s + d for s, d in zip(seps, digits, strict=True))
    tail = draw(st.sampled_from([""] * 6 + [" ", "\n", "\u3000", " ext. 12", "#", "9"]))
    value = draw(_PHONE_LEADS) + body + tail
    if draw(st.integers(0, 9)) == 0:  # now and then one full-width digit (NFKC folds it)
        at = draw(st.integers(0, len(value) - 1))
        if value[at].isdigit():
            value = value[:at] + chr(0xFF10 + int(value[at])) + value[at + 1 :]
    return value


@settings(max_examples=600, deadline=None)
@given(phone_near_misses())
def test_phone_fast_path_matches_phonenumbers(value: str) -> None:
    _assert_fast_path_exact(normalize._phone_fast, normalize._phone_slow, normalize.phone, value)


@pytest.mark.parametrize("shape", ["0{}", "+84{}", "0{} {} {}", "+84 {} {} {}"])
def test_phone_fast_path_covers_every_lead_exactly(shape: str) -> None:
    """Every 4-digit start of a 9-digit national number, in four spellings: the fast path agrees
    with phonenumbers, and takes every one phonenumbers accepts (so it is used, not bypassed)."""
    import random

    rng = random.Random(f"phone-{shape}")
    taken = 0
    for lead in range(10_000):
        national = f"{lead:04d}{rng.randrange(100_000):05d}"
        value = shape.format(national[:3], national[3:6], national[6:])
        if shape.count("{}") == 1:
            value = shape.format(national)
        expected = _outcome(normalize._phone_slow, value)
        quick = normalize._phone_fast(value)
        if expected[0] == "ok" and national[0] != "0":
            assert quick == expected[1], value
            taken += 1
        else:
            assert quick is None, value
        assert _outcome(normalize.phone, value) == expected, value
    assert taken > 1000  # the Vietnamese mobile ranges alone are far more than this


def test_phone_fast_path_used_for_common_shapes() -> None:
    for value in ["0912 853 984", "0912853984", "+84 912 853 984", "+84912853984"]:
        assert normalize._phone_fast(value) == "+84912853984"
    for value in ["84912853984", "(091) 285-3984", "+84 0912 853 984", "0912 853 98"]:
        assert normalize._phone_fast(value) is None


ATEXT = "abcxyzABCXYZ0189!#$%&'*+-/=?^_`{|}~"
_LOCAL_CHARS = st.sampled_from(
    [*list(ATEXT), ".", ".", " ", '"', "@", "<", "(", ",", "\\", "é", "\u0430"]
)
_LABEL_CHARS = st.sampled_from([*list("abcxyzABCXYZ0189-"), "-", "_", "é", "."])
_TLDS = st.sampled_from(
    [
        "com",
        "COM",
        "vn",
        "Org",
        "test",
        "local",
        "localhost",
        "onion",
        "arpa",
        "invalid",
        "example",
        "1",
        "123",
        "c0m",
        "x1",
        "co",
        "a",
        "xn--p1ai",
        "com-",
        "-com",
        "",
        "c-m",
    ]
)


@st.composite
def email_near_misses(draw: st.DrawFn) -> str:
    local = draw(
        st.one_of(
            st.text(st.sampled_from(ATEXT + "."), min_size=1, max_size=12),
            st.text(_LOCAL_CHARS, min_size=0, max_size=12),
            st.sampled_from(
                [
                    "info",
                    "Info",
                    "ABUSE",
                    "postmaster",
                    "khach.mau",
                    "a..b",
                    ".a",
                    "a.",
                    "a" * 63,
                    "a" * 64,
                    "a" * 65,
                    "b." * 32 + "c",
                ]
            ),
        )
    )
    labels = draw(
        st.lists(
            st.one_of(
                st.text(st.sampled_from("abcxyzABCXYZ0189-"), min_size=1, max_size=8),
                st.text(_LABEL_CHARS, min_size=0, max_size=8),
                st.sampled_from(
                    [
                        "example",
                        "EXAMPLE",
                        "x" * 63,
                        "x" * 64,
                        "ab--cd",
                        "xn--bcher-kva",
                        "123",
                        "a-b",
                        "-ab",
                        "ab-",
                        "mail",
                    ]
                ),
            ),
            min_size=0,
            max_size=3,
        )
    )
    tld = draw(st.one_of(st.sampled_from(["com", "vn", "NET"]), _TLDS))
    domain = ".".join([*labels, tld])
    around = draw(st.sampled_from([("", ""), (" ", ""), ("", "\t"), ("\n", " "), ("\u00a0", "")]))
    return f"{around[0]}{local}@{domain}{around[1]}"


@settings(max_examples=800, deadline=None)
@given(email_near_misses())
def test_email_fast_path_matches_email_validator(value: str) -> None:
    _assert_fast_path_exact(normalize._email_fast, normalize._email_slow, normalize.email, value)


def _sized_email(local_len: int, total: int) -> str:
    """An ASCII address with a local part of local_len and exactly `total` characters."""
    domain_len = total - local_len - 1
    labels: list[str] = []
    left = domain_len - 4  # ".com"
    while left > 0:
        size = min(63, left)
        if left - size == 1:  # never leave a lone dot's worth: split the rest in two
            size -= 1
        labels.append("d" * size)
        left -= size + 1
    return "l" * local_len + "@" + ".".join([*labels, "com"])


@pytest.mark.parametrize("local_len", [1, 63, 64, 65, 100])
@pytest.mark.parametrize("total", [40, 253, 254, 255, 258])
def test_email_fast_path_length_boundaries(local_len: int, total: int) -> None:
    value = _sized_email(local_len, total)
    assert len(value) == total or len(value.split("@")[1]) < 5
    _assert_fast_path_exact(normalize._email_fast, normalize._email_slow, normalize.email, value)


@pytest.mark.parametrize("label", [62, 63, 64])
@pytest.mark.parametrize("domain_total", [252, 253, 254])
def test_email_fast_path_domain_boundaries(label: int, domain_total: int) -> None:
    labels = ["e" * label]
    while len(".".join(labels)) < domain_total - 4:
        room = domain_total - 4 - len(".".join(labels)) - 1
        labels.append("f" * max(1, min(63, room)))
    domain = ".".join([*labels, "com"])[-domain_total:].lstrip(".-")
    value = f"k@{domain}"
    _assert_fast_path_exact(normalize._email_fast, normalize._email_slow, normalize.email, value)


def test_email_fast_path_used_for_plain_addresses() -> None:
    assert normalize._email_fast("Khach.Mau@EXAMPLE.Com") == "Khach.Mau@example.com"
    assert normalize._email_fast(" a+tag@mail.example.org ") == "a+tag@mail.example.org"
    for doubtful in ["Info@example.com", "a@b.test", "a@xn--p1ai.com", "a@b.c0m", "é@example.com"]:
        assert normalize._email_fast(doubtful) is None
    # The RFC 2142 names are lower-cased by the library path, not kept as given.
    assert normalize.email("Info@Example.com") == "info@example.com"


def test_control_character_class_is_exactly_unicode_cc() -> None:
    for point in range(0x110000):
        char = chr(point)
        is_cc = unicodedata.category(char) == "Cc"
        assert bool(normalize._CONTROL.search(char)) == is_cc, hex(point)


def test_every_default_ignorable_code_point_is_refused_in_names_and_emails() -> None:
    """Unicode's Default_Ignorable_Code_Point set (written out from DerivedCoreProperties),
    the Braille blank and the line/paragraph separators: each is refused in a name and in an
    email, whatever its general category."""
    ranges = [
        (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160),
        (0x17B4, 0x17B5), (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E),
        (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF),
        (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
        (0xE0000, 0xE0FFF), (0x2028, 0x2029), (0x2800, 0x2800),
    ]  # fmt: skip
    for low, high in ranges:
        for point in range(low, high + 1):
            char = chr(point)
            with pytest.raises(FieldError) as info:
                normalize.full_name(f"Ngô{char}Văn")
            assert char not in str(info.value)
            with pytest.raises(FieldError):
                normalize.email(f"khach{char}@example.com")


def test_ordinary_vietnamese_names_pass_the_invisible_check() -> None:
    for name in ("Nguyễn Thị Nhung", "Đặng Văn Ổn", "Lê Thị Hồng Nhung\u0301", "Trần 陳"):
        assert normalize.full_name(name) == unicodedata.normalize("NFC", name).strip()
