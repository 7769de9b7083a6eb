"""taskra_email.parse_message against the shared real-world fixtures, hostile input and
auto-reply detection.

Visible replies are compared after whitespace normalization (:func:`normalize`): line
endings unified, each line stripped at both ends, runs of blank lines collapsed to one, and
the whole stripped. The source suites normalize the same way (their expected texts differ
from the raw bodies in trailing spaces), and indentation is not part of what a reply says.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from taskra_email import EmailLimits, ParsedEmail, extract_reply, parse_message

from taskra_core.errors import EmailRejected, EmailTooLarge, InvalidInput

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "emails"
T = TypeVar("T")


def fixtures_dir() -> Path:
    if not (FIXTURES / "mime").is_dir():
        pytest.fail(f"The shared email fixtures are missing: expected them at {FIXTURES}.")
    return FIXTURES


def normalize(text: str) -> str:
    lines: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = line.strip()
        if not line and lines and not lines[-1]:
            continue
        lines.append(line)
    return "\n".join(lines).strip()


def bounded(fn: Callable[[], T], seconds: float = 10.0) -> T:
    """Runs ``fn`` in a daemon thread and fails the test if it takes longer than
    ``seconds`` (a hang must not hang the suite); re-raises what ``fn`` raised."""
    result: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            result.append(fn())
        except BaseException as exc:
            error.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        pytest.fail(f"parsing took longer than {seconds} s")
    if error:
        raise error[0]
    return result[0]


def mime(headers: str, body: str = "Hello\n") -> bytes:
    return (headers.strip("\n").replace("\n", "\r\n") + "\r\n\r\n" + body).encode()


BASIC = "From: Ann <ann@example.com>\nTo: shop@example.com\nSubject: Hi\nMessage-ID: <a@x>"


# -- shared fixtures -------------------------------------------------------------------------


def reply_fixtures() -> list[tuple[str, str, str]]:
    pairs = []
    for path in sorted(fixtures_dir().glob("*.txt")):
        if path.name.endswith(".expected.txt"):
            continue
        expected = path.with_name(f"{path.stem}.expected.txt").read_text("utf-8")
        pairs.append((path.stem, path.read_bytes().decode("utf-8"), expected))
    return pairs


def test_visible_reply_pass_rate_on_shared_fixtures(capsys: pytest.CaptureFixture[str]) -> None:
    """Prints the share of shared fixtures whose visible reply matches the one their source
    suite expects, and holds it at 90% or more."""
    fixtures = reply_fixtures()
    assert fixtures, "no reply fixtures found"
    misses = [
        name
        for name, body, expected in fixtures
        if normalize(extract_reply(body)) != normalize(expected)
    ]
    passed = len(fixtures) - len(misses)
    rate = 100 * passed / len(fixtures)
    with capsys.disabled():
        print(f"\nemail fixtures: {passed}/{len(fixtures)} visible replies match ({rate:.0f}%)")
        if misses:
            print(f"email fixtures not matching: {', '.join(misses)}")
    assert rate >= 90, misses


def test_talon_standard_replies_parse_from_raw_mime() -> None:
    """The talon .eml originals give the same visible reply through the whole MIME path as
    their extracted text/plain part does through the reply stripper alone."""
    for eml in sorted(fixtures_dir().glob("*.eml")):
        parsed = parse_message(eml.read_bytes())
        plain = eml.with_suffix(".txt").read_text("utf-8")
        assert normalize(parsed.visible_text) == normalize(extract_reply(plain)), eml.name


def mime_fixtures() -> list[Path]:
    return sorted((fixtures_dir() / "mime").glob("*.eml"))


@pytest.mark.parametrize("eml", mime_fixtures(), ids=lambda p: p.stem)
def test_mime_fixture_headers_and_visible_text(eml: Path) -> None:
    """Each raw MIME fixture yields its expected sender, subject (RFC 2047 decoded),
    threading ids, attachments and the start of its visible reply."""
    expected = json.loads(eml.with_suffix(".expected.json").read_text("utf-8"))
    parsed = bounded(lambda: parse_message(eml.read_bytes()))
    for key in ("from_email", "from_name", "subject", "message_id", "in_reply_to"):
        assert getattr(parsed, key) == expected[key], key
    assert parsed.visible_text.startswith(expected["visible_text_startswith"])
    got = [
        {"filename": a.filename, "content_type": a.content_type, "size": a.size}
        for a in parsed.attachments
    ]
    assert got == expected.get("attachments", [])
    assert all(a.content is not None and len(a.content) == a.size for a in parsed.attachments)
    assert not parsed.is_auto_reply
    assert not parsed.is_bounce


def test_html_only_mail_is_converted_to_text_and_quotes_dropped() -> None:
    """An HTML-only reply gets a plain ``text`` and a visible reply without the Outlook
    header block and quoted history, and its HTML is kept sanitized."""
    parsed = parse_message(
        (fixtures_dir() / "mime" / "ff_03_html_only_outlook_web.eml").read_bytes()
    )
    assert parsed.text
    assert "<" not in parsed.visible_text
    assert "From:" in parsed.text
    assert "From:" not in parsed.visible_text
    assert parsed.html
    assert "<script" not in parsed.html


# -- decoding --------------------------------------------------------------------------------


def test_multipart_alternative_prefers_plain_and_keeps_sanitized_html() -> None:
    """multipart/alternative: ``text`` comes from text/plain, ``html`` from text/html with
    scripts, handlers and javascript: links removed."""
    body = (
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlain hi\r\n"
        "--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        '<p onclick="steal()">HTML hi</p><script>alert(1)</script>'
        '<a href="javascript:alert(2)">x</a><img src=x onerror=alert(3)>\r\n--b--\r\n'
    )
    parsed = parse_message(
        mime(BASIC + '\nContent-Type: multipart/alternative; boundary="b"', body)
    )
    assert parsed.text.strip() == "Plain hi"
    assert "HTML hi" in parsed.html
    for bad in ("<script", "alert(1)", "onclick", "javascript:", "onerror"):
        assert bad not in parsed.html


def test_script_laden_html_only_mail_yields_clean_text() -> None:
    """HTML-only mail full of scripts and styles becomes text without their content."""
    html = "<style>p{}</style><script>evil()</script>" * 2000 + "<p>Where is my order?</p>"
    parsed = bounded(lambda: parse_message(mime(BASIC + "\nContent-Type: text/html", html)))
    assert parsed.visible_text == "Where is my order?"
    assert "evil" not in parsed.html
    assert "evil" not in parsed.text


@pytest.mark.parametrize(
    ("charset", "payload", "expected"),
    [
        ("x-no-such-charset", "Grüße".encode(), "Grüße"),
        ("utf-8", "Grüße".encode("latin-1"), "Grüße"),
        ("zlib", b"plain words", "plain words"),
        ("iso-8859-1", "Grüße".encode("latin-1"), "Grüße"),
        ("", b"\xff\xfe broken", "ÿþ broken"),
    ],
)
def test_any_charset_decodes_without_failing(charset: str, payload: bytes, expected: str) -> None:
    """Unknown, wrong and non-text charsets fall back to UTF-8, then Windows-1252."""
    head = f"{BASIC}\nContent-Type: text/plain; charset={charset}\nContent-Transfer-Encoding: 8bit"
    raw = head.replace("\n", "\r\n").encode() + b"\r\n\r\n" + payload
    assert parse_message(raw).text.strip() == expected


def test_rfc2047_names_and_broken_headers_degrade_safely() -> None:
    """Encoded words decode; an encoded word with an unknown charset, a From without an
    address, a garbage Date and a missing Message-ID give best-effort values, not errors."""
    parsed = parse_message(
        mime("From: =?utf-8?B?Wm/Dqw==?= <ZOE@Example.com>\nSubject: =?x-bogus?Q?caf=E9?=\n")
    )
    assert (parsed.from_name, parsed.from_email) == ("Zoë", "zoe@example.com")
    assert "caf" in parsed.subject
    broken = parse_message(mime("From: just a name\nDate: yesterday-ish\nTo: <<>>,,@"))
    assert broken.message_id is None
    assert broken.date is None
    assert isinstance(parse_message(b""), ParsedEmail)
    assert parse_message(b"no headers at all, just words").message_id is None


def test_threading_ids_keep_brackets_and_order() -> None:
    """In-Reply-To and References come out as bracketed ids in order, for threading."""
    parsed = parse_message(
        mime(
            BASIC + "\nIn-Reply-To: <p2@x>\nReferences: <p1@x>\n <p2@x>"
            "\nDate: Mon, 3 Mar 2025 10:00:00 +0100"
        )
    )
    assert parsed.in_reply_to == "<p2@x>"
    assert parsed.references == ("<p1@x>", "<p2@x>")
    assert parsed.date is not None
    assert parsed.date.utcoffset() is not None


# -- hostile input ---------------------------------------------------------------------------


def test_oversized_message_is_refused_before_parsing() -> None:
    """Over ``max_message_bytes`` is :class:`EmailTooLarge` (an InvalidInput) at once."""
    with pytest.raises(EmailTooLarge):
        bounded(lambda: parse_message(b"x" * (30 * 1024 * 1024 + 1)), 5)
    assert issubclass(EmailTooLarge, InvalidInput)


@pytest.mark.parametrize(
    "raw",
    [
        mime(BASIC + "\nSubject: " + "a" * 300_000),
        b"X-Junk: " + b"b" * 400_000,  # no end of headers at all
        mime("\n".join(f"X-H{i}: v" for i in range(5000))),
    ],
    ids=["huge header", "unterminated header", "too many fields"],
)
def test_huge_headers_are_refused(raw: bytes) -> None:
    """Header blocks over the byte or field-count limit raise EmailRejected quickly."""
    with pytest.raises(EmailRejected):
        bounded(lambda: parse_message(raw), 5)


def nested(depth: int) -> bytes:
    head = ""
    tail = ""
    for level in range(depth):
        head += f'Content-Type: multipart/mixed; boundary="b{level}"\r\n\r\n--b{level}\r\n'
        tail = f"\r\n--b{level}--\r\n" + tail
    return (
        BASIC.replace("\n", "\r\n") + "\r\n" + head + "Content-Type: text/plain\r\n\r\nhi" + tail
    ).encode()


@pytest.mark.parametrize("depth", [30, 5000])
def test_deeply_nested_multiparts_are_refused(depth: int) -> None:
    """Nesting beyond ``max_depth`` raises EmailRejected; extreme nesting is refused by the
    pre-parse scan without recursion."""
    with pytest.raises(EmailRejected):
        bounded(lambda: parse_message(nested(depth)), 10)


def test_nesting_within_limits_parses() -> None:
    """Moderate nesting is fine and finds the body."""
    assert parse_message(nested(5)).text.strip() == "hi"


def test_too_many_parts_are_refused() -> None:
    """More MIME parts than ``max_parts`` raise EmailRejected."""
    parts = "".join("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(500))
    raw = mime(BASIC + '\nContent-Type: multipart/mixed; boundary="b"', parts + "--b--\r\n")
    with pytest.raises(EmailRejected):
        bounded(lambda: parse_message(raw), 10)


def attachment_mail(name: str, data: bytes, kind: str = "application/zip") -> bytes:
    import base64

    encoded = base64.encodebytes(data).decode()
    body = (
        "--b\r\nContent-Type: text/plain\r\n\r\nSee attached\r\n--b\r\n"
        f'Content-Type: {kind}\r\nContent-Disposition: attachment; filename="{name}"\r\n'
        f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n--b--\r\n"
    )
    return mime(BASIC + '\nContent-Type: multipart/mixed; boundary="b"', body)


def test_zip_bomb_attachment_is_recorded_not_expanded() -> None:
    """A highly compressed archive is kept at its compressed size and never inflated."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.bin", b"\0" * (50 * 1024 * 1024))
    bomb = buffer.getvalue()
    parsed = bounded(lambda: parse_message(attachment_mail("../../bomb.zip", bomb)))
    (attachment,) = parsed.attachments
    assert attachment.filename == "bomb.zip"  # path parts dropped
    assert attachment.size == len(bomb) < 1024 * 1024
    assert parsed.visible_text == "See attached"


