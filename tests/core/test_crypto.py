"""Tests for taskra_core.crypto: token encryption, key rotation helpers and bcrypt passwords."""

from __future__ import annotations

import base64
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from taskra_core import crypto
from taskra_core.crypto import (
    TokenCipher,
    generate_key,
    hash_password,
    key_id,
    secret_context,
    verify_password,
)
from taskra_core.errors import ConfigurationError, DecryptionError, InvalidInput, PasswordTooLong
from taskra_core.settings import Settings, decode_key

OLD = bytes(range(32))
NEW = bytes(range(100, 132))
CONTEXT = secret_context("stores", "access_token_enc", 42)
SECRET = "shpat_0123456789abcdef"


@pytest.fixture(autouse=True)
def _fast_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    # The minimum cost keeps the suite fast; the cost factor does not change the behaviour.
    monkeypatch.setattr(crypto, "BCRYPT_ROUNDS", 4)


def _payload(token: str) -> tuple[str, bytes]:
    prefix, _, payload = token.rpartition(".")
    return prefix, base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))


def _with_payload(prefix: str, raw: bytes) -> str:
    return f"{prefix}.{base64.urlsafe_b64encode(raw).rstrip(b'=').decode()}"


def test_generate_key_is_a_valid_random_key() -> None:
    """generate_key makes 32-byte base64 keys that settings accept, different every time."""
    first, second = generate_key(), generate_key()
    assert len(decode_key(first)) == 32
    assert first != second


def test_key_id_is_short_stable_and_not_the_key() -> None:
    """key_id is 8 hex chars, pinned across releases, and different across keys."""
    # Pinned: changing the id scheme would orphan every stored token ("unknown key id").
    assert key_id(OLD) == "3960318d"
    assert set(key_id(NEW)) <= set("0123456789abcdef")
    assert len(key_id(NEW)) == 8
    assert key_id(OLD) != key_id(NEW)
    assert key_id(OLD) not in OLD.hex()


def test_round_trip() -> None:
    """decrypt(encrypt(x)) returns x and the token has the documented v1.<key id>. shape."""
    cipher = TokenCipher(NEW)
    token = cipher.encrypt(SECRET, context=CONTEXT)
    assert token.startswith(f"v1.{key_id(NEW)}.")
    assert SECRET not in token
    assert cipher.decrypt(token, context=CONTEXT) == SECRET


def test_same_plaintext_encrypts_differently() -> None:
    """Two encryptions of the same plaintext differ, because each uses a random nonce."""
    cipher = TokenCipher(NEW)
    assert cipher.encrypt(SECRET, context=CONTEXT) != cipher.encrypt(SECRET, context=CONTEXT)


def test_tampering_with_any_payload_byte_fails() -> None:
    """Flipping a bit in any byte of nonce, ciphertext or tag makes decryption fail."""
    cipher = TokenCipher(NEW)
    prefix, raw = _payload(cipher.encrypt(SECRET, context=CONTEXT))
    for index in range(len(raw)):
        damaged = raw[:index] + bytes([raw[index] ^ 0x01]) + raw[index + 1 :]
        with pytest.raises(DecryptionError):
            cipher.decrypt(_with_payload(prefix, damaged), context=CONTEXT)


def test_truncated_or_malformed_tokens_fail() -> None:
    """Malformed tokens raise DecryptionError with a message that says what is wrong."""
    cipher = TokenCipher(NEW)
    token = cipher.encrypt(SECRET, context=CONTEXT)
    for bad in ["", SECRET, token[:20], token + "!", token.replace("v1.", "v2.", 1), f"{token}A"]:
        with pytest.raises(DecryptionError) as info:
            cipher.decrypt(bad, context=CONTEXT)
        assert SECRET not in str(info.value)
    with pytest.raises(DecryptionError, match="not a Taskra token"):
        cipher.decrypt("plaintext-token", context=CONTEXT)


