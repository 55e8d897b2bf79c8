"""The trigger a gate defers to: it polls the request store in the triggerer, not a worker."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator
from typing import Any

from tracline.approvals import RequestService, State
from tracline.errors import NotFound, TraclineError
from tracline_airflow.compat import BaseTrigger, TriggerEvent

__all__ = ["TraclineRequestTrigger"]

log = logging.getLogger(__name__)


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

    def _look(self, service: RequestService) -> dict[str, Any] | None:
        request = service.get(self.request_id)
        expired = request.expires_at <= dt.datetime.now(dt.UTC)
        if request.state == State.PENDING and not expired:
            return None
        return {"request_id": request.id,
                "state": State.EXPIRED.value if request.state == State.PENDING else
                request.state.value}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll every ``poll_interval`` seconds until the request is decided."""
        service = RequestService(url=self.store_url)
        failures = 0
        try:
            while True:
                try:
                    outcome = await asyncio.to_thread(self._look, service)
                    failures = 0
                except NotFound:
                    outcome = {"request_id": self.request_id, "state": "missing"}
                except TraclineError as e:
                    # A store that is briefly locked or unreachable is retried; the request
                    # itself still decides, so the gate stays closed meanwhile.
                    failures += 1
                    if failures in (1, 10) or failures % 100 == 0:
                        log.warning("tracline: cannot read request %s (%d tries): %s",
                                    self.request_id, failures, e)
                    outcome = None
                if outcome is not None:
                    yield TriggerEvent(outcome)
                    return
                await asyncio.sleep(self.poll_interval)
        finally:
            service.close()
