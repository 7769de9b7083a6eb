"""The storefront chat channel: a widget in the store's theme talks to Taskra through
Shopify's app proxy (``/apps/support/...`` on the storefront, ``/proxy/...`` here).

- :mod:`.proxy` verifies each proxied request (Shopify's signature and timestamp);
- :mod:`.sessions` keeps visitor sessions, bound to one store;
- :mod:`.limits` counts messages per visitor, client and store in the database;
- :mod:`.service` turns chat into inbox messages and reads a visitor's conversation back;
- :mod:`.routes` is the HTTP surface and :mod:`.plugin` registers it all (entry point ``chat``).

See ``docs/chat.md``.
"""

from __future__ import annotations

from taskra_chat.channel import ChatChannel
from taskra_chat.proxy import ProxyCaller, verify_proxy_query

__all__ = ["ChatChannel", "ProxyCaller", "verify_proxy_query"]
