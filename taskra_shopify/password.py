"""Setting a password from an emailed link (an invitation, or a link asked for).

``GET /password/{token}`` shows the form; ``POST /password/{token}`` sets the password, uses
the link up, ends the account's other sessions, signs in with the session cookie exactly as
``/login`` does, and goes to ``/``. An unknown link gets 404, an expired or used one 410,
each with a page that says so; nothing changes.

The post is refused when a browser says another site sent it: with a link of its own, that
site could sign the visitor in to an account it controls (login CSRF). The token sits in the
URL, so these pages send no ``Referer`` anywhere.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from taskra_core.accounts import MIN_PASSWORD_CHARS
from taskra_core.app import Taskra
from taskra_core.errors import (
    InvalidInput,
    NotFound,
    PasswordTooLong,
    SessionInvalid,
    TaskraError,
)
from taskra_core.models import Account, Store
from taskra_shopify.login import NO_STORE, set_session_cookie
from taskra_shopify.pages.render import render
from taskra_shopify.security import cross_site

MAX_FORM_BYTES = 16 * 1024
NO_REFERRER = {"Referrer-Policy": "no-referrer"}


async def password_page(request: Request) -> Response:
    taskra: Taskra = request.app.state.taskra
    token = request.path_params["token"]
    try:
        account = await taskra.team.password_link_account(token)
    except (NotFound, SessionInvalid) as exc:
        return _unusable(request, exc)
    return await _form(request, taskra, account, token)


async def set_password(request: Request) -> Response:
    taskra: Taskra = request.app.state.taskra
    token = request.path_params["token"]
    reason = cross_site(request, taskra.settings)
    if reason is not None:
        message = f"This form was sent from another site ({reason}); open the link again."
        return _unusable(request, None, message=message, status_code=403)
    try:
        account = await taskra.team.password_link_account(token)
    except (NotFound, SessionInvalid) as exc:
        return _unusable(request, exc)
    try:
        fields = await _fields(request)
        password = fields.get("password", "")
        if "confirm" in fields and fields["confirm"] != password:
            raise InvalidInput("The two passwords differ; type the same one twice.")
        account = await taskra.team.use_password_link(token, password)
    except (NotFound, SessionInvalid) as exc:  # used or expired while the form was open
        return _unusable(request, exc)
    except (InvalidInput, PasswordTooLong) as exc:
        return await _form(request, taskra, account, token, error=str(exc), status_code=422)
    session_token = await taskra.accounts.start_session(account)
    response = RedirectResponse("/", status_code=303, headers={**NO_STORE, **NO_REFERRER})
    set_session_cookie(response, session_token)
    return response


async def _fields(request: Request) -> dict[str, str]:
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        raise InvalidInput("The form is too large.")
    # By hand, as /login does: Starlette's form parser needs python-multipart.
    parsed = parse_qs(raw.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {name: values[0] for name, values in parsed.items()}


async def _form(
    request: Request,
    taskra: Taskra,
    account: Account,
    token: str,
    *,
    error: str = "",
    status_code: int = 200,
) -> Response:
    async with taskra.db.session() as session:
        store = await session.get(Store, account.store_id)
    context = {
        "token": token,
        "email": account.email,
        "store_name": (store.name or store.domain) if store is not None else "",
        "error": error,
        "min_chars": MIN_PASSWORD_CHARS,
    }
    return render(
        request, "standalone/password.html", context, status_code=status_code, headers=NO_REFERRER
    )


def _unusable(
    request: Request,
    error: TaskraError | None,
    *,
    message: str = "",
    status_code: int | None = None,
) -> Response:
    if status_code is None:
        status_code = 404 if isinstance(error, NotFound) else 410
    return render(
        request,
        "standalone/link_unusable.html",
        {"message": message or str(error)},
        status_code=status_code,
        headers=NO_REFERRER,
    )


def password_routes() -> list[BaseRoute]:
    return [
        Route("/password/{token}", password_page, methods=["GET"]),
        Route("/password/{token}", set_password, methods=["POST"]),
    ]
