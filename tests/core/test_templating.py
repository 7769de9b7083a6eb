"""Templates: Taskra's own are found from a checkout, a plugin's directory comes first and
can replace one of them, HTML is autoescaped and a typo in a variable name fails."""

from __future__ import annotations

import types
from pathlib import Path

import jinja2
import pytest

from taskra_core import hookimpl
from taskra_core.templating import builtin_template_dir, make_environment
from taskra_core.testing import make_test_taskra


def test_builtin_templates_are_found() -> None:
    """The checkout's templates/ directory holds the admin pages' base layout."""
    assert (builtin_template_dir() / "base.html").is_file()
    assert (builtin_template_dir() / "admin" / "inbox.html").is_file()


def test_html_is_autoescaped_and_undefined_names_fail(tmp_path: Path) -> None:
    """Markup in a value renders as text; a misspelled variable is an error, not blank."""
    (tmp_path / "hello.html").write_text("<p>{{ name }}</p>")
    env = make_environment([tmp_path])
    rendered = env.get_template("hello.html").render(name="<script>x()</script>")
    assert rendered == "<p>&lt;script&gt;x()&lt;/script&gt;</p>"
    with pytest.raises(jinja2.UndefinedError):
        env.get_template("hello.html").render(nmae="typo")


def test_hook_template_dirs(tmp_path: Path) -> None:
    """A plugin's template_dirs come before Taskra's: it adds templates and can replace one."""
    (tmp_path / "admin").mkdir()
    (tmp_path / "admin" / "usage.html").write_text("plugin usage page")
    (tmp_path / "extra.html").write_text("added by a plugin")
    plugin = types.SimpleNamespace(template_dirs=hookimpl(lambda: [tmp_path]))
    taskra = make_test_taskra("sqlite+aiosqlite:///:memory:", plugins=[plugin])
    dirs = taskra.hooks.template_dirs()
    assert dirs == [tmp_path]
    env = make_environment(dirs)
    assert env.get_template("admin/usage.html").render() == "plugin usage page"
    assert env.get_template("extra.html").render() == "added by a plugin"
    assert env.loader is not None
    assert "base.html" in env.list_templates()  # Taskra's own are still there
