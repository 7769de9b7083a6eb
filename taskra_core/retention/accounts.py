"""Deleting a merchant or agent account on request, within 30 days (privacy policy, 6).

::

    due = await request_account_deletion(taskra, store_id, account_id)

The request takes effect at once: the account's sessions end, and sign-in, links and team
lists ignore it from then on. The ``accounts`` retention policy deletes the row itself after
``TASKRA_RETENTION_ACCOUNT_GRACE_DAYS`` (at most 28), so the deletion lands within 30 days.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlmodel import col

from taskra_core.accounts import revoke_sessions
from taskra_core.errors import NotFound
from taskra_core.models import Account

if TYPE_CHECKING:
    from taskra_core.app import Taskra

# What the privacy policy promises; the grace period setting is capped below it.
DELETION_DEADLINE = timedelta(days=30)


async def request_account_deletion(taskra: Taskra, store_id: int, account_id: int) -> datetime:
    """Record a deletion request for the store's account and sign it out everywhere.

    Returns the date by which the account will be gone (request + 30 days). Asking again
    keeps the first request's date. :class:`NotFound` if the store has no such account.
    Who may ask (the account holder, the store's merchant) is the caller's decision.
    """
    now = taskra.clock.now()
    async with taskra.db.transaction() as session:
        account = await session.scalar(
            select(Account).where(col(Account.store_id) == store_id, col(Account.id) == account_id)
        )
        if account is None:
            raise NotFound(f"No account {account_id} in this store.")
        if account.deletion_requested_at is None:
            account.deletion_requested_at = now
            account.updated_at = now
        await revoke_sessions(session, account_id, now)
        requested = account.deletion_requested_at
    return requested + DELETION_DEADLINE
