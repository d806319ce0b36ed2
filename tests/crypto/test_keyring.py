"""The local keyring file: created 0600, refused with one clear line when unusable."""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pdvault.crypto.keyring import (
    KEY_BYTES,
    KEYRING_FORMAT,
    Keyring,
    KeyringError,
    load_keyring,
    new_keyring,
    parse_keyring,
    write_keyring,
)
from pdvault.crypto.provider import LocalKeyProvider


def secrets_of(ring: Keyring) -> list[bytes]:
    return [*ring.keks.values(), ring.index_key, ring.signing_seed]


def leaked(message: str, *raws: bytes) -> list[str]:
    """Every representation of a key that appears in ``message``."""
    found = []
    for raw in raws:
        for form in (
            base64.b64encode(raw).decode(),
            base64.urlsafe_b64encode(raw).decode(),
            raw.hex(),
            repr(raw),
        ):
            # A prefix long enough to be unmistakable, to catch partial quoting too.
            if form[:16] in message:
                found.append(form)
    return found


def assert_clean_one_line(exc: KeyringError, *raws: bytes) -> str:
    message = str(exc)
    assert message.strip()
    assert "\n" not in message
    assert "\r" not in message
    assert leaked(message, *raws) == []
    return message


@pytest.fixture
def ring() -> Keyring:
    return new_keyring()


