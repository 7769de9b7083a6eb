"""Encryption of stored secrets (AES-256-GCM) and password hashing (bcrypt).

Stored secrets, such as a store's Shopify access token, live only as ciphertext in columns
whose names end in ``_enc``. **Convention:** every ``*_enc`` column of every table in
``SQLModel.metadata`` holds a :class:`TokenCipher` token whose context is
:func:`secret_context` of that table, column and row ``id``. Binding the row into the
ciphertext means a token copied into another row, or another column, no longer decrypts.
:mod:`taskra_core.rotation` relies on this convention to re-encrypt every secret generically.

A token is text: ``v1.<key id>.<urlsafe base64 of nonce + ciphertext + tag>``. The key id
names the key that sealed it, so keys can rotate: the primary key encrypts, older keys
(``TASKRA_PREVIOUS_SECRET_KEYS``) still decrypt until ``rotate_stored_secrets`` has moved
everything to the primary. Neither plaintexts nor keys ever appear in messages or reprs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from collections.abc import Sequence

import bcrypt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from taskra_core.errors import (
    ConfigurationError,
    CryptoError,
    DecryptionError,
    InvalidInput,
    PasswordTooLong,
)
from taskra_core.settings import Settings, decode_key

KEY_BYTES = 32
NONCE_BYTES = 12
TOKEN_VERSION = "v1"
BCRYPT_MAX_BYTES = 72
# bcrypt's cost factor: about 0.2 s per hash on a current server core.
BCRYPT_ROUNDS = 12

# Keeps key ids from ever equalling a hash of the key computed for any other purpose.
_KEY_ID_DOMAIN = b"taskra key id v1\x00"
_TOKEN = re.compile(r"(?P<version>v[0-9]+)\.(?P<key_id>[0-9a-f]{8})\.(?P<payload>[A-Za-z0-9_-]+)")


def generate_key() -> str:
    """A new secret key: standard base64 of 32 random bytes (what ``taskra keygen`` prints)."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def key_id(key: bytes) -> str:
    """A short, stable name for ``key`` (8 hex chars) that reveals nothing about it."""
    return hashlib.sha256(_KEY_ID_DOMAIN + key).hexdigest()[:8]


def secret_context(table: str, column: str, row_id: int) -> str:
    """The associated data that binds a ``*_enc`` value to its table, column and row."""
    return f"{table}.{column}:{row_id}"


