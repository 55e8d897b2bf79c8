"""One configuration: ``tracline.toml`` plus ``TRACLINE_*`` environment variables.

Precedence, lowest first: built-in defaults, ``tracline.toml`` (``$TRACLINE_CONFIG``, or the
first ``tracline.toml`` found from the working directory upwards), then environment variables:

* ``TRACLINE_DISABLED=1`` turns all of tracline into a no-op;
* ``TRACLINE_HOME``, ``TRACLINE_NAMESPACE``, ``TRACLINE_OUTBOX``, ``TRACLINE_REGISTRY_URL``,
  ``TRACLINE_MARQUEZ_URL`` (adds a ``marquez`` sink);
* ``TRACLINE__SECTION__KEY=value`` sets any key, e.g. ``TRACLINE__SINKS__LAKE__TYPE=file``.

OpenLineage's own configuration is honoured: when ``OPENLINEAGE_URL``, ``OPENLINEAGE_CONFIG``,
an ``openlineage.yml`` or ``OPENLINEAGE__TRANSPORT__*`` variables are present, a sink named
``openlineage`` delivers through the transport openlineage-python builds from them, and
``OPENLINEAGE_DISABLED=true`` disables tracline's emission as it does openlineage-python's.

Relative paths in ``tracline.toml`` are relative to the file's directory.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Mapping

from tracline.errors import ConfigError

# Configuration is read before `tracline run` starts the user's command, so this module
# imports neither typing, attrs nor pathlib at run time (benchmarks/startup.py and the
# trivial command of benchmarks/capture.py measure what that start-up costs).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, Self

__all__ = ["Config", "SinkConfig", "check_keys", "load_config", "server_url"]

CONFIG_FILE = "tracline.toml"
PRODUCER = "https://github.com/tracline/tracline"
#: tracline's own sink types; any other openlineage-python transport kind is accepted too.
SINK_TYPES = frozenset({"marquez", "registry", "openlineage", "file", "console", "http", "kafka"})


def known_sink_types() -> set[str]:
    """Every sink type a configuration may name: tracline's own and openlineage-python's
    transports (imports openlineage-python)."""
    from openlineage.client.transport import get_default_factory

    return set(SINK_TYPES) | set(get_default_factory().transports) - {"noop"}


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

#: Keys each section owned by this module accepts; other sections belong to other parts
#: (``[prices]``, ``[policy]``, ``[capture]``, ...) and are kept in ``Config.sections``.
_KNOWN_KEYS: dict[str, set[str]] = {
    "tracline": {"namespace", "home", "disabled", "producer", "file_mode"},
    "outbox": {"path", "flush_timeout", "retention_days", "max_backoff", "max_attempts",
               "deliverer_idle"},
    "registry": {"url", "enabled"},
}
#: The sink that keeps the local registry (the index lookups read) up to date.
LOCAL_SINK = "local"


class _Frozen:
    """An immutable value: equality, repr and :meth:`replace` over ``_fields`` (not hashable:
    it holds mappings)."""

    __slots__: tuple[str, ...] = ()
    #: The public fields, in the order repr shows them (``__init__``'s keyword arguments).
    _fields: tuple[str, ...] = ()

    def _set(self, **fields: Any) -> None:
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: use .replace({name}=...)")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    __hash__ = None  # type: ignore[assignment]  # holds mappings: equal values, no hash

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _Frozen)
        return self._values() == other._values()

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({fields})"

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied (as ``attrs.evolve`` / ``dataclasses.replace``)."""
        values = {name: getattr(self, name) for name in self._fields}
        unknown = set(changes) - set(values)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {sorted(unknown)[0]!r}")
        return type(self)(**{**values, **changes})


class SinkConfig(_Frozen):
    """Where delivered events go: a name, a type and the type's options."""

    __slots__ = ("name", "options", "type")
    _fields = ("name", "type", "options")
    name: str
    type: str
    options: Mapping[str, Any]

    def __init__(self, name: str, type: str,
                 options: Mapping[str, Any] | None = None) -> None:
        self._set(name=name, type=type, options=dict(options or {}))


