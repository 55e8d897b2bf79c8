"""The team server's ASGI application: the HTTP API, the review web page, their errors.

Every tracline error becomes an answer with its class, message, hint and field — JSON under
``/api``, a page elsewhere — with the status its kind calls for; the remote client raises the
same class again. Responses carry headers that keep the page out of frames and scripts from
elsewhere out of the page.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from tracline import errors
from tracline._version import __version__
from tracline.approvals import error_to_wire
from tracline.config import Config, load_config
from tracline.server._api import api
from tracline.server._settings import ServerSettings
from tracline.server._state import ServerState, open_state

__all__ = ["STATUS", "create_app"]

#: The HTTP status of each kind of error (the first matching class wins).
STATUS: tuple[tuple[type[errors.TraclineError], int], ...] = (
    (errors.AuthenticationError, 401),
    (errors.NotAuthorized, 403),
    (errors.NotFound, 404),
    (errors.ValidationError, 422),
    (errors.RequestError, 409),
    (errors.StoreError, 503),
    (errors.ConfigError, 500),
    (errors.TraclineError, 400),
)
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data:; form-action 'self'; "
                               "frame-ancestors 'none'",
    "Cache-Control": "no-store",
}


def status_of(error: errors.TraclineError) -> int:
    """The HTTP status for ``error``."""
    return next(code for cls, code in STATUS if isinstance(error, cls))


def _error(request: Request, error: errors.TraclineError) -> Response:
    status = status_of(error)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if not request.url.path.startswith("/api/"):
        from tracline.server._web import error_page

        return error_page(request, error, status)
    return JSONResponse(error_to_wire(error), status_code=status, headers=headers)


def _invalid(request: Request, exc: RequestValidationError) -> Response:
    problems = exc.errors()
    first = problems[0] if problems else {"loc": ("body",), "msg": "invalid"}
    field = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path"))
    return _error(request, errors.ValidationError(field or "body", str(first.get("msg")),
                                                  hint="see the API's OpenAPI spec at "
                                                  "/openapi.json"))


def create_app(config: Config | None = None, *, store_url: str | None = None,
               registry_url: str | None = None, settings: ServerSettings | None = None,
               state: ServerState | None = None) -> FastAPI:
    """The server application over the configured (or given) stores."""
    config = config or load_config()
    settings = settings or ServerSettings.from_config(config)
    app = FastAPI(title="tracline", version=__version__,
                  description="Training requests, approvals, audit, spend and lineage of a "
                  "team. Every route but /api/v1/health needs a bearer token.",
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.tracline = state or open_state(config, settings, store_url=store_url,
                                             registry_url=registry_url)

    async def tracline_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, errors.TraclineError)
        return _error(request, exc)

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return _invalid(request, exc)

    app.add_exception_handler(errors.TraclineError, tracline_error)
    app.add_exception_handler(RequestValidationError, invalid)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        for key, value in _HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    app.include_router(api)
    from tracline.server._web import web

    app.include_router(web)
    return app
