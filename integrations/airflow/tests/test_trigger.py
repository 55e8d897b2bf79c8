"""The gate's trigger polls a real request store and fires once a human decided."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from pathlib import Path
from typing import Any

import pytest

from tracline.approvals import RequestService, RequestSpec
from tracline_airflow.triggers import TraclineRequestTrigger


def _spec(tmp: Path, **changes: Any) -> RequestSpec:
    data = tmp / "train.csv"
    data.write_text("x,y\n1,2\n")
    fields: dict[str, Any] = {
        "title": "Fine-tune", "requester": "agent:trainer", "project": "tests",
        "datasets": [str(data)], "gpu_model": "H100", "gpu_count": 1, "hours": "0.5",
        "budget": "20", "rationale": "A test.", "reviewers": ["user:chris"], **changes}
    return RequestSpec(**fields)


@pytest.fixture
def store(tracline_home: Path) -> RequestService:
    """An empty SQLite request store."""
    tracline_home.mkdir(parents=True, exist_ok=True)
    return RequestService(url=f"sqlite:///{tracline_home / 'requests.db'}")


def _first_event(trigger: TraclineRequestTrigger) -> dict[str, Any]:
    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(asyncio.wait_for(first(), timeout=60))


def test_fires_when_approved_from_another_thread(store: RequestService, tracline_home: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A pending request keeps the trigger waiting; an approval in another thread fires it."""
    request = store.file(_spec(tracline_home.parent))
    trigger = TraclineRequestTrigger(request.id, poll_interval=0.1, store_url=store.url)
    seen: list[str] = []
    read = RequestService.get

    def counted(self: RequestService, request_id: str) -> Any:
        seen.append(request_id)  # a spy: every look still reads the real store
        return read(self, request_id)

    monkeypatch.setattr(RequestService, "get", counted)

    def approve_once_polled() -> None:
        # Approve only after the trigger has looked at the pending request at least once.
        while not seen:
            threading.Event().wait(0.05)
        store.approve(request.id, "user:chris")

    thread = threading.Thread(target=approve_once_polled)
    thread.start()
    event = _first_event(trigger)
    thread.join()
    assert event == {"request_id": request.id, "state": "approved"}
    assert len(seen) >= 2, "the trigger fired without having seen the request pending"


def test_fires_on_rejection(store: RequestService, tracline_home: Path) -> None:
    """A rejected request fires the trigger with state rejected."""
    request = store.file(_spec(tracline_home.parent))
    store.reject(request.id, "user:chris", "use the small model first")
    event = _first_event(TraclineRequestTrigger(request.id, 0.1, store.url))
    assert event["state"] == "rejected"


def test_fires_when_the_request_expires(store: RequestService, tracline_home: Path) -> None:
    """A request nobody decided fires as expired once its expiry passes."""
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    request = store.file(_spec(tracline_home.parent, expires_at=soon))
    event = _first_event(TraclineRequestTrigger(request.id, 0.1, store.url))
    assert event == {"request_id": request.id, "state": "expired"}


def test_unknown_request_fires_missing(store: RequestService) -> None:
    """A request id the store does not know fires at once instead of polling forever."""
    event = _first_event(TraclineRequestTrigger("req-000000000000", 0.1, store.url))
    assert event["state"] == "missing"


def test_serializes_to_its_own_class_path() -> None:
    """The triggerer can rebuild the trigger from what it serializes."""
    path, kwargs = TraclineRequestTrigger("req-1", 2.0, None).serialize()
    assert path == "tracline_airflow.triggers.TraclineRequestTrigger"
    assert TraclineRequestTrigger(**kwargs).serialize() == (path, kwargs)