@pytest.fixture
def no_umask() -> Iterator[None]:
    """Mode 0600 must come from the code, not from a friendly umask."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def doc_of(ring: Keyring) -> dict[str, Any]:
    return dict(json.loads(ring.to_json()))


def write_doc(path: Path, doc: dict[str, Any] | str, mode: int = 0o600) -> Path:
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    path.chmod(mode)
    return path


# -- new / write / load -----------------------------------------------------------------------


def test_new_keyring_has_distinct_256_bit_keys() -> None:
    ring, other = new_keyring(), new_keyring()
    assert ring.primary == 1
    assert set(ring.keks) == {1}
    assert all(len(k) == KEY_BYTES == 32 for k in secrets_of(ring))
    assert len(set(secrets_of(ring))) == 3
    assert set(secrets_of(ring)).isdisjoint(secrets_of(other))


@pytest.mark.usefixtures("no_umask")
def test_written_keyring_has_mode_0600(tmp_path: Path, ring: Keyring) -> None:
    path = tmp_path / "nested" / "keyring.json"
    write_keyring(path, ring)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_ISREG(path.stat().st_mode)
    # Written atomically: no temporary file left beside it.
    assert [p.name for p in path.parent.iterdir()] == ["keyring.json"]


def test_written_keyring_loads_back_identical(tmp_path: Path, ring: Keyring) -> None:
    path = tmp_path / "keyring.json"
    write_keyring(path, ring)
    loaded = load_keyring(path)
    assert loaded == ring
    doc = json.loads(path.read_text())
    assert doc["format"] == KEYRING_FORMAT
    assert doc["primary"] == 1


def test_write_refuses_to_overwrite(tmp_path: Path, ring: Keyring) -> None:
    path = tmp_path / "keyring.json"
    write_keyring(path, ring)
    before = path.read_bytes()
    other = new_keyring()
    with pytest.raises(KeyringError) as caught:
        write_keyring(path, other)
    message = assert_clean_one_line(caught.value, *secrets_of(ring), *secrets_of(other))
    assert "already exists" in message
    assert path.read_bytes() == before
    assert load_keyring(path) == ring
    assert [p.name for p in tmp_path.iterdir()] == ["keyring.json"]


@pytest.mark.usefixtures("no_umask")
def test_write_with_replace_overwrites_and_stays_0600(tmp_path: Path, ring: Keyring) -> None:
    path = tmp_path / "keyring.json"
    write_keyring(path, ring)
    path.chmod(0o644)
    other = new_keyring()
    write_keyring(path, other, replace=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_keyring(path) == other


def test_rotated_keyring_round_trips(tmp_path: Path, ring: Keyring) -> None:
    rotated = Keyring(
        keks={**ring.keks, 2: os.urandom(32)},
        primary=2,
        index_key=ring.index_key,
        signing_seed=ring.signing_seed,
    )
    path = tmp_path / "keyring.json"
    write_keyring(path, rotated)
    loaded = load_keyring(path)
    assert loaded == rotated
    assert LocalKeyProvider(loaded).primary_version == 2
    assert LocalKeyProvider(loaded).versions() == [1, 2]


# -- refusals ---------------------------------------------------------------------------------


def test_missing_keyring_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    with pytest.raises(KeyringError) as caught:
        load_keyring(path)
    message = assert_clean_one_line(caught.value)
    assert "not found" in message
    assert "pdvault init" in message


def test_directory_instead_of_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    path.mkdir(mode=0o700)
    with pytest.raises(KeyringError) as caught:
        load_keyring(path)
    assert "not a regular file" in assert_clean_one_line(caught.value)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o620, 0o602, 0o666, 0o700 | 0o044])
def test_keyring_readable_or_writable_by_others_is_refused(
    tmp_path: Path, ring: Keyring, mode: int
) -> None:
    path = tmp_path / "keyring.json"
    write_keyring(path, ring)
    path.chmod(mode)
    with pytest.raises(KeyringError) as caught:
        load_keyring(path)
    message = assert_clean_one_line(caught.value, *secrets_of(ring))
    assert "readable by others" in message
    assert f"{mode:04o}" in message
    assert "chmod 600" in message


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_owner_only_modes_are_accepted(tmp_path: Path, ring: Keyring, mode: int) -> None:
    path = tmp_path / "keyring.json"
    write_keyring(path, ring)
    path.chmod(mode)
    assert load_keyring(path) == ring


def _replace(key: str, value: Any) -> Callable[[dict[str, Any]], dict[str, Any] | str]:
    def mutate(doc: dict[str, Any]) -> dict[str, Any] | str:
        doc[key] = value
        return doc

    return mutate


def _kek(value: Any) -> Callable[[dict[str, Any]], dict[str, Any] | str]:
    def mutate(doc: dict[str, Any]) -> dict[str, Any] | str:
        doc["keks"]["1"] = value
        return doc

    return mutate


def _truncate(doc: dict[str, Any]) -> str:
    return json.dumps(doc)[:-40]


def _drop(key: str) -> Callable[[dict[str, Any]], dict[str, Any] | str]:
    def mutate(doc: dict[str, Any]) -> dict[str, Any] | str:
        del doc[key]
        return doc

    return mutate


SHORT = base64.b64encode(b"\x11" * 31).decode()
LONG = base64.b64encode(b"\x22" * 33).decode()

CORRUPTIONS: dict[str, tuple[Callable[[dict[str, Any]], dict[str, Any] | str], str]] = {
    "truncated json": (_truncate, "not valid JSON"),
    "not json at all": (lambda doc: "this is not a keyring", "not valid JSON"),
    "empty file": (lambda doc: "", "not valid JSON"),
    "json list": (lambda doc: json.dumps([doc]), "format"),
    "wrong format tag": (_replace("format", "pdvault-keyring/2"), "format"),
    "no format tag": (_drop("format"), "format"),
    "no keks": (_drop("keks"), "no key-encryption keys"),
    "empty keks": (_replace("keks", {}), "no key-encryption keys"),
    "kek 31 bytes": (_kek(SHORT), "not 32 bytes"),
    "kek 33 bytes": (_kek(LONG), "not 32 bytes"),
    "kek bad base64": (_kek("not*base64*at*all!!"), "not valid base64"),
    "kek not a string": (_kek(12345), "not a base64 string"),
    "index key 31 bytes": (_replace("index_key", SHORT), "index_key is not 32 bytes"),
    "index key bad base64": (_replace("index_key", "@@@@"), "index_key is not valid base64"),
    "index key missing": (_drop("index_key"), "index_key"),
    "signing seed 33 bytes": (_replace("signing_seed", LONG), "signing_seed is not 32 bytes"),
    "signing seed missing": (_drop("signing_seed"), "signing_seed"),
    "primary not present": (_replace("primary", 2), "primary version"),
    "primary missing": (_drop("primary"), "primary version"),
    "primary a string": (_replace("primary", "1"), "primary version"),
    "version zero": (_replace("keks", {"0": SHORT}), "positive integer"),
    "version not a number": (_replace("keks", {"one": SHORT}), "positive integer"),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_corrupt_keyring_is_refused_with_one_clean_line(
    tmp_path: Path, ring: Keyring, case: str
) -> None:
    mutate, expected = CORRUPTIONS[case]
    doc = mutate(doc_of(ring))
    text = doc if isinstance(doc, str) else json.dumps(doc)
    path = write_doc(tmp_path / "keyring.json", text)
    secrets = [*secrets_of(ring), b"\x11" * 31, b"\x22" * 33]
    with pytest.raises(KeyringError) as caught:
        load_keyring(path)
    message = assert_clean_one_line(caught.value, *secrets)
    assert "corrupt" in message
    assert expected in message
    # The same refusal when the JSON comes from the environment (PDVAULT_KEYS_JSON).
    with pytest.raises(KeyringError) as from_env:
        parse_keyring(text)
    assert assert_clean_one_line(from_env.value, *secrets) == message
    with pytest.raises(KeyringError):
        LocalKeyProvider.from_json(text)


def test_non_utf8_keyring_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    path.chmod(0o600)
    with pytest.raises(KeyringError) as caught:
        load_keyring(path)
    assert_clean_one_line(caught.value)


def test_error_on_a_key_never_quotes_the_key(tmp_path: Path, ring: Keyring) -> None:
    """A bad value next to good keys: the message names which field, never any value."""
    doc = doc_of(ring)
    bad = base64.b64encode(b"secret-ish-value-of-the-wrong-length").decode()
    doc["signing_seed"] = bad
    path = write_doc(tmp_path / "keyring.json", doc)
    with pytest.raises(KeyringError) as caught:
        load_keyring(path)
    message = assert_clean_one_line(caught.value, *secrets_of(ring))
    assert bad not in message
    assert "secret-ish" not in message


def test_provider_from_file_refuses_like_load(tmp_path: Path, ring: Keyring) -> None:
    path = tmp_path / "keyring.json"
    with pytest.raises(KeyringError):
        LocalKeyProvider.from_file(path)
    write_keyring(path, ring)
    assert LocalKeyProvider.from_file(path).versions() == [1]
    path.chmod(0o640)
    with pytest.raises(KeyringError):
        LocalKeyProvider.from_file(path)


# -- repr -------------------------------------------------------------------------------------


def test_repr_shows_no_key_bytes() -> None:
    ring = Keyring(
        keks={1: os.urandom(32), 2: os.urandom(32)},
        primary=2,
        index_key=os.urandom(32),
        signing_seed=os.urandom(32),
    )
    provider = LocalKeyProvider(ring)
    for text in (repr(ring), str(ring), repr(provider), str(provider), f"{ring!r} {provider}"):
        assert leaked(text, *secrets_of(ring)) == []
        assert "\\x" not in text
        assert "b'" not in text
        assert 'b"' not in text
    assert repr(ring) == "Keyring(versions=[1, 2], primary=2)"
    assert "versions=[1, 2]" in repr(provider)
    assert "primary=2" in repr(provider)
