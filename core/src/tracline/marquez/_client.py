"""Marquez's HTTP API, through Marquez's own client (marquez-python) where it fits.

marquez-python 0.50.0 falls short of Marquez 0.50 in a few places, and those calls go over
plain HTTP here (``requests``, which it uses too):

* it has no call for the lineage graph (``GET /api/v1/lineage``), only column lineage;
* ``list_events`` asks ``/api/v1/events[/namespace]``, which Marquez 0.50 does not serve
  (raw events are at ``/api/v1/events/lineage``);
* it refuses dataset names over 255 characters (long absolute paths) before asking;
* its errors drop the HTTP status (a 404 reads like any failure), so the status is taken
  from the ``requests`` error it chains.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from tracline._urls import display_url
from tracline.errors import StoreError
from tracline.marquez._settings import MarquezSettings

__all__ = ["MarquezClient"]

_PAGE = 100


class MarquezClient:
    """Read-only questions to one Marquez; every answer is JSON, ``None`` for a 404."""

    def __init__(self, settings: MarquezSettings) -> None:
        if not settings.url:
            raise StoreError("no Marquez is configured",
                             hint='set [marquez] url = "http://marquez:5000" (or a sink of type '
                             "marquez) in tracline.toml, or TRACLINE_MARQUEZ_URL")
        import marquez_client

        self.url = settings.url
        self.settings = settings
        self._client = marquez_client.MarquezClient(
            url=settings.url, timeout_ms=int(settings.timeout * 1000),
            api_key=settings.api_key)
        self._headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key \
            else {}

    # -- errors ------------------------------------------------------------------------------

    def _failed(self, error: BaseException, what: str) -> StoreError:
        return StoreError(display_url(f"Marquez at {self.url} could not answer {what}: {error}"),
                          hint="check [marquez] url and that Marquez is running "
                          "(its API port, not the web UI's)")

    def _call(self, what: str, function: Any, *args: Any, **kwargs: Any) -> Any:
        import requests
        from marquez_client.errors import APIError

        try:
            return function(*args, **kwargs)
        except APIError as e:
            cause = e.__cause__
            response = getattr(cause, "response", None)
            if response is not None and response.status_code == 404:
                return None
            raise self._failed(cause or e, what) from e
        except (requests.RequestException, ValueError) as e:
            raise self._failed(e, what) from e

    def _get(self, path: str, params: dict[str, Any] | None = None, what: str = "") -> Any:
        import requests

        try:
            response = requests.get(f"{self.url}/api/v1{path}", params=params,
                                    headers=self._headers, timeout=self.settings.timeout)
        except requests.RequestException as e:
            raise self._failed(e, what or path) from e
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise self._failed(RuntimeError(f"HTTP {response.status_code}: "
                                            f"{response.text[:200]}"), what or path)
        try:
            return response.json()
        except ValueError as e:
            raise self._failed(e, what or path) from e

    # -- questions ---------------------------------------------------------------------------

    def run(self, run_id: str) -> dict[str, Any] | None:
        """``GET /api/v1/jobs/runs/{id}``."""
        return self._call(f"run {run_id}", self._client.get_job_run, run_id)  # type: ignore[no-any-return]

    def job_runs(self, namespace: str, job: str, limit: int = _PAGE) -> list[dict[str, Any]]:
        """The latest runs of a job."""
        answer = self._call(f"the runs of job {namespace}/{job}", self._client.list_job_runs,
                            namespace, job, limit=limit)
        return list((answer or {}).get("runs") or [])

    def dataset_versions(self, namespace: str, name: str, limit: int = _PAGE,
                         ) -> list[dict[str, Any]]:
        """The latest versions of a dataset (plain HTTP for names the client refuses)."""
        what = f"the versions of dataset {namespace}:{name}"
        if len(name) > 255:  # marquez-python refuses longer names before asking
            quoted = urllib.parse.quote(name, safe="")
            answer = self._get(f"/namespaces/{urllib.parse.quote(namespace, safe='')}/datasets/"
                               f"{quoted}/versions", {"limit": limit}, what)
        else:
            answer = self._call(what, self._client.list_dataset_versions, namespace, name,
                                limit=limit)
        return list((answer or {}).get("versions") or [])

    def dataset_version(self, namespace: str, name: str, version: str) -> dict[str, Any] | None:
        """One version of a dataset."""
        what = f"version {version} of dataset {namespace}:{name}"
        if len(name) > 255:
            quoted = urllib.parse.quote(name, safe="")
            return self._get(f"/namespaces/{urllib.parse.quote(namespace, safe='')}/datasets/"  # type: ignore[no-any-return]
                             f"{quoted}/versions/{version}", what=what)
        return self._call(what, self._client.get_dataset_version, namespace, name, version)  # type: ignore[no-any-return]

    def lineage(self, node_id: str, depth: int = 1) -> dict[str, Any]:
        """``GET /api/v1/lineage`` (plain HTTP: the client has no call for it)."""
        return self._get("/lineage", {"nodeId": node_id, "depth": depth},
                         f"the lineage of {node_id}") or {"graph": []}

    def events(self, limit: int = _PAGE, offset: int = 0) -> list[dict[str, Any]]:
        """Raw events, newest first (plain HTTP: the client asks a path Marquez 0.50 lacks)."""
        answer = self._get("/events/lineage", {"limit": limit, "offset": offset,
                                                "sortDirection": "desc"}, "its events")
        return list((answer or {}).get("events") or [])
