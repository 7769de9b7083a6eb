"""The `taskra` command, run as a real process with settings from its environment."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import UTC, datetime

from taskra_core.crypto import TokenCipher, generate_key, secret_context
from taskra_core.db import head_revision
from taskra_core.errors import DecryptionError
from taskra_core.models import Store
from taskra_core.settings import decode_key
from taskra_core.testing import make_test_taskra

NOW = datetime(2025, 3, 17, 10, 0, tzinfo=UTC)


def taskra(*args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TASKRA_")} | env
    result = subprocess.run(
        [sys.executable, "-m", "taskra_core", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_help_lists_every_command() -> None:
    """`taskra --help` names the commands a newcomer needs, each with a one-line summary."""
    out = taskra("--help").stdout
    for command in (
        "serve",
        "worker",
        "db",
        "keygen",
        "keys",
        "plugins",
        "jobs",
        "inbox",
        "store",
        "knowledge",
        "draft",
        "ai",
    ):
        assert f"  {command} " in out


def test_db_upgrade_on_an_empty_database(database_url: str) -> None:
    """`taskra db upgrade` creates the schema on an empty database and is repeatable."""
    first = taskra("db", "upgrade", TASKRA_DATABASE_URL=database_url)
    assert f"is at revision {head_revision()}" in first.stdout
    again = taskra("db", "upgrade", TASKRA_DATABASE_URL=database_url)
    assert f"is at revision {head_revision()}" in again.stdout


def test_bad_settings_exit_with_a_clear_message() -> None:
    """A malformed setting stops the CLI with exit code 2 and names the variable."""
    result = taskra("plugins", check=False, TASKRA_PORT="eighty")
    assert result.returncode == 2
    assert "TASKRA_PORT" in result.stderr


def test_keygen_prints_a_usable_key() -> None:
    """`taskra keygen` prints base64 of 32 random bytes, different every time."""
    first, second = taskra("keygen").stdout.strip(), taskra("keygen").stdout.strip()
    assert len(base64.b64decode(first)) == 32
    assert first != second
    assert decode_key(first)


async def test_keys_rotate_reencrypts_stored_tokens(database_url: str) -> None:
    """After rotation every token opens with the new key alone; the old key is not needed."""
    old, new = generate_key(), generate_key()
    core = make_test_taskra(database_url, secret_key=old)
    async with core, core.db.transaction() as session:
        store = Store(domain="r.myshopify.com", created_at=NOW, updated_at=NOW)
        session.add(store)
        await session.flush()
        assert store.id is not None
        context = secret_context("stores", "access_token_enc", store.id)
        store.access_token_enc = core.cipher.encrypt("shpat_secret", context=context)

    result = taskra(
        "keys",
        "rotate",
        "--json",
        TASKRA_DATABASE_URL=database_url,
        TASKRA_SECRET_KEY=new,
        TASKRA_PREVIOUS_SECRET_KEYS=old,
    )
    assert json.loads(result.stdout) == {"examined": 1, "rotated": 1}

    async with make_test_taskra(database_url, secret_key=new) as after:
        async with after.db.session() as session:
            stored = await session.get(Store, store.id)
        assert stored is not None
        assert stored.access_token_enc is not None
        only_new = TokenCipher(decode_key(new))
        assert only_new.decrypt(stored.access_token_enc, context=context) == "shpat_secret"
        try:
            TokenCipher(decode_key(old)).decrypt(stored.access_token_enc, context=context)
        except DecryptionError:
            pass
        else:  # pragma: no cover - the assertion below reports it
            raise AssertionError("the old key still opens a rotated token")


def test_keys_rotate_without_a_key_says_how_to_make_one(database_url: str) -> None:
    """Rotation with no TASKRA_SECRET_KEY fails cleanly and points at `taskra keygen`."""
    taskra("db", "upgrade", TASKRA_DATABASE_URL=database_url)
    result = taskra("keys", "rotate", check=False, TASKRA_DATABASE_URL=database_url)
    assert result.returncode == 1
    assert "taskra keygen" in result.stderr


async def test_jobs_list_retry_and_burst_worker(database_url: str) -> None:
    """Dead jobs show in `jobs list`, `jobs retry` requeues them, `worker --burst` runs them."""
    async with make_test_taskra(database_url) as core:
        async with core.db.transaction() as session:
            job_id = await core.jobs.enqueue(session, "unhandled.kind", {"x": 1})
        async with core.db.transaction() as session:
            from sqlalchemy import update

            from taskra_core.models import JobRecord

            await session.execute(
                update(JobRecord)
                .where(JobRecord.id == job_id)  # type: ignore[arg-type]
                .values(state="dead", attempts=8, last_error="RuntimeError: boom")
            )
    env = {"TASKRA_DATABASE_URL": database_url}
    listed = json.loads(taskra("jobs", "list", "--state", "dead", "--json", **env).stdout)
    assert listed["counts"]["dead"] == 1
    assert [(j["id"], j["last_error"]) for j in listed["jobs"]] == [(job_id, "RuntimeError: boom")]

    assert "Requeued 1 dead jobs." in taskra("jobs", "retry", str(job_id), **env).stdout
    after = json.loads(taskra("jobs", "list", "--json", **env).stdout)
    assert after["counts"] == {"queued": 1, "running": 0, "done": 0, "dead": 0}

    # No plugin handles this kind, so a burst worker leaves it queued for one that does.
    assert "Ran 0 job attempts." in taskra("worker", "--burst", **env).stdout
    missing = taskra("jobs", "retry", check=False, **env)
    assert missing.returncode == 1
    assert "--all-dead" in missing.stderr


def test_plugins_json_lists_plugins_and_hooks() -> None:
    """`taskra plugins --json` is machine-readable: names, hooks, versions."""
    plugins = json.loads(taskra("plugins", "--json").stdout)
    names = [p["name"] for p in plugins]
    assert "shopify" in names
    assert all(isinstance(p["hooks"], list) and p["hooks"] for p in plugins)
