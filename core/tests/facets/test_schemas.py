"""Contract tests: tracline's facets and events against the official OpenLineage schemas."""

from __future__ import annotations

import json
import typing

import attrs
import pytest
from jsonschema import Draft202012Validator

from tracline.events import Artifact, ParentRun, new_run_id, run_event, to_dict
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
    return to_dict(event)


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


def _properties(node: dict) -> tuple[dict, set[str]]:
    """(properties, required) of an object schema, looking through allOf's facet base."""
    if "allOf" in node:
        node = node["allOf"][-1]
    return node.get("properties", {}), set(node.get("required", []))


def _attrs_classes(annotation: object) -> list[type]:
    """The attrs classes an annotation names (``X | None``, ``list[X]``)."""
    if isinstance(annotation, type) and attrs.has(annotation):
        return [annotation]
    return [c for arg in typing.get_args(annotation) for c in _attrs_classes(arg)]


def _assert_equal(cls: type, schema: dict, where: str) -> None:
    properties, required = _properties(schema)
    fields = {f.name: f for f in attrs.fields(attrs.resolve_types(cls))
              if not f.name.startswith("_")}  # the facet base's _producer, _schemaURL, ...
    assert set(fields) == set(properties), f"{where}: fields differ from the schema"
    no_default = {name for name, f in fields.items() if f.default is attrs.NOTHING}
    assert no_default == required, f"{where}: required fields differ from the schema"
    for name, field in fields.items():
        nested = _attrs_classes(field.type)
        prop = properties[name]
        if prop.get("type") == "array" or "array" in (prop.get("type") or []):
            prop = prop.get("items", {})
        if nested:
            assert prop.get("properties"), f"{where}.{name}: a class where the schema has none"
            _assert_equal(nested[0], prop, f"{where}.{name}")
        else:
            assert not prop.get("properties"), f"{where}.{name}: an object without a class"


@pytest.mark.parametrize("facet_class", [*RUN_FACETS.values(), *DATASET_FACETS.values()])
def test_facet_classes_equal_their_schemas(facet_class: type) -> None:
    """Each facet class (and its nested classes) has exactly its schema's fields and required
    fields, so the schema stays the one definition of the facet."""
    url = facet_class._get_schema()
    name = url.rsplit("/", 1)[-1]
    schema = json.loads(schema_path(url).read_text())["$defs"][name]
    _assert_equal(facet_class, schema, name)


def test_tracline_facets_keep_tracline_producer_whatever_the_host_sets() -> None:
    """A facet built without a producer carries tracline's, even after a host (Airflow's
    provider) sets openlineage-python's process-wide producer to its own."""
    from openlineage.client import set_producer
    from openlineage.client.facet_v2 import PRODUCER as BEFORE

    from tracline.config import PRODUCER

    set_producer("https://github.com/apache/airflow/tree/providers-openlineage/2.0.0")
    try:
        facets = [cls(**{f.name: _example(f) for f in attrs.fields(attrs.resolve_types(cls))
                         if f.default is attrs.NOTHING and not f.name.startswith("_")})
                  for cls in [*RUN_FACETS.values(), *DATASET_FACETS.values()]]
        event = run_event("START", run_id=new_run_id(), job_name="j", namespace="n",
                          inputs=[Artifact.file("/a", DIGEST, 1)])
    finally:
        set_producer(BEFORE)
    assert [f._producer for f in facets] == [PRODUCER] * len(facets)
    data = to_dict(event)
    assert data["producer"] == data["run"]["facets"]["processing_engine"]["_producer"] == PRODUCER
    assert data["inputs"][0]["facets"]["version"]["_producer"] == PRODUCER


def _example(field: attrs.Attribute) -> object:
    """A value of a required facet field's type (enough to construct the class)."""
    kind = field.type
    if kind is int:
        return 1
    if kind is float:
        return 1.0
    if typing.get_origin(kind) is list:
        return ["user:x"]
    if _attrs_classes(kind):
        return _attrs_classes(kind)[0](1.0, "USD")
    return "measured" if field.name == "measurement" else "x"