def test_wrong_context_fails() -> None:
    """A token moved to another row or column does not decrypt there."""
    cipher = TokenCipher(NEW)
    token = cipher.encrypt(SECRET, context=CONTEXT)
    for other in [
        secret_context("stores", "access_token_enc", 43),
        secret_context("stores", "refresh_token_enc", 42),
        "",
    ]:
        with pytest.raises(DecryptionError, match="failed authentication"):
            cipher.decrypt(token, context=other)


def test_wrong_key_with_forged_key_id_fails() -> None:
    """A token sealed by another key fails even if its key id is rewritten to ours."""
    token = TokenCipher(OLD).encrypt(SECRET, context=CONTEXT)
    forged = token.replace(key_id(OLD), key_id(NEW), 1)
    with pytest.raises(DecryptionError, match="failed authentication"):
        TokenCipher(NEW).decrypt(forged, context=CONTEXT)


def test_unknown_key_id_says_how_to_fix_it() -> None:
    """A token from a key the cipher lacks names the key id and TASKRA_PREVIOUS_SECRET_KEYS."""
    token = TokenCipher(OLD).encrypt(SECRET, context=CONTEXT)
    with pytest.raises(DecryptionError) as info:
        TokenCipher(NEW).decrypt(token, context=CONTEXT)
    message = str(info.value)
    assert "no longer has" in message
    assert "TASKRA_PREVIOUS_SECRET_KEYS" in message
    assert key_id(OLD) in message


def test_previous_key_decrypts_and_needs_rotation() -> None:
    """A previous key still decrypts, and its tokens are flagged for rotation."""
    old_token = TokenCipher(OLD).encrypt(SECRET, context=CONTEXT)
    cipher = TokenCipher(NEW, [OLD])
    assert cipher.primary_key_id == key_id(NEW)
    assert cipher.decrypt(old_token, context=CONTEXT) == SECRET
    assert cipher.needs_rotation(old_token)
    assert not cipher.needs_rotation(cipher.encrypt(SECRET, context=CONTEXT))


def test_reencrypt_moves_to_primary() -> None:
    """reencrypt yields a primary-key token that a cipher without the old key can read."""
    old_token = TokenCipher(OLD).encrypt(SECRET, context=CONTEXT)
    new_token = TokenCipher(NEW, [OLD]).reencrypt(old_token, context=CONTEXT)
    assert new_token.startswith(f"v1.{key_id(NEW)}.")
    assert not TokenCipher(NEW).needs_rotation(new_token)
    assert TokenCipher(NEW).decrypt(new_token, context=CONTEXT) == SECRET


def test_key_id_is_bound_into_the_ciphertext() -> None:
    """Swapping the key id for another known key's id makes decryption fail."""
    cipher = TokenCipher(NEW, [OLD])
    token = TokenCipher(OLD).encrypt(SECRET, context=CONTEXT)
    swapped = token.replace(key_id(OLD), key_id(NEW), 1)
    with pytest.raises(DecryptionError, match="failed authentication"):
        cipher.decrypt(swapped, context=CONTEXT)


def test_primary_listed_again_as_previous_is_harmless() -> None:
    """Listing the primary key among the previous keys changes nothing."""
    cipher = TokenCipher(NEW, [NEW, OLD])
    assert cipher.primary_key_id == key_id(NEW)
    assert cipher.decrypt(cipher.encrypt(SECRET, context=CONTEXT), context=CONTEXT) == SECRET


def test_wrong_key_length_is_a_configuration_error() -> None:
    """Keys that are not 32 bytes are refused up front."""
    with pytest.raises(ConfigurationError, match="32 bytes"):
        TokenCipher(b"short")
    with pytest.raises(ConfigurationError, match="32 bytes"):
        TokenCipher(NEW, [b"x" * 16])


def test_repr_shows_key_ids_only() -> None:
    """The cipher's repr names key ids, never key material."""
    text = repr(TokenCipher(NEW, [OLD]))
    assert key_id(NEW) in text
    assert key_id(OLD) in text
    assert NEW.hex() not in text
    assert repr(NEW) not in text
    assert base64.b64encode(NEW).decode() not in text


