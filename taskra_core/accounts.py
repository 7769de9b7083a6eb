"""Accounts that sign in outside Shopify admin: passwords, sessions, one-time login links and
rate limiting of failed sign-ins.

::

    account = await taskra.accounts.authenticate(email, password, client_key=ip)
    token = await taskra.accounts.start_session(account)      # the cookie's value
    account, session = await taskra.accounts.session_for(token)
    await taskra.accounts.end_session(token)                   # revoked server-side

Tokens (sessions, login and set-a-password links) are random and only their SHA-256 is
stored: a copy of the database cannot be replayed as a cookie or a link. A new password ends
every other session of the account, so whoever knew the old one is signed out too. The CSRF
token of a session is derived from the session token (HMAC), so it needs no storage and
cannot be turned back into the session token by script that reads it. Every time comes from
Taskra's clock.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from taskra_core import crypto
from taskra_core.clock import Clock
from taskra_core.db import Database
from taskra_core.errors import (
    InvalidInput,
    LoginFailed,
    LoginRateLimited,
    NotFound,
    SessionInvalid,
)
from taskra_core.inbox.messages import normalize_email as inbox_normalize_email
from taskra_core.models import Account, AccountSession, LoginFailure, LoginLink

ROLES = frozenset({"merchant", "agent"})
MIN_PASSWORD_CHARS = 10
SESSION_TTL = timedelta(days=14)
LOGIN_LINK_TTL = timedelta(minutes=15)
LINK_PURPOSES = frozenset({"login", "password"})
# Failed sign-ins allowed in FAILURE_WINDOW before sign-in is refused. A client (address)
# gets more than one email because several people can share an office's address.
FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_EMAIL = 5
MAX_FAILURES_PER_CLIENT = 20

_CSRF_DOMAIN = b"taskra csrf v1"
_LOGIN_FAILED = "The email or password is wrong."


def normalize_email(email: str) -> str:
    return email.strip().lower()


def hash_token(token: str) -> str:
    """The SHA-256 (hex) under which a session or link token is stored and looked up."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def csrf_token_for(session_token: str) -> str:
    """The CSRF token of a session: an HMAC keyed by the session token, so it is stable for
    the session's life, unguessable without the (HttpOnly) cookie, and one-way."""
    digest = hmac.new(session_token.encode("utf-8"), _CSRF_DOMAIN, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def csrf_matches(session_token: str, presented: str | None) -> bool:
    if not presented:
        return False
    return hmac.compare_digest(csrf_token_for(session_token), presented)


class Accounts:
    """The accounts service (``taskra.accounts``)."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self._dummy_hash: str | None = None

    # -- accounts and passwords -------------------------------------------------------

    async def create_account(
        self,
        store_id: int,
        email: str,
        name: str = "",
        role: str = "agent",
        password: str | None = None,
    ) -> Account:
        """A new account of ``store_id``; with ``password`` it can sign in right away."""
        address = inbox_normalize_email(email)  # InvalidInput unless it is an address
        if role not in ROLES:
            raise InvalidInput(f"Role {role!r} is unknown; use one of {sorted(ROLES)}.")
        password_hash = await self.hash_password(password) if password is not None else None
        now = self.clock.now()
        async with self.db.transaction() as session:
            existing = await session.scalar(
                select(col(Account.id)).where(
                    col(Account.store_id) == store_id, col(Account.email) == address
                )
            )
            if existing is not None:
                raise InvalidInput(f"This store already has an account for {address}.")
            account = Account(
                store_id=store_id,
                email=address,
                name=name,
                role=role,
                password_hash=password_hash,
                created_at=now,
                updated_at=now,
            )
            session.add(account)
            await session.flush()
        return account

    async def set_password(
        self, store_id: int, account_id: int, password: str, *, keep_session: str | None = None
    ) -> None:
        """Set a new password for an account of ``store_id`` and end its sessions, except
        the one whose token is ``keep_session`` (the person changing it stays signed in)."""
        password_hash = await self.hash_password(password)
        async with self.db.transaction() as session:
            account = await _account_in_store(session, store_id, account_id)
            now = self.clock.now()
            account.password_hash = password_hash
            account.updated_at = now
            kept = hash_token(keep_session) if keep_session is not None else None
            await revoke_sessions(session, account_id, now, keep_hash=kept)

    async def hash_password(self, password: str) -> str:
        """The bcrypt hash of ``password``, or :class:`InvalidInput` if it is too short
        (:class:`PasswordTooLong` past bcrypt's 72 bytes)."""
        if len(password) < MIN_PASSWORD_CHARS:
            raise InvalidInput(
                f"The password has {len(password)} characters; use at least {MIN_PASSWORD_CHARS}."
            )
        # bcrypt takes ~0.2 s of CPU: off the event loop, so other requests keep flowing.
        return await asyncio.to_thread(crypto.hash_password, password)

    # -- signing in ---------------------------------------------------------------------

    async def authenticate(self, email: str, password: str, *, client_key: str = "") -> Account:
        """The account ``email`` and ``password`` belong to, or :class:`LoginFailed`.

        Refused with :class:`LoginRateLimited` after too many recent failures for the email
        or the client, before the password is even checked. A missing account costs the
        same bcrypt check as a wrong password, so timing does not reveal which emails exist.
        """
        address = normalize_email(email)
        now = self.clock.now()
        await self._check_rate_limit(address, client_key, now)
        async with self.db.session() as session:
            # The same email may have an account in several stores; the password picks one.
            candidates = list(
                await session.scalars(
                    select(Account)
                    .where(
                        col(Account.email) == address,
                        col(Account.password_hash).is_not(None),
                        col(Account.deletion_requested_at).is_(None),
                    )
                    .order_by(col(Account.id))
                )
            )
        matched: Account | None = None
        if not candidates:
            await asyncio.to_thread(crypto.verify_password, password, await self._dummy())
        for account in candidates:
            assert account.password_hash is not None
            if await asyncio.to_thread(crypto.verify_password, password, account.password_hash):
                matched = account
                break
        async with self.db.transaction() as session:
            if matched is None:
                session.add(LoginFailure(email=address, client_key=client_key, failed_at=now))
            else:
                # A success forgives the email's earlier typos; the client's count stays.
                await session.execute(
                    delete(LoginFailure).where(col(LoginFailure.email) == address)
                )
        if matched is None:
            raise LoginFailed(_LOGIN_FAILED)
        return matched

    async def _check_rate_limit(self, email: str, client_key: str, now: datetime) -> None:
        since = now - FAILURE_WINDOW
        async with self.db.session() as session:
            for column, value, limit in (
                (LoginFailure.email, email, MAX_FAILURES_PER_EMAIL),
                (LoginFailure.client_key, client_key, MAX_FAILURES_PER_CLIENT),
            ):
                count, oldest = (
                    await session.execute(
                        select(func.count(), func.min(col(LoginFailure.failed_at))).where(
                            col(column) == value, col(LoginFailure.failed_at) > since
                        )
                    )
                ).one()
                if count >= limit:
                    retry_after = max(1.0, (oldest + FAILURE_WINDOW - now).total_seconds())
                    raise LoginRateLimited(
                        "Too many failed sign-ins; wait "
                        f"{int(retry_after // 60) + 1} minutes and try again, or ask for a "
                        "sign-in link.",
                        retry_after=retry_after,
                    )

    async def _dummy(self) -> str:
        # Hashed at the current cost, so a check against it takes as long as a real one.
        if self._dummy_hash is None:
            self._dummy_hash = await asyncio.to_thread(
                crypto.hash_password, secrets.token_urlsafe(16)
            )
        return self._dummy_hash

    # -- sessions -------------------------------------------------------------------------

    async def start_session(self, account: Account, *, ttl: timedelta = SESSION_TTL) -> str:
        """A new session for ``account``; returns its token (shown once, never stored)."""
        assert account.id is not None
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        async with self.db.transaction() as session:
            session.add(
                AccountSession(
                    store_id=account.store_id,
                    account_id=account.id,
                    token_hash=hash_token(token),
                    created_at=now,
                    expires_at=now + ttl,
                )
            )
        return token

    async def session_for(self, token: str) -> tuple[Account, AccountSession]:
        """The account and session of ``token``, or :class:`SessionInvalid` if the token is
        unknown, expired or revoked."""
        now = self.clock.now()
        async with self.db.session() as session:
            row = (
                await session.execute(
                    select(Account, AccountSession)
                    .join(AccountSession, col(AccountSession.account_id) == col(Account.id))
                    .where(col(AccountSession.token_hash) == hash_token(token))
                )
            ).first()
        if row is None:
            raise SessionInvalid("This session is unknown; sign in again.")
        account, account_session = row
        if account_session.revoked_at is not None or account_session.expires_at <= now:
            raise SessionInvalid("This session has ended; sign in again.")
        if account.deletion_requested_at is not None:
            raise SessionInvalid("This account is being deleted.")
        return account, account_session

    async def end_session(self, token: str) -> None:
        """Revoke the session of ``token`` server-side; unknown or ended ones are left alone."""
        async with self.db.transaction() as session:
            await session.execute(
                update(AccountSession)
                .where(
                    col(AccountSession.token_hash) == hash_token(token),
                    col(AccountSession.revoked_at).is_(None),
                )
                .values(revoked_at=self.clock.now())
            )

    # -- one-time login links ---------------------------------------------------------------

    async def login_link_token(self, account: Account, ttl: timedelta = LOGIN_LINK_TTL) -> str:
        """A token for a one-time sign-in link, valid for ``ttl``."""
        async with self.db.transaction() as session:
            _link, token = await add_link(session, account, "login", ttl, self.clock.now())
        return token

    async def use_login_link(self, token: str) -> Account:
        """The account a link token signs in, marking the link used; a second use, an
        expired or unknown link is :class:`SessionInvalid`."""
        now = self.clock.now()
        digest = hash_token(token)
        async with self.db.transaction() as session:
            # One conditional UPDATE: of two simultaneous uses, only one changes the row.
            claimed = await session.execute(
                update(LoginLink)
                .where(
                    col(LoginLink.token_hash) == digest,
                    col(LoginLink.purpose) == "login",
                    col(LoginLink.used_at).is_(None),
                    col(LoginLink.expires_at) > now,
                )
                .values(used_at=now)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                raise SessionInvalid(
                    "This sign-in link has expired or was already used; ask for a new one."
                )
            account = await session.scalar(
                select(Account)
                .join(LoginLink, col(LoginLink.account_id) == col(Account.id))
                .where(col(LoginLink.token_hash) == digest)
            )
        if account is None or account.deletion_requested_at is not None:
            raise SessionInvalid("This sign-in link's account no longer exists.")
        return account


async def add_link(
    session: AsyncSession, account: Account, purpose: str, ttl: timedelta, now: datetime
) -> tuple[LoginLink, str]:
    """Add a one-time link of ``purpose`` for ``account`` in ``session``'s transaction;
    returns the row and its token (shown once, never stored)."""
    assert account.id is not None
    if purpose not in LINK_PURPOSES:
        raise InvalidInput(
            f"Link purpose {purpose!r} is unknown; use one of {sorted(LINK_PURPOSES)}."
        )
    token = secrets.token_urlsafe(32)
    link = LoginLink(
        store_id=account.store_id,
        account_id=account.id,
        token_hash=hash_token(token),
        purpose=purpose,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(link)
    await session.flush()
    return link, token


async def revoke_sessions(
    session: AsyncSession, account_id: int, now: datetime, *, keep_hash: str | None = None
) -> None:
    """End every live session of ``account_id`` (but the one stored as ``keep_hash``)."""
    stmt = update(AccountSession).where(
        col(AccountSession.account_id) == account_id, col(AccountSession.revoked_at).is_(None)
    )
    if keep_hash is not None:
        stmt = stmt.where(col(AccountSession.token_hash) != keep_hash)
    await session.execute(stmt.values(revoked_at=now))


async def _account_in_store(session: AsyncSession, store_id: int, account_id: int) -> Account:
    account = await session.scalar(
        select(Account).where(col(Account.store_id) == store_id, col(Account.id) == account_id)
    )
    if account is None:
        raise NotFound(f"No account {account_id} in this store.")
    return account
