"""Rule-based escalation guardrails: decide, before any AI reply is sent, whether a human
must take over.

The checks are deliberately plain regexes over normalized text: deterministic, explainable
(every reason names the phrase that triggered it), and cheap enough to run on every message
before a model is called. They err towards escalating; a needless handover costs a minute of
a person's time, a missed legal threat or injury costs far more.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from taskra_core.drafting import guardrail_phrases as P

__all__ = [
    "EscalationReason",
    "GuardrailContext",
    "check_message",
    "is_privacy_request",
    "normalize",
]


@dataclass(frozen=True)
class EscalationReason:
    """Why a message must go to a human: a stable ``code`` and a human-readable ``detail``."""

    code: str
    detail: str

    def __str__(self) -> str:
        """``code: detail``, without repeating the code when the detail starts with its label
        (``anger: 'third time'``, not ``anger: anger: 'third time'``)."""
        label = f"{self.code.replace('_', ' ')}: "
        detail = self.detail[len(label) :] if self.detail.startswith(label) else self.detail
        return f"{self.code}: {detail}"


@dataclass(frozen=True)
class GuardrailContext:
    """What the caller knows about the message beyond its text.

    ``sender_owns_order`` is None when no order is referenced or ownership is unknown.
    ``order_total`` is the referenced order's total in store currency, if known: a refund
    request on an order worth more than the threshold escalates even with no amount written.
    """

    refund_threshold: Decimal | float = 300
    currency: str = "GBP"
    sender_owns_order: bool | None = None
    budget_exhausted: bool = False
    ai_objected: bool = False
    order_total: Decimal | float | None = None


def _compile(fragment: str) -> re.Pattern[str]:
    # Lookarounds rather than \b so fragments may start or end with symbols ("£", "#1234")
    # and "fire" still never matches inside "fireproof".
    return re.compile(rf"(?<!\w)(?:{fragment})(?!\w)", re.MULTILINE)


# One alternation per category: a single scan of the text per category keeps a message well
# under a millisecond, where one pattern per phrase would scan it a hundred times.
_CATEGORY_PATTERNS: tuple[tuple[str, tuple[re.Pattern[str], ...]], ...] = tuple(
    (code, (_compile("|".join(f"(?:{f})" for f in fragments)),))
    for code, fragments in P.PHRASES.items()
)
_TAKEOVER = (_compile("|".join(f"(?:{f})" for f in P.TAKEOVER)),)
_EXISTING_ORDER = _compile(P.EXISTING_ORDER)
_OWNER_ACTIONS = _compile(P.OWNER_ACTIONS)
_ON_BEHALF = _compile(P.ON_BEHALF)
_REFUND_INTENT = _compile(P.REFUND_INTENT)
_NEGATION = _compile(P.NEGATION)
_CLAUSE_BREAK = re.compile(P.CLAUSE_BREAK)

_NUMBER = r"\d{1,3}(?:[,.' ]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_MONEY = re.compile(
    rf"(?<![\w.,])(?:(?:{P.CURRENCY_BEFORE}) ?(?P<a>{_NUMBER})|"
    rf"(?P<b>{_NUMBER}) ?(?:{P.CURRENCY_AFTER}))(?![\w])"
)

# Reply clients introduce the quoted history with a line like these; everything after is
# the customer's earlier message or ours, and must not trigger a fresh escalation.
_HISTORY_MARKER = re.compile(
    r"^\s*(?:on .{0,120} wrote:|el .{0,120} escribio:|le .{0,120} a ecrit ?:|"
    r"-{2,} ?original message ?-{2,}|-{2,} ?(?:mensaje original|message d'origine) ?-{2,})\s*$",
    re.MULTILINE,
)
# All-caps words that are not shouting: sizes, currencies, carriers, common abbreviations.
_CAPS_ALLOWED = frozenset(
    {"UK", "USA", "EU", "GBP", "USD", "EUR", "DPD", "UPS", "DHL", "RRP", "VAT", "FAQ", "SKU"}
    | {"XL", "XXL", "XS", "GPS", "USB", "LED", "PDF", "ASAP", "OK", "DOFE", "GTX", "PFC", "SPF"}
    | {"IPX", "FYI", "FWD", "BBC", "NHS", "DIY"}
)
_CAPS_WORD = re.compile(r"\b[A-Z][A-Z']{2,}\b")
_WORD = re.compile(r"\b[^\W\d_]{2,}\b")
_NEGATION_WINDOW_WORDS = 3
# Curly quotes and a bare acute accent typed as an apostrophe, so a curly "don't" matches "don'?t".
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u00b4": "'", "\u201c": '"', "\u201d": '"'})


def normalize(text: str) -> str:
    """Lower-case, strip accents and quoted history, straighten quotes, collapse spaces.

    Newlines survive (collapsed to one) so patterns anchored at a line start still work.
    """
    lines = [line for line in text.splitlines() if not line.lstrip().startswith(">")]
    joined = "\n".join(lines).translate(_QUOTES).lower()
    folded = "".join(
        ch for ch in unicodedata.normalize("NFKD", joined) if not unicodedata.combining(ch)
    )
    marker = _HISTORY_MARKER.search(folded)
    if marker is not None:
        folded = folded[: marker.start()]
    folded = re.sub(r"[ \t\r\f\v\u00a0]+", " ", folded)
    return re.sub(r" ?\n[\s]*", "\n", folded).strip()


def _negated(text: str, start: int) -> bool:
    """True when a negation word sits within a few words before ``start``, same clause."""
    before = text[max(0, start - 60) : start]
    breaks = list(_CLAUSE_BREAK.finditer(before))
    if breaks:
        before = before[breaks[-1].end() :]
    window = " ".join(before.split()[-_NEGATION_WINDOW_WORDS:])
    return _NEGATION.search(window) is not None


def _first_match(
    text: str, patterns: Iterable[re.Pattern[str]], negatable: bool
) -> re.Match[str] | None:
    for pattern in patterns:
        for m in pattern.finditer(text):
            if not (negatable and _negated(text, m.start())):
                return m
    return None


def _parse_amount(raw: str) -> Decimal | None:
    """Read "1,250.50", "1.250,50", "1 250" or "350" as a Decimal."""
    s = raw.replace(" ", "").replace("'", "")
    if "," in s and "." in s:
        decimal_sep = "," if s.rfind(",") > s.rfind(".") else "."
        thousands = "." if decimal_sep == "," else ","
        s = s.replace(thousands, "").replace(decimal_sep, ".")
    elif "," in s or "." in s:
        sep = "," if "," in s else "."
        head, _, tail = s.rpartition(sep)
        # Exactly three digits after a single separator means thousands ("1,200", "1.200").
        s = s.replace(sep, "") if len(tail) == 3 else f"{head.replace(sep, '')}.{tail}"
    try:
        return Decimal(s)
    except InvalidOperation:
        return None


def _amounts(text: str) -> Iterator[tuple[Decimal, str]]:
    for m in _MONEY.finditer(text):
        value = _parse_amount(m.group("a") or m.group("b"))
        if value is not None:
            yield value, m.group(0)


def _wants_refund(text: str) -> re.Match[str] | None:
    return _first_match(text, (_REFUND_INTENT,), negatable=True)


def _shouting(original: str) -> str | None:
    """Name the shouted words when most of a message of some length is in capitals."""
    words = _WORD.findall(original)
    caps = [w for w in _CAPS_WORD.findall(original) if w.replace("'", "") not in _CAPS_ALLOWED]
    # Two shouted words ("STILL", "THIRD EMAIL") are emphasis, not rage; need a run of them.
    if len(caps) >= 6 and len(caps) >= 0.5 * len(words):
        return " ".join(caps[:4])
    return None


def _refund_reason(text: str, ctx: GuardrailContext) -> EscalationReason | None:
    intent = _wants_refund(text)
    if intent is None:
        return None
    threshold = Decimal(str(ctx.refund_threshold))
    over = [(v, raw) for v, raw in _amounts(text) if v > threshold]
    if over:
        _, raw = max(over)
        return EscalationReason(
            "refund_over_threshold",
            f"refund requested ('{intent.group(0)}') mentioning {raw.strip()}, above the "
            f"{threshold} {ctx.currency} threshold",
        )
    if ctx.order_total is not None and Decimal(str(ctx.order_total)) > threshold:
        return EscalationReason(
            "refund_over_threshold",
            f"refund requested ('{intent.group(0)}') on an order of {ctx.order_total} "
            f"{ctx.currency}, above the {threshold} {ctx.currency} threshold",
        )
    return None


def _identity_reason(text: str, ctx: GuardrailContext) -> EscalationReason | None:
    if ctx.sender_owns_order is True:
        return None
    takeover = _first_match(text, _TAKEOVER, negatable=False)
    if takeover is not None and (
        ctx.sender_owns_order is False or _EXISTING_ORDER.search(text) is not None
    ):
        return EscalationReason(
            "identity_mismatch",
            f"asks '{takeover.group(0)}' without a verified owner of the order or account",
        )
    # Someone writing for a relative or friend about an existing order is a likely mismatch
    # even when the caller could not resolve the order.
    proxy = ctx.sender_owns_order is None and (
        _ON_BEHALF.search(text) is not None and _EXISTING_ORDER.search(text) is not None
    )
    if ctx.sender_owns_order is False or proxy:
        action = _OWNER_ACTIONS.search(text)
        if action is not None:
            who = "is not" if ctx.sender_owns_order is False else "writes for"
            return EscalationReason(
                "identity_mismatch",
                f"sender {who} the order's customer and asks about '{action.group(0)}'",
            )
    return None


def check_message(
    text: str, subject: str = "", context: GuardrailContext | None = None
) -> list[EscalationReason]:
    """Every reason this message must go to a human; an empty list means the AI may reply.

    At most one reason per code, in a fixed order, so results are stable and comparable.
    """
    ctx = context or GuardrailContext()
    original = f"{subject}\n{text}" if subject else text
    body = normalize(original)
    reasons: list[EscalationReason] = []

    for code, patterns in _CATEGORY_PATTERNS:
        m = _first_match(body, patterns, negatable=code in P.NEGATABLE)
        if m is not None:
            label = code.replace("_", " ")
            reasons.append(EscalationReason(code, f"{label}: '{m.group(0).strip()}'"))

    if not any(r.code == "anger" for r in reasons):
        unquoted = "\n".join(
            line for line in original.splitlines() if not line.lstrip().startswith(">")
        )
        shouted = _shouting(unquoted)
        if shouted is not None:
            reasons.append(EscalationReason("anger", f"message written in capitals: '{shouted}'"))

    for extra in (_refund_reason(body, ctx), _identity_reason(body, ctx)):
        if extra is not None:
            reasons.append(extra)
    if ctx.budget_exhausted:
        reasons.append(EscalationReason("budget_exhausted", "the store's AI budget is used up"))
    if ctx.ai_objected:
        reasons.append(EscalationReason("ai_objection", "the customer objected to AI processing"))
    return reasons


def is_privacy_request(reasons: Iterable[EscalationReason]) -> bool:
    """True when the reasons include a data-protection request (these have legal deadlines)."""
    return any(r.code == "privacy_request" for r in reasons)
