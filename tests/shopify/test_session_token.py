"""Session (ID) tokens of the embedded app, signed as Shopify signs them, through real HTTP.

A tiny Starlette app in this file calls ``taskra_shopify.session_token`` the way the app home
route does: verify, or answer with ``failure_response``; the bounce page is served as is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from taskra_core.errors import ConfigurationError, InvalidSessionToken
from taskra_core.testing import make_test_taskra
from taskra_shopify.session_token import (
    APP_BRIDGE_URL,
    BOUNCE_PATH,
    RETRY_HEADER,
    IdToken,
    bounce_page,
    embedded_headers,
    failure_response,
    verify_session_token,
)
from tests.fakes.shopify import CLIENT_ID, CLIENT_SECRET, SHOP, mint_id_token

APP_URL = "https://taskra.example"
CSP = f"frame-ancestors https://{SHOP} https://admin.shopify.com;"
OTHER_SECRET = "some-other-apps-client-secret-0123456789"


def _client(tmp_path: Path, **settings: Any) -> TestClient:
    values = {
        "shopify_api_key": CLIENT_ID,
        "shopify_api_secret": CLIENT_SECRET,
        "shopify_app_url": APP_URL,
    }
    taskra = make_test_taskra(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}", **values | settings)

    async def home(request: Request) -> Response:
        try:
            token = await verify_session_token(request, taskra.settings)
        except InvalidSessionToken:
            return failure_response(request, taskra.settings)
        body = {
            "shop": token.shop,
            "user": token.user_id,
            "sid": token.session_id,
            "document": token.document_load,
        }
        return JSONResponse(body, headers=embedded_headers(token))

    app = Starlette(routes=[Route("/", home), Route(BOUNCE_PATH, bounce_page)])
    app.state.taskra = taskra
    return TestClient(app, follow_redirects=False)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with _client(tmp_path) as client:
        yield client


def _load(client: TestClient, token: str | None) -> Any:
    """A document load as Shopify admin makes it: shop, host and id_token in the query."""
    params = {"shop": SHOP, "host": "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvZmVsbGFuZGZvcmQ"}
    if token is not None:
        params["id_token"] = token
    return client.get("/", params=params)


def _fetch(client: TestClient, authorization: str) -> Any:
    return client.get("/", headers={"Authorization": authorization})


def test_valid_token_on_document_load(client: TestClient) -> None:
    """A fresh token in ?id_token= is accepted; the page gets the shop's frame-ancestors."""
    token = mint_id_token(sub="991", sid="session-1")
    response = _load(client, token)
    assert response.status_code == 200
    assert response.json() == {
        "shop": SHOP,
        "user": "991",
        "sid": "session-1",
        "document": True,
    }
    assert response.headers["content-security-policy"] == CSP


def test_valid_token_on_fetch(client: TestClient) -> None:
    """A fresh token in the Authorization header is accepted and marked as a fetch."""
    response = _fetch(client, f"Bearer {mint_id_token()}")
    assert response.status_code == 200
    assert response.json()["shop"] == SHOP
    assert response.json()["document"] is False


