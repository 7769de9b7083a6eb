"""Jinja2 templates: Taskra's own (admin pages, emails, the bounce page) under any a plugin
adds, so a plugin can add templates or replace one by giving it the same name.

Taskra's templates live in the top-level ``templates/`` directory of a checkout; a wheel
installs the same files as ``taskra_core/templates``. Autoescaping is on for every HTML
template and undefined names are errors: a typo must fail a test, not render as nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2

_PACKAGE_DIR = Path(__file__).resolve().parent


def builtin_template_dir() -> Path:
    """Where Taskra's own templates are: inside the installed package, else the checkout's."""
    installed = _PACKAGE_DIR / "templates"
    if installed.is_dir():
        return installed
    return _PACKAGE_DIR.parent / "templates"


def make_environment(plugin_dirs: Sequence[Path] = ()) -> jinja2.Environment:
    """An environment that looks in ``plugin_dirs`` first, then in Taskra's templates."""
    loader = jinja2.FileSystemLoader([*plugin_dirs, builtin_template_dir()])
    return jinja2.Environment(
        loader=loader,
        autoescape=jinja2.select_autoescape(["html"], default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        enable_async=False,
    )


def render_email(env: jinja2.Environment, name: str, context: Mapping[str, Any]) -> tuple[str, str]:
    """Render an email template into ``(subject, text)``.

    An email template's first line is ``Subject: ...`` and a blank line follows it, so the
    subject lives with the words of the email and a plugin replacing the template can change
    both.
    """
    rendered = env.get_template(name).render(context)
    head, _, body = rendered.partition("\n")
    if not head.startswith("Subject:"):
        raise jinja2.TemplateError(f"Email template {name} must start with a 'Subject:' line.")
    return head.removeprefix("Subject:").strip(), body.lstrip("\n")
