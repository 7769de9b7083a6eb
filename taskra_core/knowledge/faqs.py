"""Merchant-managed FAQs and brand voice: what the merchant edits in the admin, kept where the
store import keeps it (``faq:<key>`` knowledge items, ``Store.settings["brand_voice"]``), so
search and drafting see an edit exactly as they see an import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from taskra_core.errors import InvalidInput, NotFound
from taskra_core.knowledge.documents import faq_document
from taskra_core.knowledge.importer import app_edits, remove_documents, upsert_documents
from taskra_core.models import KnowledgeItem, Store

FAQ_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")
QUESTION_MAX_CHARS = 500
ANSWER_MAX_CHARS = 10_000
BRAND_VOICE_MAX_CHARS = 10_000
# The kinds drafting's store profile holds (drafting.context.PROFILE_KINDS); named here so
# knowledge does not import drafting, which imports knowledge.
_PROFILE_KINDS = ("policy", "faq")


@dataclass(frozen=True)
class Faq:
    """One FAQ of a store. ``source_id`` (``faq:<key>``) is what drafts cite."""

    key: str
    question: str
    answer: str
    updated_at: datetime

    @property
    def source_id(self) -> str:
        return f"faq:{self.key}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "source_id": self.source_id,
            "question": self.question,
            "answer": self.answer,
            "updated_at": self.updated_at.isoformat(),
        }


def check_faq(key: str, question: str, answer: str) -> tuple[str, str]:
    """The question and answer as stored (trimmed); :class:`InvalidInput` if any is bad."""
    if not FAQ_KEY.match(key):
        raise InvalidInput(
            f"FAQ key {key[:100]!r} must be 1 to 80 lower-case letters, digits and hyphens, "
            "starting with a letter or digit (for example 'returns-window')."
        )
    question, answer = question.strip(), answer.strip()
    if not 1 <= len(question) <= QUESTION_MAX_CHARS:
        raise InvalidInput(f"The question must be 1 to {QUESTION_MAX_CHARS} characters.")
    if not 1 <= len(answer) <= ANSWER_MAX_CHARS:
        raise InvalidInput(f"The answer must be 1 to {ANSWER_MAX_CHARS} characters.")
    return question, answer


def check_brand_voice(text: str) -> str:
    text = text.strip()
    if len(text) > BRAND_VOICE_MAX_CHARS:
        raise InvalidInput(f"The brand voice must be at most {BRAND_VOICE_MAX_CHARS} characters.")
    return text


async def list_faqs(session: AsyncSession, store_id: int) -> list[Faq]:
    """The store's FAQs, by key."""
    items = await session.scalars(
        select(KnowledgeItem)
        .where(col(KnowledgeItem.store_id) == store_id, col(KnowledgeItem.kind) == "faq")
        .order_by(col(KnowledgeItem.source_id))
    )
    return [_faq(item) for item in items]


async def save_faq(
    session: AsyncSession, store: Store, key: str, question: str, answer: str, now: datetime
) -> Faq:
    """Create or update FAQ ``key``; an unchanged FAQ is not written."""
    question, answer = check_faq(key, question, answer)
    assert store.id is not None
    await _lock(session, store)
    document = faq_document(key, {"key": key, "question": question, "answer": answer})
    await upsert_documents(session, store.id, [document], await _profile_time(session, store, now))
    await _record_edit(session, store, key, "saved")
    found = await _get_faq_item(session, store.id, key)
    assert found is not None
    return _faq(found)


async def delete_faq(session: AsyncSession, store: Store, key: str) -> None:
    """Remove FAQ ``key`` (any key an import gave too); :class:`NotFound` if there is none."""
    assert store.id is not None
    await _lock(session, store)
    if not await remove_documents(session, store.id, [f"faq:{key}"]):
        raise NotFound(f"No FAQ {key[:100]!r} in this store.")
    await _record_edit(session, store, key, "deleted")


async def set_brand_voice(session: AsyncSession, store: Store, text: str, now: datetime) -> str:
    text = check_brand_voice(text)
    # Locked and re-read: settings holds other keys too, which a concurrent edit may change.
    await session.refresh(store, with_for_update=True)
    settings = dict(store.settings or {})
    edits = app_edits(settings)
    if settings.get("brand_voice") != text or not edits.get("brand_voice"):
        # A new dict: the JSON column is not mutation-tracked, so an in-place edit is lost.
        settings["brand_voice"] = text
        settings["app_edits"] = {**edits, "brand_voice": True}
        store.settings = settings
        store.updated_at = now
        await session.flush()
    return text


async def _record_edit(session: AsyncSession, store: Store, key: str, what: str) -> None:
    """Remember that the merchant saved or deleted FAQ ``key`` in the app, so re-importing
    the store folder neither overwrites it nor brings it back."""
    await session.refresh(store)  # the row is locked by _lock; read its latest settings
    settings = dict(store.settings or {})
    edits = app_edits(settings)
    faqs = dict(edits.get("faqs") or {})
    if faqs.get(key) != what:
        faqs[key] = what
        settings["app_edits"] = {**edits, "faqs": faqs}
        store.settings = settings
        await session.flush()


async def _lock(session: AsyncSession, store: Store) -> None:
    # Serialises one store's knowledge edits on PostgreSQL (SQLite serialises writers
    # already), so two saves of a new key cannot both insert it, and _profile_time sees the
    # newest time of any concurrent edit.
    await session.execute(select(col(Store.id)).where(col(Store.id) == store.id).with_for_update())


async def _profile_time(session: AsyncSession, store: Store, now: datetime) -> datetime:
    """``now``, or just after the newest policy/FAQ if the clock has not passed it.

    The drafting profile cache notices an edit only through the count or newest
    ``updated_at`` of policies and FAQs; an update stamped at or before the newest (a clock
    step back, or two edits within the clock's resolution) would leave a stale profile.
    """
    newest = await session.scalar(
        select(func.max(col(KnowledgeItem.updated_at))).where(
            col(KnowledgeItem.store_id) == store.id, col(KnowledgeItem.kind).in_(_PROFILE_KINDS)
        )
    )
    if newest is not None and newest >= now:
        return newest + timedelta(microseconds=1)
    return now


async def _get_faq_item(session: AsyncSession, store_id: int, key: str) -> KnowledgeItem | None:
    return (
        await session.scalars(
            select(KnowledgeItem).where(
                col(KnowledgeItem.store_id) == store_id,
                col(KnowledgeItem.source_id) == f"faq:{key}",
                col(KnowledgeItem.kind) == "faq",
            )
        )
    ).first()


def _faq(item: KnowledgeItem) -> Faq:
    data = item.data or {}
    # Imported FAQs keep their record as given; its question and answer may be HTML, which
    # the merchant edits as written.
    return Faq(
        key=item.source_id.removeprefix("faq:"),
        question=str(data.get("question") or item.title),
        answer=str(data.get("answer") or ""),
        updated_at=item.updated_at,
    )
