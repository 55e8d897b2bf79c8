"""Upstream lineage walks over a real pipeline recorded through the outbox."""

from __future__ import annotations

import json
import shutil

import pytest

from tracline.cli import render_trace
from tracline.errors import NotFound, ValidationError
from tracline.hashing import digest_path
from tracline.lineage import trace

from .pipeline import Pipeline


def _names(node) -> set[str]:  # type: ignore[no-untyped-def]
    return {n.name.rsplit("/", 1)[-1] for n in node.walk()}


def test_trace_from_metrics_reaches_raw_csv(pipeline: Pipeline) -> None:
    """The trace of the evaluation report reaches raw.csv through evaluate, train and prepare."""
    pipeline.all()
    result = trace(str(pipeline.metrics), registry=pipeline.recorder.registry)
    assert {"metrics.json", "model.bin", "test.csv", "train.csv", "params.json", "raw.csv"} \
        <= _names(result.root)
    assert [r.job_name for r in result.runs()] == ["prepare", "train", "evaluate"]
    raw = next(n for n in result.root.walk() if n.name.endswith("raw.csv") and not n.repeat)
    assert raw.run is None and raw.digest == digest_path(pipeline.raw, cache=False).digest
    assert not result.truncated


def test_trace_marks_shared_inputs_once(pipeline: Pipeline) -> None:
    """An artifact reached twice (test.csv via prepare and directly) is expanded only once."""
    pipeline.all()
    result = trace(str(pipeline.metrics), registry=pipeline.recorder.registry)
    prepares = [n for n in result.root.walk() if n.run and n.run.job_name == "prepare"
                and not n.repeat]
    assert len({n.run.run_id for n in prepares if n.run}) == 1
    raws = [n for n in result.root.walk() if n.name.endswith("raw.csv")]
    assert sum(not n.repeat for n in raws) == 1


def test_trace_by_digest_and_by_prefix(pipeline: Pipeline) -> None:
    """A full digest and a 12-digit prefix resolve to the same artifact as the path."""
    pipeline.all()
    digest = digest_path(pipeline.model, cache=False).digest
    registry = pipeline.recorder.registry
    by_digest = trace(digest, registry=registry)
    by_prefix = trace(digest[: len("blake3:") + 12], registry=registry)
    assert by_digest.root.name == by_prefix.root.name == str(pipeline.model.resolve())
    assert by_digest.root.run is not None and by_digest.root.run.job_name == "train"


def test_depth_limit_marks_truncation(pipeline: Pipeline) -> None:
    """With depth 1 the walk stops after the producing run and says more lies upstream."""
    pipeline.all()
    result = trace(str(pipeline.metrics), depth=1, registry=pipeline.recorder.registry)
    assert [r.job_name for r in result.runs()] == ["evaluate"]
    assert result.truncated
    assert "raise --depth" in render_trace(result, "tree")


def test_changed_file_falls_back_to_latest_version_with_note(pipeline: Pipeline) -> None:
    """A file edited since it was recorded resolves to its last recorded version, with a note."""
    pipeline.all()
    recorded = digest_path(pipeline.model, cache=False).digest
    pipeline.model.write_bytes(b"retrained by hand")
    result = trace(str(pipeline.model), registry=pipeline.recorder.registry)
    assert result.root.digest == recorded
    assert result.note and "changed since" in result.note


def test_cycle_is_walked_once(pipeline: Pipeline) -> None:
    """A run that rewrites its own input unchanged does not make the walk loop."""
    pipeline.prepare()
    pipeline.recorder.run("touch", [pipeline.raw], [pipeline.raw])
    result = trace(str(pipeline.raw), registry=pipeline.recorder.registry)
    assert len(list(result.root.walk())) == 2
    assert result.root.inputs[0].repeat


def test_a_byte_copy_is_traced_to_the_maker_of_its_original(pipeline: Pipeline) -> None:
    """A model published by copying it byte for byte traces through the copy to the run that
    trained the original: the same digest at another name is another artifact, not the root
    met again. The copy is named on the original as another writer of those bytes."""
    pipeline.all()
    release = pipeline.root / "release" / "model.bin"
    release.parent.mkdir()
    shutil.copyfile(pipeline.model, release)
    publish = pipeline.recorder.run("publish", [pipeline.model], [release])
    result = trace(str(release), registry=pipeline.recorder.registry)
    assert result.root.run is not None and result.root.run.run_id == publish
    (original,) = result.root.inputs
    assert original.name == str(pipeline.model.resolve()) and not original.repeat
    assert original.digest == result.root.digest
    assert original.run is not None and original.run.job_name == "train"
    assert [r.job_name for r in result.runs()] == ["prepare", "train", "publish"]
    assert "raw.csv" in _names(result.root)
    assert [r.run_id for r in original.also_made_by] == [publish]
    data = json.loads(render_trace(result, "json"))
    assert len({a["id"] for a in data["artifacts"]}) == len(data["artifacts"])
    assert [r["job_name"] for r in data["runs"]] == ["prepare", "train", "publish"]


def test_formats_mermaid_dot_json(pipeline: Pipeline) -> None:
    """Mermaid, DOT and JSON renderings name every run and artifact of the trace."""
    pipeline.all()
    result = trace(str(pipeline.metrics), registry=pipeline.recorder.registry)
    mermaid, dot = render_trace(result, "mermaid"), render_trace(result, "dot")
    assert mermaid.startswith("flowchart LR") and "raw.csv" in mermaid and "-->" in mermaid
    assert dot.startswith("digraph lineage") and "raw.csv" in dot and "->" in dot
    data = json.loads(render_trace(result, "json"))
    assert [r["job_name"] for r in data["runs"]] == ["prepare", "train", "evaluate"]
    assert mermaid.count("-->") == dot.count("->") == 9  # three runs, three edges each


def test_unknown_path_and_digest_are_clear_errors(pipeline: Pipeline) -> None:
    """Unknown files, unknown digests and malformed digests each raise a clear error."""
    pipeline.all()
    registry = pipeline.recorder.registry
    stranger = pipeline.root / "stranger.txt"
    stranger.write_text("never recorded")
    with pytest.raises(NotFound, match=r"stranger\.txt") as e:
        trace(str(stranger), registry=registry)
    assert e.value.hint and "tracline run" in e.value.hint
    with pytest.raises(NotFound, match="no artifact with digest"):
        trace("blake3:" + "0" * 64, registry=registry)
    with pytest.raises(ValidationError, match="not a blake3 digest"):
        trace("blake3:xyz", registry=registry)
    with pytest.raises(ValidationError, match="unknown digest algorithm"):
        trace("md5:" + "0" * 32, registry=registry)
    with pytest.raises(NotFound, match="no such file"):
        trace("data/nothing-here.csv", registry=registry)
