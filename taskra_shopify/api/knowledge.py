"""Knowledge the merchant writes: FAQs and the brand voice drafts are written in."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from taskra_core.knowledge.faqs import ANSWER_MAX_CHARS, BRAND_VOICE_MAX_CHARS, QUESTION_MAX_CHARS
from taskra_shopify.api.endpoint import Call
from taskra_shopify.api.v1 import api


class FaqBody(BaseModel):
    # Limits are the core's; repeated here so the OpenAPI document shows them. The core
    # still checks (and trims) whatever reaches it.
    question: str = Field(min_length=1, max_length=QUESTION_MAX_CHARS)
    answer: str = Field(
        min_length=1, max_length=ANSWER_MAX_CHARS, description="Plain text or HTML."
    )


class BrandVoiceBody(BaseModel):
    text: str = Field(
        max_length=BRAND_VOICE_MAX_CHARS, description="How replies should sound; empty to clear."
    )


@api.get("/knowledge/policies", summary="The store's policies as imported", tag="knowledge")
async def list_policies(call: Call) -> dict[str, Any]:
    return {"policies": [p.as_dict() for p in await call.taskra.knowledge.policies(call.store_id)]}


@api.get("/knowledge/faqs", summary="List the store's FAQs", tag="knowledge")
async def list_faqs(call: Call) -> dict[str, Any]:
    found = await call.taskra.knowledge.list_faqs(call.store_id)
    return {"faqs": [faq.as_dict() for faq in found]}


@api.put(
    "/knowledge/faqs/{key}",
    summary="Create or replace an FAQ (key: lower-case letters, digits, hyphens)",
    body=FaqBody,
    tag="knowledge",
)
async def save_faq(call: Call, body: FaqBody, key: str) -> dict[str, Any]:
    faq = await call.taskra.knowledge.save_faq(call.store_id, key, body.question, body.answer)
    return faq.as_dict()


@api.delete("/knowledge/faqs/{key}", summary="Delete an FAQ", status=204, tag="knowledge")
async def delete_faq(call: Call, key: str) -> None:
    await call.taskra.knowledge.delete_faq(call.store_id, key)


@api.get("/knowledge/brand-voice", summary="The brand voice drafts are written in", tag="knowledge")
async def brand_voice(call: Call) -> dict[str, Any]:
    return {"text": await call.taskra.knowledge.brand_voice(call.store_id)}


@api.put(
    "/knowledge/brand-voice", summary="Set the brand voice", body=BrandVoiceBody, tag="knowledge"
)
async def set_brand_voice(call: Call, body: BrandVoiceBody) -> dict[str, Any]:
    return {"text": await call.taskra.knowledge.set_brand_voice(call.store_id, body.text)}
