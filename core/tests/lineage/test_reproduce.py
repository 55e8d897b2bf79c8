"""`reproduce --run` on a real captured pipeline, in a scratch worktree."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracline.config import reset_config
from tracline.lineage import plan, reproduce

from .project import Project, git


@pytest.fixture
def project(store_url: str, tracline_home: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """A committed three-step project whose runs are captured into the registry."""
    monkeypatch.setenv("TRACLINE_REGISTRY_URL", store_url)
    monkeypatch.setenv("TRACLINE__CAPTURE__DELIVER", "inline")
    reset_config()
    return Project(tracline_home.parent)


def test_deterministic_pipeline_reproduces_identically(project: Project) -> None:
    """Re-running prepare → train → evaluate gives identical outputs; the checkout is untouched."""
    runs = project.run_all()
    head, status = git(project.root, "rev-parse", "HEAD"), git(project.root, "status", "-s")
    steps = plan(str(project.metrics)).steps
    assert [s.run.run_id for s in steps] == [runs["prepare"], runs["train"], runs["evaluate"]]
    report = reproduce(str(project.metrics))
    assert report.identical, report.to_dict()
    assert [o.name for s in report.steps for o in s.outputs] == [
        "data/test.csv", "data/train.csv", "models/model.bin", "reports/metrics.json"]
    assert all(s.new_run_id for s in report.steps)
    assert git(project.root, "rev-parse", "HEAD") == head
    assert git(project.root, "status", "-s") == status
    assert len(git(project.root, "worktree", "list").splitlines()) == 1


def test_altered_input_is_named(project: Project) -> None:
    """After raw.csv is edited, the re-run names raw.csv and the outputs that then differ."""
    project.run_all()
    before = project.metrics.read_bytes()
    with project.raw.open("a") as f:
        f.write("99,1.5,1\n")
    report = reproduce(str(project.metrics))
    assert not report.identical
    prepare, train, evaluate = report.steps
    assert [c.key for c in prepare.inputs] == ["data/raw.csv"]
    # The new row lands in the test split: train.csv and the model come out identical.
    assert {o.name: o.identical for o in prepare.outputs} == {
        "data/test.csv": False, "data/train.csv": True}
    assert train.inputs == [] and train.identical
    assert [c.key for c in evaluate.inputs] == ["data/test.csv"]
    assert not evaluate.identical
    assert project.metrics.read_bytes() == before  # the user's outputs are not overwritten
    assert any("data/raw.csv is changed" in p for p in report.plan.problems)