class Config(_Frozen):
    """The resolved configuration of one process.

    ``home``, ``outbox_path`` and ``source`` are :class:`~pathlib.Path` objects, made on
    access from strings (``home_dir`` is ``home`` as a string): `tracline run` reads its
    configuration before it starts the command, and need not import pathlib to do so.
    """

    __slots__ = ("_home", "_outbox_path", "_source", "deliverer_idle", "disabled", "file_mode",
                 "flush_timeout", "max_attempts", "max_backoff", "namespace", "producer",
                 "registry_url", "retention_days", "sections", "sinks")
    _fields = ("disabled", "namespace", "home", "outbox_path", "registry_url", "sinks",
               "flush_timeout", "retention_days", "max_backoff", "max_attempts",
               "deliverer_idle", "producer", "file_mode", "source", "sections")
    _home: str
    _outbox_path: str
    _source: str | None
    disabled: bool
    namespace: str
    registry_url: str
    sinks: tuple[SinkConfig, ...]
    #: Seconds an exiting process spends delivering what is still in the outbox.
    flush_timeout: float
    #: Delivered events older than this are pruned from the outbox.
    retention_days: float
    #: Upper bound of the retry backoff of an unreachable sink, in seconds.
    max_backoff: float
    #: Tries of an event that keeps failing at a sink before it may be set aside as poison.
    max_attempts: int
    #: Seconds the long-lived deliverer waits for more work before it exits.
    deliverer_idle: float
    producer: str
    #: Permissions of the state files tracline creates (outbox, registry, stores, caches).
    file_mode: int
    #: Every section of the file and the environment, for the parts that own them.
    sections: Mapping[str, Any]

    def __init__(
        self,
        *,
        disabled: bool = False,
        namespace: str = "default",
        home: str | os.PathLike[str] = ".tracline",
        outbox_path: str | os.PathLike[str] = ".tracline/outbox.db",
        registry_url: str = "sqlite:///.tracline/tracline.db",
        sinks: tuple[SinkConfig, ...] = (),
        flush_timeout: float = 2.0,
        retention_days: float = 7.0,
        max_backoff: float = 60.0,
        max_attempts: int = 5,
        deliverer_idle: float = 300.0,
        producer: str = PRODUCER,
        file_mode: int = 0o600,
        source: str | os.PathLike[str] | None = None,
        sections: Mapping[str, Any] | None = None,
    ) -> None:
        self._set(disabled=disabled, namespace=namespace, _home=os.fspath(home),
                  _outbox_path=os.fspath(outbox_path), registry_url=registry_url,
                  sinks=tuple(sinks), flush_timeout=flush_timeout,
                  retention_days=retention_days, max_backoff=max_backoff,
                  max_attempts=max_attempts, deliverer_idle=deliverer_idle, producer=producer,
                  file_mode=file_mode,
                  _source=None if source is None else os.fspath(source),
                  sections={} if sections is None else sections)

    @property
    def home(self) -> Path:
        """tracline's folder (outbox, registry, caches, capture logs)."""
        from pathlib import Path

        return Path(self._home)

    @property
    def home_dir(self) -> str:
        """``home`` as a string."""
        return self._home

    @property
    def outbox_path(self) -> Path:
        """The outbox's SQLite file."""
        from pathlib import Path

        return Path(self._outbox_path)

    @property
    def source(self) -> Path | None:
        """The file the configuration came from, if any."""
        from pathlib import Path

        return None if self._source is None else Path(self._source)

    def checked_section(self, name: str, known: Iterable[str]) -> dict[str, Any]:
        """The table ``[name]``, after refusing a key not in ``known`` (a typo would
        otherwise be ignored silently) with a :class:`ConfigError` naming it and its file."""
        table = self.section(name)
        check_keys(table, known, f"[{name}]", self._source)
        return table

    def section(self, name: str) -> dict[str, Any]:
        """Return the raw table ``[name]`` (empty if absent)."""
        value = self.sections.get(name, {})
        return dict(value) if isinstance(value, Mapping) else {}


