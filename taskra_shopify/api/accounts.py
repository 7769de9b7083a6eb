"""The store's team: who may use the inbox, inviting and removing agents (merchants only),
and a link to set one's own password for signing in outside Shopify admin."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from taskra_core.errors import PermissionDenied
from taskra_core.models import Account
from taskra_core.retention.accounts import request_account_deletion
from taskra_core.team import MAX_NAME_CHARS, PASSWORD_LINK_TTL
from taskra_shopify.api.endpoint import Call
from taskra_shopify.api.v1 import api


class InviteBody(BaseModel):
    email: str = Field(min_length=3, max_length=320, description="The agent's email address.")
    name: str = Field(default="", max_length=MAX_NAME_CHARS, description="How to greet them.")


def _account(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "name": account.name,
        "email": account.email,
        "role": account.role,
        "has_password": account.password_hash is not None,
        "from_shopify": account.shopify_user_id is not None,
    }


@api.get("/accounts", summary="The store's merchants and agents", tag="accounts")
async def list_accounts(call: Call) -> dict[str, Any]:
    members = await call.taskra.team.members(call.store_id)
    return {"accounts": [_account(member) for member in members]}


@api.post(
    "/accounts",
    summary="Invite an agent (merchants only); emails them a link to set a password",
    body=InviteBody,
    status=201,
    tag="accounts",
)
async def invite_account(call: Call, body: InviteBody) -> dict[str, Any]:
    account = await call.taskra.team.invite(
        call.store_id, call.principal.account_id, body.email, body.name
    )
    return _account(account)


@api.delete(
    "/accounts/{account_id:int}",
    summary="Remove an agent (merchants only): ends their sessions, unassigns their conversations",
    status=204,
    tag="accounts",
)
async def remove_account(call: Call, account_id: int) -> None:
    await call.taskra.team.remove(call.store_id, call.principal.account_id, account_id)


@api.post(
    "/accounts/me/password-link",
    summary="Email yourself a link to set your password (valid for an hour)",
    status=202,
    tag="accounts",
)
async def my_password_link(call: Call) -> dict[str, Any]:
    if call.principal.account_id is None:
        raise PermissionDenied("This session token names no staff member to send a link to.")
    account = await call.taskra.team.send_password_link(call.store_id, call.principal.account_id)
    return {
        "sent_to": account.email,
        "expires_in_seconds": int(PASSWORD_LINK_TTL.total_seconds()),
    }


@api.post(
    "/accounts/me/deletion",
    summary="Ask for your own account to be deleted (gone within 30 days)",
    status=202,
    tag="accounts",
)
async def delete_my_account(call: Call) -> dict[str, Any]:
    """The privacy policy's promise: an account is deleted within 30 days of the request.
    The account is signed out everywhere at once; the retention sweep deletes it."""
    if call.principal.account_id is None:
        raise PermissionDenied("This session token names no staff member whose account to delete.")
    deadline = await request_account_deletion(call.taskra, call.store_id, call.principal.account_id)
    return {"account_id": call.principal.account_id, "deleted_by": deadline.isoformat()}
