"""Envelope encryption: field ciphertexts, wrapped data keys and blind indexes.

Property tests (hypothesis) for the design requirements: any Unicode text round-trips exactly
(Vietnamese in NFC and in NFD included), a ciphertext moved to another customer or field fails,
any flipped bit fails, and the format version is the first byte and is authenticated.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import unicodedata
import uuid
from typing import Literal

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pdvault.crypto.blind_index import blind_index
from pdvault.crypto.envelope import (
    DATA_KEY_BYTES,
    FORMAT_VERSION,
    NONCE_BYTES,
    DecryptionError,
    decrypt_field,
    encrypt_field,
    field_context,
    new_data_key,
)
from pdvault.crypto.keyring import Keyring, new_keyring
from pdvault.crypto.provider import KeyUnavailableError, LocalKeyProvider, WrappedKey
from pdvault.customers import normalize

FIELDS = ["full_name", "phone", "email", "address"]
TAG_BYTES = 16

# Every code point a Python str can carry through UTF-8: lone surrogates (category Cs) cannot.
unicode_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=300)
data_keys = st.binary(min_size=DATA_KEY_BYTES, max_size=DATA_KEY_BYTES)
field_names = st.sampled_from(FIELDS) | st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20
)

VIETNAMESE = [
    "Nguyễn Văn Mẫu",
    "Trần Thị Bích Ngọc",
    "Phạm Đức Thắng",
    "Lê Hoàng Yến Nhi",
    "Số 1 Đường Ví Dụ, Phường Mẫu, Quận Hoàn Kiếm, Hà Nội",
    "Km 26, Khê Than, Phú Nghĩa, Chương Mỹ, Hà Nội",
    "Ứng Quốc Vượng — ấp Mỹ Khánh, xã Mỹ Đức Tây",
]
vietnamese_letters = "ăâđêôơưàảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵ"
vietnamese_text = st.text(
    alphabet=st.sampled_from(vietnamese_letters + vietnamese_letters.upper() + "aeiouy ĐNgh"),
    min_size=1,
    max_size=80,
)

Form = Literal["NFC", "NFD", "NFKC", "NFKD"]

PROPERTY = settings(max_examples=150, deadline=None)


# -- field encryption -------------------------------------------------------------------------


@PROPERTY
@given(key=data_keys, customer=st.uuids(), field=field_names, text=unicode_text)
def test_any_unicode_text_round_trips_exactly(
    key: bytes, customer: uuid.UUID, field: str, text: str
) -> None:
    blob = encrypt_field(key, customer, field, text)
    assert decrypt_field(key, customer, field, blob) == text
    assert len(blob) == 1 + NONCE_BYTES + len(text.encode("utf-8")) + TAG_BYTES


@pytest.mark.parametrize("form", ["NFC", "NFD"])
@pytest.mark.parametrize("text", VIETNAMESE)
def test_vietnamese_round_trips_with_the_same_code_points(form: Form, text: str) -> None:
    original = unicodedata.normalize(form, text)
    key, customer = new_data_key(), uuid.uuid4()
    out = decrypt_field(
        key, customer, "full_name", encrypt_field(key, customer, "full_name", original)
    )
    assert out == original
    assert [ord(c) for c in out] == [ord(c) for c in original]
    assert unicodedata.is_normalized(form, out)


def test_nfd_is_not_silently_normalised_to_nfc() -> None:
    nfc = unicodedata.normalize("NFC", "Nguyễn Văn Mẫu")
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd  # the fixture itself must differ between forms
    key, customer = new_data_key(), uuid.uuid4()
    out = decrypt_field(key, customer, "address", encrypt_field(key, customer, "address", nfd))
    assert out == nfd
    assert out != nfc
    assert len(out) == len(nfd) > len(nfc)


@PROPERTY
@given(text=vietnamese_text, form=st.sampled_from(["NFC", "NFD", "NFKC", "NFKD"]))
def test_vietnamese_in_any_normal_form_round_trips(text: str, form: Form) -> None:
    original = unicodedata.normalize(form, text)
    key, customer = new_data_key(), uuid.uuid4()
    assert decrypt_field(
        key, customer, "email", encrypt_field(key, customer, "email", original)
    ) == (original)


@PROPERTY
@given(key=data_keys, customer=st.uuids(), other=st.uuids(), field=field_names, text=unicode_text)
def test_ciphertext_moved_to_another_customer_fails(
    key: bytes, customer: uuid.UUID, other: uuid.UUID, field: str, text: str
) -> None:
    assume(customer != other)
    blob = encrypt_field(key, customer, field, text)
    with pytest.raises(DecryptionError):
        decrypt_field(key, other, field, blob)


@PROPERTY
@given(key=data_keys, customer=st.uuids(), field=field_names, other=field_names, text=unicode_text)
def test_ciphertext_moved_to_another_field_fails(
    key: bytes, customer: uuid.UUID, field: str, other: str, text: str
) -> None:
    assume(field != other)
    blob = encrypt_field(key, customer, field, text)
    with pytest.raises(DecryptionError):
        decrypt_field(key, customer, other, blob)


@pytest.mark.parametrize("source", FIELDS)
def test_ciphertext_swapped_between_real_columns_fails(source: str) -> None:
    key, customer = new_data_key(), uuid.uuid4()
    blob = encrypt_field(key, customer, source, "0912 853 984")
    for target in FIELDS:
        if target == source:
            assert decrypt_field(key, customer, target, blob) == "0912 853 984"
        else:
            with pytest.raises(DecryptionError):
                decrypt_field(key, customer, target, blob)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=data_keys, customer=st.uuids(), text=unicode_text, data=st.data())
def test_any_flipped_bit_fails(
    key: bytes, customer: uuid.UUID, text: str, data: st.DataObject
) -> None:
    blob = encrypt_field(key, customer, "full_name", text)
    position = data.draw(st.integers(min_value=0, max_value=len(blob) - 1), label="position")
    bit = data.draw(st.integers(min_value=0, max_value=7), label="bit")
    tampered = bytearray(blob)
    tampered[position] ^= 1 << bit
    with pytest.raises(DecryptionError):
        decrypt_field(key, customer, "full_name", bytes(tampered))


@PROPERTY
@given(key=data_keys, customer=st.uuids(), text=unicode_text, data=st.data())
def test_any_replaced_byte_fails(
    key: bytes, customer: uuid.UUID, text: str, data: st.DataObject
) -> None:
    blob = encrypt_field(key, customer, "address", text)
    position = data.draw(st.integers(min_value=0, max_value=len(blob) - 1), label="position")
    value = data.draw(st.integers(min_value=0, max_value=255).filter(lambda v: v != blob[position]))
    tampered = bytearray(blob)
    tampered[position] = value
    with pytest.raises(DecryptionError):
        decrypt_field(key, customer, "address", bytes(tampered))


@PROPERTY
@given(key=data_keys, customer=st.uuids(), text=unicode_text, data=st.data())
def test_truncated_or_extended_ciphertext_fails(
    key: bytes, customer: uuid.UUID, text: str, data: st.DataObject
) -> None:
    blob = encrypt_field(key, customer, "phone", text)
    cut = data.draw(st.integers(min_value=0, max_value=len(blob) - 1), label="cut")
    with pytest.raises(DecryptionError):
        decrypt_field(key, customer, "phone", blob[:cut])
    extra = data.draw(st.binary(min_size=1, max_size=16), label="extra")
    with pytest.raises(DecryptionError):
        decrypt_field(key, customer, "phone", blob + extra)


@PROPERTY
@given(key=data_keys, other=data_keys, customer=st.uuids(), text=unicode_text)
def test_wrong_data_key_fails(key: bytes, other: bytes, customer: uuid.UUID, text: str) -> None:
    assume(key != other)
    blob = encrypt_field(key, customer, "email", text)
    with pytest.raises(DecryptionError):
        decrypt_field(other, customer, "email", blob)


@PROPERTY
@given(key=data_keys, customer=st.uuids(), text=unicode_text)
def test_two_encryptions_of_the_same_text_differ(
    key: bytes, customer: uuid.UUID, text: str
) -> None:
    first = encrypt_field(key, customer, "full_name", text)
    second = encrypt_field(key, customer, "full_name", text)
    assert first != second
    assert first[1 : 1 + NONCE_BYTES] != second[1 : 1 + NONCE_BYTES]  # a fresh nonce each time
    assert decrypt_field(key, customer, "full_name", first) == text
    assert decrypt_field(key, customer, "full_name", second) == text


def test_nonces_are_fresh_over_many_encryptions() -> None:
    key, customer = new_data_key(), uuid.uuid4()
    nonces = {encrypt_field(key, customer, "phone", "+84912853984")[1:13] for _ in range(2000)}
    assert len(nonces) == 2000


def test_plaintext_does_not_appear_in_ciphertext() -> None:
    key, customer = new_data_key(), uuid.uuid4()
    text = "khach.mau.ciphertext@example.com"
    blob = encrypt_field(key, customer, "email", text)
    assert text.encode() not in blob
    assert b"example.com" not in blob


@PROPERTY
@given(key=data_keys, customer=st.uuids(), text=unicode_text, version=st.integers(0, 255))
def test_format_version_is_the_first_byte_and_changing_it_fails(
    key: bytes, customer: uuid.UUID, text: str, version: int
) -> None:
    blob = encrypt_field(key, customer, "full_name", text)
    assert blob[0] == FORMAT_VERSION == 1
    tampered = bytes([version]) + blob[1:]
    if version == FORMAT_VERSION:
        assert decrypt_field(key, customer, "full_name", tampered) == text
    else:
        with pytest.raises(DecryptionError):
            decrypt_field(key, customer, "full_name", tampered)


def test_format_version_is_bound_in_the_associated_data() -> None:
    """A ciphertext sealed under a future version's context fails even with a version-1 prefix."""
    key, customer = new_data_key(), uuid.uuid4()
    nonce = b"\x07" * NONCE_BYTES
    plain = "Trần Thị Bích Ngọc".encode()
    current = AESGCM(key).encrypt(nonce, plain, field_context(customer, "full_name"))
    # The hand-built layout matches the real one (so the negative case below means something).
    assert decrypt_field(key, customer, "full_name", b"\x01" + nonce + current) == (
        "Trần Thị Bích Ngọc"
    )
    future = AESGCM(key).encrypt(nonce, plain, field_context(customer, "full_name", version=2))
    with pytest.raises(DecryptionError):
        decrypt_field(key, customer, "full_name", b"\x01" + nonce + future)


