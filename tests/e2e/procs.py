"""Real HQ and store-node processes on loopback ports, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ADMIN_TOKEN = "e2e-admin-token"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def storedesk(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the ``storedesk`` CLI to completion."""
    return subprocess.run(
        [sys.executable, "-m", "storedesk_cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except (httpx.HTTPError, KeyError, IndexError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s; last value: {last!r}")


class Service:
    """A server process of ours: started, probed on /healthz, stopped or killed."""

    def __init__(self, name: str, args: list[str], port: int, log_dir: Path, env: dict[str, str]) -> None:
        self.name = name
        self.args = args
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_dir / f"{name}.log"
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "storedesk_cli", *self.args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not come up in {timeout} s:\n{self.log()}")

    def stop(self) -> None:
        """Graceful stop (SIGTERM), then SIGKILL if it hangs."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        """SIGKILL: no chance to flush or ack anything."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


class Hq(Service):
    def __init__(self, db: str, log_dir: Path, port: int | None = None, env: dict[str, str] | None = None) -> None:
        port = port or free_port()
        self.db = db
        args = [
            "hq",
            "serve",
            "--db",
            db,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--admin-token",
            ADMIN_TOKEN,
        ]
        super().__init__("hq", args, port, log_dir, env or {})
        self.api = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10)

    def enroll(self, code: str, *, name: str = "", region: str = "") -> str:
        args = ["hq", "enroll-store", code, "--db", self.db]
        if name:
            args += ["--name", name]
        if region:
            args += ["--region", region]
        done = storedesk(*args)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]

    def ticket(self, ticket_id: str) -> dict[str, Any]:
        response = self.api.get(f"/api/v1/tickets/{ticket_id}")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body


class Store(Service):
    def __init__(
        self,
        name: str,
        hq_url: str,
        token: str,
        data_dir: Path,
        log_dir: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        port = free_port()
        self.data_dir = data_dir
        args = [
            "store",
            "serve",
            "--hq",
            hq_url,
            "--token",
            token,
            "--data",
            str(data_dir),
            "--port",
            str(port),
        ]
        super().__init__(name, args, port, log_dir, env or {})
        self.api = httpx.Client(base_url=self.url, timeout=10)

    def create_ticket(self, **fields: Any) -> dict[str, Any]:
        body = {"type": "quality", "title": "牛仔裤拉链总坏", "description": "款号 JN-2041", **fields}
        response = self.api.post("/api/v1/tickets", json=body)
        assert response.status_code in (200, 201), response.text
        created: dict[str, Any] = response.json()
        return created

    def ticket(self, ticket_id: str) -> dict[str, Any]:
        response = self.api.get(f"/api/v1/tickets/{ticket_id}")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def sync_status(self) -> dict[str, Any]:
        response = self.api.get("/api/v1/sync/status")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def synced(self) -> bool:
        """Nothing pending and the last sync succeeded."""
        status = self.sync_status()
        return bool(status["pending_ops"] == 0 and status["online"])
