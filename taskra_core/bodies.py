"""Reading a request body from outside without letting its size be the sender's choice.

Every endpoint that takes a body from the internet (Shopify, Stripe and Resend webhooks, raw
email, the storefront chat) reads it through :func:`read_bounded`: refused as soon as it is
known to be too large, from the declared ``Content-Length`` or while streaming (a chunked body
declares nothing). It takes any async stream of bytes, so the core stays framework-free.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable

from taskra_core.errors import TaskraError, WebhookMalformed


async def read_bounded(
    chunks: AsyncIterable[bytes],
    limit: int,
    too_large: Callable[[str], TaskraError],
    declared: str | None = None,
) -> bytes:
    """The whole body, or ``too_large(message)`` raised once it is over ``limit`` bytes;
    :class:`WebhookMalformed` when ``declared`` (the Content-Length) is not a number."""
    message = f"The body is larger than the {limit}-byte limit."
    if declared:
        declared = declared.strip()
        # isdigit() alone accepts digits int() refuses, such as a superscript one.
        if not (declared.isascii() and declared.isdigit()):
            raise WebhookMalformed("The Content-Length header is not a number.")
        if int(declared) > limit:
            raise too_large(message)
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise too_large(message)
        parts.append(chunk)
    return b"".join(parts)
