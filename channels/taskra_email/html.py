"""HTML bodies: sanitizing for display, and plain text for HTML-only mail.

Sanitizing is nh3's (the Rust ammonia sanitizer): an allow-list of tags and attributes, with
``script`` and ``style`` dropped together with their content. Conversion to text uses the
stdlib tokenizer, which streams tags without building a tree, so deeply nested or unclosed
markup costs linear time and no recursion.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3

# Tags that end a line of text; everything else is inline.
_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "fieldset",
        "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
        "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tr", "ul",
    }
)  # fmt: skip
# Their content is never text a person reads.
_SKIPPED_TAGS = frozenset({"script", "style", "head", "title", "template", "noscript", "svg"})
_VOID_TAGS = frozenset({"br", "hr", "img", "meta", "link", "input", "wbr", "col", "area", "base"})
_SPACES = re.compile(r"[ \t\f\v\u00a0\u200b]+")


def sanitize_html(html: str) -> str:
    """The HTML with scripts, event handlers, forms and unsafe URLs removed."""
    return nh3.clean(html)


class _TextExtractor(HTMLParser):
    """Collects text, one line per block; lines inside ``blockquote`` get "> " prefixes so the
    reply stripper sees quoted history as quoted, as it would in a plain-text part."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._current: list[str] = []
        self._skip_depth = 0
        self._quote_depth = 0
        self._pre_depth = 0

    def _break(self) -> None:
        text = "".join(self._current)
        if self._pre_depth == 0:
            text = _SPACES.sub(" ", text.replace("\n", " ")).strip()
        prefix = "> " * self._quote_depth
        for line in text.split("\n"):
            self.lines.append(prefix + line if line else prefix.rstrip())
        self._current = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skip_depth += 1
        elif tag == "br":
            self._break()
        elif tag in _BLOCK_TAGS:
            if self._current:
                self._break()
            if tag == "blockquote":
                self._quote_depth += 1
            elif tag == "pre":
                self._pre_depth += 1
        elif tag in {"td", "th"}:
            self._current.append(" ")  # cells of one row stay on one line, apart

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _BLOCK_TAGS:
            self._break()
            if tag == "blockquote":
                self._quote_depth = max(0, self._quote_depth - 1)
            elif tag == "pre":
                self._pre_depth = max(0, self._pre_depth - 1)
            elif tag == "p":
                self.lines.append("")  # paragraphs are separated by a blank line

    def handle_data(self, data: str) -> None:
        if self._skip_depth == 0:
            self._current.append(data)

    def text(self) -> str:
        if self._current:
            self._break()
        # Collapse the blank lines that nested blocks produce.
        out: list[str] = []
        for line in self.lines:
            if not line.strip(" >") and out and not out[-1].strip(" >"):
                continue
            out.append(line)
        return "\n".join(out).strip("\n")


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML body: blocks become lines, scripts and styles vanish,
    entities are decoded and quoted blocks are marked with "> "."""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    return extractor.text()
