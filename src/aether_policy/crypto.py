"""AES-256-GCM for quarantined content: plaintext prompts never touch disk.

The key comes from AETHER_ENCRYPTION_KEY (32 bytes, URL-safe base64) or a key file created with mode 0600.
Only the gateway (`serve`) creates a key; everything that only reads (`review show`) refuses to run
without one, since a new key could never open what the old one sealed. Each record gets a fresh 96-bit
nonce; the record id is bound as associated data, so a ciphertext moved to another record does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import errno
import hashlib
import hmac
import os
import tempfile
import time
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from aether_policy.exceptions import EncryptionKeyError

KEY_ENV = "AETHER_ENCRYPTION_KEY"
_NONCE = 12
# The fingerprint is an HMAC of this constant under the key: it identifies a key without revealing it.
_FINGERPRINT_LABEL = b"aether-policy encryption key fingerprint v1"


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
    def __init__(self, key: bytes, source: str = "the encryption key") -> None:
        self._aead = AESGCM(key)
        self.source = source  # where the key came from, for messages: an env var's name or a file path
        self.fingerprint = hmac.new(key, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()

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


def load_key(key_file: Path, why_not_created: str = "only `aether-policy serve` creates one") -> Cipher:
    """The cipher from AETHER_ENCRYPTION_KEY or an existing key file; never creates a key."""
    env = os.environ.get(KEY_ENV)
    if env:
        return Cipher(decode_key(env, KEY_ENV), KEY_ENV)
    if not key_file.exists():
        raise EncryptionKeyError(
            f"no encryption key: {KEY_ENV} is not set and {key_file} does not exist. Set {KEY_ENV} to the "
            f"gateway's key, or run where its key file is ({why_not_created})"
        )
    return Cipher(decode_key(_read_key_file(key_file), str(key_file)), str(key_file))


def load_or_create_key(key_file: Path) -> tuple[Cipher, str | None]:
    """The cipher, and a one-time notice when a new key file was just created.

    Safe when several processes start at once: exactly one creates the file and all use its key.
    """
    env = os.environ.get(KEY_ENV)
    if env:
        return Cipher(decode_key(env, KEY_ENV), KEY_ENV), None
    created = not key_file.exists() and _create_key_file(key_file)
    cipher = Cipher(decode_key(_read_key_file(key_file), str(key_file)), str(key_file))
    notice = f"created encryption key {key_file} (mode 0600); back it up, or set {KEY_ENV}" if created else None
    return cipher, notice


def _create_key_file(key_file: Path) -> bool:
    """Create the key file unless it exists; True if this process's key is the one in place.

    The key is written and synced to a private temporary file, then hard-linked into place: the link
    appears complete or fails because another process got there first, whose key is then used. Nobody
    ever reads a half-written key.
    """
    key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=key_file.parent, prefix=f".{key_file.name}.", suffix=".tmp")
    try:  # mkstemp creates the file 0600 whatever the umask
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(new_key() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, key_file)
        except FileExistsError:
            return False
        except OSError as error:
            if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise
            return _create_key_file_exclusively(key_file)  # a file system without hard links
        return True
    finally:
        os.unlink(temporary)


def _create_key_file_exclusively(key_file: Path) -> bool:
    try:
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(new_key() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return True


def _read_key_file(key_file: Path, wait: float = 2.0) -> str:
    """The key file's text; a file another process is still writing (no newline yet) is waited for."""
    deadline = time.monotonic() + wait
    while True:
        text = key_file.read_text(encoding="ascii")
        # Only the exclusive-create fallback can show a partial file; a key typed by hand may lack the newline.
        if text.endswith("\n") or time.monotonic() > deadline or _decodes(text):
            return text
        time.sleep(0.02)


def _decodes(text: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(text.strip().encode())) == 32
    except (binascii.Error, ValueError):
        return False
