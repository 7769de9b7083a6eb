"""The email channel as a Taskra plugin (entry point ``email`` in group ``taskra``): replies
to email conversations go out through :class:`~taskra_email.outbound.EmailChannel`.

Inbound mail (Resend's ``email.received`` and a signed raw-MIME endpoint) is not wired yet;
messages reach the inbox through the CLI, the API or another channel until it is.
"""

from __future__ import annotations

from collections.abc import Callable

from taskra_core.hookspecs import hookimpl
from taskra_core.mail import make_mailer
from taskra_core.settings import Settings
from taskra_email.outbound import EmailChannel


@hookimpl
def register_channels(register: Callable[..., None]) -> None:
    def build(settings: Settings) -> EmailChannel:
        return EmailChannel(make_mailer(settings), settings.email_from)

    register("email", build)
