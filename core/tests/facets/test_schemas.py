"""Contract tests: tracline's facets and events against the official OpenLineage schemas."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from tracline.events import Artifact, ParentRun, event_to_dict, new_run_id, run_event
from tracline.facets import (
    DATASET_FACETS,
    RUN_FACETS,
    CodeVersion,
    Estimate,
    Money,
    PackageRef,
    PackageSet,
    TraclineApprovalRunFacet,
    TraclineExecutionRunFacet,
    TraclineGpuCostRunFacet,
    schema_path,
)
from tracline.testing import spec_validator

DIGEST = "blake3:" + "ab" * 32


def full_event(state: str = "COMPLETE") -> dict:
    """An event carrying every tracline facet and the standard ones tracline adds."""
    facets = {
        "tracline_execution": TraclineExecutionRunFacet(
            argv=["python", "train.py", "--lr", "0.1"],
            cwd="/srv/job",
            exitCode=0,
            code=CodeVersion(commit="0" * 40, branch="main", dirty=True, diffDigest=DIGEST),
            packages=PackageSet(lockDigest=DIGEST, items=[PackageRef("numpy", "2.1.0")]),
            environment={"CUDA_VISIBLE_DEVICES": "0,1"},
        ),
        "tracline_gpuCost": TraclineGpuCostRunFacet(
            measurement="measured",
            gpuModel="NVIDIA H100 80GB HBM3",
            gpuCount=2,
            gpuSeconds=7200.0,
            wallSeconds=3600.0,
            meanUtilization=87.5,
            energyJoules=2.5e6,
            peakMemoryBytes=70 * 2**30,
            pricePerGpuHour=3.0,
            currency="USD",
            priceSource="example list price",
            priceAsOf="2026-11-01",
            cost=6.0,
        ),
        "tracline_approval": TraclineApprovalRunFacet(
            requestId="req-1",
            requestDigest="sha256:" + "cd" * 32,
            approvedBy=["user:chris"],
            decidedAt="2026-11-26T08:00:00+00:00",
            budget=Money(984.0, "USD"),
            requester="agent:tuner",
            estimate=Estimate(860.0, "USD", "8 × 3.2 h × $33.6"),
            approvedGpuHours=25.6,
        ),
    }
    event = run_event(
        state,
        run_id=new_run_id(),
        job_name="pipeline.train",
        namespace="tests",
        inputs=[Artifact.file("/data/features.parquet", DIGEST, 1024)],
        outputs=[Artifact.file("/models/model.pt", DIGEST, 2048, kind="file")],
        parent=ParentRun(new_run_id(), "tests", "pipeline", new_run_id(), "tests", "pipeline"),
        run_facets=facets,
        error=RuntimeError("boom") if state == "FAIL" else None,
    )
    return event_to_dict(event)


@pytest.mark.parametrize("facet_class", [*RUN_FACETS.values(), *DATASET_FACETS.values()])
def test_schema_url_maps_to_a_shipped_file(facet_class: type) -> None:
    """Every tracline facet's _schemaURL names a JSON Schema file inside the installed package."""
    url = facet_class._get_schema()
    path = schema_path(url)
    schema = json.loads(path.read_text())
    Draft202012Validator.check_schema(schema)
    name = url.rsplit("/", 1)[-1]
    assert name in schema["$defs"], f"{url} points at a definition the file lacks"
    assert schema["$id"] == url.split("#")[0]


def test_facet_keys_follow_custom_naming() -> None:
    """Custom facet keys are prefixed with the producer name and camel-cased, as the spec asks."""
    for key in [*RUN_FACETS, *DATASET_FACETS]:
        prefix, _, rest = key.partition("_")
        assert prefix == "tracline" and rest and rest[0].islower() and "_" not in rest


@pytest.mark.parametrize("state", ["START", "RUNNING", "COMPLETE", "FAIL", "ABORT"])
def test_every_state_validates_against_official_spec(state: str) -> None:
    """Events in every state, with all tracline facets, validate against the official schemas."""
    validator = spec_validator()
    event = full_event(state)
    assert validator.errors(event) == []
    assert set(event["run"]["facets"]) >= {"processing_engine", "parent", *RUN_FACETS}
    assert event["job"]["facets"]["jobType"]["jobType"] == "JOB"
    if state == "FAIL":
        assert "boom" in event["run"]["facets"]["errorMessage"]["message"]


def test_version_facet_carries_the_digest() -> None:
    """The standard version facet equals the content digest, so Marquez versions by content."""
    event = full_event()
    for dataset in event["inputs"] + event["outputs"]:
        assert dataset["facets"]["version"]["datasetVersion"] == DIGEST
        assert dataset["facets"]["tracline_contentHash"]["digest"] == DIGEST


@pytest.mark.parametrize(
    ("path", "value", "complaint"),
    [
        (("run", "facets", "tracline_gpuCost", "gpuCount"), -1, "minimum"),
        (("run", "facets", "tracline_gpuCost", "measurement"), "guessed", "is not one of"),
        (("run", "facets", "tracline_approval", "approvedBy"), ["agent:bot"], "does not match"),
        (("run", "facets", "tracline_approval", "approvedBy"), [], "should be non-empty"),
        (("outputs", 0, "facets", "tracline_contentHash", "digest"), "md5:abc", "does not match"),
        (("run", "runId"), "not-a-uuid", "uuid"),
    ],
)
def test_validator_catches_bad_facets(path: tuple, value: object, complaint: str) -> None:
    """The validator reports a facet that breaks its schema (so a passing check means something)."""
    validator = spec_validator()
    event = full_event()
    node = event
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    errors = validator.errors(event)
    assert any(complaint in e for e in errors), errors


@pytest.mark.parametrize("state", ["START", "COMPLETE", "FAIL"])
def test_emit_serializer_matches_openlineage_serde(state: str) -> None:
    """The emit path's one-pass serializer gives exactly openlineage-python's Serde.to_dict."""
    from openlineage.client.serde import Serde

    from tracline.delivery._serde import to_plain
    from tracline.facets import CodeVersion, TraclineExecutionRunFacet

    facets = {
        "tracline_execution": TraclineExecutionRunFacet(
            argv=["python"], cwd="/", code=CodeVersion(commit="a" * 40), environment={}
        )
    }
    event = run_event(
        state, run_id=new_run_id(), job_name="j", namespace="ns",
        inputs=[Artifact.file("/a", DIGEST, 1), Artifact.file("/no-digest")],
        parent=ParentRun(new_run_id(), "ns", "dag"), run_facets=facets,
        error=ValueError("x") if state == "FAIL" else None,
    )
    assert to_plain(event) == Serde.to_dict(event)
