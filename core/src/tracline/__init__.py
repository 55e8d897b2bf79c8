"""tracline: every ML run describes itself as OpenLineage events — files read and written
(content-hashed), recipe, GPU cost and approval — delivered through a durable outbox."""

from typing import TYPE_CHECKING

from tracline._version import __version__
from tracline.config import Config, SinkConfig, get_config, load_config
from tracline.emit import Emitter, emit, flush, get_emitter
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

if TYPE_CHECKING:
    from tracline.events import Artifact, ParentRun, RunState, new_run_id, run_event

#: Names from ``tracline.events``, which imports openlineage-python (a few hundred ms):
#: loaded on first use, so that ``import tracline`` (and every CLI command) stays fast.
_FROM_EVENTS = {"Artifact", "ParentRun", "RunState", "new_run_id", "run_event"}


def __getattr__(name: str) -> object:
    if name in _FROM_EVENTS:
        from tracline import events

        return getattr(events, name)
    raise AttributeError(f"module 'tracline' has no attribute {name!r}")

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
