"""An order told to its verified owner: status, tracking and dates, relative to "now".

Used by the offline model; every sentence comes from the order summary
(:func:`~taskra_core.drafting.orders.summarise_order`) and the ``now`` passed in, never from
the wall clock, so the same order reads differently on different days and tests can pin it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from taskra_core.drafting.orders import parse_time


def order_facts(order: dict[str, Any], now: datetime) -> list[str]:
    """What the order says about itself, dates relative to ``now``."""
    now = utc(now)
    items = order.get("items") or []
    titles = [str(i.get("title")) for i in items if i.get("title")]
    shown = ", ".join(titles[:3]) + (f" and {len(titles) - 3} more" if len(titles) > 3 else "")
    label = f"Order {order.get('name')}" + (f" ({shown})" if shown else "")
    cancelled = parse_time(order.get("cancelled_at"))
    placed = parse_time(order.get("placed_at"))
    if cancelled is not None:
        lines = [f"{label} was cancelled on {when(cancelled, now)}."]
    elif placed is not None:
        lines = [f"{label} was placed on {day(placed, now)}."]
    else:
        lines = [f"{label}:"]
    fulfillments = order.get("fulfillments") or []
    by_sku = {i.get("sku"): str(i.get("title")) for i in items if i.get("sku")}
    for fulfillment in fulfillments[:2]:
        what = "It"
        parcel = [
            by_sku[i["sku"]] for i in fulfillment.get("items") or [] if i.get("sku") in by_sku
        ]
        partial = str(order.get("fulfillment_status")) == "PARTIALLY_FULFILLED"
        if parcel and (len(fulfillments) > 1 or partial):
            what = f"The parcel with {', '.join(parcel)}"
        lines.append(_fulfillment_fact(what, fulfillment, now))
    sent = {i.get("sku") for f in fulfillments for i in f.get("items") or []}
    if cancelled is None and not fulfillments:
        lines.append("It has not been dispatched yet.")
    elif cancelled is None and str(order.get("fulfillment_status")) == "PARTIALLY_FULFILLED":
        waiting = [str(i.get("title")) for i in items if i.get("sku") not in sent]
        if waiting:
            lines.append(f"Not dispatched yet: {', '.join(waiting)}.")
    for refund in (order.get("refunds") or [])[:1]:
        issued = parse_time(refund.get("created_at"))
        if refund.get("amount") and issued is not None:
            lines.append(f"A refund of {refund['amount']} was issued on {when(issued, now)}.")
    return lines


def _fulfillment_fact(what: str, fulfillment: dict[str, Any], now: datetime) -> str:
    tracking = (fulfillment.get("tracking") or [{}])[0]
    company = tracking.get("company")
    via = f" with {company}" if company else ""
    if tracking.get("number"):
        url = f", {tracking['url']}" if tracking.get("url") else ""
        via += f" (tracking number {tracking['number']}{url})"
    status = str(fulfillment.get("status") or "").upper()
    delivered = parse_time(fulfillment.get("delivered_at"))
    expected = parse_time(fulfillment.get("estimated_delivery_at"))
    if delivered is not None:
        return f"{what} was sent{via} and delivered on {when(delivered, now)}."
    if status == "ATTEMPTED_DELIVERY":
        return f"{what} was sent{via}; the carrier reports an attempted delivery."
    if expected is None:
        return f"{what} was sent{via}."
    if utc(expected).date() >= now.date():
        return f"{what} is on its way{via}, with delivery estimated for {when(expected, now)}."
    return (
        f"{what} is on its way{via}; delivery was estimated for {when(expected, now)} and "
        "the carrier has not confirmed it yet."
    )


def delivered_at(order: dict[str, Any]) -> datetime | None:
    dates = [parse_time(f.get("delivered_at")) for f in order.get("fulfillments") or []]
    known = [utc(d) for d in dates if d is not None]
    return max(known) if known else None


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def day(moment: datetime, now: datetime) -> str:
    moment = utc(moment)
    text = f"{moment:%A} {moment.day} {moment:%B}"
    return text if moment.year == utc(now).year else f"{text} {moment.year}"


def when(moment: datetime, now: datetime) -> str:
    """ "Monday 10 March, 7 days ago": the date, and how far it is from ``now``."""
    days = (utc(moment).date() - utc(now).date()).days
    relative = {0: "today", 1: "tomorrow", -1: "yesterday"}.get(days)
    if relative is None:
        relative = f"in {days} days" if days > 0 else f"{-days} days ago"
    return f"{day(moment, now)}, {relative}"
