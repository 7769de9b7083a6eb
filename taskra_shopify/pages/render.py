"""Rendering a template into a response, with what every page needs in its context."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from taskra_core.app import Taskra
from taskra_core.templating import make_environment
from taskra_shopify.pages.viewer import Viewer
from taskra_shopify.session_token import APP_BRIDGE_PRELOAD, APP_BRIDGE_URL

POLARIS_URL = "https://cdn.shopify.com/shopifycloud/polaris.js"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
STATIC_PREFIX = "/static/"


def templates_for(taskra: Taskra) -> jinja2.Environment:
    """The shell's template environment: plugin template directories, then Taskra's own."""
    env = make_environment(taskra.hooks.template_dirs())
    env.globals.update(
        app_bridge_url=APP_BRIDGE_URL,
        polaris_url=POLARIS_URL,
        static=_static_urls(),
    )
    env.filters.update(usd=_usd, safe_url=_safe_url)
    return env


def _usd(micros: int | None) -> str:
    return f"${(micros or 0) / 1_000_000:.4f}"


def _safe_url(value: object) -> str:
    """``value`` if it is an http(s) URL, else "": a tracking link from an order must not be
    able to run script (``javascript:``) when clicked."""
    text = str(value or "").strip()
    return text if urlsplit(text).scheme in ("http", "https") else ""


def _static_urls() -> Callable[[str], str]:
    """``static(name)`` for templates. A file's modification time busts browser caches after
    an upgrade; read once when the app is built, not on every page."""
    versions = {p.name: int(p.stat().st_mtime) for p in STATIC_DIR.iterdir() if p.is_file()}

    def static(name: str) -> str:
        return f"{STATIC_PREFIX}{name}?v={versions.get(name, 0)}"

    return static


def render(
    request: Request,
    name: str,
    context: Mapping[str, Any],
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    env: jinja2.Environment = request.app.state.templates
    body = env.get_template(name).render(_context(request, context))
    merged = {"Cache-Control": "no-store", **(headers or {})}
    return HTMLResponse(body, status_code=status_code, headers=merged)


def _context(request: Request, context: Mapping[str, Any]) -> dict[str, Any]:
    """What every template may use, under the page's own context."""
    taskra: Taskra = request.app.state.taskra
    base = {
        "embedded": False,
        "api_key": taskra.settings.shopify_api_key or "",
        "csrf": None,
        "request": request,
    }
    return {**base, **context}


FRAGMENT_HEADER = "X-Taskra-Fragment"


def render_page(
    request: Request,
    viewer: Viewer,
    name: str,
    context: Mapping[str, Any],
    *,
    page: str,
    status_code: int = 200,
) -> HTMLResponse:
    """An admin page for ``viewer``; only its ``main`` block when the page's script asks for
    a refresh (``X-Taskra-Fragment: main``), so live updates re-render on the server, with
    the same escaping, instead of building HTML in the browser."""
    full = {
        **context,
        "viewer": viewer,
        "embedded": viewer.embedded,
        "csrf": viewer.csrf,
        "page": page,
        "url": viewer.url,
    }
    headers = {"Link": APP_BRIDGE_PRELOAD} if viewer.embedded else {}
    if request.headers.get(FRAGMENT_HEADER) == "main":
        env: jinja2.Environment = request.app.state.templates
        template = env.get_template(name)
        body = "".join(template.blocks["main"](template.new_context(_context(request, full))))
        return HTMLResponse(
            body,
            status_code=status_code,
            headers={"Cache-Control": "no-store", "Vary": FRAGMENT_HEADER},
        )
    return render(
        request, name, full, status_code=status_code, headers={**headers, "Vary": FRAGMENT_HEADER}
    )