def test_associated_data_names_customer_field_and_version() -> None:
    customer = uuid.UUID("12345678-1234-5678-1234-567812345678")
    context = field_context(customer, "email")
    assert customer.hex.encode() in context
    assert b"email" in context
    assert field_context(customer, "email", version=2) != context


def test_data_keys_are_256_bit_and_random() -> None:
    keys = {new_data_key() for _ in range(100)}
    assert len(keys) == 100
    assert all(len(k) == 32 for k in keys)


# -- LocalKeyProvider: wrapping data keys -----------------------------------------------------


def _ring(keks: dict[int, bytes], primary: int, base: Keyring | None = None) -> Keyring:
    base = base or new_keyring()
    return Keyring(
        keks=keks, primary=primary, index_key=base.index_key, signing_seed=base.signing_seed
    )


@settings(max_examples=50, deadline=None)
@given(dek=data_keys, owner=st.uuids())
def test_wrap_unwrap_round_trip(dek: bytes, owner: uuid.UUID) -> None:
    provider = LocalKeyProvider(new_keyring())
    wrapped = asyncio.run(provider.wrap_data_key(dek, owner))
    assert dek not in wrapped.blob
    assert asyncio.run(provider.unwrap_data_key(wrapped, owner)) == dek


async def test_unwrapping_for_another_customer_fails() -> None:
    provider = LocalKeyProvider(new_keyring())
    owner, other = uuid.uuid4(), uuid.uuid4()
    wrapped = await provider.wrap_data_key(new_data_key(), owner)
    with pytest.raises(DecryptionError):
        await provider.unwrap_data_key(wrapped, other)


