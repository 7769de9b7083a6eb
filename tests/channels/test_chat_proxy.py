"""App proxy signatures (taskra_chat.proxy): what Shopify signs passes, anything else is
refused before a request is read. Queries are signed by the test storefront's own signer,
written from Shopify's description, not by the code under test."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from taskra_chat.proxy import ProxyCaller, verify_proxy_query

from taskra_core.errors import ConfigurationError, ProxySignatureInvalid
from taskra_core.settings import Settings
from taskra_core.testing import make_test_settings
from tests.browser.chat_storefront import signed_query

SECRET = "shpss_chat_test_secret"
SHOP = "fellandford.myshopify.com"
BASE = [("shop", SHOP), ("logged_in_customer_id", ""), ("path_prefix", "/apps/support")]


@pytest.fixture
def config() -> Settings:
    return make_test_settings("sqlite+aiosqlite://", shopify_api_secret=SECRET)


def test_a_signed_request_names_its_shop_and_customer(config: Settings) -> None:
    """A query signed with the app secret yields the shop and the logged-in customer."""
    params = [("shop", SHOP), ("logged_in_customer_id", "7301845121379"), ("x", "1")]
    assert verify_proxy_query(signed_query(params, SECRET), config) == ProxyCaller(
        shop=SHOP, customer_id="7301845121379"
    )


def test_an_anonymous_visitor_has_no_customer(config: Settings) -> None:
    """An empty logged_in_customer_id (nobody logged in) is signed too and means None."""
    assert verify_proxy_query(signed_query(BASE, SECRET), config).customer_id is None


def test_repeated_parameters_are_signed_comma_joined(config: Settings) -> None:
    """``extra=1&extra=2`` is signed as ``extra=1,2``: such a request passes."""
    query = signed_query([*BASE, ("extra", "1"), ("extra", "2")], SECRET)
    assert query.count("extra=") == 2
    assert verify_proxy_query(query, config).shop == SHOP


def test_a_changed_parameter_breaks_the_signature(config: Settings) -> None:
    """Changing a signed value (here the customer id) after signing is refused."""
    query = signed_query(BASE, SECRET).replace("logged_in_customer_id=", "logged_in_customer_id=9")
    with pytest.raises(ProxySignatureInvalid, match="not signed"):
        verify_proxy_query(query, config)


def test_another_secret_is_refused(config: Settings) -> None:
    """A query signed with any other secret is refused."""
    with pytest.raises(ProxySignatureInvalid):
        verify_proxy_query(signed_query(BASE, "someone-elses-secret"), config)


def test_a_missing_signature_is_refused(config: Settings) -> None:
    """No ``signature`` parameter at all: refused."""
    query = urlencode([*BASE, ("timestamp", str(int(time.time())))])
    with pytest.raises(ProxySignatureInvalid, match="missing signature"):
        verify_proxy_query(query, config)


@pytest.mark.parametrize("offset", [-120, 120])
def test_a_timestamp_outside_90_seconds_is_refused(config: Settings, offset: int) -> None:
    """A correctly signed but stale (or future) timestamp is refused: no replays."""
    query = signed_query(BASE, SECRET, timestamp=int(time.time()) + offset)
    with pytest.raises(ProxySignatureInvalid):
        verify_proxy_query(query, config)


def test_a_timestamp_within_the_window_passes(config: Settings) -> None:
    """A minute-old timestamp is still fresh."""
    query = signed_query(BASE, SECRET, timestamp=int(time.time()) - 60)
    assert verify_proxy_query(query, config).shop == SHOP


@pytest.mark.parametrize("name", ["shop", "timestamp", "signature", "logged_in_customer_id"])
def test_a_repeated_shop_timestamp_or_signature_is_refused(config: Settings, name: str) -> None:
    """Even when the signature covers both copies, a second ``shop``, ``timestamp``,
    ``signature`` or ``logged_in_customer_id`` is refused: a later reader could pick the
    other copy."""
    query = signed_query(BASE, SECRET)
    copy = next(part for part in query.split("&") if part.startswith(f"{name}="))
    if name == "shop":
        query = signed_query([*BASE, ("shop", "other.myshopify.com")], SECRET)
    elif name == "logged_in_customer_id":
        query = signed_query([*BASE, (name, "999")], SECRET)
    else:
        query = f"{query}&{copy}"
    with pytest.raises(ProxySignatureInvalid, match="repeats"):
        verify_proxy_query(query, config)


def test_a_shop_that_is_not_myshopify_is_refused(config: Settings) -> None:
    """Only ``*.myshopify.com`` shops are accepted, even with a valid signature."""
    query = signed_query([("shop", "evil.example.com"), ("logged_in_customer_id", "")], SECRET)
    with pytest.raises(ProxySignatureInvalid, match="myshopify"):
        verify_proxy_query(query, config)


def test_the_previous_secret_passes_during_a_rotation() -> None:
    """With SHOPIFY_API_SECRET_PREVIOUS set, requests signed with the old secret pass."""
    rotated = make_test_settings(
        "sqlite+aiosqlite://", shopify_api_secret="new", shopify_api_secret_previous=SECRET
    )
    assert verify_proxy_query(signed_query(BASE, SECRET), rotated).shop == SHOP


def test_without_an_app_secret_nothing_is_verified() -> None:
    """No SHOPIFY_API_SECRET: a configuration error naming it, never a pass."""
    with pytest.raises(ConfigurationError, match="SHOPIFY_API_SECRET"):
        verify_proxy_query(signed_query(BASE, SECRET), make_test_settings("sqlite+aiosqlite://"))


_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12)


@settings(max_examples=60, deadline=None)
@given(
    extra=st.lists(
        st.tuples(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), _TEXT).filter(
            lambda kv: kv[0] not in ("shop", "timestamp", "signature", "hmac")
        ),
        max_size=5,
    ),
    flip=st.integers(min_value=0, max_value=63),
)
def test_any_signed_query_passes_and_any_flipped_digit_fails(
    extra: list[tuple[str, str]], flip: int
) -> None:
    """Property: whatever extra parameters (repeated, empty, unicode) the widget sends, the
    signed query passes; changing one hex digit of the signature makes it fail."""
    config = make_test_settings("sqlite+aiosqlite://", shopify_api_secret=SECRET)
    query = signed_query([*BASE, *extra], SECRET)
    assert verify_proxy_query(query, config).shop == SHOP
    head, _, signature = query.rpartition("signature=")
    digit = signature[flip]
    forged = signature[:flip] + ("0" if digit != "0" else "1") + signature[flip + 1 :]
    with pytest.raises(ProxySignatureInvalid):
        verify_proxy_query(f"{head}signature={forged}", config)
