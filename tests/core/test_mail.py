"""The mail port: the real ``resend`` SDK against a fake Resend over HTTP, the outbox used
without a key, Resend's errors as Taskra's, and the durable ``mail.send`` job."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from taskra_core.app import Taskra
from taskra_core.clock import ManualClock
from taskra_core.errors import ConfigurationError, MailRejected, MailUnavailable
from taskra_core.jobs import Job
from taskra_core.logs import configure_logging
from taskra_core.mail import (
    MAIL_JOB,
    RESEND_TIMEOUT_SECONDS,
    Email,
    OutboxMailer,
    ResendMailer,
    enqueue_mail,
    make_mailer,
)
from taskra_core.models import JobRecord
from taskra_core.testing import make_test_settings, make_test_taskra
from taskra_core.worker import Worker
from tests.fakes.resend import (
    FakeResend,
    dropped,
    invalid_api_key,
    rate_limited,
    server_error,
    validation_error,
)

START = datetime(2025, 3, 17, 10, 0, tzinfo=UTC)
SENDER = "Taskra <support@taskra.test>"
KEY = "re_test_0123456789abcdef"
LINK = "https://taskra.test/password/abc123DEF"


BASE = Email(to="jo@example.com", subject="Welcome", text=f"Set it here: {LINK}")


def email(key: str = "welcome-1", **changes: Any) -> Email:
    return replace(BASE, idempotency_key=key, **changes)


def resend_mailer(fake: FakeResend, sender: str | None = SENDER) -> ResendMailer:
    return ResendMailer(KEY, fake.url, sender)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def taskra(
    database_url: str, clock: ManualClock, fake_resend: FakeResend
) -> AsyncIterator[Taskra]:
    core = make_test_taskra(
        database_url,
        clock=clock,
        resend_api_key=KEY,
        resend_api_url=fake_resend.url,
        email_from=SENDER,
        job_backoff_max_seconds=120.0,  # room to honour a Retry-After of 30 s
    )
    async with core:
        yield core


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Taskra's own log set-up (with its redaction) writing into a buffer, removed after."""
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging("development", "INFO", stream)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


# --- the Resend adapter ----------------------------------------------------------------------


async def test_resend_mailer_sends_through_the_sdk(fake_resend: FakeResend) -> None:
    """Every field reaches Resend as the SDK sends it, with the key, the idempotency key
    and TASKRA_EMAIL_FROM as the sender; the answer is Resend's id."""
    mailer = resend_mailer(fake_resend)
    message_id = await mailer.send(
        email(html="<p>Hi</p>", reply_to="help@taskra.test", headers={"X-Taskra": "1"})
    )
    [sent] = fake_resend.sent
    assert message_id == sent.id
    assert (sent.sender, sent.to, sent.subject) == (SENDER, ["jo@example.com"], "Welcome")
    assert sent.text == f"Set it here: {LINK}"
    assert sent.html == "<p>Hi</p>"
    assert sent.reply_to == "help@taskra.test"
    assert sent.headers == {"X-Taskra": "1"}
    assert sent.idempotency_key == "welcome-1"
    assert fake_resend.requests[0].headers["authorization"] == f"Bearer {KEY}"


async def test_the_same_idempotency_key_sends_once(fake_resend: FakeResend) -> None:
    """A retried send with the same key gets the first id back and Resend sends nothing."""
    mailer = resend_mailer(fake_resend)
    first = await mailer.send(email())
    again = await mailer.send(email())
    assert first == again
    assert len(fake_resend.sent) == 1


async def test_two_mailers_in_one_process_keep_their_own_address() -> None:
    """The SDK keeps its key and URL in module attributes; each mailer sets its own before
    every send, so a second mailer built later never diverts the first one's mail."""
    with FakeResend() as one, FakeResend() as two:
        first, second = resend_mailer(one), resend_mailer(two)
        await first.send(email("a"))
        await second.send(email("b"))
        await first.send(email("c"))
    assert [s.idempotency_key for s in one.sent] == ["a", "c"]
    assert [s.idempotency_key for s in two.sent] == ["b"]


