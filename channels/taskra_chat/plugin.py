"""The storefront chat channel as a Taskra plugin (entry point ``chat`` in group ``taskra``):
the ``chat`` channel for replies, the app proxy endpoints the widget talks to, and its visitor
sessions in customers' data exports and erasures."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from taskra_chat.channel import ChatChannel
from taskra_core.hookspecs import hookimpl
from taskra_core.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from taskra_core.app import Taskra
    from taskra_core.models import Customer, Store


@hookimpl
def register_channels(register: Callable[..., None]) -> None:
    def build(settings: Settings) -> ChatChannel:
        return ChatChannel()

    register("chat", build)


# optionalhook: the core works without the web shell, whose hookspec this is.
@hookimpl(optionalhook=True)
def register_routes(taskra: Taskra) -> list[Any]:
    from taskra_chat.routes import chat_routes  # Starlette only when the shell asks

    return chat_routes(taskra)


@hookimpl
async def export_subject_data(
    taskra: Taskra, session: AsyncSession, store: Store, customer: Customer
) -> dict[str, Any] | None:
    from taskra_chat.privacy import export_sessions

    return await export_sessions(session, store, customer)


@hookimpl
async def erase_subject_data(
    taskra: Taskra, session: AsyncSession, store: Store, customer: Customer | None
) -> str | None:
    from taskra_chat.privacy import erase_sessions

    return await erase_sessions(session, store, customer)


@hookimpl
def register_retention_policies(register: Callable[..., None]) -> None:
    from taskra_chat.retention import register_policies

    register_policies(register)