def test_attachment_over_limit_keeps_metadata_only() -> None:
    """An attachment over ``max_attachment_bytes`` is listed with its size, content dropped
    without decoding it."""
    limits = EmailLimits(max_attachment_bytes=1000)
    parsed = parse_message(
        attachment_mail("big.bin", b"\x01" * 5000, "application/octet-stream"), limits
    )
    (attachment,) = parsed.attachments
    assert (attachment.size, attachment.content) == (5000, None)
    assert "big.bin" in repr(attachment)
    assert "\\x01" not in repr(attachment)


@pytest.mark.parametrize(
    "body",
    [
        "On " + "a " * 100_000,
        "\n" * 200_000,
        ("From: x\nSent: y\n" * 20_000),
        "> " * 100_000 + "\nreply",
        ("Best regards\nOn a wrote:\n> x\n" * 10_000),
    ],
    ids=["long On line", "blank lines", "header lines", "long quote", "mixed"],
)
def test_reply_stripping_is_bounded_on_pathological_text(body: str) -> None:
    """Shapes that make the reply patterns super-linear still finish quickly."""
    bounded(lambda: extract_reply(body), 10)
    bounded(lambda: parse_message(mime(BASIC, body)), 10)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_crash(raw: bytes) -> None:
    """Any bytes give a ParsedEmail or EmailRejected, never another exception."""
    with contextlib.suppress(EmailRejected):
        parse_message(raw)


