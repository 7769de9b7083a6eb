"""A store's team: who may use its inbox, and how they get a password for it.

::

    members = await taskra.team.members(store_id)
    agent = await taskra.team.invite(store_id, merchant_id, "jo@example.com", "Jo")
    await taskra.team.send_password_link(store_id, account_id)  # self-service, 1 hour
    account = await taskra.team.use_password_link(token, "a new password")
    await taskra.team.remove(store_id, merchant_id, agent.id)

Only a merchant invites and removes, never themselves and never another merchant. Every
email is queued in the transaction of the change it is about, so an invitation exists if and
only if its email will go out. Links in emails start with :func:`app_url`.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING

import jinja2
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from taskra_core.accounts import add_link, hash_token, revoke_sessions
from taskra_core.errors import (
    InvalidInput,
    LoginRateLimited,
    NotFound,
    PermissionDenied,
    SessionInvalid,
)
from taskra_core.inbox.messages import normalize_email
from taskra_core.mail import Email, enqueue_mail
from taskra_core.models import Account, Conversation, LoginLink, Store
from taskra_core.templating import make_environment, render_email

if TYPE_CHECKING:
    from datetime import datetime

    from taskra_core.app import Taskra
    from taskra_core.settings import Settings

# An invitation waits for someone to read their mail; a link asked for now is used now.
INVITE_LINK_TTL = timedelta(days=3)
PASSWORD_LINK_TTL = timedelta(hours=1)
# Self-service links a person may ask for in an hour: each one is an email sent.
MAX_PASSWORD_LINKS_PER_HOUR = 5
MAX_NAME_CHARS = 255
_LINK_DEAD = "This link has expired or was already used; ask for a new one."


def app_url(settings: Settings) -> str:
    """Where people who follow a link in an email reach the app: ``SHOPIFY_APP_URL``, else
    ``http://TASKRA_HOST:TASKRA_PORT`` (the demo's ``http://127.0.0.1:8000``)."""
    if settings.shopify_app_url:
        return settings.shopify_app_url.rstrip("/")
    return f"http://{settings.host}:{settings.port}"


