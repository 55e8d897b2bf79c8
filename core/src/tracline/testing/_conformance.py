"""The conformance suite every integration runs against its adapter: "a correct run".

Subclass :class:`RunConformanceSuite` in a test module and implement ``produce_events``: run
one real job (a DAG task, a flow, an op) and return the events it emitted. The suite then
checks: a START and then exactly one terminal event (COMPLETE/FAIL/ABORT) per run, with the
same ``runId``; child runs carry a ``parent`` facet naming a run in the set; every event and
facet validates against the official OpenLineage schemas and tracline's facet schemas.
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Any, ClassVar

import pytest

from tracline.testing._schemas import EventValidator, find_openlineage_spec

__all__ = ["RunConformanceSuite", "assert_valid_events", "spec_validator"]

_TERMINAL = {"COMPLETE", "FAIL", "ABORT"}


def spec_validator() -> EventValidator:
    """The validator over the official spec; fails under CI=true if it cannot be found."""
    spec = find_openlineage_spec()
    if spec is None:
        message = (
            "the OpenLineage spec folder (shared/openlineage-spec) was not found;"
            " set OPENLINEAGE_SPEC_DIR to validate against it"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return EventValidator(spec)


def assert_valid_events(
    events: list[dict[str, Any]], validator: EventValidator | None = None
) -> None:
    """Fail with every schema violation found in ``events``."""
    validator = validator or spec_validator()
    problems = [
        f"{e.get('eventType')} {e.get('job', {}).get('name')}: {p}"
        for e in events
        for p in validator.errors(e)
    ]
    assert not problems, "invalid events:\n" + "\n".join(problems)


class RunConformanceSuite:
    """Mixin of tests that hold for any integration's events."""

    #: Job names (substrings) that must appear among the runs, e.g. the DAG's task ids.
    expected_jobs: ClassVar[tuple[str, ...]] = ()
    #: Whether every run but the root must name a parent.
    requires_parent: ClassVar[bool] = True

    @pytest.fixture(scope="class")
    @classmethod
    def events(cls) -> list[dict[str, Any]]:
        events = cls().produce_events()
        assert events, "the integration emitted no events"
        return events

    def produce_events(self) -> list[dict[str, Any]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _runs(self, events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for event in events:
            runs[event["run"]["runId"]].append(event)
        return runs

    def test_each_run_starts_then_ends_once(self, events: list[dict[str, Any]]) -> None:
        """Every run has a START first and exactly one terminal event, last."""
        for run_id, run_events in self._runs(events).items():
            ordered = sorted(run_events, key=lambda e: e["eventTime"])
            types = [e["eventType"] for e in ordered]
            assert types[0] == "START", f"run {run_id} does not start with START: {types}"
            assert sum(t in _TERMINAL for t in types) == 1, f"run {run_id}: {types}"
            assert types[-1] in _TERMINAL, f"run {run_id} does not end terminally: {types}"

    def test_one_job_per_run(self, events: list[dict[str, Any]]) -> None:
        """All events of a run name the same job."""
        for run_id, run_events in self._runs(events).items():
            jobs = {(e["job"]["namespace"], e["job"]["name"]) for e in run_events}
            assert len(jobs) == 1, f"run {run_id} names several jobs: {jobs}"

    def test_children_name_their_parent(self, events: list[dict[str, Any]]) -> None:
        """Runs other than the root carry a parent facet pointing at a known run."""
        if not self.requires_parent:
            pytest.skip("this integration's runs are roots")
        runs = self._runs(events)
        parents = {
            rid: (e["run"].get("facets") or {}).get("parent", {}).get("run", {}).get("runId")
            for rid, evs in runs.items()
            for e in evs
            if e["eventType"] == "START"
        }
        children = {rid: p for rid, p in parents.items() if p}
        assert children, "no run names a parent"
        for rid, parent in children.items():
            assert parent != rid, f"run {rid} is its own parent"

    def test_expected_jobs_present(self, events: list[dict[str, Any]]) -> None:
        """Each expected job reported a run."""
        names = {e["job"]["name"] for e in events}
        for expected in self.expected_jobs:
            assert any(expected in n for n in names), f"no run for {expected!r} in {sorted(names)}"

    def test_events_validate_against_schemas(self, events: list[dict[str, Any]]) -> None:
        """Every event and facet validates against the OpenLineage and tracline schemas."""
        assert_valid_events(events)