def _utf8(value: str, what: str) -> bytes:
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        # The codec's own message quotes the offending character; keep secrets out of it.
        raise InvalidInput(f"The {what} is not valid Unicode text (lone surrogate).") from None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class TokenCipher:
    """Encrypts with the primary key; decrypts with the primary or any previous key."""

    def __init__(self, primary: bytes, previous: Sequence[bytes] = ()) -> None:
        self._ciphers: dict[str, AESGCM] = {}
        self._primary_id = self._add(primary)
        for key in previous:
            self._add(key)

    def _add(self, key: bytes) -> str:
        if len(key) != KEY_BYTES:
            raise ConfigurationError(
                f"Secret keys must be {KEY_BYTES} bytes, not {len(key)}; "
                "run `taskra keygen` to make one."
            )
        kid = key_id(key)
        # Listing the primary key among the previous ones again is harmless; skip the repeat.
        self._ciphers.setdefault(kid, AESGCM(key))
        return kid

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenCipher:
        """Build the cipher from ``TASKRA_SECRET_KEY`` and ``TASKRA_PREVIOUS_SECRET_KEYS``."""
        if settings.secret_key is None:
            raise ConfigurationError(
                "TASKRA_SECRET_KEY is not set; Taskra needs it to encrypt stored tokens. "
                "Run `taskra keygen` to make one, then set TASKRA_SECRET_KEY to it."
            )
        primary = decode_key(settings.secret_key.get_secret_value())
        previous = [decode_key(key.get_secret_value()) for key in settings.previous_secret_keys]
        return cls(primary, previous)

    @property
    def primary_key_id(self) -> str:
        return self._primary_id

    def __repr__(self) -> str:
        previous = [kid for kid in self._ciphers if kid != self._primary_id]
        return f"TokenCipher(primary={self._primary_id!r}, previous={previous!r})"

    def encrypt(self, plaintext: str, *, context: str) -> str:
        """Seal ``plaintext`` under the primary key, bound to ``context`` (e.g. its row)."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        aad = _associated_data(TOKEN_VERSION, self._primary_id, context)
        sealed = self._ciphers[self._primary_id].encrypt(nonce, _utf8(plaintext, "plaintext"), aad)
        return f"{TOKEN_VERSION}.{self._primary_id}.{_b64(nonce + sealed)}"

    def decrypt(self, token: str, *, context: str) -> str:
        """Open ``token``; :class:`DecryptionError` unless it is intact and bound to ``context``."""
        kid, raw = _parse(token)
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise DecryptionError(
                f"This secret was encrypted with a key Taskra no longer has (key id {kid}); "
                "add the old key to TASKRA_PREVIOUS_SECRET_KEYS."
            )
        aad = _associated_data(TOKEN_VERSION, kid, context)
        try:
            plaintext = cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)
        except InvalidTag:
            raise DecryptionError(
                f"The secret for {context!r} failed authentication: it was altered, or it "
                "belongs to a different row or column."
            ) from None
        try:
            return plaintext.decode("utf-8")
        except UnicodeDecodeError:
            # Only reachable if whoever held the key sealed non-UTF-8 bytes on purpose.
            raise DecryptionError(f"The secret for {context!r} is not UTF-8 text.") from None

    def needs_rotation(self, token: str) -> bool:
        """Whether ``token`` was sealed by a key other than the primary one."""
        kid, _raw = _parse(token)
        return kid != self._primary_id

    def reencrypt(self, token: str, *, context: str) -> str:
        """Decrypt ``token`` and seal it again under the primary key (with a fresh nonce)."""
        return self.encrypt(self.decrypt(token, context=context), context=context)


def _associated_data(version: str, kid: str, context: str) -> bytes:
    # Version and key id are fixed-width fields, so this concatenation is unambiguous and
    # editing either one in a token makes the tag check fail.
    return f"{version}.{kid}.".encode("ascii") + _utf8(context, "context")


def _parse(token: str) -> tuple[str, bytes]:
    """Split a token into its key id and raw bytes, rejecting anything not produced by us."""
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise DecryptionError(
            "This stored secret is not a Taskra token (expected 'v1.<key id>.<data>'); "
            "it was damaged or written by something else."
        )
    if match["version"] != TOKEN_VERSION:
        raise DecryptionError(
            f"This stored secret uses token format {match['version']}, which this version of "
            "Taskra cannot read; upgrade Taskra."
        )
    payload = match["payload"]
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    # Non-canonical base64 (stray low bits in the last character) would decode to the same
    # bytes; insisting on the canonical form keeps one ciphertext to one token string.
    if _b64(raw) != payload or len(raw) < NONCE_BYTES + 16:
        raise DecryptionError("This stored secret is truncated or damaged.")
    return match["key_id"], raw


def hash_password(password: str) -> str:
    """A bcrypt hash of ``password``, refusing passwords bcrypt would silently cut short."""
    secret = _password_bytes(password)
    return bcrypt.hashpw(secret, bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode("ascii")


def verify_password(password: str, hashed: str) -> bool:
    """True only if ``password`` matches ``hashed``; a malformed hash is simply no match."""
    try:
        secret = _password_bytes(password)
    except (CryptoError, InvalidInput):
        # hash_password never accepts such a password, so no stored hash can match it.
        return False
    try:
        return bcrypt.checkpw(secret, hashed.encode("ascii"))
    except ValueError:  # includes UnicodeEncodeError for a non-ASCII "hash"
        return False


def _password_bytes(password: str) -> bytes:
    if not password:
        raise InvalidInput("The password is empty; choose a password.")
    secret = _utf8(password, "password")
    if len(secret) > BCRYPT_MAX_BYTES:
        # Count bytes, not characters: one emoji is 4 bytes, so 20 emoji already exceed it.
        raise PasswordTooLong(
            f"The password is {len(secret)} bytes long in UTF-8, but bcrypt only reads the "
            f"first {BCRYPT_MAX_BYTES} bytes; choose a shorter password (accented letters "
            "and emoji take several bytes each)."
        )
    return secret
