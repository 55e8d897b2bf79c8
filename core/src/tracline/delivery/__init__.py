"""Emission: a durable local outbox, and delivery to the configured sinks.

``emit()`` commits; the long-lived deliverer (one per user and configuration, started on
demand, ``poke()``) delivers; ``flush()`` / ``wait_delivered()`` deliver from this process.
"""

from tracline.delivery._recover import Recovery, recover
from tracline.delivery._service import poke, service_pid, started_here
from tracline.delivery.deliverer import Deliverer, DeliveryReport
from tracline.delivery.emitter import (
    Emitter,
    emit,
    flush,
    get_emitter,
    reset_emitter,
    wait_delivered,
)
from tracline.delivery.outbox import Outbox, Rejection, SinkState

__all__ = [
    "Deliverer",
    "DeliveryReport",
    "Emitter",
    "Outbox",
    "Recovery",
    "Rejection",
    "SinkState",
    "emit",
    "flush",
    "get_emitter",
    "poke",
    "recover",
    "reset_emitter",
    "service_pid",
    "started_here",
    "wait_delivered",
]
