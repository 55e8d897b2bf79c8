"""Sinks: where the outbox delivers events, built on openlineage-python's transports.

A sink takes one serialized event and either returns, or raises :class:`SinkError` with
``permanent=True`` when retrying cannot help (the backend answered 4xx) or ``False`` when it
may (unreachable, timeout, 5xx).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any, Protocol

from tracline.config import Config, SinkConfig
from tracline.errors import ConfigError, SinkError

__all__ = ["Sink", "build_sink"]



class Sink(Protocol):
    name: str

    def send(self, event: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class TransportSink:
    """Delivers through an openlineage-python ``Transport``, translating its errors."""

    def __init__(self, name: str, transport: Any, target: str) -> None:
        self.name = name
        self.transport = transport
        self.target = target

    def send(self, event: dict[str, Any]) -> None:
        import requests

        try:
            self.transport.emit(event)
        except requests.HTTPError as e:
            status = e.response.status_code if e.response is not None else None
            body = (e.response.text[:200].strip() if e.response is not None else "") or str(e)
            permanent = status is not None and 400 <= status < 500 and status not in (408, 429)
            raise SinkError(
                f"{self.target} answered HTTP {status}: {body}",
                hint="the event is kept aside; see `tracline outbox status`"
                if permanent
                else "will retry with backoff",
                permanent=permanent,
                status=status,
            ) from e
        except requests.ConnectionError as e:
            raise SinkError(
                f"cannot reach {self.target}: connection refused or host unknown",
                hint="is the server running? events stay in the outbox and are retried",
            ) from e
        except requests.Timeout as e:
            raise SinkError(f"{self.target} did not answer in time", hint="will retry") from e
        except (OSError, RuntimeError) as e:
            raise SinkError(f"{self.target}: {e}", hint="will retry") from e

    def close(self) -> None:
        try:
            self.transport.close()
        except Exception:  # noqa: BLE001 - closing must never fail delivery
            pass


class RegistrySink:
    """Ingests events into tracline's local registry (the content-hash index)."""

    def __init__(self, name: str, url: str) -> None:
        from tracline.registry import Registry

        self.name = name
        self.registry = Registry(url)

    def send(self, event: dict[str, Any]) -> None:
        self.registry.ingest(event)

    def close(self) -> None:
        self.registry.close()


def _http(name: str, options: dict[str, Any], *, marquez: bool) -> TransportSink:
    from openlineage.client.transport.http import HttpConfig, HttpTransport

    url = str(options.get("url", "")).strip()
    if not url:
        raise ConfigError(
            f"sink {name!r} has no url",
            hint=f'add url = "http://host:5000" under [sinks.{name}]',
        )
    if not url.startswith(("http://", "https://")):
        from tracline.db import display_url

        raise ConfigError(
            f"sink {name!r} url {display_url(url)!r} is not an http(s) URL",
            hint="write it as http://host:port",
        )
    params: dict[str, Any] = {"url": url, "timeout": float(options.get("timeout", 5.0))}
    for key in ("endpoint", "verify", "compression", "custom_headers"):
        if key in options:
            params[key] = options[key]
    if "api_key" in options:
        params["auth"] = {"type": "api_key", "apiKey": options["api_key"]}
    # tracline retries from the outbox with backoff; the transport must fail fast.
    params["retry"] = {"total": 0, "connect": 0, "read": 0, "status_forcelist": []}
    try:
        transport = HttpTransport(HttpConfig.from_dict(params))
    except (ValueError, RuntimeError, TypeError) as e:
        raise ConfigError(f"sink {name!r}: {e}", hint="check its url and options") from e
    from tracline.db import display_url

    label = "Marquez" if marquez else "HTTP sink"
    return TransportSink(name, transport, f"{label} {name!r} at {display_url(url)}")


def _file(name: str, options: dict[str, Any], config: Config) -> TransportSink:
    from openlineage.client.transport.file import FileConfig, FileTransport

    path = str(options.get("path", config.home / f"{name}.jsonl"))
    try:  # its folder is made on first use, as the outbox's is
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    except OSError:
        pass  # the write reports why (permissions, a file in the way) and is retried
    transport = FileTransport(FileConfig(log_file_path=path, append=True))
    return TransportSink(name, transport, f"file sink {name!r} ({path})")


def _openlineage(name: str) -> TransportSink:
    from openlineage.client import OpenLineageClient

    client = OpenLineageClient()
    return TransportSink(name, client.transport, f"OpenLineage transport {client.transport}")


def _generic(name: str, kind: str, options: dict[str, Any]) -> TransportSink:
    from openlineage.client.transport import get_default_factory

    try:
        transport = get_default_factory().create({"type": kind, **options})
    except ImportError as e:
        raise ConfigError(
            f"sink {name!r} of type {kind!r} needs a package that is not installed: {e.name}",
            hint=f"pip install {e.name}" if e.name else "install the transport's extra",
        ) from e
    except (TypeError, ValueError, KeyError, RuntimeError) as e:
        raise ConfigError(
            f"sink {name!r} of type {kind!r}: {e}",
            hint="check its options against openlineage-python's docs",
        ) from e
    return TransportSink(name, transport, f"{kind} sink {name!r}")


def build_sink(sink: SinkConfig, config: Config) -> Sink:
    """Create the sink a configuration names (transports are created here, not at emit)."""
    options = dict(sink.options)
    builders: dict[str, Callable[[], Sink]] = {
        "marquez": lambda: _http(sink.name, options, marquez=True),
        "http": lambda: _http(sink.name, options, marquez=False),
        "file": lambda: _file(sink.name, options, config),
        "registry": lambda: RegistrySink(sink.name, str(options.get("url", config.registry_url))),
        "openlineage": lambda: _openlineage(sink.name),
    }
    builder = builders.get(sink.type)
    if builder is not None:
        return builder()
    return _generic(sink.name, sink.type, options)


def decode(payload: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(payload)
    return value
