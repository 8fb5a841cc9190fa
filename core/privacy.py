"""Email and IP privacy: AEAD ciphertext plus keyed blind indexes.

The email is stored only as AES-256-GCM ciphertext (random 96-bit nonce) under a key
identified by `key_id`, so keys can rotate. The associated data binds each ciphertext to
its key id and to its blind index, so a ciphertext copied onto another author's row fails
to decrypt instead of yielding the wrong address. The blind index is HMAC-SHA256 under a
second, separate key over a documented normalisation: the address is casefolded whole,
so `Jane@Example.COM` and `jane@example.com` share one index (used for flood limits,
author history, erase and export). Full IP addresses are never stored: only a truncated
prefix (IPv4 /24, IPv6 /48) for display and an HMAC of the full address for flood limits.
Secrets the service must read back (webhook signing secrets) are sealed the same way,
with associated data naming their column and row (`encrypt_secret`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.config import ConfigError, Settings

NONCE_BYTES = 12


class EmailDecryptionError(Exception):
    """A stored email could not be decrypted: wrong key, tampered or swapped ciphertext."""


class SecretDecryptionError(Exception):
    """A stored secret could not be decrypted: wrong key, tampered or moved ciphertext."""


@dataclass(frozen=True)
class EncryptedEmail:
    """What a comment row stores about an email address."""

    ciphertext: bytes
    key_id: str
    index: bytes


def _decode_key(raw: str, what: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(raw.strip() + "=" * (-len(raw.strip()) % 4))
    except ValueError as exc:
        raise ConfigError(f"{what}: not base64") from exc
    if len(key) != 32:
        raise ConfigError(f"{what}: must decode to 32 bytes, got {len(key)}")
    return key


def parse_email_keys(raw: str) -> dict[str, bytes]:
    """Parse `kid:base64[,kid:base64...]`, keeping order (the first key encrypts)."""
    keys: dict[str, bytes] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        key_id, sep, material = item.partition(":")
        if not sep or not key_id or "|" in key_id:
            raise ConfigError("REPLYGUARD_EMAIL_KEYS: expected kid:base64key entries")
        keys[key_id] = _decode_key(material, f"email key {key_id!r}")
    if not keys:
        raise ConfigError("REPLYGUARD_EMAIL_KEYS is empty")
    return keys


def new_key_material() -> str:
    """A fresh random 256-bit key, base64 encoded as the settings expect it."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def normalise_email_for_index(email: str) -> str:
    """The single rule behind the blind index: strip, then casefold the whole address."""
    return email.strip().casefold()


class PrivacyVault:
    """Encrypts emails and computes blind indexes with the keys from Settings."""

    def __init__(self, settings: Settings) -> None:
        self._keys = parse_email_keys(settings.email_keys)
        self._current_key_id = next(iter(self._keys))
        self._aeads = {kid: AESGCM(key) for kid, key in self._keys.items()}
        if not settings.index_key:
            raise ConfigError("REPLYGUARD_INDEX_KEY is empty")
        self._index_key = _decode_key(settings.index_key, "REPLYGUARD_INDEX_KEY")
        if self._index_key in self._keys.values():
            raise ConfigError("the index key must differ from every email key")

    def email_index(self, email: str) -> bytes:
        """HMAC-SHA256 blind index of an email address (32 bytes)."""
        message = b"email|" + normalise_email_for_index(email).encode()
        return hmac.new(self._index_key, message, hashlib.sha256).digest()

    def ip_index(self, ip: str) -> bytes:
        """HMAC-SHA256 of a full client IP, for flood limits without storing the address."""
        return hmac.new(self._index_key, b"ip|" + ip.encode(), hashlib.sha256).digest()

    def encrypt_email(self, email: str) -> EncryptedEmail:
        """Encrypt under the current key; the caller stores all three fields."""
        index = self.email_index(email)
        nonce = os.urandom(NONCE_BYTES)
        aad = self._aad(self._current_key_id, index)
        sealed = self._aeads[self._current_key_id].encrypt(nonce, email.encode(), aad)
        return EncryptedEmail(ciphertext=nonce + sealed, key_id=self._current_key_id, index=index)

    def decrypt_email(self, stored: EncryptedEmail) -> str:
        """Decrypt a stored email or raise EmailDecryptionError (never returns garbage)."""
        aead = self._aeads.get(stored.key_id)
        if aead is None:
            raise EmailDecryptionError(f"no key with id {stored.key_id!r} is configured")
        nonce, sealed = stored.ciphertext[:NONCE_BYTES], stored.ciphertext[NONCE_BYTES:]
        try:
            plain = aead.decrypt(nonce, sealed, self._aad(stored.key_id, stored.index))
        except InvalidTag as exc:
            raise EmailDecryptionError("ciphertext failed authentication") from exc
        return plain.decode()

    @staticmethod
    def _aad(key_id: str, index: bytes) -> bytes:
        return b"replyguard|comments.email|" + key_id.encode() + b"|" + index

    def encrypt_secret(self, secret: str, *, purpose: str) -> tuple[bytes, str]:
        """Encrypt a secret the service must read back (a webhook signing secret) under the
        current key; returns (ciphertext, key id). `purpose` names the column and row (e.g.
        `webhook_endpoints.secret|ep_…`) and is bound as associated data, so a ciphertext
        copied to another row or column fails to decrypt."""
        nonce = os.urandom(NONCE_BYTES)
        key_id = self._current_key_id
        sealed = self._aeads[key_id].encrypt(
            nonce, secret.encode(), self._secret_aad(key_id, purpose)
        )
        return nonce + sealed, key_id

    def decrypt_secret(self, ciphertext: bytes, key_id: str, *, purpose: str) -> str:
        """Decrypt what encrypt_secret stored for the same `purpose`, or raise
        SecretDecryptionError."""
        aead = self._aeads.get(key_id)
        if aead is None:
            raise SecretDecryptionError(f"no key with id {key_id!r} is configured")
        nonce, sealed = ciphertext[:NONCE_BYTES], ciphertext[NONCE_BYTES:]
        try:
            plain = aead.decrypt(nonce, sealed, self._secret_aad(key_id, purpose))
        except InvalidTag as exc:
            raise SecretDecryptionError("ciphertext failed authentication") from exc
        return plain.decode()

    @staticmethod
    def _secret_aad(key_id: str, purpose: str) -> bytes:
        return b"replyguard|secret|" + purpose.encode() + b"|" + key_id.encode()


def truncate_ip(ip: str) -> str | None:
    """Keep the network part only: IPv4 /24, IPv6 /48 (None if not an IP address)."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    return str(network.network_address)


def mask_email(email: str) -> str:
    """Moderator-facing mask: first character of the local part, then the domain."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}…@{domain}" if domain else "…"
