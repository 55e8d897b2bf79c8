"""Delivery: move events from the outbox to each sink, in order, at least once.

One deliverer at a time holds a lease on a sink, so events reach each sink in emission order
even when many processes share one outbox. A sink that fails for a transient reason is backed
off (capped exponential); one that refuses an event for good gets it set aside and moves on.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping

import attrs

from tracline.config import Config
from tracline.delivery.outbox import Outbox
from tracline.delivery.sinks import Sink, build_sink, decode
from tracline.errors import SinkError, TraclineError

__all__ = ["Deliverer", "DeliveryReport"]

log = logging.getLogger("tracline.delivery")

#: The error reported for a sink another live process is delivering to.
BUSY = "another process is delivering to this sink"


@attrs.define
class DeliveryReport:
    """What one drain did, per sink."""

    delivered: dict[str, int] = attrs.field(factory=dict)
    rejected: dict[str, int] = attrs.field(factory=dict)
    errors: dict[str, str] = attrs.field(factory=dict)
    pending: dict[str, int] = attrs.field(factory=dict)

    @property
    def complete(self) -> bool:
        """True when no sink has anything left to deliver."""
        return not any(self.pending.values())


class Deliverer:
    """Drains the outbox into the configured sinks."""

    def __init__(self, outbox: Outbox, config: Config, batch: int = 200) -> None:
        self.outbox = outbox
        self.config = config
        self.batch = batch
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._sinks: dict[str, Sink] = {}
        self._broken: dict[str, str] = {}
        self._yield_to: Callable[[], bool] | None = None
        outbox.register_sinks(s.name for s in config.sinks)

    def _sink(self, name: str) -> Sink | None:
        if name in self._broken:
            return None
        if name not in self._sinks:
            spec = next(s for s in self.config.sinks if s.name == name)
            try:
                self._sinks[name] = build_sink(spec, self.config)
            except TraclineError as e:
                self._broken[name] = str(e)
                log.warning("tracline: sink %r cannot be used: %s", name, e)
                return None
            except Exception as e:  # noqa: BLE001 - one broken sink must not stop the others
                self._broken[name] = f"sink {name!r} cannot be created: {type(e).__name__}: {e}"
                log.warning("tracline: %s", self._broken[name])
                return None
        return self._sinks[name]

    def next_due(self) -> float:
        """Seconds until some sink with pending events may be tried again (0: now)."""
        now = time.time()
        waits = [
            max(0.0, s.next_attempt_at - now)
            for s in self.outbox.sink_states()
            if s.pending and s.name in self._names() and s.name not in self._broken
        ]
        return min(waits, default=float("inf"))

    def _names(self) -> set[str]:
        return {s.name for s in self.config.sinks}

    def drain(
        self,
        deadline: float | None = None,
        *,
        ignore_backoff: bool = False,
        yield_to: Callable[[], bool] | None = None,
    ) -> DeliveryReport:
        """Deliver what is due to every sink until done or until ``deadline`` (monotonic).

        ``yield_to`` is polled between events; when it returns True the drain stops early
        (the background thread uses it to stay off the GIL while the task is emitting).
        """
        self._yield_to = yield_to
        report = DeliveryReport()
        states = {s.name: s for s in self.outbox.sink_states()}
        for spec in self.config.sinks:
            name = spec.name
            report.delivered[name] = report.rejected[name] = 0
            state = states.get(name)
            if state is None or (not ignore_backoff and state.next_attempt_at > time.time()):
                if state is not None and state.last_error:
                    report.errors[name] = state.last_error
                continue
            if not self.outbox.acquire(name, self.owner):
                report.errors[name] = BUSY
                continue
            try:
                self._drain_sink(name, deadline, report)
            finally:
                self.outbox.release(name, self.owner)
        for state in self.outbox.sink_states():
            if state.name in self._names():
                report.pending[state.name] = state.pending
                if state.pending and state.name not in report.errors and state.last_error:
                    report.errors[state.name] = state.last_error
        return report

    def _drain_sink(self, name: str, deadline: float | None, report: DeliveryReport) -> None:
        sink = self._sink(name)
        if sink is None:
            report.errors[name] = self._broken[name]
            return
        while deadline is None or time.monotonic() < deadline:
            events = self.outbox.pending(name, self.batch)
            if not events:
                return
            cursor, delivered, rejections = 0, 0, []
            failure: SinkError | None = None
            for event in events:
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if self._yield_to is not None and self._yield_to():
                    deadline = time.monotonic()  # stop after recording progress
                    break
                try:
                    sink.send(decode(event.payload))
                except SinkError as e:
                    if not e.permanent:
                        failure = e
                        break
                    rejections.append((event.id, e.status, e.message))
                    log.warning("tracline: %s set aside event %d: %s", name, event.id, e.message)
                except Exception as e:  # noqa: BLE001 - a sink's bug must not stop delivery
                    failure = SinkError(f"sink {name!r} failed: {type(e).__name__}: {e}")
                    break
                else:
                    delivered += 1
                cursor = event.id
            if cursor:
                self.outbox.advance(name, cursor, delivered, rejections)
                self.outbox.acquire(name, self.owner)  # renew the lease
            report.delivered[name] = report.delivered.get(name, 0) + delivered
            report.rejected[name] = report.rejected.get(name, 0) + len(rejections)
            if failure is not None:
                delay = self.outbox.defer(name, failure.message, self.config.max_backoff)
                report.errors[name] = failure.message
                log.info("tracline: %s; next try in %.1fs", failure.message, delay)
                return

    def close(self) -> None:
        for sink in self._sinks.values():
            sink.close()
        self._sinks.clear()


def sink_names(config: Config) -> Mapping[str, str]:
    return {s.name: s.type for s in config.sinks}