async def test_every_send_uses_the_mailers_one_bounded_client(fake_resend: FakeResend) -> None:
    """The SDK's HTTP client is the mailer's own, bounded by RESEND_TIMEOUT_SECONDS: built
    once, and set again before each send (something else may have replaced it since)."""
    import resend

    mailer = resend_mailer(fake_resend)
    client = resend.default_async_http_client
    assert isinstance(client, resend.HTTPXClient)
    assert client._timeout == RESEND_TIMEOUT_SECONDS
    resend.default_async_http_client = None
    await mailer.send(email("a"))
    assert resend.default_async_http_client is client
    await mailer.send(email("b"))
    assert resend.default_async_http_client is client
    assert len(fake_resend.sent) == 2


def test_importing_the_core_does_not_configure_or_load_the_sdk() -> None:
    """Nothing reaches for Resend at import: building a Taskra does not even load the SDK;
    only building the mailer (on first use) does, and it sets the SDK's URL from Settings."""
    code = (
        "import sys\n"
        "from taskra_core.app import Taskra\n"
        "from taskra_core.testing import make_test_settings\n"
        "t = Taskra(make_test_settings('sqlite+aiosqlite:///:memory:', "
        "resend_api_key='re_x', resend_api_url='http://127.0.0.1:9'))\n"
        "print('resend' in sys.modules)\n"
        "t.mailer\n"
        "import resend\n"
        "print(resend.api_url)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "http://127.0.0.1:9"]


@pytest.mark.parametrize(
    ("failure", "error", "words"),
    [
        (rate_limited(7), MailUnavailable, "429"),
        (server_error(503), MailUnavailable, "503"),
        (dropped(), MailUnavailable, "could not be reached"),
        (invalid_api_key(), MailRejected, "RESEND_API_KEY"),
        (validation_error("Invalid `to` field."), MailRejected, "Invalid `to` field"),
    ],
)
async def test_resend_errors_become_taskra_errors(
    fake_resend: FakeResend, failure: object, error: type[Exception], words: str
) -> None:
    """Outages are MailUnavailable (with Retry-After when Resend gave one); refusals are
    MailRejected and name what to fix."""
    fake_resend.fail(failure)  # type: ignore[arg-type]
    with pytest.raises(error, match=words) as caught:
        await resend_mailer(fake_resend).send(email())
    if isinstance(caught.value, MailUnavailable) and "429" in words:
        assert caught.value.retry_after == 7
    assert fake_resend.sent == []


async def test_a_missing_sender_names_the_setting(fake_resend: FakeResend) -> None:
    """With a key but no TASKRA_EMAIL_FROM the send fails before reaching Resend."""
    with pytest.raises(ConfigurationError, match="TASKRA_EMAIL_FROM"):
        await resend_mailer(fake_resend, sender=None).send(email())
    assert fake_resend.requests == []


# --- the outbox and the choice between them --------------------------------------------------


async def test_without_a_key_the_outbox_logs_the_link_and_keeps_the_email(
    log_stream: io.StringIO,
) -> None:
    """No RESEND_API_KEY: nothing is sent; the email is kept, and logged at INFO with its
    link readable (the demo's only way to an invitation) and its recipient masked."""
    mailer = make_mailer(make_test_settings("sqlite+aiosqlite:///:memory:"))
    assert isinstance(mailer, OutboxMailer)
    first = await mailer.send(email())
    assert await mailer.send(email()) == first  # idempotent like Resend
    assert mailer.outbox == [email()]
    logged = log_stream.getvalue()
    assert LINK in logged
    assert "Subject: Welcome" in logged
    assert "jo@example.com" not in logged


def test_make_mailer_picks_resend_when_its_key_is_set(fake_resend: FakeResend) -> None:
    """A key selects Resend, pointed at RESEND_API_URL."""
    settings = make_test_settings(
        "sqlite+aiosqlite:///:memory:", resend_api_key=KEY, resend_api_url=fake_resend.url
    )
    assert isinstance(make_mailer(settings), ResendMailer)


# --- the mail.send job -----------------------------------------------------------------------


async def test_mail_is_queued_with_the_change_and_sent_by_the_worker(
    taskra: Taskra, fake_resend: FakeResend
) -> None:
    """Queued in a transaction that rolls back, no job exists and nothing is sent; queued in
    one that commits, the worker sends it once, however often the job is queued."""

    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        async with taskra.db.transaction() as session:
            await enqueue_mail(taskra, session, email("rolled-back"))
            raise Abort
    async with taskra.db.transaction() as session:
        first = await enqueue_mail(taskra, session, email())
        assert await enqueue_mail(taskra, session, email()) == first
    await Worker(taskra).run_until_idle()
    [sent] = fake_resend.sent
    assert sent.idempotency_key == "welcome-1"
    [job] = await taskra.jobs.list(kind=MAIL_JOB)
    assert job.state == "done"


async def test_a_queued_email_is_sealed_in_the_job_table(taskra: Taskra) -> None:
    """The job's payload is ciphertext: a copy of the database shows neither the link nor
    the recipient."""
    async with taskra.db.transaction() as session:
        await enqueue_mail(taskra, session, email())
    async with taskra.db.session() as session:
        [payload] = (await session.scalars(select(col(JobRecord.payload)))).all()
    assert set(payload) == {"key", "sealed"}
    assert LINK not in str(payload)
    assert "jo@example.com" not in str(payload)


async def test_an_outage_is_retried_until_the_email_goes_out(
    taskra: Taskra, fake_resend: FakeResend, clock: ManualClock
) -> None:
    """Resend down (503, then 429 with Retry-After: 30): the job backs off, then waits
    exactly as long as Resend asked, and the email is sent once when Resend is back."""
    fake_resend.fail(server_error(503), rate_limited(30))
    async with taskra.db.transaction() as session:
        await enqueue_mail(taskra, session, email())
    worker = Worker(taskra)
    await worker.run_until_idle()
    [job] = await taskra.jobs.list(kind=MAIL_JOB)
    assert (job.state, fake_resend.sent) == ("queued", [])
    assert "503" in (job.last_error or "")
    clock.advance(1)
    await worker.run_until_idle()
    [job] = await taskra.jobs.list(kind=MAIL_JOB)
    assert job.run_after == clock.now() + timedelta(seconds=30)
    clock.advance(29)
    await worker.run_until_idle()
    assert fake_resend.sent == []
    clock.advance(1)
    await worker.run_until_idle()
    assert len(fake_resend.sent) == 1
    [job] = await taskra.jobs.list(kind=MAIL_JOB)
    assert (job.state, job.attempts) == ("done", 3)


async def test_hook_job_retry_delay_waits_as_long_as_resend_asked(taskra: Taskra) -> None:
    """The built-in mail plugin's job_retry_delay answers a rate-limited mail job with
    Resend's Retry-After, capped at the longest backoff, and leaves other cases alone."""
    job = Job(1, MAIL_JOB, {}, 1, 8, None, "lease", START, "k")
    other = Job(2, "draft_reply", {}, 1, 8, None, "lease", START, None)
    cap = taskra.settings.job_backoff_max_seconds
    hooks = taskra.hooks
    assert await hooks.job_retry_delay(taskra, job, MailUnavailable("x", retry_after=0.04)) == 0.04
    assert await hooks.job_retry_delay(taskra, job, MailUnavailable("x", retry_after=1e9)) == cap
    assert await hooks.job_retry_delay(taskra, other, MailUnavailable("x", retry_after=9)) <= cap
    assert await hooks.job_retry_delay(taskra, job, MailRejected("x")) <= cap


async def test_without_a_secret_key_mail_still_goes_out(database_url: str) -> None:
    """The demo has no TASKRA_SECRET_KEY: the email waits unsealed and the outbox gets it."""
    core = make_test_taskra(database_url, secret_key=None)
    async with core:
        async with core.db.transaction() as session:
            await enqueue_mail(core, session, email())
        await Worker(core).run_until_idle()
        mailer = core.mailer
        assert isinstance(mailer, OutboxMailer)
        assert mailer.outbox == [email()]
