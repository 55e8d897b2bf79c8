"""Test helpers for tracline and its integrations: a recording transport, schema validation,
and the "correct run" conformance suite."""

from tracline.testing._conformance import RunConformanceSuite, assert_valid_events, spec_validator
from tracline.testing._schemas import EventValidator, find_openlineage_spec, iter_facets
from tracline.testing._sweep import sweep_outboxes
from tracline.testing._transport import RecordingTransport

__all__ = [
    "EventValidator",
    "RecordingTransport",
    "RunConformanceSuite",
    "assert_valid_events",
    "find_openlineage_spec",
    "iter_facets",
    "spec_validator",
    "sweep_outboxes",
]
