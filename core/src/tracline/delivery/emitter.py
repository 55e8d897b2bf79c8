"""The emitter: ``emit()`` commits an event to the outbox and returns; delivery happens off
the caller's path, in a background thread, at exit (bounded by ``outbox.flush_timeout``),
or with ``tracline outbox flush``.

Lineage is fail-soft: ``emit()`` never raises into the user's code. A failure is logged once
with its reason and what to do, and the event is counted as lost in ``Emitter.dropped``.
``TRACLINE_DISABLED=1`` makes all of it a no-op.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
from typing import Any, NamedTuple

from tracline.config import Config, get_config
from tracline.delivery._serde import to_plain
from tracline.delivery.deliverer import BUSY, Deliverer, DeliveryReport
from tracline.delivery.outbox import Outbox
from tracline.errors import TraclineError

__all__ = ["Emitter", "Serialized", "emit", "flush", "get_emitter", "reset_emitter"]

log = logging.getLogger("tracline")

#: Background delivery starts once the task has not emitted for this long (seconds), and
#: pauses as soon as it emits again: a burst of emits never competes with delivery.
_QUIET = 0.05


class Serialized(NamedTuple):
    """An event already rendered as its outbox JSON (``payload``, keys sorted, no spaces),
    with ``data``, the same event as a dict, whose run, job and event type are read (its
    datasets may be left out): for callers that render thousands of datasets faster."""

    payload: str
    data: dict[str, Any]


def _serialize(event: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(event, Serialized):
        return event.payload, event.data
    data = event if isinstance(event, dict) else to_plain(event)
    return json.dumps(data, separators=(",", ":"), sort_keys=True), data


class Emitter:
    """Owns this process's outbox handle and its background delivery thread."""

    def __init__(self, config: Config, *, background: bool = True,
                 checkpoint: bool = True) -> None:
        """``background``: deliver from a thread of this process; ``checkpoint``: see
        :class:`Outbox` (False leaves checkpoints to delivery)."""
        self.config = config
        self.background = background
        self.checkpoint = checkpoint
        self.dropped = 0
        self._outbox: Outbox | None = None
        self._deliverer: Deliverer | None = None
        self._failed: str | None = None
        self._warned: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_emit = 0.0

    # -- setup ------------------------------------------------------------------------------

    def outbox(self) -> Outbox:
        """The outbox, opened on first use; raises :class:`OutboxError` if it cannot be."""
        if self._outbox is None:
            with self._lock:
                if self._outbox is None:
                    outbox = Outbox(self.config.outbox_path, checkpoint=self.checkpoint)
                    outbox.register_sinks(s.name for s in self.config.sinks)
                    self._outbox = outbox
        return self._outbox

    def deliverer(self) -> Deliverer:
        if self._deliverer is None:
            self._deliverer = Deliverer(self.outbox(), self.config)
        return self._deliverer

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning("tracline: %s", message)

    # -- the hot path ------------------------------------------------------------------------

    def emit(self, event: Any) -> int | None:
        """Commit ``event`` (an OpenLineage event object or dict) to the outbox; never raises.

        Returns the event's outbox id, or None when tracline is disabled or the event was lost
        (the reason is logged once).
        """
        if self.config.disabled or self._failed:
            return None
        try:
            payload, data = _serialize(event)
            run = data.get("run") or {}
            job = data.get("job") or {}
            event_id = self.outbox().append(
                payload,
                run_id=run.get("runId"),
                event_type=data.get("eventType"),
                job=f"{job.get('namespace')}/{job.get('name')}" if job else None,
            )
        except TraclineError as e:
            self.dropped += 1
            self._failed = str(e)
            self._warn_once("outbox", f"lineage is off for this process: {e}")
            return None
        except Exception as e:  # noqa: BLE001 - lineage never breaks the user's task
            self.dropped += 1
            self._warn_once(type(e).__name__, f"could not record an event: {type(e).__name__}: {e}")
            return None
        if self.background:
            self._last_emit = time.monotonic()
            self._ensure_thread()
            self._wake.set()
        return event_id

    # -- delivery ----------------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(
                        target=self._run, name="tracline-delivery", daemon=True
                    )
                    self._thread.start()

    def _busy(self) -> bool:
        """True while the task is emitting: delivery then waits, keeping emit() cheap."""
        return time.monotonic() - self._last_emit < _QUIET

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            while self._busy() and not self._stop.is_set():
                self._stop.wait(_QUIET)
            if self._stop.is_set():
                return
            try:
                deliverer = self.deliverer()
                deliverer.drain(yield_to=self._busy)
                wait = deliverer.next_due()
            except Exception as e:  # noqa: BLE001 - the thread must survive anything
                self._warn_once("delivery", f"delivery failed: {type(e).__name__}: {e}")
                wait = 5.0
            if wait != float("inf"):
                self._wake.wait(timeout=max(wait, 0.05))
                self._wake.set()

    def flush(self, timeout: float | None = None, *, ignore_backoff: bool = True) -> DeliveryReport:
        """Deliver what the outbox holds, for at most ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            report = self.deliverer().drain(deadline, ignore_backoff=ignore_backoff)
            busy = any(e == BUSY for e in report.errors.values())
            if not busy or (deadline is not None and time.monotonic() >= deadline):
                self.outbox().checkpoint()
                return report
            time.sleep(0.2)  # another process holds a sink: wait for it, within the timeout

    def close(self, timeout: float | None = None) -> None:
        """Stop the background thread and make a bounded last delivery attempt."""
        if self.config.disabled:
            return
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        if self._outbox is None or self._failed:
            return
        budget = self.config.flush_timeout if timeout is None else timeout
        try:
            if budget > 0:
                # Sinks known to be down are not retried here: exit is never stalled by them.
                self.flush(budget, ignore_backoff=False)
        except Exception as e:  # noqa: BLE001 - exit must never fail because of lineage
            self._warn_once("exit", f"delivery at exit failed: {e}")
        finally:
            if self._deliverer is not None:
                self._deliverer.close()


_emitter: Emitter | None = None
_emitter_lock = threading.Lock()


def get_emitter() -> Emitter:
    """This process's emitter, created from :func:`tracline.config.get_config` on first use."""
    global _emitter  # noqa: PLW0603
    if _emitter is None:
        with _emitter_lock:
            if _emitter is None:
                try:
                    config = get_config()
                except TraclineError as e:
                    log.warning("tracline: lineage is off for this process: %s", e)
                    config = Config(disabled=True)
                _emitter = Emitter(config)
                atexit.register(_emitter.close)
    return _emitter


def reset_emitter() -> None:
    """Forget this process's emitter (after fork, or in tests after changing config)."""
    global _emitter  # noqa: PLW0603
    _emitter = None


os.register_at_fork(after_in_child=reset_emitter)


def emit(event: Any) -> int | None:
    """Record an OpenLineage event durably and deliver it off the caller's path."""
    return get_emitter().emit(event)


def flush(timeout: float | None = None) -> DeliveryReport:
    """Deliver what the outbox holds now (bounded by ``timeout`` seconds)."""
    return get_emitter().flush(timeout)
