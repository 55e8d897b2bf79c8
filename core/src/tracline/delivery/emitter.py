"""The emitter: ``emit()`` commits an event to the outbox and returns; the long-lived
deliverer (``_service``), poked after each commit, delivers it off the caller's path — in
every process that emits, a forked child, a daemon thread or one exiting included, since
nothing is left for the process to do at exit. ``flush()`` delivers from this process.

Lineage is fail-soft: ``emit()`` never raises into the user's code. A failure is logged once
with its reason and what to do, and every event that could not be committed is counted in
``Emitter.dropped``. ``TRACLINE_DISABLED=1`` makes all of it a no-op.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from tracline.config import Config, get_config
from tracline.delivery._service import poke
from tracline.delivery.deliverer import BUSY, Deliverer, DeliveryReport
from tracline.delivery.outbox import Outbox
from tracline.errors import OutboxError, TraclineError

if TYPE_CHECKING:
    from tracline.record import RunRecord

__all__ = ["Emitter", "emit", "flush", "get_emitter", "reset_emitter", "wait_delivered"]

log = logging.getLogger("tracline")

#: After the outbox failed to open or take an event, seconds before it is tried again (the
#: events emitted meanwhile are counted as dropped): a task emitting thousands of events
#: into a broken outbox must not pay for a reopen each time.
_RETRY_AFTER = 1.0
#: After starting the deliverer, seconds during which this process does not start another
#: (it needs a moment to listen; it delivers everything pending once it does).
_STARTING = 5.0


def _describe(event: Any) -> tuple[str | None, str | None, str | None]:
    """(run id, event type, ``namespace/name`` of the job) of an event object or dict."""
    if isinstance(event, dict):
        run, job, state = event.get("run") or {}, event.get("job"), event.get("eventType")
        name = f"{job.get('namespace')}/{job.get('name')}" if isinstance(job, dict) else None
        return run.get("runId"), state, name
    state = getattr(event, "eventType", None)
    job = getattr(event, "job", None)
    return (getattr(getattr(event, "run", None), "runId", None),
            getattr(state, "value", state),
            f"{job.namespace}/{job.name}" if job is not None else None)


class Emitter:
    """Owns this process's outbox handle and hands delivery to the long-lived deliverer."""

    def __init__(self, config: Config, *, background: bool = True,
                 checkpoint: bool = True) -> None:
        """``background``: after each commit, tell the long-lived deliverer (starting it if
        needed); False leaves delivery to :meth:`flush` or ``tracline outbox flush``.
        ``checkpoint``: see :class:`Outbox` (False leaves checkpoints to delivery)."""
        self.config = config
        self.background = background
        self.checkpoint = checkpoint
        #: Events (and run records) that could not be committed, each counted.
        self.dropped = 0
        self._outbox: Outbox | None = None
        self._deliverer: Deliverer | None = None
        self._broken_until = 0.0
        self._started_at = -_STARTING
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    # -- setup ------------------------------------------------------------------------------

    def outbox(self) -> Outbox:
        """The outbox, opened on first use; raises :class:`OutboxError` if it cannot be."""
        if self._outbox is None:
            with self._lock:
                if self._outbox is None:
                    outbox = Outbox(self.config.outbox_path, checkpoint=self.checkpoint,
                                    mode=self.config.file_mode)
                    outbox.register_sinks(s.name for s in self.config.sinks)
                    self._outbox = outbox
        return self._outbox

    def deliverer(self) -> Deliverer:
        """A deliverer in this process (for :meth:`flush`)."""
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
        (the reason is logged once, the loss counted in :attr:`dropped`).
        """
        if self.config.disabled:
            return None
        try:
            from tracline.events import to_json

            run_id, event_type, job = _describe(event)
            payload = to_json(event)
        except Exception as e:  # noqa: BLE001 - lineage never breaks the user's task
            self.dropped += 1
            self._warn_once(type(e).__name__,
                            f"could not record an event: {type(e).__name__}: {e}")
            return None
        return self._commit(payload, "event", run_id, event_type, job)

    def emit_record(self, state: str, record: RunRecord) -> int | None:
        """Commit a run's record for its ``state`` event (START, COMPLETE, FAIL): the event is
        built from it when it is delivered (no openlineage-python here). Never raises."""
        if self.config.disabled:
            return None
        try:
            payload = record.to_json()
        except Exception as e:  # noqa: BLE001 - lineage never breaks the user's task
            self.dropped += 1
            self._warn_once(type(e).__name__, f"could not record a run: {type(e).__name__}: {e}")
            return None
        return self._commit(payload, "record", record.run_id, state,
                            f"{record.namespace}/{record.job}")

    def commit_record(self, state: str, record: RunRecord) -> int:
        """:meth:`emit_record` for a caller that reports a failure itself (`tracline run`'s
        one warning): raises :class:`OutboxError` instead of logging, and counts nothing."""
        event_id = self.outbox().append(record.to_json(), kind="record", run_id=record.run_id,
                                        event_type=state, job=f"{record.namespace}/{record.job}")
        if self.background:
            self.hand_off()
        return event_id

    def _commit(self, payload: str, kind: str, run_id: str | None, event_type: str | None,
                job: str | None) -> int | None:
        if time.monotonic() < self._broken_until:
            self.dropped += 1
            return None
        try:
            event_id = self.outbox().append(payload, kind=kind, run_id=run_id,
                                            event_type=event_type, job=job)
        except TraclineError as e:
            self.dropped += 1
            self._broken_until = time.monotonic() + _RETRY_AFTER
            self._warn_once("outbox", f"lineage is not recorded: {e}")
            return None
        except Exception as e:  # noqa: BLE001 - lineage never breaks the user's task
            self.dropped += 1
            self._warn_once(type(e).__name__,
                            f"could not record an event: {type(e).__name__}: {e}")
            return None
        if self.background:
            self.hand_off()
        return event_id

    def hand_off(self) -> None:
        """Tell the long-lived deliverer there is work (never raises, never waits)."""
        # One started a moment ago delivers all that is pending once it listens: no other.
        start = time.monotonic() - self._started_at >= _STARTING
        try:
            if poke(self.config, start=start) == "started":
                self._started_at = time.monotonic()
        except Exception as e:  # noqa: BLE001 - events wait in the outbox
            self._warn_once("hand-off", f"cannot reach the deliverer: {e}")

    # -- delivery from this process ------------------------------------------------------------

    def flush(self, timeout: float | None = None, *, ignore_backoff: bool = True) -> DeliveryReport:
        """Deliver what the outbox holds from this process, for at most ``timeout`` seconds
        (alongside other deliverers: each sink has one at a time)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            report = self.deliverer().drain(deadline, ignore_backoff=ignore_backoff)
            busy = any(e == BUSY for e in report.errors.values())
            if not busy or (deadline is not None and time.monotonic() >= deadline):
                self.deliverer().checkpoint()
                return report
            time.sleep(0.05)  # another deliverer holds a sink: wait for it, within the time

    def close(self, timeout: float | None = None) -> None:
        """Release the sinks and the outbox. Nothing is delivered here: what is pending is
        the long-lived deliverer's (``timeout`` is accepted for callers of earlier versions)."""
        del timeout
        if self._deliverer is not None:
            self._deliverer.close()
            self._deliverer = None
        if self._outbox is not None:
            self._outbox.close()


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
    """Deliver what the outbox holds now, from this process (bounded by ``timeout`` s)."""
    return get_emitter().flush(timeout)


