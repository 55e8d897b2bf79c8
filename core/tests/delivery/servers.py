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
        deadline = time.monotonic() + 180
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


class Receiver:
    """A real OpenLineage HTTP endpoint in a thread that keeps every event it accepted, in
    order of arrival, duplicates included — unlike a registry, which ignores them.

    ``misbehave`` maps a job name to what the endpoint does with that job's events:
    ``"drop"`` closes the connection without answering, ``"500"`` answers a server error.
    """

    def __init__(self, misbehave: dict[str, str] | None = None) -> None:
        import http.server
        import json
        import threading

        self.misbehave = dict(misbehave or {})
        self.accepted: list[dict] = []
        self.refused: dict[str, int] = {}
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path != "/api/v1/lineage":
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                event = json.loads(body)
                job = event["job"]["name"]
                how = receiver.misbehave.get(job)
                if how is not None:
                    receiver.refused[job] = receiver.refused.get(job, 0) + 1
                if how == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if how == "500":
                    self.send_response(500)
                    self.end_headers()
                    return
                receiver.accepted.append(event)
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
