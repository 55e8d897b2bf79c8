"""Run-versus-run diffs of recorded runs."""

from __future__ import annotations

import pytest

from tracline.errors import NotFound, ValidationError
from tracline.lineage import diff_runs

from .pipeline import Pipeline


def test_diff_names_changed_input_packages_env_and_cost(pipeline: Pipeline) -> None:
    """Two train runs differ exactly in train.csv's digest, numpy's version, an env var, cost."""
    pipeline.prepare()
    pipeline.train()
    first = pipeline.runs["train"]
    pipeline.train_csv.write_text(pipeline.train_csv.read_text() + "99,1.0,1.0,a\n")
    second = pipeline.recorder.run(
        "train", [pipeline.train_csv, pipeline.params], [pipeline.model],
        argv=["python", "train.py", "--lr", "0.1"], cost=24.0,
        packages={"numpy": "2.2.0", "torch": "2.5.1"}, env={"PYTHONHASHSEED": "1"})
    diff = diff_runs(first, second[-12:], registry=pipeline.recorder.registry)
    assert not diff.same_recipe
    assert [c.key for c in diff.section("inputs")] == ["data/train.csv"]
    assert {(c.key, c.kind) for c in diff.section("packages")} == {("numpy", "changed"),
                                                                    ("torch", "added")}
    assert [(c.before, c.after) for c in diff.section("environment")] == [("0", "1")]
    assert ("cost", 20.0, 24.0) in {(c.key, c.before, c.after) for c in diff.section("cost")}
    assert diff.section("argv") == [] and diff.section("code") == []
    assert diff.to_dict()["changes"]["inputs"][0]["kind"] == "changed"


def test_identical_reruns_have_the_same_recipe(pipeline: Pipeline) -> None:
    """Re-recording the same step over the same files gives a diff with the same recipe."""
    pipeline.prepare()
    first = pipeline.runs["prepare"]
    pipeline.prepare()
    diff = diff_runs(first, pipeline.runs["prepare"], registry=pipeline.recorder.registry)
    assert diff.same_recipe and diff.changes == []


def test_unknown_or_ambiguous_run_ids(pipeline: Pipeline) -> None:
    """An unknown run id is NotFound; a too-short one is a ValidationError with a hint."""
    pipeline.prepare()
    registry = pipeline.recorder.registry
    with pytest.raises(NotFound, match="no run"):
        diff_runs("ffffffff-0000", pipeline.runs["prepare"], registry=registry)
    with pytest.raises(ValidationError, match="too short") as e:
        diff_runs("01", pipeline.runs["prepare"], registry=registry)
    assert e.value.hint