async def test_unwrapping_under_another_keyring_fails() -> None:
    owner = uuid.uuid4()
    wrapped = await LocalKeyProvider(new_keyring()).wrap_data_key(new_data_key(), owner)
    with pytest.raises(DecryptionError):
        await LocalKeyProvider(new_keyring()).unwrap_data_key(wrapped, owner)


async def test_tampered_wrapped_key_fails() -> None:
    provider = LocalKeyProvider(new_keyring())
    owner = uuid.uuid4()
    wrapped = await provider.wrap_data_key(new_data_key(), owner)
    for position in range(len(wrapped.blob)):
        tampered = bytearray(wrapped.blob)
        tampered[position] ^= 0x01
        with pytest.raises(DecryptionError):
            await provider.unwrap_data_key(WrappedKey(wrapped.version, bytes(tampered)), owner)
    with pytest.raises(DecryptionError):
        await provider.unwrap_data_key(WrappedKey(wrapped.version, wrapped.blob[:20]), owner)


async def test_unknown_key_version_raises_key_unavailable() -> None:
    k1, k2 = new_data_key(), new_data_key()
    rotated = LocalKeyProvider(_ring({1: k1, 2: k2}, primary=2))
    owner = uuid.uuid4()
    wrapped = await rotated.wrap_data_key(new_data_key(), owner)
    assert wrapped.version == 2
    old_only = LocalKeyProvider(_ring({1: k1}, primary=1))
    with pytest.raises(KeyUnavailableError) as caught:
        await old_only.unwrap_data_key(wrapped, owner)
    assert "2" in str(caught.value)
    assert base64.b64encode(k1).decode() not in str(caught.value)
    with pytest.raises(KeyUnavailableError):
        await rotated.unwrap_data_key(WrappedKey(99, wrapped.blob), owner)


