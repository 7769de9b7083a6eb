"""AI settings and evidence: autonomy per intent, the monthly budget, acceptance; and the
knowledge checks a merchant acts on (conflicts)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from taskra_shopify.api.endpoint import Call
from taskra_shopify.api.v1 import api


class AutonomyBody(BaseModel):
    mode: Literal["off", "draft", "auto_send"]
    intent: str | None = Field(default=None, description="One intent; omit for the default.")


class BudgetBody(BaseModel):
    usd: float = Field(ge=0, le=1_000_000, description="Monthly AI budget in USD (a hard cap).")


@api.get("/ai", summary="Autonomy, budget and acceptance of drafts per intent", tag="ai")
async def ai_state(call: Call) -> dict[str, Any]:
    return await call.taskra.drafting.ai_state(call.store_id)


@api.put(
    "/ai/autonomy", summary="Set autonomy (per intent or default)", body=AutonomyBody, tag="ai"
)
async def set_autonomy(call: Call, body: AutonomyBody) -> dict[str, Any]:
    await call.taskra.drafting.set_autonomy(call.store_id, body.mode, body.intent)
    return await call.taskra.drafting.ai_state(call.store_id)


@api.put("/ai/budget", summary="Set the monthly AI budget", body=BudgetBody, tag="ai")
async def set_budget(call: Call, body: BudgetBody) -> dict[str, Any]:
    await call.taskra.drafting.set_budget(call.store_id, body.usd)
    return await call.taskra.drafting.ai_state(call.store_id)


@api.get(
    "/usage",
    summary="AI replies, messages processed, tokens and cost of a month",
    tag="ai",
    query=(("period", "YYYY-MM (default: this month)"),),
)
async def usage(call: Call) -> dict[str, Any]:
    return await call.taskra.drafting.usage(call.store_id, call.query("period"))


@api.get("/knowledge/conflicts", summary="Facts two documents state differently", tag="knowledge")
async def conflicts(call: Call) -> dict[str, Any]:
    found = await call.taskra.knowledge.conflicts(call.store_id)
    return {"conflicts": [c.as_dict() for c in found]}
