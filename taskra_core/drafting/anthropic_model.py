"""Claude as a reply model, through the official ``anthropic`` SDK.

One draft is a short tool loop: the model may look things up, and must finish by calling
``submit_reply``. The loop is bounded twice over, because a runaway loop is a billing
incident: at most ``TASKRA_DRAFT_MAX_ROUNDS`` calls (the last one is forced to submit), and at
most ``TASKRA_DRAFT_MAX_TOKENS`` tokens; hitting a bound hands the message to a person.

SDK errors become Taskra's: :class:`ModelUnavailable` (retry later) or :class:`ModelRejected`
(do not). The SDK raises a bare ``json.JSONDecodeError`` for a garbled 200 response and does
not retry it, so that is caught too.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from taskra_core.drafting.prompt import build_prompt
from taskra_core.drafting.reply_models import ReplyModel
from taskra_core.drafting.tools import SUBMIT_REPLY
from taskra_core.drafting.types import (
    ACTIONS,
    INTENTS,
    DraftRequest,
    ModelReply,
    Proposal,
    TokenUsage,
)
from taskra_core.errors import ConfigurationError, ModelRejected, ModelUnavailable
from taskra_core.settings import Settings

if TYPE_CHECKING:
    import anthropic

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


class AnthropicReplyModel(ReplyModel):
    """Drafts with Claude (``TASKRA_MODEL``); needs ``ANTHROPIC_API_KEY``."""

    name = "anthropic"

    def __init__(self, settings: Settings, *, cache: bool = True) -> None:
        if settings.anthropic_api_key is None:
            raise ConfigurationError(
                "The anthropic reply model needs ANTHROPIC_API_KEY; unset TASKRA_REPLY_MODEL "
                "to draft with the offline model instead."
            )
        self.settings = settings
        self.model = settings.model
        self.cache = cache  # False only to measure what prompt caching saves (bench/draft.py)
        # Imported here, not at the top: the SDK adds ~45 MB to a process, and one that
        # drafts offline (the demo, no key) never needs it.
        import anthropic

        self._sdk = anthropic
        # base_url=None lets the SDK fall back to its default; the setting already holds
        # ANTHROPIC_BASE_URL, read once at the entry point like every other setting.
        self.client = anthropic.AsyncAnthropic(
            api_key=settings.anthropic_api_key.get_secret_value(),
            base_url=settings.anthropic_base_url,
            timeout=settings.anthropic_timeout_seconds,
            max_retries=settings.anthropic_max_retries,
        )

    async def aclose(self) -> None:
        await self.client.close()

    async def draft(self, request: DraftRequest) -> ModelReply:
        settings = self.settings
        prompt = build_prompt(request, cache=self.cache)
        messages: list[dict[str, Any]] = prompt["messages"]
        usage = TokenUsage()
        for round_no in range(1, settings.draft_max_rounds + 1):
            # Past half the token cap, the next call must be the last: another lookup
            # round could overshoot it.
            last = (
                round_no == settings.draft_max_rounds
                or usage.total * 2 >= settings.draft_max_tokens
            )
            if last:
                choice: dict[str, Any] = {"type": "tool", "name": SUBMIT_REPLY}
            else:
                choice = {"type": "any"}
            response = await self._create(prompt, messages, choice)
            usage = usage + _usage(response)
            blocks = [block.model_dump(exclude_none=True) for block in response.content]
            submit = next(
                (b for b in blocks if b["type"] == "tool_use" and b["name"] == SUBMIT_REPLY), None
            )
            if submit is not None:
                return self._reply(request, submit.get("input") or {}, usage, round_no)
            calls = [b for b in blocks if b["type"] == "tool_use"]
            if not calls:
                text = "\n".join(b.get("text", "") for b in blocks if b["type"] == "text")
                return self._fallback(
                    text,
                    usage,
                    round_no,
                    "the model answered without "
                    "submit_reply, so the reply is not grounded or classified",
                )
            if usage.total >= settings.draft_max_tokens:
                return self._fallback(
                    "",
                    usage,
                    round_no,
                    f"the draft reached its cap of {settings.draft_max_tokens} tokens",
                )
            results = []
            for call in calls:
                output = await request.tools.run(call["name"], call.get("input") or {})
                results.append(
                    {"type": "tool_result", "tool_use_id": call["id"], "content": output}
                )
            messages = [
                *messages,
                {"role": "assistant", "content": blocks},
                {"role": "user", "content": results},
            ]
        # Unreachable in practice: the last round forces submit_reply.
        return self._fallback("", usage, settings.draft_max_rounds, "the model did not submit")

    async def _create(
        self, prompt: dict[str, Any], messages: list[dict[str, Any]], choice: dict[str, Any]
    ) -> Any:
        # The SDK's overloads type every block as a TypedDict; ours are plain dicts.
        create: Any = self.client.messages.create
        anthropic = self._sdk
        try:
            return await create(
                model=self.model,
                max_tokens=self.settings.draft_max_output_tokens,
                system=prompt["system"],
                tools=prompt["tools"],
                tool_choice=choice,
                messages=messages,
            )
        except anthropic.APIStatusError as exc:
            detail = _error_detail(exc)
            if exc.status_code in RETRYABLE_STATUS or exc.status_code >= 500:
                raise ModelUnavailable(f"Claude API error {exc.status_code}: {detail}") from exc
            hint = {
                401: " Check ANTHROPIC_API_KEY.",
                403: " The API key may not use this model.",
                404: " Check TASKRA_MODEL.",
            }.get(exc.status_code, "")
            raise ModelRejected(
                f"Claude API refused the request ({exc.status_code}): {detail}.{hint}"
            ) from exc
        except anthropic.APITimeoutError as exc:
            raise ModelUnavailable("The Claude API did not answer in time.") from exc
        except anthropic.APIConnectionError as exc:
            raise ModelUnavailable("Could not connect to the Claude API.") from exc
        except (json.JSONDecodeError, anthropic.APIResponseValidationError) as exc:
            raise ModelUnavailable("The Claude API sent a reply that could not be read.") from exc

    def _reply(
        self, request: DraftRequest, data: dict[str, Any], usage: TokenUsage, rounds: int
    ) -> ModelReply:
        cited = [str(s) for s in data.get("sources") or [] if isinstance(s, str)]
        intent = str(data.get("intent") or "other")
        proposals = []
        for item in data.get("proposed_actions") or []:
            if isinstance(item, dict) and item.get("action") in ACTIONS:
                order = item.get("order")
                proposals.append(
                    Proposal(
                        action=str(item["action"]),
                        order=str(order) if order else None,
                        details=str(item.get("details") or "")[:500],
                    )
                )
        try:
            confidence = min(max(float(data.get("confidence", 0.5)), 0.0), 1.0)
        except (TypeError, ValueError):
            confidence = 0.0
        reasons = tuple(str(r)[:300] for r in data.get("human_reasons") or [] if r)
        return ModelReply(
            text=str(data.get("reply") or "").strip(),
            model=self.model,
            sources=request.tools.known_sources(cited),
            intent=intent if intent in INTENTS else "other",
            language=str(data.get("language") or "en")[:8].lower(),
            confidence=confidence,
            needs_human=bool(data.get("needs_human")) or bool(reasons),
            human_reasons=reasons,
            proposals=tuple(proposals),
            usage=usage,
            rounds=rounds,
        )

    def _fallback(self, text: str, usage: TokenUsage, rounds: int, why: str) -> ModelReply:
        log.warning("draft ended without submit_reply", extra={"why": why, "rounds": rounds})
        return ModelReply(
            text=text.strip(),
            model=self.model,
            confidence=0.0,
            needs_human=True,
            human_reasons=(why,),
            usage=usage,
            rounds=rounds,
        )


def _usage(response: Any) -> TokenUsage:
    u = response.usage
    return TokenUsage(
        input_tokens=u.input_tokens or 0,
        cache_write_tokens=u.cache_creation_input_tokens or 0,
        cache_read_tokens=u.cache_read_input_tokens or 0,
        output_tokens=u.output_tokens or 0,
    )


def _error_detail(exc: anthropic.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    return str((error or {}).get("message") or exc.message)[:300]
