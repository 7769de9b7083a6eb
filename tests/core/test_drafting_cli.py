"""`taskra draft`: drafting from the command line, offline and through the Claude SDK."""

from __future__ import annotations

import json
from pathlib import Path

from taskra_core.demo import FELLANDFORD
from tests.core.test_cli import taskra
from tests.fakes.anthropic import FakeAnthropic, tool_reply

FIELDS = {
    "reply",
    "sources",
    "escalate",
    "escalation_reasons",
    "intent",
    "language",
    "model",
    "usage",
    "cost",
}
NOW = "2025-03-17T10:00:00Z"


def demo_env(database_url: str) -> dict[str, str]:
    env = {"TASKRA_DATABASE_URL": database_url, "TASKRA_NOW": NOW}
    taskra("store", "import", str(FELLANDFORD), **env)
    return env


def test_draft_json_offline_on_the_demo_store(database_url: str) -> None:
    """With no API key the offline model answers, grounded in the store, with every field."""
    env = demo_env(database_url)
    out = taskra(
        "draft",
        "--shop",
        "fellandford",
        "--from",
        "alan.shaw@example.com",
        "--subject",
        "washing question",
        "--json",
        "Can the Borrowdale merino top go in the tumble dryer?",
        **env,
    ).stdout
    result = json.loads(out)
    assert set(result) >= FIELDS
    assert result["model"] == "offline"
    assert any(s.startswith(("product:borrowdale-merino", "faq:merino")) for s in result["sources"])
    assert result["reply"]
    assert result["cost"] == 0
    assert set(result["usage"]) == {
        "input_tokens",
        "cache_write_tokens",
        "cache_read_tokens",
        "output_tokens",
    }


def test_draft_json_through_the_sdk(database_url: str, fake_anthropic: FakeAnthropic) -> None:
    """With ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL set, the real SDK drafts via the fake."""
    env = demo_env(database_url)
    fake_anthropic.script(
        tool_reply(
            "submit_reply",
            {
                "reply": "No tumble dryer, please: dry it flat.",
                "sources": ["product:borrowdale-merino-200-crew"],
                "intent": "product_question",
                "language": "en",
                "confidence": 0.9,
                "needs_human": False,
            },
        )
    )
    env |= {"ANTHROPIC_API_KEY": "sk-test", "ANTHROPIC_BASE_URL": fake_anthropic.base_url}
    result = json.loads(
        taskra(
            "draft",
            "--shop",
            "fellandford",
            "--from",
            "alan.shaw@example.com",
            "--json",
            "Can the Borrowdale merino top go in the tumble dryer?",
            **env,
        ).stdout
    )
    assert result["model"] == "claude-sonnet-4-6"
    assert result["reply"] == "No tumble dryer, please: dry it flat."
    assert result["sources"] == ["product:borrowdale-merino-200-crew"]
    assert result["escalate"] is False
    assert result["usage"]["output_tokens"] > 0
    assert result["cost"] > 0
    [request] = fake_anthropic.requests
    assert request.headers["authorization"] == "Bearer sk-test"


def test_draft_for_an_unknown_store_fails_cleanly(database_url: str, tmp_path: Path) -> None:
    """An unknown --shop exits 1 with the store error, not a traceback."""
    result = taskra(
        "draft",
        "--shop",
        "nope",
        "--from",
        "a@b.example",
        "hi",
        check=False,
        TASKRA_DATABASE_URL=database_url,
    )
    assert result.returncode == 1
    assert "No store nope.myshopify.com" in result.stderr
    assert "Traceback" not in result.stderr


def test_ai_commands_set_autonomy_and_budget_and_show_evidence(database_url: str) -> None:
    """`taskra ai autonomy|budget` change a store's settings; `ai show --json` reports them
    with this month's spend."""
    env = demo_env(database_url)
    shop = ["--shop", "fellandford"]
    taskra("ai", "autonomy", *shop, "--intent", "order_status", "auto_send", **env)
    taskra("ai", "budget", *shop, "12.5", **env)
    shown = json.loads(taskra("ai", "show", *shop, "--json", **env).stdout)
    assert shown["autonomy"]["default"] == "draft"
    assert shown["autonomy"]["intents"]["order_status"] == "auto_send"
    assert shown["autonomy"]["intents"]["return_request"] == "draft"
    assert shown["budget"] == {
        "period": "2025-03",
        "budget_usd": 12.5,
        "spent_usd": 0.0,
        "exhausted": False,
    }
    assert shown["acceptance"] == []
    bad = taskra("ai", "autonomy", *shop, "always", check=False, **env)
    assert bad.returncode == 2
    assert "'always' is not one of" in bad.stderr
    human = taskra("ai", "show", *shop, **env).stdout
    assert "order_status        auto_send" in human
