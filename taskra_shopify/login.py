"""Signing in outside Shopify admin: ``/login``, ``/logout`` and one-time login links.

A successful sign-in sets one cookie, ``taskra_session`` (HttpOnly, Secure, SameSite=Lax,
Path=/), whose value is the session token; the server keeps only its hash, and logging out
revokes it server-side, so a copied cookie stops working too. The JSON answer of
``POST /login`` (and ``GET /api/v1/session``) carries the session's CSRF token, which
cookie-authenticated writes send back in ``X-CSRF-Token`` (see :mod:`.api.auth`).

These pages are standalone: they set no ``frame-ancestors`` of their own, so the
SecurityHeaders middleware forbids framing them (clickjacking of the password form).
"""

from __future__ import annotations

import html
import json
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from taskra_core.accounts import SESSION_TTL, csrf_token_for
from taskra_core.app import Taskra
from taskra_core.errors import AccessError, CsrfRejected, InvalidInput, SessionInvalid
from taskra_core.models import Account
from taskra_shopify.api.auth import SESSION_COOKIE, require_csrf
from taskra_shopify.api.endpoint import Call
from taskra_shopify.api.v1 import api
from taskra_shopify.http_errors import error_response, status_for
from taskra_shopify.security import cross_site

MAX_LOGIN_BODY = 16 * 1024
# Credentials and session tokens must never sit in a shared or browser cache.
NO_STORE = {"Cache-Control": "no-store"}


def _form_page(message: str = "") -> str:
    note = f'<p role="alert">{html.escape(message)}</p>' if message else ""
    return f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in to Taskra</title></head>
<body>
<h1>Sign in to Taskra</h1>
{note}
<form method="post" action="/login">
<label>Email <input type="email" name="email" autocomplete="username" required></label>
<label>Password <input type="password" name="password" autocomplete="current-password"
required></label>
<button type="submit">Sign in</button>
</form>
</body>
</html>
"""


async def login_page(request: Request) -> Response:
    return HTMLResponse(_form_page(), headers=NO_STORE)


def _wants_json(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("application/json")


async def _credentials(request: Request) -> tuple[str, str]:
    raw = await request.body()
    if len(raw) > MAX_LOGIN_BODY:
        raise InvalidInput("The sign-in request is too large.")
    fields: dict[str, Any]
    if _wants_json(request):
        try:
            fields = json.loads(raw or b"{}")
        except ValueError:
            raise InvalidInput("The request body is not valid JSON.") from None
        if not isinstance(fields, dict):
            raise InvalidInput("Send a JSON object with email and password.")
    else:
        # Parsed by hand: Starlette's form parser needs python-multipart, and a sign-in
        # form is only ever urlencoded.
        parsed = parse_qs(raw.decode("utf-8", errors="replace"), keep_blank_values=True)
        fields = {name: values[0] for name, values in parsed.items()}
    email, password = fields.get("email"), fields.get("password")
    if not isinstance(email, str) or not isinstance(password, str) or not email or not password:
        raise InvalidInput("Send both an email and a password.")
    return email, password


def _client_key(request: Request) -> str:
    # The peer address; behind a proxy the server (uvicorn --proxy-headers) makes it the
    # client's. Headers are not trusted here: anyone could set X-Forwarded-For.
    return request.client.host if request.client else "unknown"


def _account_json(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "store_id": account.store_id,
        "email": account.email,
        "name": account.name,
        "role": account.role,
    }


def set_session_cookie(response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_TTL.total_seconds()),
        path="/",
        secure=True,
        httponly=True,
        samesite="lax",
    )


def _clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="lax")


async def login(request: Request) -> Response:
    """``POST /login``: JSON in, JSON out (with the CSRF token); a form post is redirected
    to ``/`` on success and shown the form again on failure. Either is refused (403) when a
    browser says another site sent it (login CSRF, see :func:`.security.cross_site`)."""
    taskra: Taskra = request.app.state.taskra
    as_json = _wants_json(request)
    try:
        reason = cross_site(request, taskra.settings)
        if reason is not None:
            raise CsrfRejected(
                f"This sign-in was sent from another site ({reason}); sign in on Taskra's own "
                "page instead."
            )
        email, password = await _credentials(request)
        account = await taskra.accounts.authenticate(
            email, password, client_key=_client_key(request)
        )
        token = await taskra.accounts.start_session(account)
    except (AccessError, InvalidInput) as exc:
        if as_json:
            failed = error_response(exc)
            failed.headers.update(NO_STORE)
            return failed
        return HTMLResponse(_form_page(str(exc)), status_code=status_for(exc), headers=NO_STORE)
    response: Response
    if as_json:
        response = JSONResponse(
            {"account": _account_json(account), "csrf_token": csrf_token_for(token)},
            headers=NO_STORE,
        )
    else:
        response = RedirectResponse("/", status_code=303, headers=NO_STORE)
    set_session_cookie(response, token)
    return response


async def logout(request: Request) -> Response:
    """``POST /logout``: revoke the session server-side and clear the cookie. A live session
    needs its CSRF token, so another site cannot sign the user out."""
    taskra: Taskra = request.app.state.taskra
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        try:
            await taskra.accounts.session_for(cookie)
        except SessionInvalid:
            pass  # already over: just clear the cookie
        else:
            try:
                require_csrf(request, cookie)
            except AccessError as exc:
                return error_response(exc)
            await taskra.accounts.end_session(cookie)
    response = Response(status_code=204, headers=NO_STORE)
    _clear_session_cookie(response)
    return response


async def login_link(request: Request) -> Response:
    """``GET /login/link/{token}``: a one-time link signs in and goes to ``/``."""
    taskra: Taskra = request.app.state.taskra
    try:
        account = await taskra.accounts.use_login_link(request.path_params["token"])
    except SessionInvalid as exc:
        return HTMLResponse(_form_page(str(exc)), status_code=401, headers=NO_STORE)
    token = await taskra.accounts.start_session(account)
    response = RedirectResponse("/", status_code=303, headers=NO_STORE)
    set_session_cookie(response, token)
    return response


@api.get("/session", summary="Who is signed in, and the CSRF token for writes", tag="session")
async def current_session(call: Call) -> dict[str, Any]:
    account: dict[str, Any] | None = None
    csrf: str | None = None
    if call.principal.by_cookie:
        cookie = call.request.cookies[SESSION_COOKIE]
        signed_in, _ = await call.taskra.accounts.session_for(cookie)
        account, csrf = _account_json(signed_in), csrf_token_for(cookie)
    elif call.principal.account_id is not None:
        # A Shopify staff member, recorded from the session token; bearer writes need no CSRF.
        async with call.taskra.db.session() as session:
            recorded = await session.get(Account, call.principal.account_id)
        account = _account_json(recorded) if recorded is not None else None
    return {
        "store_id": call.store_id,
        "shop": call.principal.shop,
        "account": account,
        "csrf_token": csrf,
    }


def login_routes() -> list[BaseRoute]:
    return [
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/login/link/{token}", login_link, methods=["GET"]),
    ]
