"""Marquez 0.50's answers, as recorded from a real server (samples/), read as tracline rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tracline.marquez import _parse

SAMPLES = Path(__file__).parent / "samples"
RUN_ID = "01943f4e-1c00-7000-8000-0000000000a1"


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def test_run_as_registry_row() -> None:
    """A run's id, job, state (as an event type) and times (as Python writes them)."""
    row = _parse.run_row(sample("responses/run.json"))
    assert (row.run_id, row.job_namespace, row.job_name) == (RUN_ID, "marquez-check",
                                                             "etl.a_to_b")
    assert row.state == "COMPLETE"
    assert row.started_at == "2026-12-07T03:00:00+00:00"
    assert row.ended_at == "2026-12-07T03:00:42+00:00"
    assert row.parent_run_id is None and row.facets == {}


def test_run_datasets_name_marquez_versions() -> None:
    """What a run read and wrote, by namespace, name and Marquez's version UUID."""
    run = sample("responses/run.json")
    assert _parse.run_datasets(run, "inputDatasetVersions") == [
        ("file", "/data/a.csv", "3026c88a-5dd5-3bdf-8616-8c73e080348b")]
    assert _parse.run_datasets(run, "outputDatasetVersions") == [
        ("file", "/data/b.parquet", "430a088b-9b11-3342-abf5-94f97dec48cb")]


def test_custom_run_facets_survive_and_missing_start_is_none() -> None:
    """A custom run facet comes back in the run's facets; a run seen only at COMPLETE has no
    start time."""
    row = _parse.run_row(sample("responses/run_custom_facets.json"))
    assert row.facets["tracline_cost"]["gpuHours"] == 1.5
    assert row.started_at is None and row.ended_at == "2026-12-07T03:00:42+00:00"


def test_content_digest_from_dataset_facets() -> None:
    """tracline_contentHash in a dataset's facets gives the digest (algorithm-prefixed)."""
    facets = sample("responses/dataset_a.json")["facets"]
    content = _parse.version_content(facets)
    assert content["digest"] == "blake3:" + "ab" * 32
    assert _parse.version_content({"version": {"datasetVersion": "blake3:00"}})["digest"] == \
        "blake3:00"
    assert _parse.version_content({"schema": facets["schema"]})["digest"] is None


def test_artifact_row_times_by_direction() -> None:
    """An output is dated at its run's end, an input at its start."""
    run = _parse.run_row(sample("responses/run.json"))
    facets = sample("responses/dataset_a.json")["facets"]
    out = _parse.artifact_row(run, "out", "file", "/data/a.csv", facets)
    assert out.event_time == run.ended_at and out.digest == "blake3:" + "ab" * 32
    assert _parse.artifact_row(run, "in", "file", "/data/a.csv", None).event_time == \
        run.started_at


def test_writer_jobs_from_the_lineage_graph() -> None:
    """The job with an edge into b.parquet is its writer; a.csv, only read, has none."""
    graph = sample("responses/lineage_b.json")
    assert _parse.writer_jobs(graph, "file", "/data/b.parquet") == [("marquez-check",
                                                                    "etl.a_to_b")]
    assert _parse.writer_jobs(graph, "file", "/data/a.csv") == []


def test_content_found_by_digest_in_raw_events() -> None:
    """Raw events (as sent, as Marquez keeps them) find content by digest or prefix."""
    events = [sample(f"events/{n}.json") for n in ("start", "complete", "custom_facets")]
    digest = "blake3:" + "ab" * 32
    assert list(_parse.event_datasets(events, digest)) == [("file", "/data/a.csv", digest)]
    assert list(_parse.event_datasets(events, "blake3:abab", prefix=True)) == [
        ("file", "/data/a.csv", digest)]
    assert list(_parse.event_datasets(events, "blake3:cdcd", prefix=True)) == []


def test_schema_fields_in_the_dataset_api() -> None:
    """Marquez shows a dataset's schema facet as its fields."""
    datasets = sample("responses/datasets.json")["datasets"]
    fields = {d["name"]: _parse.dataset_fields(d) for d in datasets}
    assert fields == {"/data/a.csv": [("id", "INTEGER"), ("value", "STRING")],
                      "/data/b.parquet": [("id", "INTEGER"), ("total", "DOUBLE")]}


def test_child_job_named_as_in_its_events() -> None:
    """A task run shown under its DAG's job by its simple name gets the event's full name back;
    a full name stays as it is."""
    run = sample("responses/run.json")
    parent = {"run": {"runId": "01943f4e-1c00-7000-8000-0000000000ff"},
              "job": {"namespace": "marquez-check", "name": "etl"}}
    simple = {**run, "jobVersion": {**run["jobVersion"], "name": "a_to_b"},
              "facets": {"parent": parent}}
    assert _parse.run_row(simple).job_name == "etl.a_to_b"
    full = {**run, "facets": {"parent": parent}}
    row = _parse.run_row(full)
    assert row.job_name == "etl.a_to_b" and row.parent_run_id == parent["run"]["runId"]
