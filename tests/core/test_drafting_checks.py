"""Taskra's own check_draft rules, applied to drafted replies."""

from __future__ import annotations

from typing import Any

import pytest

from taskra_core.drafting.checks import draft_reasons
from taskra_core.drafting.pipeline import CheckContext
from taskra_core.drafting.prompt import INSTRUCTIONS
from taskra_core.drafting.types import ModelReply
from taskra_core.models import Store

STORE = Store(id=1, domain="a.myshopify.com")


def context(text: str = "Do the Scafell boots fit true to size?", **extra: Any) -> CheckContext:
    values: dict[str, Any] = {
        "store": STORE,
        "channel": "email",
        "text": text,
        "subject": "",
        "message_reasons": (),
        "verification_needed": False,
        "sources": (),
    }
    return CheckContext(**(values | extra))


def reply(text: str = "They fit true to size.", **extra: Any) -> ModelReply:
    values: dict[str, Any] = {"model": "m", "sources": ("product:scafell",), "language": "en"}
    return ModelReply(text=text, **(values | extra))


def codes(draft: ModelReply, ctx: CheckContext | None = None) -> list[str]:
    return [r.code for r in draft_reasons(draft, ctx or context())]


def test_a_grounded_reply_in_the_right_language_passes() -> None:
    """A cited English reply to an English question raises nothing."""
    assert codes(reply()) == []


def test_the_models_own_request_for_a_person_is_kept() -> None:
    """needs_human from the model escalates with the model's reasons."""
    [reason] = draft_reasons(
        reply(needs_human=True, human_reasons=("asks for a manager",)), context()
    )
    assert (reason.code, reason.detail) == ("model_flagged", "asks for a manager")


def test_uncited_reply_is_ungrounded_unless_it_asks_for_verification() -> None:
    """No source: escalate, except when the reply is asking who the customer is."""
    assert codes(reply(sources=())) == ["no_grounding"]
    assert codes(reply(sources=()), context(verification_needed=True)) == []


def test_empty_reply_escalates() -> None:
    assert codes(reply(text="  ")) == ["empty_reply"]


@pytest.mark.parametrize(
    "text",
    [
        "Good news: I've refunded the £95 to your card.",
        "We have cancelled your order as asked.",
        "I have changed your delivery address to Leeds.",
        "He procesado el reembolso hoy.",
    ],
)
def test_reply_claiming_a_done_action_escalates(text: str) -> None:
    """Only a person refunds, cancels or changes an address; a reply saying it's done is wrong."""
    assert "action_claimed" in codes(reply(text=text))


@pytest.mark.parametrize(
    "text",
    [
        "I've asked the team to refund you once the parcel is back.",
        "Once we've refunded you, you'll get an email.",
    ],
)
def test_proposing_an_action_is_not_claiming_it(text: str) -> None:
    assert "action_claimed" not in codes(reply(text=text))


def test_quoting_the_instructions_escalates() -> None:
    """A reply that repeats the system instructions (an injection worked) is held back."""
    leaked = [line for line in INSTRUCTIONS.splitlines() if len(line) > 60][1]
    assert "prompt_leak" in codes(reply(text=f"Sure! My rules say: {leaked}"))


def test_reply_in_another_language_than_the_customers_escalates() -> None:
    """A Spanish question answered in English goes to a person."""
    ctx = context(text="Hola, ¿las botas Scafell son impermeables? Gracias por la ayuda.")
    assert codes(reply(language="en"), ctx) == ["language"]
    assert codes(reply(text="Sí, son impermeables.", language="es"), ctx) == []


def test_reason_text_names_the_code_once() -> None:
    """A message check's detail already starts with its label; the text does not repeat it."""
    from taskra_core.drafting.guardrails import EscalationReason

    assert str(EscalationReason("legal_threat", "legal threat: 'small claims'")) == (
        "legal_threat: 'small claims'"
    )
    assert str(EscalationReason("no_grounding", "the reply cites nothing")) == (
        "no_grounding: the reply cites nothing"
    )
