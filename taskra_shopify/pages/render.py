"""Rendering a template into a response, with what every page needs in its context."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from taskra_core.app import Taskra
from taskra_core.templating import make_environment
from taskra_shopify.session_token import APP_BRIDGE_URL

POLARIS_URL = "https://cdn.shopify.com/shopifycloud/polaris.js"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
STATIC_PREFIX = "/static/"


def templates_for(taskra: Taskra) -> jinja2.Environment:
    """The shell's template environment: plugin template directories, then Taskra's own."""
    env = make_environment(taskra.hooks.template_dirs())
    env.globals.update(
        app_bridge_url=APP_BRIDGE_URL,
        polaris_url=POLARIS_URL,
        static=_static_url,
    )
    return env


def _static_url(name: str) -> str:
    # The file's modification time busts browser caches after an upgrade.
    path = STATIC_DIR / name
    version = int(path.stat().st_mtime) if path.exists() else 0
    return f"{STATIC_PREFIX}{name}?v={version}"


def render(
    request: Request,
    name: str,
    context: Mapping[str, Any],
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    env: jinja2.Environment = request.app.state.templates
    taskra: Taskra = request.app.state.taskra
    base = {
        "embedded": False,
        "api_key": taskra.settings.shopify_api_key or "",
        "csrf": None,
        "request": request,
    }
    body = env.get_template(name).render({**base, **context})
    merged = {"Cache-Control": "no-store", **(headers or {})}
    return HTMLResponse(body, status_code=status_code, headers=merged)
