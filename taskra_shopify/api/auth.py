"""Who is calling the API, for which store.

Inside Shopify admin every fetch carries a session token (``Authorization: Bearer``),
verified as the app home verifies it; the store is the token's shop, and only an installed
store is served. Every handler scopes its work to ``principal.store_id``, so a valid token
of one shop can never reach another shop's data.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import col
from starlette.requests import Request

from taskra_core.app import Taskra
from taskra_core.errors import InvalidSessionToken
from taskra_core.models import Store
from taskra_shopify.session_token import verify_session_token


@dataclass(frozen=True)
class Principal:
    store_id: int
    shop: str
    user_id: str | None


async def authenticate(request: Request, taskra: Taskra) -> Principal:
    if not request.headers.get("authorization", "").startswith("Bearer "):
        raise InvalidSessionToken("Send the Shopify session token as 'Authorization: Bearer'.")
    token = await verify_session_token(request, taskra.settings)
    async with taskra.db.session() as session:
        store = (
            await session.scalars(select(Store).where(col(Store.domain) == token.shop))
        ).first()
    if store is None or store.id is None or store.uninstalled_at is not None:
        raise InvalidSessionToken(
            f"{token.shop} has not installed the app; open it from the Shopify admin first."
        )
    request.state.shop = token.shop
    return Principal(store_id=store.id, shop=token.shop, user_id=token.user_id)
