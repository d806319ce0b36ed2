"""Ed25519 signing of writer registrations and checkpoints; the seed comes from the key provider."""

from __future__ import annotations

import base64
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


class LogSigner:
    def __init__(self, seed: bytes) -> None:
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self.public_raw = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = hashlib.sha256(self.public_raw).hexdigest()[:16]

    def sign(self, statement: bytes) -> bytes:
        return self._key.sign(statement)

    def public_pem(self) -> str:
        return (
            self._key.public_key()
            .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
            .decode("ascii")
        )

    def public_b64(self) -> str:
        return base64.b64encode(self.public_raw).decode("ascii")

    def __repr__(self) -> str:
        return f"LogSigner(key_id={self.key_id})"


def verify_signature(public_raw: bytes, signature: bytes, statement: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, statement)
    except (InvalidSignature, ValueError):
        return False
    return True
