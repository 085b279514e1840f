"""AES-256-GCM for quarantined content: plaintext prompts never touch disk.

The key comes from AETHER_ENCRYPTION_KEY (32 bytes, URL-safe base64) or a key file created with mode 0600.
Each record gets a fresh 96-bit nonce; the record id is bound as associated data, so a ciphertext moved to
another record does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from aether_policy.exceptions import EncryptionKeyError

KEY_ENV = "AETHER_ENCRYPTION_KEY"
_NONCE = 12


def new_key() -> str:
    return base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)).decode()


def decode_key(text: str, source: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip().encode())
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise EncryptionKeyError(
            f"{source} is not a 32-byte URL-safe base64 key; create one with: "
            "python -c 'import base64,os;print(base64.urlsafe_b64encode(os.urandom(32)).decode())'"
        )
    return key


class Cipher:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: bytes, associated: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, plaintext, associated)

    def decrypt(self, sealed: bytes, associated: bytes) -> bytes:
        try:
            return self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], associated)
        except InvalidTag:
            raise EncryptionKeyError(
                "this record does not decrypt with the current key: was AETHER_ENCRYPTION_KEY changed?"
            ) from None


def load_or_create_key(key_file: Path) -> tuple[Cipher, str | None]:
    """The cipher, and a one-time notice when a new key file was just created."""
    env = os.environ.get(KEY_ENV)
    if env:
        return Cipher(decode_key(env, KEY_ENV)), None
    if key_file.exists():
        return Cipher(decode_key(key_file.read_text(encoding="ascii"), str(key_file))), None
    key_file.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(new_key() + "\n")
    notice = f"created encryption key {key_file} (mode 0600); back it up, or set {KEY_ENV}"
    return Cipher(decode_key(key_file.read_text(encoding="ascii"), str(key_file))), notice
