"""Taskra's own ``check_draft`` rules: what, in the drafted reply itself, needs a person.

The customer's message was checked before the model ran (:mod:`.guardrails`); these look at
what the model produced: its own request for a person, a reply with nothing to ground it, a
promise that an action was already carried out, a leak of the instructions, a reply in
another language than the customer's.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from taskra_core.drafting.guardrails import EscalationReason
from taskra_core.drafting.language import LANGUAGE_NAMES, detect_language
from taskra_core.drafting.prompt import INSTRUCTIONS

if TYPE_CHECKING:
    from taskra_core.drafting.pipeline import CheckContext
    from taskra_core.drafting.types import ModelReply

# "I've refunded", "we have cancelled your order", "he procesado el reembolso": only a
# person may do these, so a reply saying they are done is wrong until one has.
_DONE_ACTION = re.compile(
    r"\b(?:i|we)\s*(?:'ve|have|has)\s+(?:now\s+|just\s+|already\s+)?"
    r"(?:refunded|issued\s+(?:a|your|the)\s+refund|processed\s+(?:a|your|the)\s+refund|"
    r"cancell?ed\s+(?:your|the)\s+order|changed\s+(?:your|the)\s+(?:delivery\s+|shipping\s+)?"
    r"address|applied\s+(?:a|the)\s+discount)"
    r"|\bhe\s+(?:procesado|emitido)\s+(?:el|su|tu)\s+reembolso|\bj'ai\s+(?:rembours|annul)",
    re.IGNORECASE,
)
# "Once we've refunded you", "when we have cancelled it": a future step, not a claim.
_TEMPORAL = re.compile(r"\b(?:once|when|after|until|if|as soon as|cuando|une fois|quand)\s*$", re.I)
# Lines of the fixed instructions long enough that quoting one is no accident.
_INSTRUCTION_LINES = tuple(
    line.strip("- ").lower()[:60] for line in INSTRUCTIONS.splitlines() if len(line) > 60
)


def draft_reasons(reply: ModelReply, context: CheckContext) -> list[EscalationReason]:
    reasons: list[EscalationReason] = []
    if reply.needs_human:
        why = "; ".join(reply.human_reasons) or "the model asked for a person"
        reasons.append(EscalationReason("model_flagged", why))
    if not reply.text.strip():
        reasons.append(EscalationReason("empty_reply", "no reply text was drafted"))
    elif not reply.sources and not (context.verification_needed or context.orders_unavailable):
        reasons.append(
            EscalationReason("no_grounding", "the reply cites none of the store's documents")
        )
    if context.orders_unavailable:
        reasons.append(
            EscalationReason(
                "orders_unavailable",
                "order data could not be loaded (the store's order system did not answer); "
                "check the order before replying",
            )
        )
    done = next(
        (
            m
            for m in _DONE_ACTION.finditer(reply.text)
            if not _TEMPORAL.search(reply.text[max(0, m.start() - 20) : m.start()])
        ),
        None,
    )
    if done is not None:
        reasons.append(
            EscalationReason(
                "action_claimed", f"the reply says '{done.group(0)}', which only a person may do"
            )
        )
    lowered = reply.text.lower()
    if any(line in lowered for line in _INSTRUCTION_LINES):
        reasons.append(EscalationReason("prompt_leak", "the reply quotes Taskra's instructions"))
    wrote = detect_language(f"{context.subject}\n{context.text}")
    if reply.text.strip() and reply.language and wrote != reply.language.split("-")[0]:
        name = LANGUAGE_NAMES.get(wrote, wrote)
        reasons.append(
            EscalationReason(
                "language", f"the customer wrote in {name}; the reply is in {reply.language}"
            )
        )
    return reasons
