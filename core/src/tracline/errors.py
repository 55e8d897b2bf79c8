"""tracline's exception hierarchy.

Every error tracline raises is a :class:`TraclineError`. Each carries a one-line message that
says what went wrong and which input caused it, and a ``hint`` that says what to do. Errors
from third-party libraries are translated at tracline's boundary with ``raise ... from e``.

    TraclineError
    ├── ConfigError            bad or unreadable configuration
    ├── HashError              a file could not be content-hashed
    │   └── ChangedWhileHashing
    ├── CaptureError           a run could not be observed
    │   └── CommandNotFound    the command to run does not exist or is not executable
    ├── OutboxError            the local outbox cannot be opened or written
    ├── SinkError              a lineage sink refused or could not take an event
    ├── StoreError             the registry or request store failed
    ├── NotFound               a path, digest, run or request is unknown
    ├── ValidationError        an input value is invalid (names the field)
    ├── ReproduceError         a recorded run cannot be set up again (no checkout, no commit)
    ├── AuthenticationError    the caller could not be authenticated (no, unknown, expired token)
    └── RequestError           a training-request operation was refused
        ├── NotAuthorized
        ├── InvalidTransition
        └── ApprovalInvalid
"""

from __future__ import annotations

__all__ = [
    "ApprovalInvalid",
    "AuthenticationError",
    "CaptureError",
    "ChangedWhileHashing",
    "CommandNotFound",
    "ConfigError",
    "HashError",
    "InvalidTransition",
    "NotAuthorized",
    "NotFound",
    "OutboxError",
    "ReproduceError",
    "RequestError",
    "SinkError",
    "StoreError",
    "TraclineError",
    "ValidationError",
]


class TraclineError(Exception):
    """Base class of every error tracline raises."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}; {self.hint}"
        return self.message


class ConfigError(TraclineError):
    """The configuration (tracline.toml, TRACLINE_* variables) is malformed or inconsistent."""


class HashError(TraclineError):
    """A file or directory could not be content-hashed."""


class ChangedWhileHashing(HashError):
    """A file changed while it was being hashed, so no digest can be trusted."""


class CaptureError(TraclineError):
    """A run could not be observed (command not found, tracer unavailable, ...)."""


class CommandNotFound(CaptureError):
    """The command to run does not exist (exit 127) or cannot be executed (126), as in a shell."""

    def __init__(self, message: str, *, hint: str | None = None, exit_code: int = 127) -> None:
        super().__init__(message, hint=hint)
        self.exit_code = exit_code


class OutboxError(TraclineError):
    """The local event outbox cannot be opened or written."""


class SinkError(TraclineError):
    """A lineage sink could not take an event (unreachable, or it refused it).

    Every failure is one of three kinds, which decide what delivery does next:

    * ``permanent``: this event will never be taken (HTTP 4xx, text the sink cannot store):
      it is set aside at once and delivery goes on with the next one;
    * ``sink_down``: the sink takes nothing now (unreachable, rate-limited, disk full): the
      sink is retried later with backoff; the event is not to blame;
    * neither: this event failed and may succeed when tried again (a 5xx, a connection that
      broke while it was sent): after a bounded number of tries, if the events behind it get
      through, it is set aside as poison.
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        permanent: bool = False,
        status: int | None = None,
        sink_down: bool = False,
    ) -> None:
        super().__init__(message, hint=hint)
        #: True when retrying cannot help (the sink answered 4xx): the event is set aside.
        self.permanent = permanent
        #: True when the sink cannot take any event now: nothing is held against the event.
        self.sink_down = sink_down
        self.status = status


class StoreError(TraclineError):
    """The registry or request store failed."""


class NotFound(TraclineError):
    """A path, digest, run or request is unknown to tracline."""


class ValidationError(TraclineError):
    """An input value is invalid; ``field`` names which one."""

    def __init__(self, field: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"{field}: {message}", hint=hint)
        self.field = field


class ReproduceError(TraclineError):
    """A recorded run cannot be set up again (no git checkout, unknown commit, no command)."""


class AuthenticationError(TraclineError):
    """The caller could not be authenticated: no token, or an unknown, expired or revoked one."""


class RequestError(TraclineError):
    """A training-request operation was refused."""


class NotAuthorized(RequestError):
    """The actor may not perform this operation (self-approval, agent approval, policy)."""


class InvalidTransition(RequestError):
    """The request's current state does not allow this transition."""


class ApprovalInvalid(RequestError):
    """An approval no longer holds (request changed since, approval expired or revoked)."""