REFUSED: dict[str, Callable[[], str]] = {
    "expired": lambda: mint_id_token(now=time.time() - 120),
    "no exp": lambda: mint_id_token(exp=None),
    "wrong aud": lambda: mint_id_token(aud="another-app"),
    "aud as a list": lambda: mint_id_token(aud=[CLIENT_ID]),
    "wrong secret": lambda: mint_id_token(secret=OTHER_SECRET),
    "HS512": lambda: mint_id_token(algorithm="HS512"),
    "iss of another shop": lambda: mint_id_token(iss="https://other-shop.myshopify.com/admin"),
    "dest not myshopify": lambda: mint_id_token(
        iss="https://evil.example/admin", dest="https://evil.example"
    ),
    "dest a bare name": lambda: mint_id_token(
        iss="https://fellandford/admin", dest="https://fellandford"
    ),
    "dest over http": lambda: mint_id_token(dest=f"http://{SHOP}"),
    "dest with a port": lambda: mint_id_token(dest=f"https://{SHOP}:8443"),
    "no dest": lambda: mint_id_token(dest=None),
    "no iss": lambda: mint_id_token(iss=None),
    "not yet valid": lambda: mint_id_token(nbf=int(time.time()) + 120),
    "garbage": lambda: "not.a.jwt",
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_bad_token_on_fetch_is_401_with_retry_header(client: TestClient, case: str) -> None:
    """Each kind of bad token is refused on a fetch with 401 and the App Bridge retry header."""
    response = _fetch(client, f"Bearer {REFUSED[case]()}")
    assert response.status_code == 401
    assert response.headers[RETRY_HEADER] == "1"


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_bad_token_on_document_load_bounces(client: TestClient, case: str) -> None:
    """Each kind of bad token on a page load redirects to the bounce page, minus the token."""
    token = REFUSED[case]()
    response = _load(client, token)
    assert response.status_code == 302
    location = response.headers["location"]
    assert urlsplit(location).path == BOUNCE_PATH
    assert token not in location


@pytest.mark.parametrize("authorization", ["Basic Zm9vOmJhcg==", "Bearer", "bearer x.y.z"])
def test_fetch_with_malformed_authorization_is_401(client: TestClient, authorization: str) -> None:
    """A fetch whose Authorization header is not `Bearer <token>` gets 401 + retry header."""
    response = _fetch(client, authorization)
    assert response.status_code == 401
    assert response.headers[RETRY_HEADER] == "1"


def test_missing_token_on_document_load_redirects_to_bounce_page(client: TestClient) -> None:
    """No id_token on a page load: 302 to the bounce page on the public app URL, keeping the
    shop and the original path + query in shopify-reload; nobody is asked for a domain."""
    response = _load(client, None)
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}" == APP_URL  # not the Host header's
    assert location.path == BOUNCE_PATH
    query = parse_qs(location.query)
    assert query["shop"] == [SHOP]
    reload = query["shopify-reload"][0]
    assert reload.startswith("/?shop=")
    assert "id_token" not in reload


def test_bounce_round_trip(client: TestClient) -> None:
    """Following the redirect yields the bounce page: App Bridge, the API key, the shop's CSP."""
    redirect = _load(client, mint_id_token(now=time.time() - 120))
    location = urlsplit(redirect.headers["location"])
    page = client.get(f"{location.path}?{location.query}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert f'<meta name="shopify-api-key" content="{CLIENT_ID}">' in page.text
    assert f'<script src="{APP_BRIDGE_URL}"></script>' in page.text
    assert page.headers["content-security-policy"] == CSP


@pytest.mark.parametrize(
    "params",
    [
        {"shop": "evil.example *", "shopify-reload": "/"},
        {"shop": "evil.example", "shopify-reload": "/"},
        {"shopify-reload": "/"},
        {"shop": SHOP, "shopify-reload": "https://evil.example/steal"},
        {"shop": SHOP, "shopify-reload": "//evil.example/steal"},
        {"shop": SHOP, "shopify-reload": "/\\evil.example"},
        {"shop": SHOP},
    ],
)
def test_bounce_page_refuses_untrusted_parameters(
    client: TestClient, params: dict[str, str]
) -> None:
    """The bounce page validates shop (it goes into the CSP) and keeps the reload on this app
    (App Bridge appends a fresh token to it), answering 400 otherwise."""
    response = client.get(BOUNCE_PATH, params=params)
    assert response.status_code == 400
    assert "evil" not in response.headers.get("content-security-policy", "")


def test_id_token_is_frozen_and_keeps_the_jwt_out_of_repr(client: TestClient) -> None:
    """IdToken cannot be changed after verification, and its repr never shows the raw JWT."""
    token = IdToken(shop=SHOP, user_id="1", session_id="s", token="secret.jwt.value", claims={})
    assert "secret.jwt.value" not in repr(token)
    with pytest.raises(AttributeError):
        token.shop = "other.myshopify.com"  # type: ignore[misc]


def test_unconfigured_app_is_a_configuration_error(tmp_path: Path) -> None:
    """Without SHOPIFY_API_KEY the request fails loudly naming the setting, not as a 401."""
    with (
        _client(tmp_path, shopify_api_key=None) as client,
        pytest.raises(ConfigurationError, match="SHOPIFY_API_KEY"),
    ):
        _load(client, mint_id_token())
