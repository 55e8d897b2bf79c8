"""An OpenLineage transport for Airflow's OpenLineage provider: tracline's facets and content
hashes on the provider's own events, delivered through tracline's durable outbox.

Configure it as the provider's transport (all the set-up there is, beside installing)::

    [openlineage]
    transport = {"type": "tracline"}
    # or, where plugins are not loaded: {"type": "tracline_airflow.transport.TraclineTransport"}

Each event the provider emits for a task try is completed with what tracline's listener
registered for that try (approval, execution and GPU-cost run facets; the files read and
written, with ``version`` and ``tracline_contentHash`` dataset facets), then committed to the
outbox and handed to tracline's sinks (Marquez, ``tracline serve``, a file, ...). A sink that
is down keeps the events in the outbox until it is back: Airflow is never slowed or failed.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs
from openlineage.client.transport import Config, Transport, register_transport

from tracline.delivery import get_emitter
from tracline.events import file_dataset, to_dict
from tracline_airflow import _runs

__all__ = ["TraclineTransport", "TraclineTransportConfig", "enrich"]

log = logging.getLogger(__name__)


@attrs.define
class TraclineTransportConfig(Config):
    """Options: ``flush_timeout`` — seconds spent delivering from the task's process right
    after each event (by default none: tracline's long-lived deliverer delivers)."""

    flush_timeout: float | None = None

    @classmethod
    def from_dict(cls, params: dict[str, Any]) -> TraclineTransportConfig:
        """Build from the provider's ``[openlineage] transport`` mapping."""
        value = params.get("flush_timeout")
        return cls(flush_timeout=float(value) if value is not None else None)


def _merge_datasets(existing: list[dict[str, Any]], added: list[dict[str, Any]]) -> None:
    index = {(d.get("namespace"), d.get("name")): d for d in existing}
    for dataset in added:
        match = index.get((dataset["namespace"], dataset["name"]))
        if match is None:
            existing.append(dataset)
            index[(dataset["namespace"], dataset["name"])] = dataset
        else:
            match["facets"] = {**(match.get("facets") or {}), **dataset["facets"]}


def enrich(event: dict[str, Any]) -> dict[str, Any]:
    """Add what tracline knows about the event's run (if it ran here) to ``event``, in place."""
    run = event.get("run") or {}
    task_run = _runs.get(str(run.get("runId")))
    if task_run is None:
        return event
    facets = run.setdefault("facets", {})
    for key, facet in task_run.run_facets.items():
        facets[key] = facet if isinstance(facet, dict) else to_dict(facet)
    if event.get("eventType") in {"COMPLETE", "FAIL", "ABORT"}:
        _merge_datasets(event.setdefault("inputs", []),
                        [to_dict(file_dataset(f, "input")) for f in task_run.inputs if f.digest])
        _merge_datasets(event.setdefault("outputs", []),
                        [to_dict(file_dataset(f, "output")) for f in task_run.outputs
                         if f.digest])
        if task_run.error_message and "errorMessage" in facets:
            facets["errorMessage"]["message"] = task_run.error_message
    return event


@register_transport
class TraclineTransport(Transport):
    """Completes the provider's events with tracline's findings; delivers via the outbox."""

    kind = "tracline"
    config_class = TraclineTransportConfig

    def __init__(self, config: TraclineTransportConfig) -> None:
        self.config = config

    def emit(self, event: Any) -> None:
        """Enrich, commit to the outbox, and try to deliver now (bounded; never raises)."""
        try:
            data = event if isinstance(event, dict) else to_dict(event)
            enrich(data)
        except Exception as e:  # noqa: BLE001 - an event without tracline's facets still goes
            log.warning("tracline: could not add tracline's facets to an event: %s", e)
            data = event if isinstance(event, dict) else to_dict(event)
        # The provider emits from a short-lived fork (or a daemon thread) that exits without
        # running atexit handlers: the commit itself tells tracline's long-lived deliverer.
        emitter = get_emitter()
        if emitter.emit(data) is None or not self.config.flush_timeout:
            return
        try:
            emitter.flush(self.config.flush_timeout, ignore_backoff=False)
        except Exception as e:  # noqa: BLE001 - delivery is retried later
            log.info("tracline: delivery deferred: %s", e)

    def close(self, timeout: float = -1) -> bool:
        """Nothing is buffered here: the outbox holds what is not delivered yet."""
        return True
