"""A real lineage HTTP backend for delivery tests: `tracline serve` in its own process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def ingest_token(url: str) -> str:
    """A token that may post lineage to a `tracline serve` on the store at ``url``."""
    import datetime as dt

    from tracline.identity import TokenStore

    store = TokenStore(url)
    try:
        return store.issue("agent:delivery", ["ingest"], ttl=dt.timedelta(days=1)).secret
    finally:
        store.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LineageBackend:
    """Starts and stops `tracline serve` on a fixed port, keeping its registry between starts."""

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.registry_url = f"sqlite:///{root / 'backend.db'}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = root / "backend.log"
        self.token = ingest_token(self.registry_url)

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRACLINE")}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tracline.cli",
                "serve",
                "--port",
                str(self.port),
                "--registry-url",
                self.registry_url,
            ],
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/api/v1/health", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"tracline serve did not come up: {self.log.read_text()}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def event_count(self) -> int:
        from tracline.registry import Registry

        registry = Registry(self.registry_url)
        try:
            return registry.event_count()
        finally:
            registry.close()
