"""Property tests (hypothesis) for every signature check at Taskra's edge: Shopify webhook
HMAC, Shopify session tokens, Resend's Svix signatures and the raw-email HMAC.

For each: what its signer signs verifies; changing one byte of a signed body does not; and
arbitrary header or token text is refused with the documented error, never anything else
(an unexpected exception here would be a 500, or worse, an accidental accept).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.requests import Request
from taskra_email.signing import sign, verify_raw, verify_svix

from taskra_core.errors import InvalidSessionToken, WebhookMalformed, WebhookSignatureInvalid
from taskra_core.testing import make_test_settings
from taskra_shopify.session_token import verify_session_token
from taskra_shopify.webhooks import signature_valid
from tests.fakes.resend import FakeResend
from tests.fakes.shopify import CLIENT_ID, CLIENT_SECRET, SHOP, mint_id_token

SECRET = "property-secret-0123456789abcdef0123456789"
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=300)


def _flip(body: bytes, index: int) -> bytes:
    i = index % len(body)
    return body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1 :]


# --- Shopify webhooks ---------------------------------------------------------------------------


def _shopify_hmac(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@PROPERTY
@given(body=st.binary(min_size=1, max_size=2000), index=st.integers(min_value=0))
def test_shopify_webhook_hmac_accepts_its_signature_and_no_altered_body(
    body: bytes, index: int
) -> None:
    """Shopify's signature verifies under the secret (also as the previous secret of a
    rotation); the same signature on a body with one bit changed does not."""
    signature = _shopify_hmac(body)
    assert signature_valid(body, signature, [SECRET.encode()])
    assert signature_valid(body, signature, [b"new-secret-after-rotation", SECRET.encode()])
    assert not signature_valid(_flip(body, index), signature, [SECRET.encode()])


@PROPERTY
@given(body=st.binary(max_size=500), received=header_text)
def test_shopify_webhook_hmac_refuses_arbitrary_header_text(body: bytes, received: str) -> None:
    """Any header value other than the exact signature is refused, without an exception."""
    if received.strip() == _shopify_hmac(body):
        return
    assert signature_valid(body, received, [SECRET.encode()]) is False


# --- raw email HMAC --------------------------------------------------------------------------


@PROPERTY
@given(body=st.binary(min_size=1, max_size=2000), index=st.integers(min_value=0))
def test_raw_email_signature_round_trip_and_tamper(body: bytes, index: int) -> None:
    """``sign`` verifies; one changed bit in the body makes it WebhookSignatureInvalid."""
    headers = {k.lower(): v for k, v in sign(SECRET, body).items()}
    verify_raw(SECRET, headers, body)
    with pytest.raises(WebhookSignatureInvalid):
        verify_raw(SECRET, headers, _flip(body, index))


@PROPERTY
@given(timestamp=header_text, signature=header_text, body=st.binary(max_size=200))
def test_raw_email_signature_refuses_arbitrary_headers_with_its_own_errors(
    timestamp: str, signature: str, body: bytes
) -> None:
    """Arbitrary X-Taskra-Timestamp / X-Taskra-Signature values: malformed (400) or invalid
    (401), never another exception and never accepted."""
    headers = {"x-taskra-timestamp": timestamp, "x-taskra-signature": signature}
    with pytest.raises((WebhookMalformed, WebhookSignatureInvalid)):
        verify_raw(SECRET, headers, body)


# --- Resend (Svix) ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def resend_signer() -> FakeResend:
    return FakeResend()  # only its signing is used; the server is never started


def test_svix_round_trip_and_tamper(resend_signer: FakeResend) -> None:
    """Hypothesis-driven inside: a signed event verifies; a changed byte does not."""

    @PROPERTY
    @given(
        text=st.text(max_size=300),
        index=st.integers(min_value=0),
    )
    def check(text: str, index: int) -> None:
        event = {"type": "email.received", "data": {"email_id": "e1", "subject": text}}
        body, headers = resend_signer.signed(event)
        assert verify_svix(resend_signer.webhook_secret, headers, body) == event
        with pytest.raises((WebhookSignatureInvalid, WebhookMalformed)):
            verify_svix(resend_signer.webhook_secret, headers, _flip(body, index))

    check()


@PROPERTY
@given(msg_id=header_text, ts=header_text, signature=header_text, body=st.binary(max_size=300))
def test_svix_refuses_arbitrary_headers_with_its_own_errors(
    msg_id: str, ts: str, signature: str, body: bytes
) -> None:
    """Arbitrary svix-id / svix-timestamp / svix-signature: refused as invalid, never accepted
    and never another exception."""
    secret = "whsec_" + base64.b64encode(b"k" * 24).decode()
    headers = {"svix-id": msg_id, "svix-timestamp": ts, "svix-signature": signature}
    with pytest.raises((WebhookSignatureInvalid, WebhookMalformed)):
        verify_svix(secret, headers, body)


# --- Shopify session tokens ------------------------------------------------------------------


def _request(token: str) -> Request:
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "scheme": "https",
        "server": ("taskra.test", 443),
        "path": "/api/v1/session",
        "raw_path": b"/api/v1/session",
        "query_string": b"",
        "headers": [(b"authorization", f"Bearer {token}".encode("latin-1", "replace"))],
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    return Request(scope, receive)


SESSION_SETTINGS = make_test_settings(
    "sqlite+aiosqlite://", shopify_api_key=CLIENT_ID, shopify_api_secret=CLIENT_SECRET
)


def _verify(token: str) -> Any:
    return asyncio.run(verify_session_token(_request(token), SESSION_SETTINGS))


@PROPERTY
@given(token=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=400))
def test_session_tokens_refuse_arbitrary_text(token: str) -> None:
    """Any text that is not a token Shopify signed is InvalidSessionToken (a 401 the page
    retries), never another exception."""
    with pytest.raises(InvalidSessionToken):
        _verify(token)


SHOP_LIKE = st.one_of(
    st.just(f"https://{SHOP}"),
    st.just(f"https://{SHOP}/admin"),
    st.just("https://evil.example.com"),
    st.just(f"https://{SHOP}.evil.example"),
    st.just(f"http://{SHOP}"),
    st.just(f"https://user@{SHOP}"),
    header_text,
)


@PROPERTY
@given(iss=SHOP_LIKE, dest=SHOP_LIKE, lifetime=st.integers(min_value=-120, max_value=120))
def test_signed_tokens_name_one_shop_and_are_current_or_are_refused(
    iss: str, dest: str, lifetime: int
) -> None:
    """Tokens signed with the app's secret but with arbitrary iss/dest and expiry: accepted
    only when both name the same https://<shop>.myshopify.com (iss with /admin) and the
    token has not expired; everything else is InvalidSessionToken."""
    token = mint_id_token(SHOP, iss=iss, dest=dest, now=time.time(), lifetime=lifetime)
    valid = (
        iss == f"https://{SHOP}/admin"
        and dest == f"https://{SHOP}"
        and lifetime > 5  # leeway aside, an expired token is refused
    )
    try:
        verified = _verify(token)
    except InvalidSessionToken:
        assert not valid or lifetime <= 10
        return
    assert iss in (f"https://{SHOP}/admin", f"https://{SHOP}")
    assert dest in (f"https://{SHOP}", f"https://{SHOP}/")
    assert verified.shop == SHOP
    assert lifetime > -10  # never long expired