def test_non_bytes_input_is_rejected() -> None:
    """A str instead of raw bytes is an EmailRejected, not a TypeError later on."""
    with pytest.raises(EmailRejected):
        parse_message("From: a@b\n\nhi")  # type: ignore[arg-type]


# -- automatic mail --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "bounce"),
    [
        ("Auto-Submitted: auto-replied", False),
        ("X-Autoreply: yes", False),
        ("X-Autorespond: Out of office", False),
        ("Precedence: bulk", False),
        ("Precedence: auto_reply", False),
        ("Return-Path: <>", True),
        ("Return-Path: <MAILER-DAEMON@mx.example.com>", True),
        ("X-Failed-Recipients: gone@example.com", True),
    ],
)
def test_auto_replies_and_bounces_are_recognized(extra: str, bounce: bool) -> None:
    """Each auto-reply or bounce signal marks the message as not to be answered."""
    parsed = parse_message(mime(BASIC + "\n" + extra))
    assert parsed.is_auto_reply
    assert parsed.auto_reply_reason
    assert parsed.is_bounce is bounce


def test_delivery_status_report_is_a_bounce() -> None:
    """A multipart/report with a message/delivery-status part is a bounce, whoever sent it."""
    body = (
        "--r\r\nContent-Type: text/plain\r\n\r\nDelivery failed\r\n"
        "--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        "Final-Recipient: rfc822; gone@example.com\r\nAction: failed\r\n--r--\r\n"
    )
    head = BASIC + '\nContent-Type: multipart/report; report-type=delivery-status; boundary="r"'
    parsed = parse_message(mime(head, body))
    assert parsed.is_bounce
    assert parsed.is_auto_reply


def test_person_sent_mail_is_not_automatic() -> None:
    """``Auto-Submitted: no`` and ordinary mail are answerable."""
    for raw in (mime(BASIC + "\nAuto-Submitted: no"), mime(BASIC)):
        parsed = parse_message(raw)
        assert not parsed.is_auto_reply
        assert not parsed.is_bounce
    assert parse_message(mime(BASIC + "\nAuto-Submitted: no")).auto_submitted == "no"