async def test_wrap_uses_the_primary_version() -> None:
    k1, k2 = new_data_key(), new_data_key()
    base = new_keyring()
    owner, dek = uuid.uuid4(), new_data_key()

    primary_two = LocalKeyProvider(_ring({1: k1, 2: k2}, primary=2, base=base))
    wrapped = await primary_two.wrap_data_key(dek, owner)
    assert wrapped.version == primary_two.primary_version == 2
    # Only KEK 2 opens it: a ring holding just version 2 works, the same blob under 1 fails.
    assert await LocalKeyProvider(_ring({2: k2}, 2)).unwrap_data_key(wrapped, owner) == dek
    with pytest.raises(DecryptionError):
        await primary_two.unwrap_data_key(WrappedKey(1, wrapped.blob), owner)
    # A ring that calls another key "version 2" cannot open it either.
    with pytest.raises(DecryptionError):
        await LocalKeyProvider(_ring({2: k1}, 2)).unwrap_data_key(wrapped, owner)

    primary_one = LocalKeyProvider(_ring({1: k1, 2: k2}, primary=1, base=base))
    wrapped_one = await primary_one.wrap_data_key(dek, owner)
    assert wrapped_one.version == 1
    # After rotation the old wrapped key still opens (key rotation must not strand data).
    assert await primary_two.unwrap_data_key(wrapped_one, owner) == dek


async def test_provider_end_to_end_with_field_encryption() -> None:
    provider = LocalKeyProvider(new_keyring())
    customer, dek = uuid.uuid4(), new_data_key()
    wrapped = await provider.wrap_data_key(dek, customer)
    blob = encrypt_field(dek, customer, "full_name", "Nguyễn Văn Mẫu")
    opened = await provider.unwrap_data_key(wrapped, customer)
    assert decrypt_field(opened, customer, "full_name", blob) == "Nguyễn Văn Mẫu"


