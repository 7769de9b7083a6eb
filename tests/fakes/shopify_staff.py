"""The staff of the fake Shopify's shops, and the online access tokens that describe them.

An online token exchange answers with ``associated_user``: who the ID token's ``sub`` is.
Register members with :meth:`Staff.add`; an unregistered ``sub`` is an ordinary staff member
with a made-up address, except :data:`OWNER_ID` (the ``sub`` :func:`.shopify.mint_id_token`
uses by default), who owns every shop.
"""

from __future__ import annotations

import dataclasses
import secrets
import threading
from typing import Any

OWNER_ID = "73014624313"
ONLINE = "urn:shopify:params:oauth:token-type:online-access-token"
ONLINE_TOKEN_TTL = 86399  # what Shopify grants: a day, less a second


@dataclasses.dataclass(frozen=True)
class StaffMember:
    id: str
    email: str
    first_name: str = ""
    last_name: str = ""
    account_owner: bool = False
    email_verified: bool = True
    collaborator: bool = False
    locale: str = "en"

    def as_associated_user(self) -> dict[str, Any]:
        return {
            "id": int(self.id) if self.id.isdigit() else self.id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "email": self.email,
            "email_verified": self.email_verified,
            "account_owner": self.account_owner,
            "locale": self.locale,
            "collaborator": self.collaborator,
        }


def owner_email(shop: str) -> str:
    return f"owner@{shop}"


class Staff:
    """Members by (shop, user id), and every online token issued (tests check none is kept)."""

    def __init__(self) -> None:
        self._members: dict[tuple[str, str], StaffMember] = {}
        self._lock = threading.Lock()
        self.online_tokens: list[str] = []

    def add(self, shop: str, user_id: str, email: str, **fields: Any) -> StaffMember:
        member = StaffMember(id=user_id, email=email, **fields)
        with self._lock:
            self._members[(shop, user_id)] = member
        return member

    def member(self, shop: str, user_id: str) -> StaffMember:
        with self._lock:
            known = self._members.get((shop, user_id))
        if known is not None:
            return known
        if user_id == OWNER_ID:
            return StaffMember(OWNER_ID, owner_email(shop), "Store", "Owner", account_owner=True)
        return StaffMember(user_id, f"staff-{user_id}@{shop}", "Staff", user_id)

    def online_grant(self, shop: str, claims: dict[str, Any], scopes: str) -> dict[str, Any]:
        """The token endpoint's answer to an online exchange of an ID token with ``claims``."""
        token = f"shpua_{secrets.token_hex(16)}"
        with self._lock:
            self.online_tokens.append(token)
        return {
            "access_token": token,
            "scope": scopes,
            "expires_in": ONLINE_TOKEN_TTL,
            "associated_user_scope": scopes,
            "associated_user": self.member(shop, str(claims["sub"])).as_associated_user(),
        }
