"""tracline: every ML run describes itself as OpenLineage events — files read and written
(content-hashed), recipe, GPU cost and approval — delivered through a durable outbox."""

from tracline._version import __version__

TYPE_CHECKING = False  # `tracline run` starts without importing typing (benchmarks/startup.py)
if TYPE_CHECKING:
    from tracline.config import Config, SinkConfig, get_config, load_config
    from tracline.delivery import Emitter, emit, flush, get_emitter
    from tracline.errors import (
        ApprovalInvalid,
        CaptureError,
        ConfigError,
        HashError,
        InvalidTransition,
        NotAuthorized,
        NotFound,
        OutboxError,
        RequestError,
        SinkError,
        StoreError,
        TraclineError,
        ValidationError,
    )
    from tracline.events import Artifact, ParentRun, RunState, new_run_id, run_event

#: Where each public name lives. They load on first use, so that importing one part of
#: tracline (``tracline run`` reads only its configuration before it starts the command)
#: does not import every other part.
_EXPORTS = {
    **dict.fromkeys(("Config", "SinkConfig", "get_config", "load_config"), "tracline.config"),
    **dict.fromkeys(("Emitter", "emit", "flush", "get_emitter"), "tracline.delivery"),
    **dict.fromkeys(("ApprovalInvalid", "CaptureError", "ConfigError", "HashError",
                     "InvalidTransition", "NotAuthorized", "NotFound", "OutboxError",
                     "RequestError", "SinkError", "StoreError", "TraclineError",
                     "ValidationError"), "tracline.errors"),
    **dict.fromkeys(("Artifact", "ParentRun", "RunState", "new_run_id", "run_event"),
                    "tracline.events"),
}


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tracline' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})




__all__ = [
    "ApprovalInvalid",
    "Artifact",
    "CaptureError",
    "Config",
    "ConfigError",
    "Emitter",
    "HashError",
    "InvalidTransition",
    "NotAuthorized",
    "NotFound",
    "OutboxError",
    "ParentRun",
    "RequestError",
    "RunState",
    "SinkConfig",
    "SinkError",
    "StoreError",
    "TraclineError",
    "ValidationError",
    "__version__",
    "emit",
    "flush",
    "get_config",
    "get_emitter",
    "load_config",
    "new_run_id",
    "run_event",
]
