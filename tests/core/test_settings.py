"""Tests for taskra_core.settings and its reference page, docs/settings.md."""

from __future__ import annotations

import base64
import re
import traceback
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from taskra_core.errors import ConfigurationError
from taskra_core.settings import Settings, env_var_names

DOC = Path(__file__).resolve().parents[2] / "docs" / "settings.md"
# Variables the doc may name although Settings does not read them.
TEST_ONLY_VARIABLES = frozenset({"TASKRA_TEST_POSTGRES_URL"})
ENV_VARS = sorted(env_var_names().values())
GOOD_KEY = base64.b64encode(bytes(range(32))).decode()
OTHER_GOOD_KEY = base64.b64encode(bytes(range(100, 132))).decode()


def _doc() -> str:
    return DOC.read_text(encoding="utf-8")


def _env_like_names_in_doc(text: str) -> set[str]:
    """Names in the doc that look like environment variables.

    Any token with the prefix of a real variable (``TASKRA_``, ``SHOPIFY_``, ...) anywhere in
    the text, plus anything in backticks that is shaped like one (``FOO_BAR`` or
    ``FOO_BAR=value``).
    """
    prefixes = sorted({name.split("_", 1)[0] for name in ENV_VARS})
    prefixed = re.compile(rf"\b(?:{'|'.join(prefixes)})(?:_[A-Z0-9]+)+\b")
    names = set(prefixed.findall(text))
    for span in re.findall(r"`([^`\n]+)`", text):
        shaped = re.match(r"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)(?:=|$)", span)
        if shaped:
            names.add(shaped.group(1))
    return names


def _doc_rows() -> dict[str, list[str]]:
    """Table rows of the doc, keyed by the variable in their first cell."""
    rows: dict[str, list[str]] = {}
    for line in _doc().splitlines():
        match = re.match(r"\|\s*`([A-Z0-9_]+)`\s*\|(.*)\|\s*$", line)
        if match:
            rows[match.group(1)] = [cell.strip() for cell in match.group(2).split("|")]
    return rows


def _expected_default_cell(default: object) -> str:
    if default is None:
        return "unset"
    if default == () or default == {}:
        return "empty"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, float):
        return f"`{default:g}`"
    return f"`{default}`"


# --- the reference page ------------------------------------------------------------------


@pytest.mark.parametrize("name", ENV_VARS)
def test_every_setting_is_documented(name: str) -> None:
    """Each environment variable Settings reads appears in docs/settings.md as `NAME`."""
    assert f"`{name}`" in _doc(), f"{name} is missing from docs/settings.md"


def test_doc_names_only_variables_that_exist() -> None:
    """Every env-var-like name in docs/settings.md is read by Settings (or is test-only)."""
    known = set(ENV_VARS) | TEST_ONLY_VARIABLES
    stale = _env_like_names_in_doc(_doc()) - known
    assert not stale, f"docs/settings.md names variables the code does not read: {stale}"


def test_stale_name_detector_catches_unknown_variables() -> None:
    """The stale-name scan finds prefixed names in prose and env-shaped names in backticks."""
    text = "Set `TASKRA_OLD_THING=1` or TASKRA_GONE, or `FOO_BAR`; not `Settings` or `DEBUG`."
    assert _env_like_names_in_doc(text) == {"TASKRA_OLD_THING", "TASKRA_GONE", "FOO_BAR"}


def test_test_only_variable_is_documented_under_testing() -> None:
    """TASKRA_TEST_POSTGRES_URL is explained in the doc's Testing section, not as a setting."""
    doc = _doc()
    testing = doc[doc.index("## Testing") :]
    assert "`TASKRA_TEST_POSTGRES_URL`" in testing
    assert "TASKRA_TEST_POSTGRES_URL" not in _doc_rows()


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_documented_default_matches_the_code(field: str) -> None:
    """Each setting has one table row whose default column agrees with settings.py."""
    name = env_var_names()[field]
    row = _doc_rows().get(name)
    assert row is not None, f"{name} has no table row in docs/settings.md"
    default_cell = row[1]
    expected = _expected_default_cell(
        Settings.model_fields[field].get_default(call_default_factory=True)
    )
    assert default_cell.startswith(expected), f"{name}: doc says {default_cell!r}"


# --- reading the environment -------------------------------------------------------------


