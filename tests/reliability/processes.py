"""Real ``taskra serve`` and ``taskra worker`` processes for the reliability suite.

Each :class:`TaskraProcess` runs the installed ``taskra`` command in its own process group
with the environment it is given, and can be killed with SIGKILL (no shutdown hook, no
flush, exactly like a machine losing power) and started again on the same port.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

TASKRA = [sys.executable, "-m", "taskra_core"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TaskraProcess:
    """One ``taskra`` command (``serve ...`` or ``worker ...``) that can be killed and restarted."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args = args
        self.env = {**os.environ, **env}
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> TaskraProcess:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        with self.log.open("ab") as out:
            out.write(f"\n--- start {self.starts}: {' '.join(self.args)}\n".encode())
            self.proc = subprocess.Popen(
                [*TASKRA, *self.args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: SIGKILL reaches every child
            )
        return self

    def kill9(self) -> None:
        """SIGKILL the process group: nothing gets to finish, flush or clean up."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM (a clean shutdown), then SIGKILL if it does not exit in 15 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill9()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


class Server(TaskraProcess):
    """``taskra serve`` on a fixed port (kept across restarts)."""

    def __init__(self, env: dict[str, str], log: Path, *, worker: bool = True) -> None:
        self.port = free_port()
        args = ["serve", "--port", str(self.port)] + ([] if worker else ["--no-worker"])
        super().__init__(args, env, log)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        super().start()
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"taskra serve exited early:\n{self.output()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"taskra serve not ready in {timeout} s:\n{self.output()}")