def test_from_settings_uses_primary_and_previous_keys() -> None:
    """from_settings builds a cipher from TASKRA_SECRET_KEY and TASKRA_PREVIOUS_SECRET_KEYS."""
    settings = Settings(
        secret_key=SecretStr(base64.b64encode(NEW).decode()),
        previous_secret_keys=(SecretStr(base64.b64encode(OLD).decode()),),
    )
    cipher = TokenCipher.from_settings(settings)
    assert cipher.primary_key_id == key_id(NEW)
    old_token = TokenCipher(OLD).encrypt(SECRET, context=CONTEXT)
    assert cipher.decrypt(old_token, context=CONTEXT) == SECRET


def test_from_settings_without_key_explains_what_to_do() -> None:
    """Without TASKRA_SECRET_KEY, from_settings names the variable and `taskra keygen`."""
    with pytest.raises(ConfigurationError) as info:
        TokenCipher.from_settings(Settings(secret_key=None))
    assert "TASKRA_SECRET_KEY" in str(info.value)
    assert "taskra keygen" in str(info.value)


def test_lone_surrogate_is_invalid_input_without_leaking() -> None:
    """Text that cannot be UTF-8 encoded is refused without quoting it back."""
    with pytest.raises(InvalidInput) as info:
        TokenCipher(NEW).encrypt("hunter2\ud800", context=CONTEXT)
    assert "hunter2" not in str(info.value)


@given(plaintext=st.text(), context=st.text())
def test_round_trip_property(plaintext: str, context: str) -> None:
    """decrypt(encrypt(x)) == x for arbitrary text and contexts."""
    cipher = TokenCipher(NEW, [OLD])
    assert cipher.decrypt(cipher.encrypt(plaintext, context=context), context=context) == plaintext


def test_password_round_trip() -> None:
    """A hashed password verifies, and the hash is a bcrypt string, not the password."""
    hashed = hash_password("correct horse battery staple")
    assert hashed.startswith("$2b$")
    assert "correct horse" not in hashed
    assert verify_password("correct horse battery staple", hashed)


def test_wrong_password_is_false() -> None:
    """A wrong password verifies as False."""
    hashed = hash_password("correct horse battery staple")
    assert not verify_password("Correct horse battery staple", hashed)


@pytest.mark.parametrize("hashed", ["", "not a hash", "$2b$04$short", "$2b$04$" + "é" * 53])
def test_malformed_hash_is_false(hashed: str) -> None:
    """A malformed stored hash verifies as False instead of raising."""
    assert verify_password("whatever", hashed) is False


def test_password_limit_is_72_bytes() -> None:
    """72 ASCII bytes hash and verify; 73 raise PasswordTooLong explaining the limit."""
    assert verify_password("a" * 72, hash_password("a" * 72))
    with pytest.raises(PasswordTooLong) as info:
        hash_password("a" * 73)
    assert "72 bytes" in str(info.value)
    assert "shorter" in str(info.value)


def test_password_limit_counts_utf8_bytes_not_characters() -> None:
    """A 30-character emoji password is 120 bytes, so it is refused."""
    password = "\N{GRINNING FACE}" * 30
    assert len(password) == 30
    with pytest.raises(PasswordTooLong, match="120 bytes"):
        hash_password(password)
    # 18 four-byte characters are exactly 72 bytes: still accepted.
    assert verify_password("\N{GRINNING FACE}" * 18, hash_password("\N{GRINNING FACE}" * 18))


def test_too_long_password_never_verifies() -> None:
    """verify_password is False for an over-long password instead of raising."""
    hashed = hash_password("a" * 72)
    assert verify_password("a" * 73, hashed) is False


def test_empty_password_is_invalid_input() -> None:
    """Hashing an empty password raises InvalidInput; verifying one is simply False."""
    with pytest.raises(InvalidInput, match="empty"):
        hash_password("")
    assert verify_password("", hash_password("x")) is False


def test_salts_are_random() -> None:
    """Hashing the same password twice yields different hashes (random salts)."""
    password = os.urandom(8).hex()
    assert hash_password(password) != hash_password(password)
