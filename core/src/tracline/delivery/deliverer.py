"""Delivery: move events from the outbox to each sink, in order, at least once.

One deliverer at a time holds a lease on a sink, so events reach each sink in emission order
even when many processes share one outbox. A sink that fails for a transient reason is backed
off (capped exponential); one that refuses an event for good gets it set aside and moves on.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping

import attrs

from tracline.config import Config
from tracline.delivery.outbox import Outbox, OutboxEvent
from tracline.delivery.sinks import OutgoingEvent, Sink, build_sink
from tracline.errors import SinkError, TraclineError

__all__ = ["Deliverer", "DeliveryReport"]

log = logging.getLogger("tracline.delivery")

#: The error reported for a sink another live process is delivering to.
BUSY = "another process is delivering to this sink"
#: Seconds a deliverer holds a sink; renewed while it delivers.
LEASE = 30.0


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
        self._sinks: dict[str, Sink] = {}
        self._broken: dict[str, str] = {}
        #: Events read or built in this drain, by outbox id: each sink gets the same one.
        self._built: dict[int, OutgoingEvent] = {}
        outbox.register_sinks(s.name for s in config.sinks)

    def event(self, stored: OutboxEvent) -> OutgoingEvent:
        """The OpenLineage event an outbox row holds, or stands for (a run's record, built
        by :mod:`tracline.events`), made once for all sinks. Raises ValueError when it cannot
        be read."""
        built = self._built.get(stored.id)
        if built is None:
            if stored.kind == "record":
                from tracline.events import expand_record

                built = OutgoingEvent(expand_record(stored.event_type or "OTHER",
                                                    stored.payload, self.config.producer),
                                      clean=True)
            else:
                data = json.loads(stored.payload)
                if not isinstance(data, dict):
                    raise ValueError("the stored event is not a JSON object")
                built = OutgoingEvent(data)
            if len(self._built) >= 2 * self.batch:
                self._built.clear()
            self._built[stored.id] = built
        return built

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
        Each call takes each sink's lease under an owner of its own, so two drains never
        deliver to one sink at once — not even two threads of this process.
        """
        owner = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
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
            if not state.pending:
                continue
            if not self.outbox.acquire(name, owner, LEASE):
                report.errors[name] = BUSY
                continue
            try:
                _SinkDrain(self, name, owner, deadline=deadline, yield_to=yield_to,
                           report=report).run()
            finally:
                self.outbox.release(name, owner)
        self._built.clear()
        for state in self.outbox.sink_states():
            if state.name in self._names():
                report.pending[state.name] = state.pending
                if state.pending and state.name not in report.errors and state.last_error:
                    report.errors[state.name] = state.last_error
        return report

    def checkpoint(self) -> None:
        """Copy the write-ahead logs of the sinks' databases (the local registry), then the
        outbox's, into their files — after a drain, off the time a delivery takes (best
        effort: what is left is copied by the next checkpoint)."""
        for sink in self._sinks.values():
            checkpoint = getattr(sink, "checkpoint", None)
            if checkpoint is not None:
                try:
                    checkpoint()
                except Exception as e:  # noqa: BLE001 - best effort, tried after every drain
                    log.debug("tracline: cannot checkpoint sink %r: %s", sink.name, e)
        self.outbox.checkpoint()

    def close(self) -> None:
        for sink in self._sinks.values():
            sink.close()
        self._sinks.clear()


def sink_names(config: Config) -> Mapping[str, str]:
    return {s.name: s.type for s in config.sinks}