def _where(source: str | None) -> str:
    return str(source) if source else "environment"


def check_keys(table: Mapping[str, Any], known: Iterable[str], where: str,
               source: str | None) -> None:
    """Refuse a key of ``table`` (the TOML table ``where``, e.g. ``[policy]``, read from
    ``source``) that is not one of ``known``."""
    keys = set(known)
    unknown = set(table) - keys
    if unknown:
        raise ConfigError(f"unknown key {sorted(unknown)[0]!r} in {where} of {_where(source)}",
                          hint=f"known keys: {', '.join(sorted(keys))}")


def _as_bool(value: Any, key: str, source: str | None) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(
        f"{key} = {value!r} in {_where(source)} is not a boolean",
        hint="use true or false (or 1/0 in environment variables)",
    )


def _as_float(value: Any, key: str, source: str | None, *, minimum: float = 0.0) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{key} = {value!r} in {_where(source)} is not a number",
            hint=f"set {key} to a number such as 2.5",
        ) from None
    if number < minimum:
        raise ConfigError(
            f"{key} = {value!r} in {_where(source)} is below {minimum}",
            hint=f"set {key} to {minimum} or more",
        )
    return number


def _as_mode(value: Any, key: str, source: str | None) -> int:
    """File permissions written in octal (``"0600"``, ``"640"``, or a TOML ``0o600``)."""
    try:
        mode = value if isinstance(value, int) and not isinstance(value, bool) else \
            int(str(value).strip().removeprefix("0o"), 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o777 or mode & 0o600 != 0o600:
        raise ConfigError(
            f"{key} = {value!r} in {_where(source)} is not a file mode the owner can read "
            "and write",
            hint="write it in octal with the owner's read and write bits, e.g. "
                 '"0600" (or "0640" to let the group read)',
        )
    return mode


def find_config_file(start: str | os.PathLike[str] | None = None) -> str | None:
    """Return ``$TRACLINE_CONFIG`` or the nearest ``tracline.toml`` upwards from ``start``."""
    explicit = os.environ.get("TRACLINE_CONFIG")
    if explicit:
        path = os.path.expanduser(explicit)
        if not os.path.isfile(path):
            raise ConfigError(
                f"TRACLINE_CONFIG points to {path}, which is not a file",
                hint="create it (tracline init) or unset TRACLINE_CONFIG",
            )
        return os.path.realpath(path)
    folder = os.path.realpath(start if start is not None else os.getcwd())
    while True:
        candidate = os.path.join(folder, CONFIG_FILE)
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def _read_toml(path: str) -> dict[str, Any]:
    import tomllib  # only where there is a file to read

    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(
            f"{path} is not valid TOML: {e}",
            hint="fix the syntax at that line (strings need quotes, tables [name])",
        ) from e
    except OSError as e:
        raise ConfigError(
            f"cannot read {path}: {e.strerror}", hint="check the file's permissions"
        ) from e


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """Turn ``TRACLINE__A__B__C=v`` into ``{"a": {"b": {"c": "v"}}}``."""
    tree: dict[str, Any] = {}
    for key, value in environ.items():
        if not key.startswith("TRACLINE__"):
            continue
        parts = [p.lower() for p in key[len("TRACLINE__") :].split("__") if p]
        if len(parts) < 2:
            raise ConfigError(
                f"environment variable {key} names no key",
                hint="use TRACLINE__SECTION__KEY=value, e.g. TRACLINE__OUTBOX__PATH=/var/tl.db",
            )
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"environment variable {key} conflicts with another")
        node[parts[-1]] = value
    return tree


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def openlineage_configured(environ: Mapping[str, str], cwd: str | os.PathLike[str]) -> bool:
    """True when openlineage-python would find a transport configuration of its own."""
    if environ.get("OPENLINEAGE_URL") or environ.get("OPENLINEAGE_CONFIG"):
        return True
    if any(k.startswith("OPENLINEAGE__TRANSPORT") for k in environ):
        return True
    return os.path.isfile(os.path.join(cwd, "openlineage.yml"))


