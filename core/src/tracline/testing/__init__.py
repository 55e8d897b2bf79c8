"""Test helpers for tracline and its integrations: a recording transport, schema validation,
the "correct run" conformance suite, and the gated-run lifecycle's conformance suite."""

from tracline.testing._browser import CHROMIUM_FLAGS, chromium
from tracline.testing._conformance import RunConformanceSuite, assert_valid_events, spec_validator
from tracline.testing._gating import (
    GATE_POLICY,
    OVERRUN_CHILD,
    GatedResult,
    GatedRunConformanceSuite,
    conformance_request,
)
from tracline.testing._schemas import EventValidator, find_openlineage_spec, iter_facets
from tracline.testing._sweep import sweep_outboxes
from tracline.testing._transport import RecordingTransport

__all__ = [
    "CHROMIUM_FLAGS",
    "GATE_POLICY",
    "OVERRUN_CHILD",
    "EventValidator",
    "GatedResult",
    "GatedRunConformanceSuite",
    "RecordingTransport",
    "RunConformanceSuite",
    "assert_valid_events",
    "chromium",
    "conformance_request",
    "find_openlineage_spec",
    "iter_facets",
    "spec_validator",
    "sweep_outboxes",
]
