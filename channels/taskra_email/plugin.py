"""The email channel as a Taskra plugin (entry point ``email`` in group ``taskra``).

- ``register_channels``: replies to email conversations go out through
  :class:`~taskra_email.outbound.EmailChannel` (Resend, or the logged outbox without a key).
- ``register_routes`` (a web-shell hook, optional so the core runs without the shell):
  Resend webhooks and signed raw MIME under ``/channels/email/``.
- ``register_jobs``: fetching a received email's body from Resend.
- ``register_commands``: ``taskra email address`` and ``taskra email receive``.
- ``template_dirs``: the settings page's "Email" section.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func
from sqlmodel import col, select

from taskra_core.hookspecs import hookimpl
from taskra_core.mail import make_mailer
from taskra_core.models import Customer, Store
from taskra_core.settings import Settings

from .addresses import inbound_address
from .outbound import EmailChannel
from .resend_events import FETCH_JOB, fetch_received

if TYPE_CHECKING:
    import click

    from taskra_core.app import Taskra

TEMPLATES = Path(__file__).parent / "templates"


@hookimpl
def register_channels(register: Callable[..., None]) -> None:
    def build(settings: Settings) -> EmailChannel:
        return EmailChannel(
            make_mailer(settings), settings.email_from, settings.email_inbound_domain
        )

    register("email", build)


@hookimpl(optionalhook=True)
def register_routes(taskra: Taskra) -> list[Any]:
    from .routes import email_routes  # starlette is imported only when the web app is built

    return email_routes()


@hookimpl
def register_jobs(register: Callable[..., None]) -> None:
    # Resend keeps received mail for days; a long outage still gets through.
    register(FETCH_JOB, fetch_received, max_attempts=20)


@hookimpl
def register_commands(cli: click.Group) -> None:
    from .cli import email_group

    cli.add_command(email_group)


@hookimpl
def template_dirs() -> list[str]:
    return [str(TEMPLATES)]


@hookimpl(optionalhook=True)
async def settings_sections(taskra: Taskra, store: Store) -> list[tuple[str, dict[str, Any]]]:
    settings = taskra.settings
    async with taskra.db.session() as session:
        undeliverable = (
            await session.execute(
                select(func.count())
                .select_from(Customer)
                .where(col(Customer.store_id) == store.id, col(Customer.email_status).is_not(None))
            )
        ).scalar_one()
    section = {
        "address": inbound_address(store.domain, settings.email_inbound_domain),
        "sender": settings.email_from,
        "undeliverable": int(undeliverable),
    }
    return [("email_channel/_settings.html", section)]