def wait_delivered(config: Config | None = None, timeout: float = 600.0, *,
                   deliver: bool = True, interval: float | None = None) -> DeliveryReport:
    """Return once no sink has anything left to deliver; :class:`OutboxError` if that takes
    over ``timeout`` seconds (a sink that stays down). With ``deliver`` (the default) this
    process delivers too, alongside whichever deliverer is at it; ``deliver=False`` only
    waits for the long-lived deliverer (poking it), to measure it. ``interval``: seconds
    between looks at the outbox (a measurement that reads when the sinks finished from the
    outbox can look seldom, leaving the deliverer the CPU).

    For tests and benchmarks that check an outcome: they wait for it, never for a fixed time.
    """
    emitter = Emitter(config or get_config(), background=False)
    deadline = time.monotonic() + timeout
    try:
        if not deliver:
            poke(emitter.config, start=True)
        while True:
            if deliver:
                report = emitter.flush(max(0.0, deadline - time.monotonic()))
            else:
                report = _state(emitter)
            if report.complete:
                return report
            if time.monotonic() >= deadline:
                left = ", ".join(f"{sink}: {n}" for sink, n in report.pending.items() if n)
                raise OutboxError(f"events still pending after {timeout:.0f} s ({left})",
                                  hint="; ".join(report.errors.values()) or None)
            time.sleep(interval if interval is not None else 0.05 if deliver else 0.002)
    finally:
        emitter.close()


def _state(emitter: Emitter) -> DeliveryReport:
    """What is pending per sink now, without delivering."""
    names = {s.name for s in emitter.config.sinks}
    report = DeliveryReport()
    for state in emitter.outbox().sink_states():
        if state.name in names:
            report.pending[state.name] = state.pending
            if state.last_error:
                report.errors[state.name] = state.last_error
    return report
