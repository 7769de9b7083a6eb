"""The new reply of a plain-text email: quoted history, reply headers and signatures removed.

The splitting is mail-parser-reply's (maintained, MIT, no dependencies): it knows the
"On ... wrote:" and "From:/Sent:" header variants of many languages and clients, the
"-----Original Message-----" separator, "Sent from my ..." lines and common sign-offs.
On top of it sit a few rules where the shared fixtures showed gaps:

- forwarded messages ("---------- Forwarded message ----------", "Begin forwarded
  message:") are kept whole: the forwarded mail is what the customer is asking about (a
  courier notice, an order confirmation), not history;
- text written below a fully quoted block (bottom posting) is part of the reply;
- a line of only dashes or underscores starts a signature or list footer, as a "-- " line
  does; a "-Name" sign-off on the last line is removed too;
- bullet lines starting "- " are text, not a signature.

The library's regular expressions are super-linear on some shapes (long lines, long runs of
blank lines), so its input is bounded first: blank runs are collapsed, lines longer than
``_LONG_LINE`` are swapped for placeholders and restored afterwards, and only the first
``max_chars`` characters are examined.
"""

from __future__ import annotations

import re

from mailparser_reply.constants import MAIL_LANGUAGES
from mailparser_reply.parser import EmailMessage

# Every language the library ships, except entries that describe one vendor's software.
_LANGUAGES: tuple[str, ...] = tuple(lang for lang in MAIL_LANGUAGES if len(lang) == 2)
_LONG_LINE = 400
_PLACEHOLDER = "\ue000{}\ue001"
_PLACEHOLDER_RE = re.compile("\ue000(\\d+)\ue001")
_FORWARD_MARKER = re.compile(
    r"^\s*(?:-{2,}\s*(?:Forwarded message|Original message follows|Weitergeleitete Nachricht"
    r"|Message transf[ée]r[ée]|Mensaje reenviado|Messaggio inoltrato|Doorgestuurd bericht"
    r"|Videresendt meddelelse|Vidarebefordrat meddelande|Wiadomo\u015b\u0107 przekazana)"
    r"\s*-*|Begin forwarded message:|D\u00e9but du message r\u00e9exp\u00e9di\u00e9\s?:)\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_SEPARATOR_LINE = re.compile(r"^[ \t]*[-_=*~]{3,}[ \t]*$")
_DASH_SIGNOFF = re.compile(r"^-[^\W\d_][\w.' ]{0,40}$")  # "-Abhishek", not "- a bullet"
_SIGNATURE_START = re.compile(r"^(?:-{2,}|_{2,})$")


def _bounded(text: str, max_chars: int) -> tuple[str, list[str]]:
    """Text the library can scan in bounded time, plus the long lines it stands in for."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if len(text) > max_chars:
        cut = text.rfind("\n", 0, max_chars)
        text = text[: cut if cut > 0 else max_chars]
    long_lines: list[str] = []
    lines: list[str] = []
    blank_run = 0
    for line in text.split("\n"):
        line = line.rstrip()
        if not line:
            blank_run += 1
            if blank_run > 2:
                continue  # runs of blank lines make the signature pattern quadratic
        else:
            blank_run = 0
        if len(line) > _LONG_LINE:
            long_lines.append(line)
            line = _PLACEHOLDER.format(len(long_lines) - 1)
        lines.append(line)
    return "\n".join(lines), long_lines


def _restore(text: str, long_lines: list[str]) -> str:
    return _PLACEHOLDER_RE.sub(lambda m: long_lines[int(m.group(1))], text)


def _message(text: str) -> EmailMessage:
    return EmailMessage(text=text, languages=list(_LANGUAGES), keep_hyphen_lists=True)


def _cut_at_signature(text: str) -> str:
    """Text above the first signature delimiter: a "-- " line, or a rule of dashes or
    underscores that mailing lists and Outlook put above footers and header blocks."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if i > 0 and _SIGNATURE_START.match(line.strip()):
            return "\n".join(lines[:i])
    return text


def _tidy(text: str) -> str:
    """Drops trailing separator lines and a trailing "-Name" sign-off."""
    lines = text.split("\n")
    while lines and (not lines[-1].strip() or _SEPARATOR_LINE.match(lines[-1])):
        lines.pop()
    if len(lines) > 1 and _DASH_SIGNOFF.match(lines[-1].strip()):
        lines.pop()
        while lines and (not lines[-1].strip() or _SEPARATOR_LINE.match(lines[-1])):
            lines.pop()
    return "\n".join(lines).strip()


def _bottom_posted(quoted_part: str) -> str:
    """Unquoted text written below a quoted block: ``quoted_part`` is what follows a reply
    header; when it is quoted lines followed by new lines, those new lines (up to a signature
    delimiter or another quote) were written by the sender."""
    lines = quoted_part.split("\n")
    i = 0
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i == len(lines) or not lines[i].startswith(">"):
        return ""
    while i < len(lines) and (lines[i].startswith(">") or not lines[i].strip()):
        i += 1
    kept: list[str] = []
    for line in lines[i:]:
        if _SIGNATURE_START.match(line.strip()) or line.startswith(">"):
            break
        kept.append(line)
    return "\n".join(kept).strip()


def extract_reply(text: str, *, max_chars: int = 48 * 1024) -> str:
    """The new text of a reply: the part above the first quoted block or reply header, with
    the signature removed. Returns the (bounded) whole text when nothing can be told apart,
    so a message is never reduced to nothing."""
    bounded, long_lines = _bounded(text, max_chars)
    if not bounded.strip():
        return ""
    message = _message(bounded)
    if _is_forward(message):
        return _restore(_tidy(message.text.strip("\n")), long_lines)
    # Cut before the library runs: it deletes long rules of underscores while normalizing,
    # which would hide where a list footer or an Outlook header block begins.
    bounded = _cut_at_signature(bounded)
    replies = _message(bounded).read().replies
    if not replies:
        return _restore(_tidy(bounded), long_lines)
    visible = _tidy(replies[0].body)
    if len(replies) > 1:
        below = _bottom_posted(replies[1].content.replace(replies[1].headers or "", "", 1))
        if below:
            visible = f"{visible}\n\n{below}" if visible else below
    if not visible:
        visible = _tidy(bounded)
    return _restore(visible, long_lines)


def _is_forward(message: EmailMessage) -> bool:
    """True when a forward marker comes before any quoted line or reply header: the message
    hands over another mail rather than answering one."""
    forward = _FORWARD_MARKER.search(message.text)
    if forward is None:
        return False
    quote = re.search(r"^>", message.text, re.MULTILINE)
    header = message.HEADER_REGEX.search(message.text)
    return all(m is None or forward.start() <= m.start() for m in (quote, header))