async def test_batch_wrap_and_unwrap_agree_with_one_at_a_time() -> None:
    """The batch calls rewrap uses: in order, across versions, each key bound to its owner."""
    k1, k2 = new_data_key(), new_data_key()
    base = new_keyring()
    old = LocalKeyProvider(_ring({1: k1}, primary=1, base=base))
    both = LocalKeyProvider(_ring({1: k1, 2: k2}, primary=2, base=base))
    owners = [uuid.uuid4() for _ in range(6)]
    deks = [new_data_key() for _ in owners]
    # Mixed versions in one batch: three wrapped one by one under 1, three in a batch under 2.
    mixed = [await old.wrap_data_key(d, o) for d, o in zip(deks[:3], owners[:3], strict=True)]
    mixed += await both.wrap_data_keys(list(zip(deks[3:], owners[3:], strict=True)))
    assert [w.version for w in mixed] == [1, 1, 1, 2, 2, 2]
    assert len({w.blob[:NONCE_BYTES] for w in mixed}) == 6  # a fresh nonce each
    assert await both.unwrap_data_keys(list(zip(mixed, owners, strict=True))) == deks
    for w, o, d in zip(mixed, owners, deks, strict=True):
        assert await both.unwrap_data_key(w, o) == d
    assert await both.wrap_data_keys([]) == []
    assert await both.unwrap_data_keys([]) == []
    # Bound to the owner: one swapped pair fails the whole batch.
    swapped = [owners[1], owners[0], *owners[2:]]
    with pytest.raises(DecryptionError):
        await both.unwrap_data_keys(list(zip(mixed, swapped, strict=True)))
    with pytest.raises(KeyUnavailableError):
        await old.unwrap_data_keys(list(zip(mixed, owners, strict=True)))


# -- blind indexes ----------------------------------------------------------------------------

index_keys = st.binary(min_size=32, max_size=32)


@PROPERTY
@given(key=index_keys, field=st.sampled_from(["email", "phone"]), value=unicode_text)
def test_blind_index_is_deterministic_and_32_bytes(key: bytes, field: str, value: str) -> None:
    first = blind_index(key, field, value)
    assert first == blind_index(key, field, value)
    assert len(first) == 32


@PROPERTY
@given(key=index_keys, value=unicode_text)
def test_blind_index_differs_by_field(key: bytes, value: str) -> None:
    assert blind_index(key, "email", value) != blind_index(key, "phone", value)


@PROPERTY
@given(key=index_keys, other=index_keys, value=unicode_text)
def test_blind_index_differs_by_key(key: bytes, other: bytes, value: str) -> None:
    assume(key != other)
    assert blind_index(key, "email", value) != blind_index(other, "email", value)


@PROPERTY
@given(key=index_keys, a=unicode_text, b=unicode_text)
def test_blind_index_differs_for_different_values(key: bytes, a: str, b: str) -> None:
    assume(a != b)
    assert blind_index(key, "email", a) != blind_index(key, "email", b)


@PROPERTY
@given(
    key=index_keys,
    field=st.text(alphabet="abcdefgh_", min_size=1, max_size=8),
    other=st.text(alphabet="abcdefgh_", min_size=1, max_size=8),
    value=st.text(alphabet="abcdefgh_@.", max_size=12),
    other_value=st.text(alphabet="abcdefgh_@.", max_size=12),
)
def test_blind_index_field_and_value_do_not_run_together(
    key: bytes, field: str, other: str, value: str, other_value: str
) -> None:
    """("em", "ail@x") and ("email", "@x") are different inputs and must not collide."""
    assume((field, value) != (other, other_value))
    assert blind_index(key, field, value) != blind_index(key, other, other_value)


@pytest.mark.parametrize(
    ("field", "spellings"),
    [
        ("email", ["khach.mau@Example.COM", " khach.mau@example.com ", "khach.mau@EXAMPLE.com"]),
        ("phone", ["0912 853 984", "+84 912 853 984", "84912853984", "0912853984"]),
    ],
)
def test_blind_index_equal_for_the_same_normalised_value(field: str, spellings: list[str]) -> None:
    key = new_keyring().index_key
    canonical = getattr(normalize, field)
    normalised = {canonical(s) for s in spellings}
    assert len(normalised) == 1
    indexes = {blind_index(key, field, canonical(s)) for s in spellings}
    assert len(indexes) == 1


@PROPERTY
@given(key=index_keys, field=st.sampled_from(["email", "phone"]), value=unicode_text)
def test_blind_index_is_not_a_plain_hash(key: bytes, field: str, value: str) -> None:
    index = blind_index(key, field, value)
    raw = value.encode("utf-8")
    assert index != hashlib.sha256(raw).digest()
    assert index != hashlib.sha256(field.encode() + b"\x00" + raw).digest()
    assert index != hashlib.sha256(field.encode() + raw).digest()
    assert index != hmac.new(key, raw, hashlib.sha256).digest()  # the field is part of the input
