"""Verifying requests that Shopify's app proxy forwards from the storefront.

Shopify adds ``shop``, ``logged_in_customer_id``, ``path_prefix``, ``timestamp`` and
``signature`` to the query: a hex HMAC-SHA256, under the app's client secret, of every other
query parameter sorted by key as ``key=value`` with no separator (repeated keys joined with
commas). The signature itself is checked by ``shopifyapp``'s ``verify_app_proxy_req`` (which
also accepts the previous secret during a rotation and refuses anything older than 90 s);
this module adds what it leaves out: a repeated ``shop``, ``signature``, ``timestamp``,
``hmac`` or ``logged_in_customer_id`` is refused outright (a parser further on could read the
other copy), and the shop
must be a ``*.myshopify.com`` domain. The request body is not signed and is never trusted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

from shopify_app.verify.app_proxy import verify_app_proxy_req

from taskra_core.errors import ConfigurationError, ProxySignatureInvalid
from taskra_core.settings import Settings

_SINGLE = ("shop", "signature", "timestamp", "hmac", "logged_in_customer_id")
_SHOP = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-]*\.myshopify\.com$")
_CUSTOMER_ID = re.compile(r"^[0-9]{1,20}$")


@dataclass(frozen=True)
class ProxyCaller:
    """What a verified proxy request tells us: the shop and, if any, its logged-in customer
    (Shopify's numeric customer id)."""

    shop: str
    customer_id: str | None


def verify_proxy_query(query_string: str, settings: Settings) -> ProxyCaller:
    """Check the signed query of an app proxy request, or raise :class:`ProxySignatureInvalid`.

    ``query_string`` is the raw query (``request.url.query``). Only what this returns may be
    trusted; everything else in the request came from the visitor's browser.
    """
    if settings.shopify_api_secret is None:
        raise ConfigurationError(
            "SHOPIFY_API_SECRET is not set, so storefront chat requests cannot be verified."
        )
    pairs = parse_qsl(query_string, keep_blank_values=True)
    for name in _SINGLE:
        if sum(1 for key, _ in pairs if key == name) > 1:
            raise ProxySignatureInvalid(f"The request repeats the {name!r} parameter.")
    config = {"client_secret": settings.shopify_api_secret.get_secret_value()}
    if settings.shopify_api_secret_previous is not None:
        config["old_client_secret"] = settings.shopify_api_secret_previous.get_secret_value()
    result = verify_app_proxy_req(
        {"method": "GET", "headers": {}, "url": f"/?{query_string}", "body": ""},
        config,  # type: ignore[arg-type]
    )
    if not result.ok:
        raise ProxySignatureInvalid(
            "The request is not signed by Shopify's app proxy "
            f"({result.log.code.replace('_', ' ')})."
        )
    values = dict(pairs)
    shop = values.get("shop", "").lower()
    if not _SHOP.match(shop):
        raise ProxySignatureInvalid("The request names no *.myshopify.com shop.")
    customer = values.get("logged_in_customer_id", "").strip()
    if customer and not _CUSTOMER_ID.match(customer):
        raise ProxySignatureInvalid("logged_in_customer_id is not a Shopify customer id.")
    return ProxyCaller(shop=shop, customer_id=customer or None)