class _SinkDrain:
    """One deliverer's turn at one sink, under its lease: events in order, failures sorted
    out as :class:`~tracline.errors.SinkError` says (poison events set aside after
    ``[outbox] max_attempts`` tries when the events behind them get through)."""

    def __init__(self, deliverer: Deliverer, name: str, owner: str, *, deadline: float | None,
                 yield_to: Callable[[], bool] | None, report: DeliveryReport) -> None:
        self.deliverer, self.outbox = deliverer, deliverer.outbox
        self.name, self.owner, self.deadline = name, owner, deadline
        self.yield_to, self.report = yield_to, report
        self.renew_at = time.monotonic() + LEASE / 3

    def _over(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def run(self) -> None:
        sink = self.deliverer._sink(self.name)
        if sink is None:
            self.report.errors[self.name] = self.deliverer._broken[self.name]
            return
        while not self._over():
            events = self.outbox.pending(self.name, self.deliverer.batch)
            if not events or not self._batch(sink, events):
                return

    def _keep_lease(self) -> bool:
        if time.monotonic() < self.renew_at:
            return True
        self.renew_at = time.monotonic() + LEASE / 3
        return self.outbox.acquire(self.name, self.owner, LEASE)

    def _batch(self, sink: Sink, events: list[OutboxEvent]) -> bool:
        """Deliver a batch; False when this turn is over (deadline, failure, lease lost)."""
        cursor, delivered, go_on = 0, 0, True
        rejections: list[tuple[int, int | None, str]] = []
        i = 0
        while i < len(events):
            event = events[i]
            if self._over() or (self.yield_to is not None and self.yield_to()):
                self.deadline = time.monotonic()  # stop after recording progress
                go_on = False
                break
            if not self._keep_lease():
                log.warning("tracline: lost the lease on sink %r; another deliverer goes on",
                            self.name)
                go_on = False
                break
            failure = self._send(sink, event)
            if failure is None:
                delivered += 1
            elif failure.permanent:
                rejections.append((event.id, failure.status, failure.message))
                log.warning("tracline: %s set aside event %d: %s", self.name, event.id,
                            failure.message)
            elif not failure.sink_down and self._poison(event, failure):
                after = self._probe(sink, events, i + 1, rejections)
                if after is not None:  # an event behind it got through: this one is poison
                    message = (f"failed {self.deliverer.config.max_attempts} times while the"
                               f" events after it got through: {failure.message}")
                    rejections.append((event.id, failure.status, message))
                    log.warning("tracline: %s set aside event %d: %s", self.name, event.id,
                                message)
                    delivered += 1
                    cursor = events[after - 1].id
                    i = after
                    continue
                self._defer(failure)
                go_on = False
                break
            else:
                self._defer(failure)
                go_on = False
                break
            cursor = event.id
            i += 1
        if cursor:
            if not self.outbox.advance(self.name, cursor, delivered, rejections,
                                       owner=self.owner):
                log.warning("tracline: sink %r was taken over by another deliverer",
                            self.name)
                return False
            self.report.delivered[self.name] += delivered
            self.report.rejected[self.name] += len(rejections)
        return go_on

    def _probe(self, sink: Sink, events: list[OutboxEvent], start: int,
               rejections: list[tuple[int, int | None, str]]) -> int | None:
        """Try the events after a suspect one: the index after the first that got through,
        or None when none did (the sink is to blame; nothing is recorded for them then)."""
        tentative = len(rejections)
        for j in range(start, len(events)):
            failure = self._send(sink, events[j])
            if failure is None:
                return j + 1
            if not failure.permanent:
                break
            rejections.append((events[j].id, failure.status, failure.message))
        del rejections[tentative:]
        return None

    def _send(self, sink: Sink, event: OutboxEvent) -> SinkError | None:
        try:
            data = self.deliverer.event(event)
        except Exception as e:  # noqa: BLE001 - an event nobody can read is set aside
            return SinkError(f"cannot read the stored event: {type(e).__name__}: {e}",
                             permanent=True)
        try:
            sink.send(data)
        except SinkError as e:
            return e
        except Exception as e:  # noqa: BLE001 - a sink's bug must not stop delivery
            return SinkError(f"sink {self.name!r} failed: {type(e).__name__}: {e}")
        return None

    def _poison(self, event: OutboxEvent, failure: SinkError) -> bool:
        """Count the try; True once the event has failed ``max_attempts`` times."""
        tries = self.outbox.failed(self.name, event.id, failure.message)
        return tries >= self.deliverer.config.max_attempts

    def _defer(self, failure: SinkError) -> None:
        delay = self.outbox.defer(self.name, failure.message, self.deliverer.config.max_backoff)
        self.report.errors[self.name] = failure.message
        log.info("tracline: %s; next try in %.1fs", failure.message, delay)
