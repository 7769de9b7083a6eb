"""The channel port: how a reply leaves Taskra (email, storefront chat, a plugin's own).

A channel plugin registers a factory through ``register_channels``; the ``send_reply`` job
calls :meth:`Channel.send` with an idempotency key derived from the customer's message, so a
retried job can never deliver a second reply::

    @hookimpl
    def register_channels(register):
        register("sms", lambda settings: SmsChannel(settings))
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from taskra_core.registry import Registry
from taskra_core.settings import Settings


@dataclass(frozen=True)
class Outbound:
    """One reply to deliver.

    ``idempotency_key`` is the same on every retry of the same reply: pass it to the
    provider (Resend's ``Idempotency-Key``, ...) so a repeat is not delivered twice.
    ``in_reply_to`` is the channel's id of the customer's message (email threading).
    """

    store_id: int
    conversation_id: int
    channel: str
    to_email: str
    text: str
    idempotency_key: str
    subject: str = ""
    to_name: str | None = None
    in_reply_to: str | None = None
    thread_key: str | None = None
    #: The store's ``*.myshopify.com`` domain and name, for the sender and reply address.
    store_domain: str = ""
    store_name: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeliveryReceipt:
    """What the channel reports back: its id for the sent message, if it has one."""

    channel_message_id: str | None = None
    provider_id: str | None = None


class Channel(ABC):
    """Delivers replies for one channel name (the ``channel`` of the messages it serves)."""

    name: str = ""

    @abstractmethod
    async def send(self, outbound: Outbound) -> DeliveryReceipt:
        """Deliver ``outbound`` or raise. Must honour ``outbound.idempotency_key``."""

    async def aclose(self) -> None:
        return None


ChannelFactory = Callable[[Settings], Channel]


class Channels:
    """Channels by name, filled through ``register_channels``; each built on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._factories: Registry[ChannelFactory] = Registry(
            "Channel", r"[a-z][a-z0-9_-]{0,31}", " (a short lower-case name)"
        )
        self._built: dict[str, Channel] = {}

    def register(self, name: str, factory: ChannelFactory) -> None:
        self._factories.add(name, factory)

    @property
    def names(self) -> tuple[str, ...]:
        return self._factories.names

    def get(self, name: str) -> Channel | None:
        if name not in self._built:
            factory = self._factories.get(name)
            if factory is None:
                return None
            self._built[name] = factory(self.settings)
        return self._built[name]

    async def aclose(self) -> None:
        built, self._built = list(self._built.values()), {}
        for channel in built:
            await channel.aclose()
