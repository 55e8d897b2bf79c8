"""tracline's lineage endpoint: an OpenLineage HTTP consumer that feeds the registry.

``POST /api/v1/lineage`` takes one run event (as Marquez does) and answers 201; a body that
is not JSON is 400, an event missing what the spec requires is 422 — both say what is wrong.
``GET /api/v1/health`` answers 200. The server is the team-side view of the same events the
outbox delivers everywhere else.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tracline.errors import TraclineError
from tracline.registry import Registry

__all__ = ["LineageServer", "check_event"]

log = logging.getLogger("tracline.server")
_MAX_BODY = 16 * 1024 * 1024


def check_event(event: Any) -> list[str]:
    """What a run event lacks that the OpenLineage spec requires (empty when acceptable)."""
    if not isinstance(event, dict):
        return ["the body is not a JSON object"]
    problems = [f"missing {k}" for k in ("eventTime", "producer", "run", "job") if k not in event]
    run, job = event.get("run"), event.get("job")
    if isinstance(run, dict):
        try:
            uuid.UUID(str(run.get("runId")))
        except ValueError:
            problems.append(f"run.runId {run.get('runId')!r} is not a UUID")
    elif run is not None:
        problems.append("run is not an object")
    if isinstance(job, dict):
        problems += [f"missing job.{k}" for k in ("namespace", "name") if not job.get(k)]
    elif job is not None:
        problems.append("job is not an object")
    return problems


class _Handler(BaseHTTPRequestHandler):
    server: LineageServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _reply(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/api/v1/health":
            self._reply(HTTPStatus.OK, {"status": "ok"})
        else:
            self._reply(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint {self.path}"})

    def do_POST(self) -> None:
        if self.path.rstrip("/") != "/api/v1/lineage":
            self._reply(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint {self.path}"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "event too large"})
            return
        try:
            event = json.loads(self.rfile.read(length) or b"null")
        except ValueError as e:
            self._reply(HTTPStatus.BAD_REQUEST, {"error": f"body is not JSON: {e}"})
            return
        problems = check_event(event)
        if problems:
            self._reply(HTTPStatus.UNPROCESSABLE_ENTITY, {"error": "; ".join(problems)})
            return
        try:
            with self.server.lock:
                created = self.server.registry.ingest(event)
        except TraclineError as e:
            self._reply(HTTPStatus.UNPROCESSABLE_ENTITY, {"error": str(e)})
            return
        self._reply(HTTPStatus.CREATED, {"created": created})


class LineageServer(ThreadingHTTPServer):
    """An HTTP server on ``(host, port)`` ingesting events into ``registry``."""

    daemon_threads = True

    def __init__(self, host: str, port: int, registry: Registry) -> None:
        super().__init__((host, port), _Handler)
        self.registry = registry
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"
