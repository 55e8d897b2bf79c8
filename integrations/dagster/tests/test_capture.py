"""Run capture under real Dagster: content digests as data versions, metadata on the
materialization, step events that name the Dagster run and connect steps by digest."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import blake3
import dagster as dg
import pytest
from _dagster_harness import Project

from tracline.testing import assert_valid_events
from tracline_dagster import TraclineResource

ASSETS = ("raw", "features", "model")


def _materialize(pipeline: Any, project: Project) -> dg.ExecuteInProcessResult:
    result = dg.materialize([pipeline.raw, pipeline.features, pipeline.model],
                            resources={"tracline": TraclineResource()},
                            instance=project.instance)
    assert result.success
    return result


def _versions(project: Project) -> dict[str, str | None]:
    versions = {}
    for name in ASSETS:
        event = project.instance.get_latest_materialization_event(dg.AssetKey(name))
        assert event is not None and event.asset_materialization is not None
        versions[name] = event.asset_materialization.tags.get("dagster/data_version")
    return versions


def _blake3(path: Path) -> str:
    return "blake3:" + blake3.blake3(path.read_bytes()).hexdigest()


def test_data_versions_are_the_blake3_digests_of_the_files(pipeline: Any,
                                                           project: Project) -> None:
    """Each asset's data version is the BLAKE3 digest of the file its step wrote."""
    _materialize(pipeline, project)
    files = {"raw": "raw.csv", "features": "features.csv", "model": "model.bin"}
    versions = _versions(project)
    for name, file in files.items():
        assert versions[name] == _blake3(project.data / file), name
    if shutil.which("b3sum"):  # an independent implementation agrees
        out = subprocess.run(["b3sum", "--no-names", str(project.data / "model.bin")],
                             capture_output=True, text=True, check=True).stdout.strip()
        assert versions["model"] == f"blake3:{out}"


def test_unchanged_inputs_keep_versions_and_a_changed_input_changes_them(
        pipeline: Any, project: Project) -> None:
    """Materialising again over the same data keeps every data version; a changed source
    file changes all three."""
    _materialize(pipeline, project)
    first = _versions(project)
    _materialize(pipeline, project)
    assert _versions(project) == first
    (project.data / "source.csv").write_text("id,value\n1,10\n2,21\n")
    _materialize(pipeline, project)
    changed = _versions(project)
    assert all(changed[name] != first[name] for name in ASSETS), (first, changed)
    assert changed["raw"] == _blake3(project.data / "raw.csv")


def test_materialization_metadata_shows_digest_files_cost_and_approval(
        pipeline: Any, project: Project) -> None:
    """The materialization carries the digest, the files read and written, the cost and
    the approval (none for an ungated run), plus the asset's own metadata."""
    _materialize(pipeline, project)
    event = project.instance.get_latest_materialization_event(dg.AssetKey("model"))
    assert event is not None and event.asset_materialization is not None
    metadata = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    assert metadata["tracline/digest"] == _blake3(project.data / "model.bin")
    assert "model.bin" in str(metadata["tracline/outputs"])
    assert "features.csv" in str(metadata["tracline/inputs"])
    assert "no GPU" in str(metadata["tracline/gpu_cost"])
    assert str(metadata["tracline/approval"]).startswith("none")
    assert metadata["rows"] == 3


def test_steps_are_children_of_the_run_and_connect_by_digest(pipeline: Any,
                                                             project: Project) -> None:
    """Each step's events name the Dagster run as parent; what one step wrote is what the
    next read, by digest; every event is valid against the OpenLineage schemas."""
    result = _materialize(pipeline, project)
    events = project.events()
    assert_valid_events(events)
    ends = {e["job"]["name"].rsplit(".", 1)[-1]: e for e in events
            if e["eventType"] == "COMPLETE"}
    assert set(ASSETS) <= set(ends)
    for name in ASSETS:
        parent = ends[name]["run"]["facets"]["parent"]
        assert parent["run"]["runId"] == result.run_id
        assert parent["job"]["name"] == "assets"

    def digests(event: dict[str, Any], role: str) -> dict[str, str]:
        return {Path(d["name"]).name: d["facets"]["version"]["datasetVersion"]
                for d in event[role]}

    assert digests(ends["raw"], "outputs")["raw.csv"] == digests(ends["features"],
                                                                 "inputs")["raw.csv"]
    assert digests(ends["features"], "outputs")["features.csv"] == digests(
        ends["model"], "inputs")["features.csv"]
    recipe = ends["model"]["run"]["facets"]["tracline_execution"]["callable"]
    assert recipe["module"] == "tracline_dagster_test_pipeline"
    assert recipe["qualname"] == "model"
    assert recipe["sourceDigest"].startswith("blake3:")


