"""`taskra inbox add|list|search`: feeding a store's inbox from the command line."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from taskra_core.models import Store
from taskra_core.testing import make_test_taskra
from tests.core.test_cli import taskra

NOW = datetime(2025, 3, 17, 10, 0, tzinfo=UTC)


async def test_inbox_add_receives_like_a_channel(database_url: str) -> None:
    """`inbox add --json` prints the ids; a follow-up with the same subject threads with it."""
    async with make_test_taskra(database_url) as core, core.db.transaction() as session:
        session.add(Store(domain="cli.myshopify.com", created_at=NOW, updated_at=NOW))
    env = {"TASKRA_DATABASE_URL": database_url}
    args = ["inbox", "add", "--shop", "cli", "--from", "jo@example.com", "--name", "Jo"]
    first = json.loads(
        taskra(*args, "--subject", "Boots", "--json", "Do the boots run small?", **env).stdout
    )
    again = json.loads(
        taskra(*args, "--subject", "Re: Boots", "--json", "Also, half sizes?", **env).stdout
    )
    assert first["created"] is True
    assert again["conversation_id"] == first["conversation_id"]
    assert again["message_id"] != first["message_id"]

    listed = json.loads(taskra("inbox", "list", "--shop", "cli", "--json", **env).stdout)
    assert [c["id"] for c in listed] == [first["conversation_id"]]
    found = json.loads(taskra("inbox", "search", "--shop", "cli", "--json", "half", **env).stdout)
    assert [m["id"] for m in found["messages"]] == [again["message_id"]]


def test_inbox_add_for_an_unknown_store_says_what_to_do(database_url: str) -> None:
    """An unknown --shop fails with exit code 1 and tells how to create the store."""
    result = taskra(
        "inbox",
        "add",
        "--shop",
        "nope",
        "--from",
        "a@b.example",
        "hi",
        check=False,
        TASKRA_DATABASE_URL=database_url,
    )
    assert result.returncode == 1
    assert "taskra store import" in result.stderr
