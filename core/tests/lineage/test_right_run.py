"""Lookups choose the run the question is about when several runs wrote the same bytes."""

from __future__ import annotations

import json

from tracline.cli import render_receipt, render_trace
from tracline.hashing import digest_path
from tracline.lineage import receipt, trace

from .pipeline import Pipeline


def _model(pipeline: Pipeline) -> None:
    pipeline.model.parent.mkdir(parents=True, exist_ok=True)
    pipeline.model.write_bytes(b"weights:" + pipeline.train_csv.read_bytes()[:64])


def test_receipt_of_approved_identical_model_shows_its_approval_and_inputs(
        pipeline: Pipeline) -> None:
    """An approved run whose model is byte-identical to an earlier ungated trial's: the
    receipt of the model file shows the approved run, its approval and its inputs."""
    pipeline.prepare()
    _model(pipeline)
    trial = pipeline.recorder.run("train", [], [pipeline.model], argv=["python", "try.py"])
    pipeline.train()  # same bytes, with approval, reading train.csv and params.json
    approved = pipeline.runs["train"]
    made = receipt(str(pipeline.model), registry=pipeline.recorder.registry)
    data = made.to_dict()
    assert data["run"]["run_id"] == approved
    assert data["approval"]["requestId"] == "req-42"
    assert {i["name"].rsplit("/", 1)[-1] for i in data["inputs"]} == {"train.csv", "params.json"}
    assert [r["run_id"] for r in data["sameBytes"]["otherRuns"]] == [trial]
    assert data["sameBytes"]["identicalReruns"] == []
    text = render_receipt(made, "text")
    assert "req-42" in text and f"same bytes also from  tests/train run {trial}" in text


def test_identical_reruns_only_for_the_same_job_and_inputs(pipeline: Pipeline) -> None:
    """Two runs of train on the same inputs are re-runs; a copy job writing the same bytes
    elsewhere is named as another run that made them, not as a re-run."""
    pipeline.prepare()
    pipeline.train()
    first = pipeline.runs["train"]
    pipeline.train()
    second = pipeline.runs["train"]
    copy = pipeline.root / "models" / "copy.bin"
    copy.write_bytes(pipeline.model.read_bytes())
    copier = pipeline.recorder.run("copy_model", [pipeline.params], [copy])
    result = trace(str(pipeline.model), registry=pipeline.recorder.registry)
    root = result.root
    assert root.run is not None and root.run.run_id == second  # the latest write of this file
    assert [r.run_id for r in root.identical_reruns] == [first]
    assert [r.run_id for r in root.also_made_by] == [copier]
    tree = render_trace(result, "tree")
    assert "(+1 identical re-run(s))" in tree
    assert "(same bytes also made by 1 other run(s))" in tree
    via_copy = trace(str(copy), registry=pipeline.recorder.registry).root
    assert via_copy.run is not None and via_copy.run.run_id == copier


def test_input_is_traced_to_the_write_before_the_reading_run(pipeline: Pipeline) -> None:
    """An input is traced to the write of its bytes at that path before the reader started,
    not to an identical rewrite that came after."""
    pipeline.prepare()
    before = pipeline.runs["prepare"]
    pipeline.train()
    pipeline.prepare()  # rewrites train.csv with the same bytes, after train ran
    after = pipeline.runs["prepare"]
    result = trace(str(pipeline.model), registry=pipeline.recorder.registry)
    (train_csv,) = [n for n in result.root.inputs if n.name.endswith("train.csv")]
    assert train_csv.run is not None and train_csv.run.run_id == before
    assert [r.run_id for r in train_csv.identical_reruns] == [after]


def test_digest_question_takes_the_latest_write_anywhere(pipeline: Pipeline) -> None:
    """Asked by digest alone, the latest run that wrote those bytes answers, and the JSON
    names the others."""
    pipeline.prepare()
    pipeline.train()
    first = pipeline.runs["train"]
    copy = pipeline.root / "models" / "copy.bin"
    copy.write_bytes(pipeline.model.read_bytes())
    copier = pipeline.recorder.run("copy_model", [pipeline.model], [copy])
    digest = digest_path(pipeline.model, cache=False).digest
    data = json.loads(render_trace(trace(digest, registry=pipeline.recorder.registry), "json"))
    (root,) = [a for a in data["artifacts"] if a["id"] == data["artifact"]]
    assert root["digest"] == digest and root["madeBy"] == copier
    # the copy's input, the same bytes at the original's name, is traced to its own maker
    assert [r["job_name"] for r in data["runs"]] == ["prepare", "train", "copy_model"]
    assert root["alsoMadeBy"] == [first] and root["identicalReruns"] == []
