"""Tests for taskra_core.logs: formats, redaction of personal data and secrets, idempotency."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from taskra_core.logs import configure_logging

EMAIL = "jo@example.com"
MASKED_EMAIL = "j***@e***.com"
log = logging.getLogger("taskra.tests.logs")


def _taskra_handlers() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if h.get_name() == "taskra"]


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    """Undo configure_logging: drop only the taskra handler, restore levels.

    pytest's own capture handlers also sit on the root logger (and change between the setup,
    call and teardown phases), so they are left alone.
    """
    root = logging.getLogger()
    alembic = logging.getLogger("alembic")
    earlier = _taskra_handlers()
    root_level, alembic_level = root.level, alembic.level
    yield
    for handler in _taskra_handlers():
        root.removeHandler(handler)
        handler.close()
    for handler in earlier:
        root.addHandler(handler)
    root.setLevel(root_level)
    alembic.setLevel(alembic_level)


def _production() -> io.StringIO:
    stream = io.StringIO()
    configure_logging("production", "DEBUG", stream)
    return stream


def _development() -> io.StringIO:
    stream = io.StringIO()
    configure_logging("development", "DEBUG", stream)
    return stream


def _entries(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def _only_entry(stream: io.StringIO) -> dict[str, Any]:
    entries = _entries(stream)
    assert len(entries) == 1
    return entries[0]


# --- production ----------------------------------------------------------------------------


def test_production_writes_one_json_object_per_line() -> None:
    """In production each record is one JSON line with time, level, logger and message."""
    stream = _production()
    before = datetime.now(UTC)
    log.warning("disk at %d%%", 91)
    log.info("second line")
    first, second = _entries(stream)
    assert first["level"] == "warning"
    assert first["logger"] == "taskra.tests.logs"
    assert first["message"] == "disk at 91%"
    logged_at = datetime.fromisoformat(first["time"])
    assert logged_at.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= logged_at <= datetime.now(UTC)
    assert second["message"] == "second line"


def test_production_includes_structured_fields() -> None:
    """Non-personal extra fields are written as JSON fields with their values."""
    stream = _production()
    log.info("job done", extra={"job_id": 42, "kind": "sync_orders"})
    entry = _only_entry(stream)
    assert entry["job_id"] == 42
    assert entry["kind"] == "sync_orders"


def test_level_below_threshold_is_dropped() -> None:
    """Records below the configured level are not written."""
    stream = io.StringIO()
    configure_logging("production", "WARNING", stream)
    log.info("quiet")
    log.error("loud")
    assert [entry["message"] for entry in _entries(stream)] == ["loud"]


# --- redaction -----------------------------------------------------------------------------


@pytest.mark.parametrize("make_stream", [_production, _development])
def test_emails_in_messages_are_masked(make_stream: Callable[[], io.StringIO]) -> None:
    """An email address in a message, as text or as a %-argument, never reaches the output."""
    stream = make_stream()
    log.info("reply sent to %s", EMAIL)
    log.info(f"customer {EMAIL} wrote again")
    output = stream.getvalue()
    assert EMAIL not in output
    assert output.count(MASKED_EMAIL) == 2


@pytest.mark.parametrize(
    "secret",
    [
        "shpat_0a1b2c3d4e5f6a7b8c9d",
        "shpca_0a1b2c3d4e5f",
        "sk-ant-api03-Abc_def-GHI123",
        "Bearer xyzTok3n.value",
        "sk_live_51Habcdef",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "re_123456789abcdef",
    ],
)
def test_secret_shaped_strings_are_masked(secret: str) -> None:
    """Credential-shaped strings in a message are replaced by [secret]."""
    stream = _production()
    log.info("calling api with %s now", secret)
    entry = _only_entry(stream)
    assert secret not in stream.getvalue()
    assert entry["message"] == "calling api with [secret] now"


def test_personal_and_secret_extra_fields_are_masked() -> None:
    """email, customer_name and access_token extras are masked; raw values never appear."""
    stream = _production()
    log.info(
        "customer upserted",
        extra={
            "email": EMAIL,
            "customer_name": "Jolene Smith",
            "access_token": "opaque-token-value",
            "order_id": 1001,
        },
    )
    output = stream.getvalue()
    for raw in (EMAIL, "Jolene", "Smith", "opaque-token-value"):
        assert raw not in output
    entry = _only_entry(stream)
    assert entry["email"] == MASKED_EMAIL
    assert entry["customer_name"] == "J***"
    assert entry["access_token"] == "[secret]"
    assert entry["order_id"] == 1001


@pytest.mark.parametrize("make_stream", [_production, _development])
def test_exception_traceback_is_masked(make_stream: Callable[[], io.StringIO]) -> None:
    """A traceback whose exception message holds an email is written with the email masked."""
    stream = make_stream()
    try:
        raise ValueError(f"no customer {EMAIL}")
    except ValueError:
        log.exception("lookup failed")
    output = stream.getvalue()
    assert "Traceback" in output
    assert f"ValueError: no customer {MASKED_EMAIL}" in output
    assert EMAIL not in output


def test_exception_is_a_json_field_in_production() -> None:
    """In production the traceback is the entry's exception field, still one JSON line."""
    stream = _production()
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("job crashed")
    entry = _only_entry(stream)
    assert entry["message"] == "job crashed"
    assert entry["exception"].startswith("Traceback")
    assert entry["exception"].endswith("RuntimeError: boom")


@pytest.mark.parametrize(
    "extra",
    [
        {"customer": {"email": EMAIL, "id": 7}},
        {"recipients": [EMAIL, "al@example.org"]},
    ],
    ids=["dict", "list"],
)
def test_personal_data_nested_in_extras_is_masked(extra: dict[str, Any]) -> None:
    """Emails inside container-valued extras are masked like top-level ones."""
    stream = _production()
    log.info("sending", extra=extra)
    assert EMAIL not in stream.getvalue()


# --- development ---------------------------------------------------------------------------


def test_development_is_readable_text_with_extras_appended() -> None:
    """In development a record is one text line (not JSON) ending with key=value extras."""
    stream = _development()
    log.info("order synced", extra={"order_id": 42, "email": EMAIL})
    output = stream.getvalue()
    lines = output.splitlines()
    assert len(lines) == 1
    line = lines[0]
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)
    assert "INFO" in line
    assert "taskra.tests.logs: order synced" in line
    assert line.endswith(f"order_id=42 email={MASKED_EMAIL}")
    assert EMAIL not in output


# --- configuration -------------------------------------------------------------------------


def test_configuring_twice_leaves_one_taskra_handler() -> None:
    """A second configure_logging replaces the first handler instead of adding another."""
    first, second = io.StringIO(), io.StringIO()
    configure_logging("production", "INFO", first)
    handler = configure_logging("development", "INFO", second)
    assert _taskra_handlers() == [handler]
    log.info("after reconfigure")
    assert first.getvalue() == ""
    assert "after reconfigure" in second.getvalue()


def test_alembic_is_kept_at_warning_or_above() -> None:
    """Alembic's INFO chatter is silenced even when the root level is DEBUG."""
    stream = _production()
    logging.getLogger("alembic.runtime.migration").info("Running upgrade a -> b")
    logging.getLogger("alembic.runtime.migration").warning("schema drift")
    assert [entry["message"] for entry in _entries(stream)] == ["schema drift"]
