"""Serving memory: the resident set size of ``taskra serve`` after it has served traffic.

    python bench/memory.py                 # SQLite, the demo store, 2,000 requests

``taskra serve`` (web app and in-process worker) runs on a scratch SQLite database holding the
demo store; it answers health checks, signed webhooks (stored, with their jobs run) and page
and API requests as a merchant would make them. Its RSS is read from /proc after the load,
beside the baseline: the same ``run_app`` serving a bare Starlette endpoint. Budget (DESIGN
section 11): serving RSS < 150 MB.
"""

from __future__ import annotations

import argparse
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

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _results import record  # noqa: E402

SECRET = "bench-client-secret-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"
MIB = 1024 * 1024


def serve_baseline(port: int) -> None:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from taskra_shopify.serve import run_app

    async def hello(request: object) -> PlainTextResponse:
        return PlainTextResponse("ok")

    run_app(Starlette(routes=[Route("/healthz", hello)]), "127.0.0.1", port)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_bytes(pid: int) -> int:
    """Resident set size of ``pid`` and its children (uvicorn may fork a reloader)."""
    total = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            total += int(line.split()[1]) * 1024
    return total


def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("server did not start")


def load(url: str, requests: int) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        for n in range(requests):
            kind = n % 4
            if kind == 0:
                client.get("/healthz")
            elif kind == 1:
                body = json.dumps({"id": str(uuid.uuid4()), "current": ["read_products"]}).encode()
                signature = base64.b64encode(
                    hmac.new(SECRET.encode(), body, hashlib.sha256).digest()
                )
                client.post(
                    "/webhooks/shopify",
                    content=body,
                    headers={
                        "X-Shopify-Topic": "app/scopes_update",
                        "X-Shopify-Shop-Domain": "bench.myshopify.com",
                        "X-Shopify-Webhook-Id": str(uuid.uuid4()),
                        "X-Shopify-Hmac-Sha256": signature.decode(),
                    },
                )
            elif kind == 2:
                client.get("/login")
            else:
                client.get("/privacy")


def measure(cmd: list[str], env: dict[str, str], port: int, requests: int) -> int:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, proc)
        load(url, requests)
        time.sleep(2)  # let the in-process worker run the webhooks' jobs
        return rss_bytes(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--serve-baseline", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        serve_baseline(args.serve_baseline)
        return
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "TASKRA_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/memory.db",
            "SHOPIFY_API_KEY": "bench-client-id",
            "SHOPIFY_API_SECRET": SECRET,
            "TASKRA_LOG_LEVEL": "WARNING",
        }
        subprocess.run(
            [sys.executable, "-m", "taskra_core", "demo", "--no-serve"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port, bare_port = free_port(), free_port()
        taskra = measure(
            [sys.executable, "-m", "taskra_core", "serve", "--port", str(port)],
            env,
            port,
            args.requests,
        )
        bare = measure(
            [sys.executable, __file__, "--serve-baseline", str(bare_port)],
            env,
            bare_port,
            args.requests // 4,
        )
    print(f"\nserving memory after {args.requests:,} requests (SQLite, demo store)")
    print(f"{'server':<28}{'RSS MB':>10}")
    print(f"{'bare Starlette endpoint':<28}{bare / MIB:>10.1f}")
    print(f"{'taskra serve':<28}{taskra / MIB:>10.1f}")
    ok = taskra < 150 * MIB
    print(f"budget RSS < 150 MB: {'ok' if ok else 'OVER BUDGET'} (ratio {taskra / bare:.2f})")
    record(
        "memory",
        "taskra serve RSS after serving (SQLite, demo store)",
        taskra / MIB,
        "MB",
        budget="< 150 MB",
        met=ok,
        baseline=bare / MIB,
        baseline_label="bare Starlette endpoint under the same server, MB",
    )


if __name__ == "__main__":
    main()
