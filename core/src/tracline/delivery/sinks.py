"""Sinks: where the outbox delivers events, built on openlineage-python's transports.

A sink takes one event (a dict) and either returns, or raises :class:`SinkError` classified
as the deliverer needs it (see :class:`~tracline.errors.SinkError`): ``permanent`` (this
event never: HTTP 4xx, text the sink cannot store), ``sink_down`` (nothing now: connection
refused, rate-limited, disk full) or neither (this event failed and may succeed later: a 5xx,
a connection that broke while it was sent, a read timeout).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from typing import Any, Protocol

from tracline._urls import display_url
from tracline.config import Config, SinkConfig
from tracline.errors import ConfigError, SinkError

__all__ = ["OutgoingEvent", "Sink", "build_sink"]


class OutgoingEvent:
    """One event on its way to the sinks: the dict, and its canonical JSON text made at most
    once whatever the number of sinks that want it (the registry stores and keys the event
    by it, the JSON-lines file holds it as a line), so a big run's event is not serialized
    again by every sink.

    ``clean`` says the dict is already what openlineage-python's ``Serde.to_dict`` makes of it
    (an event :mod:`tracline.events` built); an event read back from the outbox is put in
    that form (None values dropped) before it becomes a line, as ``FileTransport`` would.
    """

    __slots__ = ("_canonical", "_line", "clean", "data")

    def __init__(self, data: dict[str, Any], *, clean: bool = False) -> None:
        self.data = data
        self.clean = clean
        self._canonical: str | None = None
        self._line: str | None = None

    def canonical(self) -> str:
        """Compact JSON with sorted keys (:func:`tracline.events.canonical_json`)."""
        if self._canonical is None:
            from tracline.events import canonical_json

            self._canonical = canonical_json(self.data)
        return self._canonical

    def line(self) -> str:
        """The event's line in a JSON-lines file (without the newline): the canonical JSON
        of ``Serde.to_dict``'s form of it."""
        if self._line is None:
            if self.clean:
                self._line = self.canonical()
            else:
                from openlineage.client.serde import Serde

                from tracline.events import canonical_json

                self._line = canonical_json(Serde.to_dict(self.data))
        return self._line


class Sink(Protocol):
    name: str

    def send(self, event: OutgoingEvent) -> None: ...

    def close(self) -> None: ...


class TransportSink:
    """Delivers through an openlineage-python ``Transport``, translating its errors."""

    def __init__(self, name: str, transport: Any, target: str) -> None:
        self.name = name
        self.transport = transport
        self.target = target

    def _emit(self, event: OutgoingEvent) -> None:
        self.transport.emit(event.data)

    def send(self, event: OutgoingEvent) -> None:
        import requests

        try:
            self._emit(event)
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
                sink_down=status == 429,
            ) from e
        except (requests.ConnectTimeout, requests.exceptions.InvalidURL) as e:
            raise SinkError(f"cannot reach {self.target}: {type(e).__name__}",
                            hint="is the server running? events stay in the outbox",
                            sink_down=True) from e
        except requests.ConnectionError as e:
            if _not_connected(e):
                raise SinkError(
                    f"cannot reach {self.target}: connection refused or host unknown",
                    hint="is the server running? events stay in the outbox and are retried",
                    sink_down=True,
                ) from e
            raise SinkError(f"{self.target} dropped the connection while taking an event",
                            hint="will retry; an event that keeps failing is set aside") from e
        except requests.Timeout as e:
            raise SinkError(f"{self.target} did not answer in time", hint="will retry") from e
        except (UnicodeError, TypeError, ValueError) as e:
            raise SinkError(f"{self.target} cannot take this event: {type(e).__name__}: {e}",
                            hint="the event is kept aside; see `tracline outbox status`",
                            permanent=True) from e
        except (OSError, RuntimeError) as e:
            cause = e.__cause__ if isinstance(e, RuntimeError) else e
            if isinstance(cause, UnicodeError):
                raise SinkError(f"{self.target} cannot store this event: {cause}",
                                hint="the event is kept aside", permanent=True) from e
            # A file that cannot be written (disk full, permissions) takes nothing now.
            raise SinkError(f"{self.target}: {e}", hint="will retry",
                            sink_down=isinstance(cause, OSError)) from e

    def close(self) -> None:
        try:
            self.transport.close()
        except Exception:  # noqa: BLE001 - closing must never fail delivery
            pass


