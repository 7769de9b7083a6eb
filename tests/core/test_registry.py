"""The registry behind job kinds, channels, reply models and webhook topics: one name once,
valid names only, callables only; clear start-up errors otherwise."""

from __future__ import annotations

import pytest

from taskra_core.errors import StartupError
from taskra_core.registry import Registry


def handler() -> None:
    return None


def test_a_name_is_registered_once() -> None:
    """The second claim on a name stops start-up and says how to resolve it."""
    registry: Registry[object] = Registry("Channel")
    registry.add("email", handler)
    with pytest.raises(StartupError, match=r"'email' is registered twice.*TASKRA_DISABLE_PLUGINS"):
        registry.add("email", handler)
    assert registry.names == ("email",)
    assert "email" in registry
    assert registry.get("email") is handler
    assert registry.get("chat") is None


@pytest.mark.parametrize("name", ["", " email", "Email!", 3])
def test_bad_names_are_refused(name: object) -> None:
    """Empty, padded, or off-pattern names (and non-strings) are refused, nothing is added."""
    registry: Registry[object] = Registry("Channel", r"[a-z][a-z0-9_-]{0,31}")
    with pytest.raises(StartupError):
        registry.add(name, handler)  # type: ignore[arg-type]
    assert registry.names == ()


def test_values_must_be_callable_unless_told_otherwise() -> None:
    """Factories and handlers must be callable; a registry of records can opt out."""
    with pytest.raises(StartupError, match="not callable"):
        Registry[object]("Reply model").add("mock", "not a factory")
    records: Registry[object] = Registry("Job kind", callables=False)
    records.add("draft", {"max_attempts": 3})
    assert records.get("draft") == {"max_attempts": 3}