def _valid_for(ttl: timedelta) -> str:
    hours = int(ttl.total_seconds() // 3600)
    if hours >= 48:
        return f"{hours // 24} days"
    return "1 hour" if hours == 1 else f"{hours} hours"


class Team:
    """The team service (``taskra.team``)."""

    def __init__(self, taskra: Taskra) -> None:
        self.taskra = taskra

    @cached_property
    def _emails(self) -> jinja2.Environment:
        return make_environment(self.taskra.hooks.template_dirs())

    async def members(self, store_id: int) -> list[Account]:
        """The store's accounts, oldest first (accounts being deleted are left out)."""
        async with self.taskra.db.session() as session:
            found = await session.scalars(
                select(Account)
                .where(
                    col(Account.store_id) == store_id,
                    col(Account.deletion_requested_at).is_(None),
                )
                .order_by(col(Account.id))
            )
            return list(found)

    async def invite(self, store_id: int, actor_id: int | None, email: str, name: str) -> Account:
        """Add an agent without a password and email them a link to set one (3 days).

        :class:`PermissionDenied` unless ``actor_id`` is a merchant of the store;
        :class:`InvalidInput` for a bad address or name, or one the store already has.
        """
        now = self.taskra.clock.now()
        async with self.taskra.db.transaction() as session:
            # Who asks comes first: an agent learns nothing from the input's errors.
            inviter = await _merchant(session, store_id, actor_id)
            address = normalize_email(email)
            name = " ".join(name.split())
            if len(name) > MAX_NAME_CHARS:
                raise InvalidInput(
                    f"The name has {len(name)} characters; use at most {MAX_NAME_CHARS}."
                )
            taken = InvalidInput(f"This store already has an account for {address}.")
            existing = await session.scalar(
                select(col(Account.id)).where(
                    col(Account.store_id) == store_id, col(Account.email) == address
                )
            )
            if existing is not None:
                raise taken
            account = Account(
                store_id=store_id,
                email=address,
                name=name,
                role="agent",
                created_at=now,
                updated_at=now,
            )
            session.add(account)
            try:
                await session.flush()
            except IntegrityError:
                raise taken from None  # the same address, invited at the same moment
            await self._email_link(
                session, account, "email/invite.txt", INVITE_LINK_TTL, now, inviter=inviter
            )
        return account

    async def send_password_link(self, store_id: int, account_id: int) -> Account:
        """Email an account a link to set its password (1 hour); returns the account.

        :class:`LoginRateLimited` after :data:`MAX_PASSWORD_LINKS_PER_HOUR` links in an hour.
        """
        now = self.taskra.clock.now()
        async with self.taskra.db.transaction() as session:
            account = await _member(session, store_id, account_id)
            since = now - timedelta(hours=1)
            count, oldest = (
                await session.execute(
                    select(func.count(), func.min(col(LoginLink.created_at))).where(
                        col(LoginLink.account_id) == account_id,
                        col(LoginLink.purpose) == "password",
                        col(LoginLink.created_at) > since,
                    )
                )
            ).one()
            if count >= MAX_PASSWORD_LINKS_PER_HOUR:
                wait = max(1.0, (oldest + timedelta(hours=1) - now).total_seconds())
                raise LoginRateLimited(
                    f"{count} links were sent in the last hour; use the newest one, or ask "
                    f"again in {int(wait // 60) + 1} minutes.",
                    retry_after=wait,
                )
            await self._email_link(
                session, account, "email/password_link.txt", PASSWORD_LINK_TTL, now
            )
        return account

    async def remove(self, store_id: int, actor_id: int | None, account_id: int) -> None:
        """Remove an agent: their sessions end at once, their conversations become
        unassigned, the account and its links are deleted.

        :class:`PermissionDenied` unless ``actor_id`` is a merchant of the store, or if the
        account is a merchant's; :class:`InvalidInput` for the actor's own account;
        :class:`NotFound` if the store has no such account.
        """
        async with self.taskra.db.transaction() as session:
            actor = await _merchant(session, store_id, actor_id)
            if account_id == actor.id:
                raise InvalidInput("You cannot remove your own account.")
            target = await _member(session, store_id, account_id)
            if target.role != "agent":
                raise PermissionDenied(
                    f"Account {account_id} is a merchant's; only agents can be removed."
                )
            now = self.taskra.clock.now()
            await session.execute(
                update(Conversation)
                .where(
                    col(Conversation.store_id) == store_id,
                    col(Conversation.assignee_id) == account_id,
                )
                .values(assignee_id=None, updated_at=now)
            )
            # Deleting cascades to sessions too; revoking first does not depend on it.
            await revoke_sessions(session, account_id, now)
            await session.execute(
                delete(Account).where(
                    col(Account.store_id) == store_id, col(Account.id) == account_id
                )
            )

    # -- set-a-password links ---------------------------------------------------------------

    async def password_link_account(self, token: str) -> Account:
        """The account a set-a-password link is for, without using the link.

        :class:`NotFound` if there is no such link; :class:`SessionInvalid` if it expired,
        was used, or its account is being deleted.
        """
        async with self.taskra.db.session() as session:
            return await _live_link(session, hash_token(token), self.taskra.clock.now())

    async def use_password_link(self, token: str, password: str) -> Account:
        """Set the link's account's password, use the link up and end the account's sessions
        (the caller signs in afresh), all in one transaction; returns the account.

        Errors as :meth:`password_link_account`, or :class:`InvalidInput` for a password
        that is too short or too long. In every case nothing changes.
        """
        digest = hash_token(token)
        await self.password_link_account(token)  # first: dead links never cost a bcrypt hash
        password_hash = await self.taskra.accounts.hash_password(password)
        now = self.taskra.clock.now()
        async with self.taskra.db.transaction() as session:
            account = await _live_link(session, digest, now)
            assert account.id is not None
            # One conditional UPDATE: of two simultaneous uses, only one changes the row.
            claimed = await session.execute(
                update(LoginLink)
                .where(
                    col(LoginLink.token_hash) == digest,
                    col(LoginLink.used_at).is_(None),
                    col(LoginLink.expires_at) > now,
                )
                .values(used_at=now)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                raise SessionInvalid(_LINK_DEAD)
            # An older invitation or link must not set the password again later.
            await session.execute(
                update(LoginLink)
                .where(
                    col(LoginLink.account_id) == account.id,
                    col(LoginLink.purpose) == "password",
                    col(LoginLink.used_at).is_(None),
                )
                .values(used_at=now)
            )
            account.password_hash = password_hash
            account.updated_at = now
            await revoke_sessions(session, account.id, now)
        return account

    async def _email_link(
        self,
        session: AsyncSession,
        account: Account,
        template: str,
        ttl: timedelta,
        now: datetime,
        *,
        inviter: Account | None = None,
    ) -> None:
        store = await session.get(Store, account.store_id)
        assert store is not None
        link, token = await add_link(session, account, "password", ttl, now)
        subject, text = render_email(
            self._emails,
            template,
            {
                "name": account.name,
                "email": account.email,
                "store_name": store.name or store.domain,
                "inviter_name": (inviter.name or inviter.email) if inviter else "",
                "link": f"{app_url(self.taskra.settings)}/password/{token}",
                "valid_for": _valid_for(ttl),
            },
        )
        email = Email(
            to=account.email, subject=subject, text=text, idempotency_key=f"password-link-{link.id}"
        )
        await enqueue_mail(self.taskra, session, email, store_id=account.store_id)


async def _member(session: AsyncSession, store_id: int, account_id: int) -> Account:
    account = await session.scalar(
        select(Account).where(
            col(Account.store_id) == store_id,
            col(Account.id) == account_id,
            col(Account.deletion_requested_at).is_(None),
        )
    )
    if account is None:
        # Another store's account is reported exactly like a missing one.
        raise NotFound(f"No account {account_id} in this store.")
    return account


async def _merchant(session: AsyncSession, store_id: int, actor_id: int | None) -> Account:
    actor = None
    if actor_id is not None:
        actor = await session.scalar(
            select(Account).where(
                col(Account.store_id) == store_id,
                col(Account.id) == actor_id,
                col(Account.deletion_requested_at).is_(None),
            )
        )
    if actor is None or actor.role != "merchant":
        raise PermissionDenied("Only the store's merchant can invite or remove agents.")
    return actor


async def _live_link(session: AsyncSession, digest: str, now: datetime) -> Account:
    row = (
        await session.execute(
            select(LoginLink, Account)
            .join(Account, col(Account.id) == col(LoginLink.account_id))
            .where(col(LoginLink.token_hash) == digest, col(LoginLink.purpose) == "password")
        )
    ).first()
    if row is None:
        raise NotFound(
            "This link is not known; check that it was copied whole, or ask for a new one."
        )
    link, account = row
    if link.used_at is not None or link.expires_at <= now:
        raise SessionInvalid(_LINK_DEAD)
    if account.deletion_requested_at is not None:
        raise SessionInvalid("This link's account is being deleted.")
    return account