def test_from_env_reads_prefixed_and_unprefixed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """from_env reads TASKRA_* variables and provider variables that have no prefix."""
    monkeypatch.setenv("TASKRA_PORT", "9001")
    monkeypatch.setenv("TASKRA_ENV", "production")
    monkeypatch.setenv("SHOPIFY_API_KEY", "client-id-123")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://localhost:4010")
    settings = Settings.from_env()
    assert settings.port == 9001
    assert settings.environment == "production"
    assert settings.shopify_api_key == "client-id-123"
    assert settings.anthropic_base_url == "http://localhost:4010"


def test_from_env_ignores_prefixed_spelling_of_provider_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Provider variables are read only under their own names, not with a TASKRA_ prefix."""
    monkeypatch.setenv("TASKRA_SHOPIFY_API_KEY", "wrong-name")
    monkeypatch.setenv("TASKRA_ANTHROPIC_API_KEY", "sk-ant-wrong-name")
    settings = Settings.from_env()
    assert settings.shopify_api_key is None
    assert settings.anthropic_api_key is None


@pytest.mark.parametrize(
    ("bare_name", "value", "field"),
    [
        ("PORT", "9002", "port"),
        ("DATABASE_URL", "postgres://user:pw@db.internal/app", "database_url"),
        ("ENVIRONMENT", "production", "environment"),
    ],
)
def test_from_env_ignores_bare_field_names(
    monkeypatch: pytest.MonkeyPatch, bare_name: str, value: str, field: str
) -> None:
    """Generic variables set by hosting platforms (PORT, DATABASE_URL, ...) are not read."""
    monkeypatch.setenv(bare_name, value)
    settings = Settings.from_env()
    assert getattr(settings, field) == Settings.model_fields[field].default


def test_keyword_overrides_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A keyword passed to from_env beats the environment variable for the same setting."""
    monkeypatch.setenv("TASKRA_PORT", "9001")
    monkeypatch.setenv("TASKRA_HOST", "0.0.0.0")
    settings = Settings.from_env(port=7000)
    assert settings.port == 7000
    assert settings.host == "0.0.0.0"


def test_from_values_ignores_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """from_values uses only its arguments and the defaults, never the environment."""
    monkeypatch.setenv("TASKRA_PORT", "9001")
    monkeypatch.setenv("TASKRA_SECRET_KEY", "not-base64!!")
    monkeypatch.setenv("SHOPIFY_API_KEY", "from-env")
    settings = Settings.from_values(host="10.0.0.1")
    assert settings.host == "10.0.0.1"
    assert settings.port == 8000
    assert settings.secret_key is None
    assert settings.shopify_api_key is None


def test_settings_are_frozen() -> None:
    """Assigning to a setting after construction raises instead of changing it."""
    settings = Settings.from_values(port=8100)
    with pytest.raises(ValidationError, match="frozen"):
        settings.port = 9000  # type: ignore[misc]
    assert settings.port == 8100


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("billing,email", ("billing", "email")),
        (" billing , email ,, ", ("billing", "email")),
        ("solo", ("solo",)),
        ("", ()),
    ],
)
def test_disable_plugins_is_comma_separated(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: tuple[str, ...]
) -> None:
    """TASKRA_DISABLE_PLUGINS splits on commas into a tuple, dropping blanks and spaces."""
    monkeypatch.setenv("TASKRA_DISABLE_PLUGINS", raw)
    assert Settings.from_env().disable_plugins == expected


def test_previous_secret_keys_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    """TASKRA_PREVIOUS_SECRET_KEYS yields one secret per comma-separated key, in order."""
    monkeypatch.setenv("TASKRA_PREVIOUS_SECRET_KEYS", f"{GOOD_KEY}, {OTHER_GOOD_KEY}")
    keys = Settings.from_env().previous_secret_keys
    assert [key.get_secret_value() for key in keys] == [GOOD_KEY, OTHER_GOOD_KEY]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("true", True), ("Yes", True), ("on", True), ("0", False), ("off", False)],
)
def test_booleans_accept_the_documented_spellings(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: bool
) -> None:
    """Boolean variables accept 1/0, true/false, yes/no, on/off in any case, as documented."""
    monkeypatch.setenv("TASKRA_TRACE_PLUGINS", raw)
    assert Settings.from_env().trace_plugins is expected


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("TASKRA_PORT", "eighty"),
        ("TASKRA_ENV", "staging"),
        ("TASKRA_JOB_LEASE_SECONDS", "-5"),
        ("TASKRA_WORKER_CONCURRENCY", "0"),
        ("TASKRA_AUTO_MIGRATE", "perhaps"),
        ("TASKRA_NOW", "next-tuesday"),
    ],
)
def test_bad_value_names_the_variable_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, name: str, bad: str
) -> None:
    """A malformed value raises ConfigurationError naming the variable, not repeating the value."""
    monkeypatch.setenv(name, bad)
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env()
    message = str(caught.value)
    assert name in message
    assert bad not in message


