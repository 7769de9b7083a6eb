"""The reply-model port: a small ABC, and the registry plugins fill through a hook.

::

    from taskra_core import hookimpl
    from taskra_core.drafting.reply_models import ReplyModel

    class Canned(ReplyModel):
        name = "canned"

        async def draft(self, request):
            return ModelReply(text="Thanks, we'll be in touch.", model=self.name)

    @hookimpl
    def register_reply_models(register):
        register("canned", lambda settings: Canned())

``TASKRA_REPLY_MODEL=canned`` then drafts every reply with it. Without that setting Taskra
uses ``anthropic`` when ``ANTHROPIC_API_KEY`` is set and ``offline`` otherwise.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from taskra_core.drafting.types import DraftRequest, ModelReply
from taskra_core.errors import StartupError, UnknownReplyModel
from taskra_core.registry import Registry
from taskra_core.settings import Settings


class ReplyModel(ABC):
    """Drafts one reply. Implementations must be safe to call concurrently."""

    #: The name the model is registered and selected under.
    name: str = ""

    @abstractmethod
    async def draft(self, request: DraftRequest) -> ModelReply:
        """Draft a reply to ``request``.

        Raise :class:`~taskra_core.errors.ModelUnavailable` for failures worth retrying
        later and :class:`~taskra_core.errors.ModelRejected` for ones that are not.
        """

    async def aclose(self) -> None:
        """Release clients; called once when Taskra shuts down."""
        return None


ReplyModelFactory = Callable[[Settings], ReplyModel]


class ReplyModels:
    """Reply models by name. Each is built on first use and closed at shutdown."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._factories: Registry[ReplyModelFactory] = Registry(
            "Reply model", r"[a-z][a-z0-9_.-]{0,63}", " (a short lower-case name)"
        )
        self._built: dict[str, ReplyModel] = {}

    def register(self, name: str, factory: ReplyModelFactory) -> None:
        self._factories.add(name, factory)

    @property
    def names(self) -> tuple[str, ...]:
        return self._factories.names

    def default_name(self) -> str:
        if self.settings.reply_model:
            return self.settings.reply_model
        return "anthropic" if self.settings.anthropic_api_key is not None else "offline"

    def get(self, name: str | None = None) -> ReplyModel:
        """The model called ``name`` (default: the configured one), built on first use."""
        name = name or self.default_name()
        if name not in self._built:
            factory = self._factories.get(name)
            if factory is None:
                known = ", ".join(self.names) or "none"
                raise UnknownReplyModel(
                    f"No reply model called {name!r} (TASKRA_REPLY_MODEL); registered: {known}."
                )
            model = factory(self.settings)
            if not isinstance(model, ReplyModel):
                raise StartupError(f"Reply model {name!r} is not a ReplyModel.")
            self._built[name] = model
        return self._built[name]

    async def aclose(self) -> None:
        built, self._built = list(self._built.values()), {}
        for model in built:
            await model.aclose()
