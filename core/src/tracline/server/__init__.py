"""tracline's team server (`tracline serve`): the HTTP API, the review web page, ingest.

An ASGI application (FastAPI on Starlette) served by uvicorn, over the same request service,
registry and lineage code the CLI uses, on SQLite for one person or PostgreSQL for a team.
"""

from tracline.server._app import STATUS, create_app
from tracline.server._ingest import validate_event
from tracline.server._run import bind_warning, serve
from tracline.server._settings import ServerSettings

__all__ = ["STATUS", "ServerSettings", "bind_warning", "create_app", "serve", "validate_event"]