def test_several_bad_values_are_all_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every malformed setting is named in the one error, so an operator fixes them at once."""
    monkeypatch.setenv("TASKRA_PORT", "eighty")
    monkeypatch.setenv("TASKRA_LOG_LEVEL", "LOUD")
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env()
    assert "TASKRA_PORT" in str(caught.value)
    assert "TASKRA_LOG_LEVEL" in str(caught.value)


def test_secret_key_that_is_not_base64_points_to_keygen(monkeypatch: pytest.MonkeyPatch) -> None:
    """A TASKRA_SECRET_KEY that is not base64 raises an error that suggests `taskra keygen`."""
    monkeypatch.setenv("TASKRA_SECRET_KEY", "not-base64!!")
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env()
    message = str(caught.value)
    assert "TASKRA_SECRET_KEY" in message
    assert "`taskra keygen`" in message
    assert "not-base64!!" not in message


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_secret_key_of_wrong_length_is_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, length: int
) -> None:
    """A base64 key that is not 32 bytes is refused, and its text appears nowhere in the error."""
    key = base64.b64encode(bytes(range(7, 7 + length))).decode()
    monkeypatch.setenv("TASKRA_SECRET_KEY", key)
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env()
    message = str(caught.value)
    assert "TASKRA_SECRET_KEY" in message
    assert "`taskra keygen`" in message
    if key:
        rendered = "".join(traceback.format_exception(caught.value))
        assert key not in message
        assert key not in rendered


def test_wrong_secret_key_is_refused_by_from_values_too() -> None:
    """from_values validates the key just like from_env does."""
    with pytest.raises(ConfigurationError, match="TASKRA_SECRET_KEY"):
        Settings.from_values(secret_key=base64.b64encode(b"short").decode())


def test_bad_previous_key_names_the_previous_keys_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A malformed key in TASKRA_PREVIOUS_SECRET_KEYS is reported under that variable's name."""
    short = base64.b64encode(b"sixteen byte key").decode()
    monkeypatch.setenv("TASKRA_SECRET_KEY", GOOD_KEY)
    monkeypatch.setenv("TASKRA_PREVIOUS_SECRET_KEYS", f"{OTHER_GOOD_KEY},{short}")
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env()
    message = str(caught.value)
    assert short not in message
    assert "TASKRA_PREVIOUS_SECRET_KEYS" in message


# --- values --------------------------------------------------------------------------------


def test_now_without_timezone_is_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    """TASKRA_NOW given without a timezone is read as that wall time in UTC."""
    monkeypatch.setenv("TASKRA_NOW", "2025-03-17T09:30:00")
    assert Settings.from_env().now == datetime(2025, 3, 17, 9, 30, tzinfo=UTC)


def test_now_with_timezone_keeps_the_instant(monkeypatch: pytest.MonkeyPatch) -> None:
    """TASKRA_NOW with an offset denotes the same instant; it is not re-read as UTC."""
    monkeypatch.setenv("TASKRA_NOW", "2025-03-17T09:30:00+02:00")
    now = Settings.from_env().now
    assert now == datetime(2025, 3, 17, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    assert now == datetime(2025, 3, 17, 7, 30, tzinfo=UTC)


def test_secrets_do_not_show_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    """No secret setting's value appears in repr() or str() of the settings."""
    secrets = {
        "TASKRA_SECRET_KEY": GOOD_KEY,
        "TASKRA_PREVIOUS_SECRET_KEYS": OTHER_GOOD_KEY,
        "SHOPIFY_API_SECRET": "shopify-secret-value-1",
        "ANTHROPIC_API_KEY": "sk-ant-secret-value-2",
        "STRIPE_API_KEY": "sk_test_secretvalue3",
        "STRIPE_WEBHOOK_SECRET": "whsec_secretvalue4",
        "RESEND_API_KEY": "re_secretvalue5",
        "RESEND_WEBHOOK_SECRET": "whsec_secretvalue6",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env()
    assert settings.anthropic_api_key is not None
    assert settings.anthropic_api_key.get_secret_value() == "sk-ant-secret-value-2"
    for text in (repr(settings), str(settings)):
        for value in secrets.values():
            assert value not in text
