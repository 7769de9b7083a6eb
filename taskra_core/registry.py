"""Things plugins register by name (job kinds, channels, reply models, webhook topics): each
name once, checked at start-up, with the same clear errors everywhere."""

from __future__ import annotations

import re
from typing import Generic, TypeVar

from taskra_core.errors import StartupError

T = TypeVar("T")


class Registry(Generic[T]):
    """Values by name. ``what`` names the kind of thing in errors ("Channel", "Job kind").

    ``pattern`` (a regular expression the whole name must match) keeps names usable where
    they end up: settings, URLs, log fields. Registering a name twice is a start-up error,
    because two plugins claiming it is a conflict someone must resolve, not something to
    settle silently by load order.
    """

    def __init__(
        self, what: str, pattern: str | None = None, hint: str = "", *, callables: bool = True
    ) -> None:
        self.what = what
        self._callables = callables
        self._pattern = re.compile(pattern) if pattern else None
        self._hint = hint
        self._values: dict[str, T] = {}

    def add(self, name: str, value: T) -> None:
        if not isinstance(name, str) or not name or name != name.strip():
            raise StartupError(f"{self.what} must be a non-empty name, got {name!r}.")
        if self._pattern is not None and not self._pattern.fullmatch(name):
            raise StartupError(f"{self.what} {name!r} is not a valid name{self._hint}.")
        if name in self._values:
            raise StartupError(
                f"{self.what} {name!r} is registered twice; two plugins claim it. "
                "Disable one with TASKRA_DISABLE_PLUGINS."
            )
        if self._callables and not callable(value):
            raise StartupError(
                f"What is registered for {self.what.lower()} {name!r} is not callable."
            )
        self._values[name] = value

    def get(self, name: str) -> T | None:
        return self._values.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._values

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._values))
