"""`taskra email address|receive`: the store's inbound address, and raw email files fed in
through the same path as the HTTP endpoints."""

from __future__ import annotations

import json
from pathlib import Path

from taskra_core.testing import make_test_taskra
from tests.channels.test_email_inbound import DOMAIN, STORE_ADDRESS, raw_email
from tests.core.test_cli import taskra


def test_email_address_prints_the_stores_inbound_address() -> None:
    """With an inbound domain, the handle at that domain; without one, an error naming the
    setting (exit 1)."""
    found = taskra(
        "email",
        "address",
        "--shop",
        "fellandford.myshopify.com",
        TASKRA_EMAIL_INBOUND_DOMAIN=DOMAIN,
    )
    assert found.stdout.strip() == STORE_ADDRESS
    missing = taskra("email", "address", "--shop", "fellandford.myshopify.com", check=False)
    assert missing.returncode == 1
    assert "TASKRA_EMAIL_INBOUND_DOMAIN" in missing.stderr


async def test_email_receive_routes_files_by_recipient_and_stores_each_once(
    database_url: str, tmp_path: Path
) -> None:
    """Two files: a customer's email and an out-of-office. Both stored, routed by their To;
    the out-of-office is flagged as automated; receiving the first again stores nothing."""
    from taskra_core.demo import FELLANDFORD
    from taskra_core.knowledge.importer import import_store

    async with make_test_taskra(database_url) as core:
        await import_store(core, FELLANDFORD)
    question = tmp_path / "question.eml"
    question.write_bytes(raw_email())
    away = tmp_path / "away.eml"
    away.write_bytes(
        raw_email(
            message_id="<away@mail.example.com>",
            headers={"Auto-Submitted": "auto-replied"},
            body="Away until Monday.",
        )
    )
    env = {"TASKRA_DATABASE_URL": database_url, "TASKRA_EMAIL_INBOUND_DOMAIN": DOMAIN}
    first = json.loads(taskra("email", "receive", "--json", str(question), str(away), **env).stdout)
    assert [r["created"] for r in first] == [True, True]
    assert first[0]["automated"] is None
    assert first[1]["automated"]
    again = json.loads(taskra("email", "receive", "--json", str(question), **env).stdout)
    assert again[0]["created"] is False
    assert again[0]["message_id"] == first[0]["message_id"]
