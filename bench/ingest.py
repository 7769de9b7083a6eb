"""Webhook ingest: signed Shopify deliveries against ``taskra serve``, beside a bare endpoint.

    python bench/ingest.py                       # 10 s per server, 64 connections, SQLite
    python bench/ingest.py --seconds 10 --connections 32

Both servers run in their own process on 127.0.0.1 and are served the same way (the same
``run_app``: uvicorn, its default loop and HTTP parser, access log off):

- **taskra**: ``taskra serve`` (one process, SQLite, in-process job worker): verify, store
  the receipt and its job (group commit), answer 200; the worker runs the jobs meanwhile.
- **baseline**: a bare Starlette endpoint that reads the body, checks the HMAC and
  answers 200, nothing else.

The load is the same for both: keep-alive connections, each posting unique deliveries
(``app/scopes_update`` for an unknown shop, so every delivery is stored with a job) signed
as Shopify signs them, prepared before the clock starts. Prints requests/s and p50/p99
latency of each, and the ratio. Budget (DESIGN section 11): ratio >= 0.6, p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _results import record  # noqa: E402

SECRET = "bench-client-secret-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"
SHOP = "bench.myshopify.com"
TOPIC = "app/scopes_update"


# --- the baseline server ---------------------------------------------------------------------


def serve_baseline(port: int) -> None:
    """A bare Starlette app that only checks the HMAC, served by Taskra's own ``run_app``."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from taskra_shopify.serve import run_app

    key = SECRET.encode()

    async def webhook(request: Request) -> Response:
        body = await request.body()
        expected = base64.b64encode(hmac.new(key, body, hashlib.sha256).digest())
        given = request.headers.get("x-shopify-hmac-sha256", "").encode()
        return Response(status_code=200 if hmac.compare_digest(expected, given) else 401)

    run_app(
        Starlette(routes=[Route("/webhooks/shopify", webhook, methods=["POST"])]), "127.0.0.1", port
    )


# --- the load --------------------------------------------------------------------------------


def request_bytes(port: int) -> bytes:
    body = json.dumps(
        {"id": 1, "previous": ["read_products"], "current": ["read_products", "read_orders"]}
    ).encode()
    signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest())
    head = (
        f"POST /webhooks/shopify HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Shopify-Hmac-Sha256: {signature.decode()}\r\n"
        f"X-Shopify-Topic: {TOPIC}\r\nX-Shopify-Shop-Domain: {SHOP}\r\n"
        f"X-Shopify-Webhook-Id: {uuid.uuid4()}\r\nX-Shopify-Event-Id: {uuid.uuid4()}\r\n"
        "X-Shopify-API-Version: 2026-10\r\n"
        "X-Shopify-Triggered-At: 2026-11-30T12:00:00.000000Z\r\n\r\n"
    )
    return head.encode() + body


async def one_connection(
    port: int, requests: list[bytes], deadline: float, latencies: list[float], errors: list[int]
) -> None:
    # A minimal HTTP/1.1 keep-alive client: httpx would spend more CPU than the servers, on
    # the same two cores, and measure itself.
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for raw in requests:
            if time.perf_counter() >= deadline:
                break
            started = time.perf_counter()
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if not head.startswith(b"HTTP/1.1 200"):
                errors.append(int(head[9:12]))
    finally:
        writer.close()


async def load(
    port: int, seconds: float, connections: int, per_connection: int
) -> dict[str, float]:
    batches = [[request_bytes(port) for _ in range(per_connection)] for _ in range(connections)]
    latencies: list[float] = []
    errors: list[int] = []
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(one_connection(port, b, deadline, latencies, errors) for b in batches))
    elapsed = time.perf_counter() - started
    latencies.sort()
    n = len(latencies)
    return {
        "requests": n,
        "rps": n / elapsed,
        "p50": latencies[n // 2] * 1000,
        "p99": latencies[min(n - 1, int(n * 0.99))] * 1000,
        "errors": len(errors),
    }


# --- orchestration ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(port: int, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server on port {port} did not start")


def start(cmd: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(port)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def run(
    label: str, cmd: list[str], env: dict[str, str], port: int, args: argparse.Namespace
) -> dict[str, float]:
    proc = start(cmd, env, port)
    try:
        asyncio.run(load(port, 2.0, args.connections, 200))  # warm-up
        return asyncio.run(load(port, args.seconds, args.connections, args.per_connection))
    finally:
        stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--per-connection", type=int, default=2500)
    parser.add_argument(
        "--no-worker",
        action="store_true",
        help="serve without the in-process job worker (measures the write path alone)",
    )
    parser.add_argument("--serve-baseline", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        serve_baseline(args.serve_baseline)
        return

    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ)
        env.update(
            {
                "TASKRA_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/ingest.db",
                "TASKRA_SECRET_KEY": base64.b64encode(os.urandom(32)).decode(),
                "SHOPIFY_API_KEY": "bench-client-id",
                "SHOPIFY_API_SECRET": SECRET,
                "TASKRA_LOG_LEVEL": "WARNING",
            }
        )
        taskra_port, bare_port = free_port(), free_port()
        taskra_cmd = [sys.executable, "-m", "taskra_core", "serve", "--port", str(taskra_port)]
        if args.no_worker:
            taskra_cmd.append("--no-worker")
        bare_cmd = [sys.executable, __file__, "--serve-baseline", str(bare_port)]
        bare = run("baseline", bare_cmd, env, bare_port, args)
        taskra = run("taskra", taskra_cmd, env, taskra_port, args)

    print(f"\nwebhook ingest, {args.connections} connections, {args.seconds:.0f} s each, SQLite")
    print(f"{'server':<28}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for name, r in (("bare HMAC endpoint", bare), ("taskra serve", taskra)):
        print(f"{name:<28}{r['rps']:>10.0f}{r['p50']:>9.2f}{r['p99']:>9.2f}{r['errors']:>8.0f}")
    ratio = taskra["rps"] / bare["rps"]
    ok = ratio >= 0.6 and taskra["p99"] < 50
    mode = "no in-process worker" if args.no_worker else "in-process worker running"
    record(
        "ingest",
        f"webhook ingest throughput, SQLite ({mode})",
        taskra["rps"],
        "req/s",
        budget=">= 0.60 x the bare HMAC endpoint",
        met=ratio >= 0.6,
        baseline=bare["rps"],
        baseline_label="bare Starlette endpoint that checks the HMAC, req/s",
    )
    record(
        "ingest",
        f"webhook ingest p99, SQLite ({mode})",
        taskra["p99"],
        "ms",
        budget="< 50 ms",
        met=taskra["p99"] < 50,
        baseline=bare["p99"],
        baseline_label="bare endpoint p99",
    )
    print(
        f"ratio {ratio:.2f} (budget >= 0.60), p99 {taskra['p99']:.1f} ms (budget < 50 ms): "
        f"{'ok' if ok else 'OVER BUDGET'}"
    )


if __name__ == "__main__":
    main()
