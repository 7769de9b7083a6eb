"""Turning a store's products, policies and FAQs into knowledge documents: the text answers are
grounded in, cut into the passages search returns.

Every document is addressed by its source id (``product:<handle>``, ``policy:<TYPE>``,
``faq:<key>``), which drafts cite. Its content hash is the sha256 of the canonical JSON of the
record it came from, so re-importing an unchanged record can be recognised without reading it.
"""

from __future__ import annotations

import hashlib
import json
import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import nh3

# Passages are cut at paragraph boundaries to at most this many characters, evenly filled:
# 600-900 in practice.
PASSAGE_MAX_CHARS = 900

_BLOCK_TAGS = frozenset(
    {"address", "article", "blockquote", "dl", "div", "figcaption", "figure", "footer"}
    | {"h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "ol", "p", "pre", "section"}
    | {"table", "ul"}
)
_LINE_TAGS = frozenset({"br", "caption", "dd", "dt", "li", "tr"})
_CELL_TAGS = frozenset({"td", "th"})
_LOOKS_LIKE_HTML = re.compile(r"<(?:[a-zA-Z][a-zA-Z0-9]*)(?:\s[^>]*)?/?>")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_NOT_HEADING_END = (".", "!", "?", ":", ";", ",")
# Shopify's placeholder for a product without options.
_DEFAULT_TITLE = "Default Title"


@dataclass(frozen=True)
class PassageText:
    """One searchable piece of a document."""

    title: str
    text: str
    keywords: str


@dataclass(frozen=True)
class Document:
    """A knowledge item as the importer writes it, with its passages."""

    source_id: str
    kind: str
    title: str
    body: str
    data: dict[str, Any]
    content_hash: str
    passages: tuple[PassageText, ...]


def content_hash(record: Any) -> str:
    """sha256 of ``record`` as canonical JSON (sorted keys, no spacing, UTF-8)."""
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# --- HTML to text ----------------------------------------------------------------------------


# Markers in the walker's output: a paragraph break, on a line of its own.
_PARAGRAPH = "\x00"


class _TextWalker(HTMLParser):
    """Writes the text of well-formed HTML, one line per list item or table row."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._parts: list[str] = []
        self._cell = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self._parts.append(f"\n{_PARAGRAPH}\n")
        elif tag in _LINE_TAGS:
            self._parts.append("\n- " if tag == "li" else "\n")
            self._cell = 0
        elif tag in _CELL_TAGS:
            # Specification tables are label/value pairs: "Weight: 395g".
            if self._cell:
                self._parts.append(": " if self._cell == 1 else " | ")
            self._cell += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCK_TAGS:
            self._parts.append(f"\n{_PARAGRAPH}\n")
        elif tag in _LINE_TAGS:
            self._parts.append("\n")

    def handle_data(self, data: str) -> None:
        # Line breaks inside HTML text are only wrapping; layout comes from the tags.
        self._parts.append(data.replace("\n", " ").replace(_PARAGRAPH, ""))

    def text(self) -> str:
        out: list[str] = []
        paragraph = False
        for raw in "".join(self._parts).split("\n"):
            line = " ".join(raw.split())
            if line == _PARAGRAPH:
                paragraph = True
            elif line and line != "-":
                if out:
                    out.append("\n\n" if paragraph else "\n")
                out.append(line)
                paragraph = False
        return "".join(out)


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML fragment: paragraphs, ``- `` list items, table rows.

    nh3 (the html5ever parser, as browsers parse) first reduces the fragment to block tags,
    dropping scripts, styles, comments and attributes and repairing broken markup; the stdlib
    parser then only has well-formed HTML to walk, and decodes entities.
    """
    allowed = _BLOCK_TAGS | _LINE_TAGS | _CELL_TAGS
    cleaned = nh3.clean(html, tags=set(allowed), attributes={}, link_rel=None)
    walker = _TextWalker()
    walker.feed(cleaned)
    walker.close()
    return walker.text()


def plain_text(value: str) -> str:
    """``value`` as plain text with paragraphs kept; HTML is converted, plain text tidied."""
    if _LOOKS_LIKE_HTML.search(value):
        return html_to_text(value)
    lines = (line.rstrip() for line in value.replace("\r\n", "\n").split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# --- passages --------------------------------------------------------------------------------


def split_passages(text: str, limit: int = PASSAGE_MAX_CHARS) -> list[str]:
    """Cut ``text`` at paragraph boundaries into chunks of at most ``limit`` characters.

    The cut is the best of all possible ones (a small dynamic programme): as few chunks as
    the limit allows, evenly filled, so a policy never ends in a scrap, and never a chunk
    that ends with a heading (a short line without a full stop) that belongs to the next.
    Only a paragraph longer than ``limit`` is cut inside, at sentence ends.
    """
    pieces = [
        piece
        for paragraph in _PARAGRAPH_BREAK.split(text)
        if paragraph.strip()
        for piece in _fit(paragraph.strip(), limit)
    ]
    # ends[k]: characters of pieces[:k] joined by blank lines, plus 2 (one separator).
    ends = [0]
    for piece in pieces:
        ends.append(ends[-1] + len(piece) + 2)
    # best[j]: (cost, start of last chunk) of the best split of pieces[:j]. A chunk costs
    # the square of its unused room, which favours few chunks of even size.
    best: list[tuple[float, int]] = [(0.0, 0)]
    for j in range(1, len(pieces) + 1):
        options: list[tuple[float, int]] = []
        for i in range(j - 1, -1, -1):
            length = ends[j] - ends[i] - 2
            if length > limit and i < j - 1:
                break
            cost = best[i][0] + float(max(limit - length, 0)) ** 2
            if j < len(pieces) and _is_heading(pieces[j - 1]):
                cost += float(limit) ** 2
            options.append((cost, i))
        best.append(min(options))
    chunks: list[str] = []
    j = len(pieces)
    while j > 0:
        i = best[j][1]
        chunks.append("\n\n".join(pieces[i:j]))
        j = i
    return chunks[::-1]


def _fit(paragraph: str, limit: int) -> list[str]:
    if len(paragraph) <= limit:
        return [paragraph]
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(paragraph):
        parts = textwrap.wrap(sentence, limit) if len(sentence) > limit else [sentence]
        for part in parts:
            if pieces and len(pieces[-1]) + 1 + len(part) <= limit:
                pieces[-1] = f"{pieces[-1]} {part}"
            else:
                pieces.append(part)
    return pieces


def _is_heading(paragraph: str) -> bool:
    return (
        len(paragraph) <= 80 and "\n" not in paragraph and not paragraph.endswith(_NOT_HEADING_END)
    )


def _keywords(values: Iterable[Any]) -> str:
    seen: dict[str, None] = {}
    for value in values:
        text = " ".join(str(value).split()) if value is not None else ""
        if text and text != _DEFAULT_TITLE and text.lower() not in seen:
            seen[text.lower()] = None
    return " ".join(seen)


# --- documents -------------------------------------------------------------------------------


def product_document(handle: str, product: dict[str, Any]) -> Document:
    """A product: title, description without HTML, options, then one line per variant."""
    title = str(product.get("title") or handle)
    sections = [title]
    description = html_to_text(str(product.get("body_html") or ""))
    if description:
        sections.append(description)
    status = product.get("status")
    if status and str(status).lower() != "active":
        sections.append(f"Not currently for sale (status: {status}).")
    options = [
        f"{option.get('name')}: {', '.join(str(v) for v in option.get('values') or [])}"
        for option in product.get("options") or []
        if isinstance(option, dict) and option.get("values") not in (None, [], [_DEFAULT_TITLE])
    ]
    if options:
        sections.append("Options:\n" + "\n".join(f"- {line}" for line in options))
    variants = [_variant_line(v) for v in product.get("variants") or [] if isinstance(v, dict)]
    if variants:
        sections.append("Variants:\n" + "\n".join(variants))
    body = "\n\n".join(sections)
    option_words = [
        word
        for option in product.get("options") or []
        if isinstance(option, dict)
        for word in [option.get("name"), *(option.get("values") or [])]
    ]
    keywords = _keywords(
        [product.get("product_type"), product.get("vendor"), *_tags(product), *option_words]
    )
    return Document(
        source_id=f"product:{handle}",
        kind="product",
        title=title,
        body=body,
        data=product,
        content_hash=content_hash(product),
        passages=(PassageText(title=title, text=body, keywords=keywords),),
    )


def _tags(product: dict[str, Any]) -> list[Any]:
    tags = product.get("tags") or []
    # The REST API gives tags as one comma-separated string, GraphQL as a list.
    return [tag.strip() for tag in tags.split(",")] if isinstance(tags, str) else list(tags)


def _variant_line(variant: dict[str, Any]) -> str:
    title = str(variant.get("title") or "")
    label = "" if title in ("", _DEFAULT_TITLE) else title
    if variant.get("sku"):
        label = f"{label} (SKU {variant['sku']})" if label else f"SKU {variant['sku']}"
    facts = []
    if variant.get("price") not in (None, ""):
        price = f"price {variant['price']}"
        compare_at = variant.get("compare_at_price")
        if compare_at not in (None, "") and compare_at != variant["price"]:
            price += f" (was {compare_at})"
        facts.append(price)
    availability = _availability(variant)
    if availability:
        facts.append(availability)
    return f"- {label or 'Variant'}: {', '.join(facts) or 'no details'}"


def _availability(variant: dict[str, Any]) -> str | None:
    quantity = variant.get("inventory_quantity")
    if not isinstance(quantity, int):
        return None  # inventory not tracked: nothing to claim either way
    if quantity > 0:
        return "in stock"
    if variant.get("inventory_policy") == "continue":
        return "out of stock but can still be ordered"
    return "out of stock"


def policy_document(policy_type: str, policy: dict[str, Any]) -> Document:
    """A policy, split into passages at paragraph boundaries, each headed by its title."""
    title = str(policy.get("title") or policy_type.replace("_", " ").title())
    body = plain_text(str(policy.get("body") or ""))
    source_id = f"policy:{policy_type}"
    keywords = _keywords([policy_type.replace("_", " ").lower()])
    chunks = split_passages(body) or [""]
    return Document(
        source_id=source_id,
        kind="policy",
        title=title,
        body=body,
        data=policy,
        content_hash=content_hash(policy),
        passages=tuple(
            PassageText(title=title, text=f"{title}\n\n{chunk}".strip(), keywords=keywords)
            for chunk in chunks
        ),
    )


def faq_document(key: str, faq: dict[str, Any]) -> Document:
    """An FAQ entry: one passage, the question followed by its answer."""
    question = plain_text(str(faq.get("question") or ""))
    body = f"{question}\n\n{plain_text(str(faq.get('answer') or ''))}".strip()
    return Document(
        source_id=f"faq:{key}",
        kind="faq",
        title=question,
        body=body,
        data=faq,
        content_hash=content_hash(faq),
        passages=(
            PassageText(title=question, text=body, keywords=_keywords([key.replace("-", " ")])),
        ),
    )