def _resolve_path(value: Any, key: str, base: str, source: str | None) -> str:
    if not isinstance(value, str | os.PathLike) or not str(value):
        raise ConfigError(
            f"{key} = {value!r} in {_where(source)} is not a path",
            hint=f"set {key} to a file path in quotes",
        )
    path = os.path.expanduser(os.fspath(value))
    return os.path.normpath(path if os.path.isabs(path) else os.path.join(base, path))


def _sinks(
    data: Mapping[str, Any], base: str, home: str, source: str | None, environ: Mapping[str, str],
    *, registry_url: str | None,
) -> tuple[SinkConfig, ...]:
    """The configured sinks, plus the local registry (``local``) unless it is turned off,
    plus ``.tracline/events.jsonl`` (``file``) when nothing else is configured.
    ``registry_url`` is None when the registry is turned off."""
    table = data.get("sinks", {})
    if not isinstance(table, Mapping):
        raise ConfigError(
            f"[sinks] in {_where(source)} must be a table of named sinks",
            hint='write e.g. [sinks.marquez] with type = "marquez" and url = "http://..."',
        )
    sinks: list[SinkConfig] = []

    for name, options in table.items():
        if not isinstance(options, Mapping):
            raise ConfigError(
                f"sink {name!r} in {_where(source)} must be a table",
                hint=f'write [sinks.{name}] with a type = "..." line',
            )
        options = dict(options)
        kind = str(options.pop("type", "")).strip()
        if not kind:
            raise ConfigError(
                f"sink {name!r} in {_where(source)} has no type",
                hint=f"add type = one of {', '.join(sorted(known_sink_types()))}",
            )
        # openlineage-python (slow to import) only for a type that is not tracline's own
        if kind not in SINK_TYPES and kind not in (names := known_sink_types()):
            raise ConfigError(
                f"sink {name!r} in {_where(source)} has unknown type {kind!r}",
                hint=f"use one of {', '.join(sorted(names))}",
            )
        if kind in {"marquez", "http"}:
            url = str(options.get("url", "")).strip()
            if not url.startswith(("http://", "https://")):
                from tracline._urls import display_url

                raise ConfigError(
                    f"sink {name!r} in {_where(source)} has url {display_url(url)!r}, not an "
                    "http(s) URL",
                    hint=f'set url = "http://host:port" under [sinks.{name}]',
                )
        if "path" in options and kind in {"file", "registry"}:
            options["path"] = _resolve_path(options["path"], f"sinks.{name}.path", base, source)
        sinks.append(SinkConfig(name=name, type=kind, options=options))
    marquez_url = environ.get("TRACLINE_MARQUEZ_URL")
    if marquez_url:
        sinks = [s for s in sinks if s.name != "marquez"]
        sinks.append(SinkConfig(name="marquez", type="marquez", options={"url": marquez_url}))
    if not any(s.name == "openlineage" for s in sinks) and openlineage_configured(environ, base):
        sinks.append(SinkConfig(name="openlineage", type="openlineage"))
    if not sinks:
        sinks.append(SinkConfig(name="file", type="file",
                                options={"path": os.path.join(home, "events.jsonl")}))
    if registry_url is not None and not any(
            s.type == "registry" and s.options.get("url", registry_url) == registry_url
            for s in sinks):
        taken = next((s for s in sinks if s.name == LOCAL_SINK), None)
        if taken is not None:
            from tracline._urls import display_url

            raise ConfigError(
                f"sink {LOCAL_SINK!r} in {_where(source)} is not the local registry "
                f"({display_url(registry_url)}), but that name is kept for it",
                hint=f"rename [sinks.{LOCAL_SINK}], or set [registry] enabled = false",
            )
        # last: an exiting task's bounded flush serves the other sinks first; lookups bring
        # the registry up to date themselves before they read it
        sinks.append(SinkConfig(name=LOCAL_SINK, type="registry"))
    return tuple(sinks)