def test_a_failing_step_reports_fail_and_dagster_sees_the_error(project: Project) -> None:
    """A step whose body raises reports FAIL with the error; Dagster's run fails as it
    would without tracline."""
    from tracline_dagster import traced

    @dg.asset
    @traced
    def broken() -> None:
        (Path("data") / "half.txt").write_text("partial")
        raise ValueError("bad rows")

    result = dg.materialize([broken], resources={"tracline": TraclineResource()},
                            instance=project.instance, raise_on_error=False)
    assert not result.success
    fails = [e for e in project.events() if e["eventType"] == "FAIL"]
    assert len(fails) == 1
    assert "bad rows" in fails[0]["run"]["facets"]["errorMessage"]["message"]
    assert [Path(o["name"]).name for o in fails[0]["outputs"]] == ["half.txt"]


def test_turned_off_tracline_records_nothing_and_keeps_dagsters_version(
        pipeline: Any, project: Project) -> None:
    """With the resource's enabled=False, assets materialise as plain Dagster assets."""
    result = dg.materialize([pipeline.raw], resources={
        "tracline": TraclineResource(enabled=False)}, instance=project.instance)
    assert result.success
    event = project.instance.get_latest_materialization_event(dg.AssetKey("raw"))
    assert event is not None and event.asset_materialization is not None
    assert "tracline/digest" not in event.asset_materialization.metadata
    assert project.events() == []


@pytest.mark.parametrize(("fields", "message"), [
    ({"namespace": ""}, "TraclineResource.namespace is empty"),
    ({"project_dir": "/nonexistent/folder"}, "project_dir '/nonexistent/folder' is not a folder"),
    ({"home": " "}, "TraclineResource.home is empty"),
])
def test_invalid_resource_configuration_fails_when_definitions_load(
        project: Project, fields: dict[str, Any], message: str) -> None:
    """A bad value in the resource fails where the Definitions are built, naming it."""
    from tracline.errors import ConfigError

    with pytest.raises(ConfigError) as raised:
        dg.Definitions(resources={"tracline": TraclineResource(**fields)})
    assert message in str(raised.value)
    assert raised.value.hint


def test_a_broken_tracline_toml_fails_the_code_location_load(project: Project) -> None:
    """A tracline.toml with an unknown key fails `dagster definitions validate` with the key
    and the file named, not a traceback of tracline's internals."""
    (project.root / "tracline.toml").write_text("[tracline]\nnamespce = 'x'\n")
    code = project.root / "defs.py"
    code.write_text("import dagster as dg\nfrom tracline_dagster import TraclineResource\n"
                    "defs = dg.Definitions(resources={'tracline': TraclineResource()})\n")
    import sys

    dagster = Path(sys.executable).parent / "dagster"
    done = subprocess.run([str(dagster), "definitions", "validate", "-f", str(code)],
                          capture_output=True, text=True, cwd=project.root, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "unknown key 'namespce' in [tracline]" in output, output


def test_ops_and_multi_assets_are_captured_too(project: Project) -> None:
    """An @op job's steps report their files under `<job>.<op>`; a multi-asset's assets each
    get the digest of the file their metadata names as data version."""
    from tracline_dagster import traced

    @dg.op
    @traced
    def copy_source() -> None:
        (Path("data") / "copy.csv").write_bytes((Path("data") / "source.csv").read_bytes())

    @dg.job
    def copying() -> None:
        copy_source()

    assert copying.execute_in_process(instance=project.instance,
                                      resources={"tracline": TraclineResource()}).success

    @dg.multi_asset(specs=[dg.AssetSpec("left", metadata={"path": "data/left.txt"}),
                           dg.AssetSpec("right", metadata={"path": "data/right.txt"})])
    @traced
    def split() -> Iterator[dg.MaterializeResult]:
        (Path("data") / "left.txt").write_text("L")
        yield dg.MaterializeResult(asset_key="left")
        (Path("data") / "right.txt").write_text("R")
        yield dg.MaterializeResult(asset_key="right")

    assert dg.materialize([split], resources={"tracline": TraclineResource()},
                          instance=project.instance).success
    for name in ("left", "right"):
        event = project.instance.get_latest_materialization_event(dg.AssetKey(name))
        assert event is not None and event.asset_materialization is not None
        assert event.asset_materialization.tags["dagster/data_version"] == _blake3(
            project.data / f"{name}.txt")
    ends = {e["job"]["name"]: e for e in project.events() if e["eventType"] == "COMPLETE"}
    assert [Path(o["name"]).name for o in ends["copying.copy_source"]["outputs"]] == ["copy.csv"]
    recipe = ends["copying.copy_source"]["run"]["facets"]["tracline_execution"]["callable"]
    assert recipe["qualname"].endswith("copy_source")
