"""The local keyring: versioned 256-bit key-encryption keys in one JSON file, mode 0600.

The file holds KEK versions (one is primary), the blind-index key and the log-signing seed.
It is refused, with one line saying why, when missing, corrupt or readable by others.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import stat
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

KEYRING_FORMAT = "pdvault-keyring/1"
KEY_BYTES = 32


class KeyringError(Exception):
    """The keyring cannot be used. The message is one line and never contains key material."""


@dataclass(frozen=True)
class Keyring:
    keks: dict[int, bytes]
    primary: int
    index_key: bytes = field(repr=False)
    signing_seed: bytes = field(repr=False)

    def __repr__(self) -> str:
        return f"Keyring(versions={sorted(self.keks)}, primary={self.primary})"

    def rotated(self) -> Keyring:
        """A new random version, primary at once; older versions stay to unwrap old keys."""
        version = max(self.keks) + 1
        return replace(
            self, keks={**self.keks, version: secrets.token_bytes(KEY_BYTES)}, primary=version
        )

    def without(self, version: int) -> Keyring:
        """The keyring with one version destroyed (the caller checked nothing uses it)."""
        if version not in self.keks:
            raise KeyringError(f"key version {version} is not in the keyring")
        if version == self.primary:
            raise KeyringError(f"key version {version} is the primary; rotate first")
        return replace(self, keks={v: k for v, k in self.keks.items() if v != version})

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": KEYRING_FORMAT,
                "created_at": datetime.now(UTC).isoformat(),
                "primary": self.primary,
                "keks": {str(v): _b64(k) for v, k in sorted(self.keks.items())},
                "index_key": _b64(self.index_key),
                "signing_seed": _b64(self.signing_seed),
            },
            indent=2,
        )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _key(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise KeyringError(f"keyring is corrupt: {what} is not a base64 string")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise KeyringError(f"keyring is corrupt: {what} is not valid base64") from None
    if len(raw) != KEY_BYTES:
        raise KeyringError(f"keyring is corrupt: {what} is not {KEY_BYTES} bytes")
    return raw


def new_keyring() -> Keyring:
    return Keyring(
        keks={1: secrets.token_bytes(KEY_BYTES)},
        primary=1,
        index_key=secrets.token_bytes(KEY_BYTES),
        signing_seed=secrets.token_bytes(KEY_BYTES),
    )


def parse_keyring(text: str) -> Keyring:
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise KeyringError("keyring is corrupt: not valid JSON") from None
    if not isinstance(doc, dict) or doc.get("format") != KEYRING_FORMAT:
        raise KeyringError(f"keyring is corrupt: format is not {KEYRING_FORMAT}")
    raw_keks = doc.get("keks")
    if not isinstance(raw_keks, dict) or not raw_keks:
        raise KeyringError("keyring is corrupt: no key-encryption keys")
    keks: dict[int, bytes] = {}
    for version, value in raw_keks.items():
        if not (isinstance(version, str) and version.isdigit() and int(version) > 0):
            raise KeyringError("keyring is corrupt: a key version is not a positive integer")
        keks[int(version)] = _key(value, f"key version {version}")
    primary = doc.get("primary")
    if isinstance(primary, bool) or not isinstance(primary, int) or primary not in keks:
        raise KeyringError("keyring is corrupt: the primary version is not among the keys")
    return Keyring(
        keks=keks,
        primary=primary,
        index_key=_key(doc.get("index_key"), "index_key"),
        signing_seed=_key(doc.get("signing_seed"), "signing_seed"),
    )


def load_keyring(path: Path) -> Keyring:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise KeyringError(f"keyring not found at {path}: run 'pdvault init' first") from None
    except OSError as exc:
        raise KeyringError(f"keyring at {path} cannot be read: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise KeyringError(f"keyring at {path} is not a regular file")
    if st.st_mode & 0o077:
        raise KeyringError(
            f"keyring at {path} is readable by others (mode {stat.S_IMODE(st.st_mode):04o}); "
            "run 'chmod 600' on it"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise KeyringError("keyring is corrupt: not valid JSON (not UTF-8 text)") from None
    except OSError as exc:
        raise KeyringError(f"keyring at {path} cannot be read: {exc.strerror}") from None
    return parse_keyring(text)


def write_keyring(path: Path, keyring: Keyring, *, replace: bool = False) -> None:
    """Write atomically with mode 0600; never overwrite unless ``replace``."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.exists() and not replace:
        raise KeyringError(f"keyring already exists at {path}")
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(keyring.to_json())
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
