"""Email encryption and blind indexes (RELIABILITY P1, P3)."""

from __future__ import annotations

import dataclasses

import pytest

from core.config import ConfigError, Settings
from core.privacy import (
    EmailDecryptionError,
    PrivacyVault,
    mask_email,
    new_key_material,
    parse_email_keys,
    truncate_ip,
)


def make_vault(email_keys: str | None = None, index_key: str | None = None) -> PrivacyVault:
    return PrivacyVault(
        Settings(
            email_keys=email_keys or f"k1:{new_key_material()}",
            index_key=index_key or new_key_material(),
        )
    )


def test_round_trip_and_no_plaintext_in_ciphertext() -> None:
    vault = make_vault()
    sealed = vault.encrypt_email("Jane.Doe@example.org")
    assert b"Jane" not in sealed.ciphertext and b"example" not in sealed.ciphertext
    assert vault.decrypt_email(sealed) == "Jane.Doe@example.org"
    assert sealed.key_id == "k1"
    assert (
        vault.encrypt_email("Jane.Doe@example.org").ciphertext != sealed.ciphertext
    )  # fresh nonce


def test_blind_index_rule_casefolds_the_whole_address() -> None:
    vault = make_vault()
    assert vault.email_index("Jane@Example.COM") == vault.email_index(" jane@example.com ")
    assert vault.email_index("jane+tag@example.com") != vault.email_index("jane@example.com")
    other = make_vault()
    assert other.email_index("jane@example.com") != vault.email_index("jane@example.com")


def test_tampered_swapped_or_wrong_key_ciphertext_fails_loudly() -> None:
    """P1: never garbage plaintext."""
    vault = make_vault()
    a = vault.encrypt_email("a@example.org")
    b = vault.encrypt_email("b@example.org")
    flipped = bytearray(a.ciphertext)
    flipped[-1] ^= 1
    with pytest.raises(EmailDecryptionError):
        vault.decrypt_email(dataclasses.replace(a, ciphertext=bytes(flipped)))
    with pytest.raises(EmailDecryptionError):  # a's ciphertext on b's row (b's index)
        vault.decrypt_email(dataclasses.replace(b, ciphertext=a.ciphertext))
    with pytest.raises(EmailDecryptionError):
        make_vault().decrypt_email(a)
    with pytest.raises(EmailDecryptionError, match="no key"):
        vault.decrypt_email(dataclasses.replace(a, key_id="gone"))


def test_rotation_keeps_old_ciphertexts_readable() -> None:
    old = f"k1:{new_key_material()}"
    index = new_key_material()
    sealed = make_vault(old, index).encrypt_email("a@example.org")
    rotated = make_vault(f"k2:{new_key_material()},{old}", index)
    assert rotated.decrypt_email(sealed) == "a@example.org"
    assert rotated.encrypt_email("a@example.org").key_id == "k2"


@pytest.mark.parametrize("raw", ["", "nokey", "k1:short", "k1:!!!!", "a|b:" + new_key_material()])
def test_bad_key_configuration_is_refused(raw: str) -> None:
    with pytest.raises(ConfigError):
        parse_email_keys(raw)


def test_index_key_must_differ_from_email_keys() -> None:
    key = new_key_material()
    with pytest.raises(ConfigError):
        make_vault(f"k1:{key}", key)


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("203.0.113.77", "203.0.113.0"),
        ("2001:db8:abcd:12::1", "2001:db8:abcd::"),
        ("::ffff:198.51.100.9", "198.51.100.0"),
        ("not-an-ip", None),
    ],
)
def test_truncate_ip(ip: str, expected: str | None) -> None:
    assert truncate_ip(ip) == expected


def test_mask_email() -> None:
    assert mask_email("carol@example.org") == "c…@example.org"
