"""``[marquez]``: where tracline reads lineage back from, and where Marquez's web UI is.

::

    [marquez]
    url = "http://marquez:5000"         # the API (default: the url of a sink of type marquez)
    web_url = "http://marquez:3000"     # the web UI, for links from receipts (default: none)
    timeout = 10                        # seconds per request
    scan_events = 20000                 # events looked through to find content by digest

``TRACLINE_MARQUEZ_URL`` sets the sink and so the default ``url`` too.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import attrs

from tracline.config import Config
from tracline.errors import ConfigError

__all__ = ["MarquezSettings", "marquez_settings", "web_link"]

_KEYS = {"url", "web_url", "timeout", "scan_events", "api_key"}


@attrs.frozen
class MarquezSettings:
    """Where Marquez answers (``url`` None: not configured) and how to ask it."""

    url: str | None = None
    web_url: str | None = None
    timeout: float = 10.0
    scan_events: int = 20_000
    api_key: str | None = None


def _http(value: Any, key: str, where: str) -> str:
    text = str(value).strip().rstrip("/")
    if not text.startswith(("http://", "https://")):
        raise ConfigError(f"[marquez] {key} = {value!r} in {where} is not an http(s) URL",
                          hint=f'write e.g. {key} = "http://marquez:5000"')
    return text


def marquez_settings(config: Config) -> MarquezSettings:
    """Read ``[marquez]``; raise :class:`ConfigError` naming a bad key or value."""
    table = config.checked_section("marquez", _KEYS)
    where = str(config.source or "the environment")
    url = table.get("url")
    sink = next((s for s in config.sinks if s.type == "marquez"), None)
    if url is None and sink is not None:
        url = sink.options.get("url")
    api_key = table.get("api_key") or (sink.options.get("api_key") if sink else None)
    try:
        timeout = float(table.get("timeout", 10.0))
        scan = int(table.get("scan_events", 20_000))
    except (TypeError, ValueError):
        raise ConfigError(f"[marquez] timeout/scan_events in {where} must be numbers",
                          hint="write e.g. timeout = 10 and scan_events = 20000") from None
    if timeout <= 0 or scan < 0:
        raise ConfigError(f"[marquez] timeout must be above 0 and scan_events 0 or more in {where}",
                          hint="write e.g. timeout = 10")
    return MarquezSettings(
        url=_http(url, "url", where) if url else None,
        web_url=_http(table["web_url"], "web_url", where) if table.get("web_url") else None,
        timeout=timeout, scan_events=scan, api_key=str(api_key) if api_key else None)


def web_link(web_url: str, kind: str, namespace: str, name: str) -> str:
    """The page of a dataset or job in Marquez's web UI (``kind``: ``dataset`` or ``job``)."""
    quote = urllib.parse.quote
    return f"{web_url}/lineage/{kind}/{quote(namespace, safe='')}/{quote(name, safe='')}"