class FileSink(TransportSink):
    """The JSON-lines file: appends each event's canonical JSON as a line (UTF-8), the text
    made once for all sinks, and fails as openlineage-python's ``FileTransport`` (append
    mode, local path) does, so :class:`TransportSink` sorts out its errors alike."""

    def __init__(self, name: str, transport: Any, target: str, path: str) -> None:
        super().__init__(name, transport, target)
        self.path = path

    def _emit(self, event: OutgoingEvent) -> None:
        try:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(event.line() + "\n")
        except (PermissionError, io.UnsupportedOperation) as error:
            raise RuntimeError(f"Log file `{self.path}` is not writeable") from error
        except Exception as error:
            raise RuntimeError(
                f"Failed to write to log file `{self.path}`: {error}") from error


def _not_connected(error: BaseException) -> bool:
    """True when a ``requests.ConnectionError`` means no connection was made (refused, no
    such host), False when one broke while the event was sent."""
    from urllib3.exceptions import NewConnectionError

    seen: set[int] = set()
    stack: list[object] = [error]
    while stack:
        item = stack.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, NewConnectionError | ConnectionRefusedError):
            return True
        if isinstance(item, BaseException):
            stack += [item.__cause__, item.__context__, getattr(item, "reason", None),
                      *[a for a in item.args if isinstance(a, BaseException)]]
    return False


class RegistrySink:
    """Ingests events into tracline's local registry (the content-hash index)."""

    def __init__(self, name: str, url: str, mode: int | None = None) -> None:
        from tracline.registry import Registry

        self.name = name
        self.url = url
        # The deliverer checkpoints once the delivery is recorded (Deliverer.checkpoint).
        self.registry = Registry(url, mode=mode, checkpoint=False)

    def send(self, event: OutgoingEvent) -> None:
        from tracline.errors import StoreError, ValidationError

        try:
            self.registry.ingest(event.data, canonical=event.canonical())
        except ValidationError as e:
            raise SinkError(f"the registry cannot index this event: {e.message}",
                            hint="the event is kept aside", permanent=True) from e
        except (UnicodeError, TypeError, ValueError) as e:
            raise SinkError(f"the registry cannot store this event: {type(e).__name__}: {e}",
                            hint="the event is kept aside", permanent=True) from e
        except StoreError as e:
            raise SinkError(display_url(f"registry at {self.url}: {e.message}"), hint=e.hint,
                            sink_down=True) from e

    def checkpoint(self) -> None:
        self.registry.checkpoint()

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
    label = "Marquez" if marquez else "HTTP sink"
    return TransportSink(name, transport, f"{label} {name!r} at {display_url(url)}")


def _file(name: str, options: dict[str, Any], config: Config) -> TransportSink:
    from openlineage.client.transport.file import FileConfig, FileTransport

    path = str(options.get("path", config.home / f"{name}.jsonl"))
    try:  # made on first use, and private as tracline's other state files are; a failure
        # here (permissions, a file in the way) is reported by the write, and retried
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, config.file_mode))
    except OSError:
        pass
    transport = FileTransport(FileConfig(log_file_path=path, append=True))
    target = f"file sink {name!r} ({path})"
    if "://" in path:  # a remote file system (fsspec) or a file:// URL: the transport's own
        return TransportSink(name, transport, target)
    return FileSink(name, transport, target, path)


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
        "registry": lambda: RegistrySink(sink.name, str(options.get("url", config.registry_url)),
                                         config.file_mode),
        "openlineage": lambda: _openlineage(sink.name),
    }
    builder = builders.get(sink.type)
    if builder is not None:
        return builder()
    return _generic(sink.name, sink.type, options)