def load_config(environ: Mapping[str, str] | None = None,
                cwd: str | os.PathLike[str] | None = None) -> Config:
    """Resolve the configuration for this process; raise :class:`ConfigError` if it is bad."""
    environ = os.environ if environ is None else environ
    here = os.path.realpath(cwd if cwd is not None else os.getcwd())
    source = find_config_file(here)
    data: dict[str, Any] = _read_toml(source) if source else {}
    data = _merge(data, _env_overrides(environ))
    base = os.path.dirname(source) if source else here

    for section, keys in _KNOWN_KEYS.items():
        table = data.get(section, {})
        if not isinstance(table, Mapping):
            raise ConfigError(f"[{section}] in {_where(source)} must be a table")
        check_keys(table, keys, f"[{section}]", source)

    main = data.get("tracline", {})
    outbox = data.get("outbox", {})
    registry = data.get("registry", {})

    disabled = _as_bool(main.get("disabled", False), "tracline.disabled", source)
    if "TRACLINE_DISABLED" in environ:
        disabled = _as_bool(environ["TRACLINE_DISABLED"], "TRACLINE_DISABLED", None)
    if environ.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        disabled = True

    home = _resolve_path(
        environ.get("TRACLINE_HOME") or main.get("home", ".tracline"), "tracline.home", base, source
    )
    outbox_path = _resolve_path(
        environ.get("TRACLINE_OUTBOX") or outbox.get("path", os.path.join(home, "outbox.db")),
        "outbox.path",
        base,
        source,
    )
    registry_url = str(
        environ.get("TRACLINE_REGISTRY_URL")
        or registry.get("url", f"sqlite:///{os.path.join(home, 'tracline.db')}")
    )
    if registry_url.startswith("sqlite:///") and not registry_url.startswith("sqlite:////"):
        relative = registry_url[len("sqlite:///") :]
        if relative and relative != ":memory:" and not os.path.isabs(relative):
            registry_url = f"sqlite:///{os.path.join(base, relative)}"

    registry_on = _as_bool(registry.get("enabled", True), "registry.enabled", source)

    namespace = str(environ.get("TRACLINE_NAMESPACE") or main.get("namespace", "default"))
    if not namespace.strip():
        raise ConfigError(f"tracline.namespace is empty in {_where(source)}",
                          hint="set a namespace such as 'ml-team'")

    return Config(
        disabled=disabled,
        namespace=namespace,
        home=home,
        outbox_path=outbox_path,
        registry_url=registry_url,
        sinks=_sinks(data, base, home, source, environ,
                     registry_url=registry_url if registry_on else None),
        flush_timeout=_as_float(outbox.get("flush_timeout", 2.0), "outbox.flush_timeout", source),
        retention_days=_as_float(
            outbox.get("retention_days", 7.0), "outbox.retention_days", source
        ),
        max_backoff=_as_float(
            outbox.get("max_backoff", 60.0), "outbox.max_backoff", source, minimum=0.01
        ),
        max_attempts=int(_as_float(outbox.get("max_attempts", 5), "outbox.max_attempts", source,
                                   minimum=1)),
        deliverer_idle=_as_float(outbox.get("deliverer_idle", 300.0), "outbox.deliverer_idle",
                                 source),
        producer=str(main.get("producer", PRODUCER)),
        file_mode=_as_mode(main.get("file_mode", "0600"), "tracline.file_mode", source),
        source=source,
        sections=data,
    )


@functools.cache
def _cached() -> Config:
    return load_config()


def get_config() -> Config:
    """The process's configuration, loaded once (``reset_config()`` forgets it)."""
    return _cached()


def server_url(config: Config) -> str | None:
    """The team server's URL: ``$TRACLINE_URL``, else ``[server] url``, else None."""
    url = os.environ.get("TRACLINE_URL") or config.section("server").get("url")
    return str(url).rstrip("/") if url else None


def reset_config() -> None:
    """Forget the cached configuration (tests, or after changing the environment)."""
    _cached.cache_clear()
