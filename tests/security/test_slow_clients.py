"""Slow clients against a real ``taskra serve``: connections that send half a request and
stall (slowloris), or trickle a webhook body, do not stop the server from answering others,
and a trickled body larger than the limit is still refused with 413."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.shopify import CLIENT_ID, CLIENT_SECRET
from tests.reliability.processes import Server

STALLED = 100


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    process = Server(
        {
            "TASKRA_DATABASE_URL": database_url,
            "TASKRA_LOG_LEVEL": "WARNING",
            "SHOPIFY_API_KEY": CLIENT_ID,
            "SHOPIFY_API_SECRET": CLIENT_SECRET,
            "TASKRA_WEBHOOK_MAX_BYTES": "4096",
        },
        tmp_path / "serve.log",
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


def _stalled(port: int, partial: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(partial)
    return sock


def test_stalled_connections_do_not_stop_others_being_served(server: Server) -> None:
    """100 connections that sent half their headers or half a declared body, and stopped:
    the server still answers a normal request, and a signed-looking webhook gets its 401."""
    sockets = []
    try:
        for n in range(STALLED):
            partial = (
                b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "
                if n % 2
                else b"POST /webhooks/shopify HTTP/1.1\r\nHost: x\r\nContent-Length: 4000\r\n"
                b'Content-Type: application/json\r\n\r\n{"id": '
            )
            sockets.append(_stalled(server.port, partial))
        with httpx.Client(base_url=server.url, timeout=20) as client:
            assert client.get("/readyz").status_code == 200
            refused = client.post(
                "/webhooks/shopify",
                content=b"{}",
                headers={
                    "X-Shopify-Topic": "app/uninstalled",
                    "X-Shopify-Shop-Domain": "x.myshopify.com",
                    "X-Shopify-Webhook-Id": "w1",
                    "X-Shopify-Hmac-Sha256": "bm90IGEgc2lnbmF0dXJl",
                },
            )
            assert refused.status_code == 401
    finally:
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()


def test_a_trickled_body_over_the_limit_is_413(server: Server) -> None:
    """A chunked webhook body (no Content-Length) sent in small pieces is counted as it
    arrives and refused with 413 once it passes TASKRA_WEBHOOK_MAX_BYTES (4 KiB here)."""

    def trickle() -> Iterator[bytes]:
        for _ in range(100):
            yield b"x" * 100

    with httpx.Client(base_url=server.url, timeout=20) as client:
        response = client.post(
            "/webhooks/shopify",
            content=trickle(),
            headers={
                "X-Shopify-Topic": "app/uninstalled",
                "X-Shopify-Shop-Domain": "x.myshopify.com",
                "X-Shopify-Webhook-Id": "w2",
                "X-Shopify-Hmac-Sha256": "bm90IGEgc2lnbmF0dXJl",
            },
        )
    assert response.status_code == 413
