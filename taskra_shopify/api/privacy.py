"""The privacy rights for a store's customers: exports (access, portability), erasure,
rectification, objection, and the ledger of privacy requests with its overdue alert.

Erasure and rectification change or destroy data for good, so only merchants may ask for
them; agents may export, record an objection and read the ledger.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from starlette.responses import Response

from taskra_core.errors import PermissionDenied
from taskra_shopify.api.endpoint import Call
from taskra_shopify.api.v1 import api

SOURCE = "merchant"


class SubjectBody(BaseModel):
    email: str = Field(min_length=3, max_length=320, description="The customer's email.")


class RectifyBody(SubjectBody):
    new_email: str | None = Field(default=None, max_length=320, description="Corrected email.")
    new_name: str | None = Field(default=None, max_length=255, description="Corrected name.")


class ObjectionBody(SubjectBody):
    objected: bool = Field(
        default=True, description="true: no AI processing for this customer; false: withdraw."
    )


def _merchant_only(call: Call, what: str) -> None:
    if call.principal.role != "merchant":
        raise PermissionDenied(f"Only a merchant of the store may {what}.")


def export_url(export_id: int) -> str:
    return f"{api.prefix}/privacy/exports/{export_id}"


@api.get(
    "/privacy/requests",
    summary="The privacy-request ledger (open first) and how many are overdue",
    tag="privacy",
)
async def privacy_requests(call: Call) -> dict[str, Any]:
    counts = await call.taskra.privacy.counts(call.store_id)
    requests = await call.taskra.privacy.requests(call.store_id)
    for row in requests:
        row["download"] = export_url(row["export_id"]) if row["export_id"] else None
    return {"open": counts.open, "overdue": counts.overdue, "requests": requests}


@api.post(
    "/privacy/exports",
    summary="Compile everything held on a customer as versioned JSON (access, portability)",
    body=SubjectBody,
    status=201,
    tag="privacy",
)
async def create_export(call: Call, body: SubjectBody) -> dict[str, Any]:
    result = await call.taskra.privacy.export(call.store_id, body.email, source=SOURCE)
    return {
        "request_id": result.request_id,
        "export_id": result.export_id,
        "download": export_url(result.export_id),
    }


@api.get(
    "/privacy/exports/{export_id:int}",
    summary="Download a kept export (JSON; kept for 30 days)",
    tag="privacy",
)
async def download_export(call: Call, export_id: int) -> Response:
    data = await call.taskra.privacy.download(call.store_id, export_id)
    return Response(
        data,
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="taskra-export-{export_id}.json"',
            "Cache-Control": "no-store",
        },
    )


@api.post(
    "/privacy/erasures",
    summary="Erase a customer everywhere (merchants only); the ledger keeps an anonymous row",
    body=SubjectBody,
    tag="privacy",
)
async def erase_customer(call: Call, body: SubjectBody) -> dict[str, Any]:
    _merchant_only(call, "erase a customer's data")
    return await call.taskra.privacy.erase(call.store_id, body.email, source=SOURCE)


@api.post(
    "/privacy/rectifications",
    summary="Correct a customer's email and/or name everywhere (merchants only)",
    body=RectifyBody,
    tag="privacy",
)
async def rectify_customer(call: Call, body: RectifyBody) -> dict[str, Any]:
    _merchant_only(call, "correct a customer's data")
    # An admin form sends "" for a field left empty: that means "unchanged".
    customer = await call.taskra.privacy.rectify(
        call.store_id,
        body.email,
        new_email=body.new_email or None,
        new_name=body.new_name or None,
        source=SOURCE,
    )
    return {"email": customer.email, "name": customer.name}


@api.put(
    "/privacy/objections",
    summary="Record (or withdraw) a customer's objection to AI processing",
    body=ObjectionBody,
    tag="privacy",
)
async def set_objection(call: Call, body: ObjectionBody) -> dict[str, Any]:
    customer = await call.taskra.privacy.set_objection(
        call.store_id, body.email, objected=body.objected, source=SOURCE
    )
    return {"email": customer.email, "ai_processing_objected": customer.ai_processing_objected}
