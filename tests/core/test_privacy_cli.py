"""`taskra privacy export|erase|rectify|object|requests`, run as the real command."""

from __future__ import annotations

import json

from taskra_core.demo import FELLANDFORD
from taskra_core.inbox.messages import InboundMessage
from taskra_core.knowledge.importer import import_store
from taskra_core.stores import get_store
from taskra_core.testing import make_test_taskra
from tests.core.test_cli import taskra

SHOP = "fellandford"
EMAIL = "ivy.cli@example.com"


async def test_privacy_commands_work_on_one_store(database_url: str) -> None:
    """Export prints versioned JSON, object and rectify change the customer, erase removes
    them, and `requests` lists each step from the ledger with source `cli`."""
    async with make_test_taskra(database_url) as core:
        await import_store(core, FELLANDFORD)
        async with core.db.session() as session:
            store = await get_store(session, SHOP)
        assert store.id is not None
        await core.inbox.receive(
            store.id,
            InboundMessage(channel="email", from_email=EMAIL, text="Do you ship to Jersey?"),
        )
    env = {"TASKRA_DATABASE_URL": database_url}

    exported = json.loads(
        taskra("privacy", "export", "--shop", SHOP, "--email", EMAIL, **env).stdout
    )
    assert (exported["schema"], exported["version"]) == ("taskra.subject-data", 1)
    assert exported["conversations"][0]["messages"][0]["text"] == "Do you ship to Jersey?"

    out = taskra("privacy", "object", "--store", SHOP, "--email", EMAIL, **env).stdout
    assert "left to a person" in out
    renamed = json.loads(
        taskra(
            "privacy",
            "rectify",
            "--shop",
            SHOP,
            "--email",
            EMAIL,
            "--new-name",
            "Ivy C",
            "--json",
            **env,
        ).stdout
    )
    assert renamed == {"email": EMAIL, "name": "Ivy C"}
    erased = json.loads(
        taskra(
            "privacy", "erase", "--shop", SHOP, "--email", EMAIL, "--yes", "--json", **env
        ).stdout
    )
    assert (erased["outcome"], erased["messages"]) == ("completed", 1)

    rows = json.loads(taskra("privacy", "requests", "--shop", SHOP, "--json", **env).stdout)
    assert sorted(r["kind"] for r in rows) == ["access", "erasure", "objection", "rectification"]
    assert {r["source"] for r in rows} == {"cli"}
    assert {r["subject"] for r in rows} == {"erased customer"}
    again = json.loads(taskra("privacy", "export", "--shop", SHOP, "--email", EMAIL, **env).stdout)
    assert again["customer"] is None


def test_bad_email_is_refused_and_changes_nothing(database_url: str) -> None:
    """A malformed email fails with exit code 1 and a clear message."""
    env = {"TASKRA_DATABASE_URL": database_url}
    taskra("db", "upgrade", **env)
    result = taskra(
        "privacy", "erase", "--shop", SHOP, "--email", "not-an-email", "--yes", check=False, **env
    )
    assert result.returncode == 1
    assert "is not an email address" in result.stderr
