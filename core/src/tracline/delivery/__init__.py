"""Emission: a durable local outbox, and delivery to the configured sinks."""

from tracline.delivery.deliverer import Deliverer, DeliveryReport
from tracline.delivery.emitter import Emitter, emit, flush, get_emitter, reset_emitter
from tracline.delivery.outbox import Outbox, Rejection, SinkState

__all__ = [
    "Deliverer",
    "DeliveryReport",
    "Emitter",
    "Outbox",
    "Rejection",
    "SinkState",
    "emit",
    "flush",
    "get_emitter",
    "reset_emitter",
]
