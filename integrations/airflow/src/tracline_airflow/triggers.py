"""The trigger a gate defers to: it waits for the decision in the triggerer, not a worker.

The waiting itself is :func:`tracline.gating.await_decision` (the poll loop every front door
shares); this module only adapts it to Airflow's trigger protocol.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from tracline.approvals import RequestService, open_requests
from tracline.errors import NotFound
from tracline.gating import RequestAccess, await_decision
from tracline_airflow.compat import BaseTrigger, TriggerEvent

__all__ = ["TraclineRequestTrigger", "open_store"]


def open_store(store_url: str | None) -> RequestAccess:
    """The request service at ``store_url``, else tracline's configured one (the team server
    when ``TRACLINE_URL`` is set)."""
    return RequestService(url=store_url) if store_url else open_requests()


class TraclineRequestTrigger(BaseTrigger):
    """Fires once the training request ``request_id`` leaves ``pending`` (or passes expiry).

    The event carries only the state seen; the gate reads the request again from the store
    when it resumes, so nothing in the trigger's payload is trusted.
    """

    def __init__(self, request_id: str, poll_interval: float = 1.0,
                 store_url: str | None = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # untyped in Airflow
        self.request_id = request_id
        self.poll_interval = float(poll_interval)
        self.store_url = store_url

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and keyword arguments, as the triggerer stores them."""
        return (f"{type(self).__module__}.{type(self).__qualname__}",
                {"request_id": self.request_id, "poll_interval": self.poll_interval,
                 "store_url": self.store_url})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Wait, polling every ``poll_interval`` seconds, until the request is decided."""
        service = open_store(self.store_url)
        try:
            # The claim key does not matter here: only whether the request is still pending.
            decision = await await_decision(service, self.request_id, "",
                                            poll_interval=self.poll_interval)
            outcome = {"request_id": decision.request.id, "state": decision.state}
        except NotFound:
            outcome = {"request_id": self.request_id, "state": "missing"}
        finally:
            service.close()
        yield TriggerEvent(outcome)
