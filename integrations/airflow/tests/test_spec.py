"""A gate's request is checked by tracline's own rules when the DAG file is parsed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracline.approvals import DatasetRef
from tracline.config import load_config
from tracline_airflow._spec import InvalidGateRequest, check_at_parse, spec_from_mapping

POLICY = '[policy]\nreviewers = ["user:chris", "user:dana"]\n'
REQUEST = {
    "title": "Fine-tune", "requester": "agent:trainer", "project": "vision/resnet",
    "datasets": ["s3://bucket/train@sha256:" + "ab" * 32], "gpu_model": "H100",
    "gpu_count": 2, "hours": 3, "budget": 100, "rationale": "Better recall.",
    "reviewers": ["user:chris"],
}


@pytest.fixture
def config(tracline_home: Path) -> object:
    """tracline's configuration with a reviewer policy naming chris and dana."""
    (tracline_home.parent / "tracline.toml").write_text(POLICY)
    return load_config()


def test_a_valid_request_passes(config: object) -> None:
    """A complete request within policy raises nothing."""
    check_at_parse(REQUEST, "tracline gate 'approve'", config)  # type: ignore[arg-type]


def test_negative_budget_names_field_gate_and_fix(config: object) -> None:
    """A negative budget fails with the gate, the field and what to do."""
    with pytest.raises(InvalidGateRequest) as caught:
        check_at_parse({**REQUEST, "budget": -5}, "tracline gate 'approve'", config)  # type: ignore[arg-type]
    assert caught.value.field == "budget"
    assert str(caught.value) == ("tracline gate 'approve': invalid training request: budget: "
                                 "must be positive, not -5; give a budget above zero")


def test_reviewer_policy_does_not_know_is_refused(config: object) -> None:
    """A reviewer outside [policy] reviewers is refused, naming the allowed ones."""
    with pytest.raises(InvalidGateRequest) as caught:
        check_at_parse({**REQUEST, "reviewers": ["user:mallory"]}, "g", config)  # type: ignore[arg-type]
    assert caught.value.field == "reviewers[0]"
    assert "user:mallory may not review" in str(caught.value)
    assert "user:chris, user:dana" in str(caught.value)


def test_budget_below_estimate_is_refused(config: object) -> None:
    """A budget under the estimate (no over-estimate reason) is refused with the arithmetic."""
    with pytest.raises(InvalidGateRequest) as caught:
        check_at_parse({**REQUEST, "budget": 10}, "g", config)  # type: ignore[arg-type]
    assert "shortfall" in str(caught.value)


def test_templated_fields_wait_for_run_time(config: object) -> None:
    """Templated fields are not judged at parse; the literal ones still are."""
    templated = {**REQUEST, "budget": "{{ params.budget }}", "hours": "{{ params.hours }}",
                 "datasets": ["{{ ti.xcom_pull(task_ids='prepare') }}"]}
    check_at_parse(templated, "g", config)  # type: ignore[arg-type]
    with pytest.raises(InvalidGateRequest, match="gpu_count"):
        check_at_parse({**templated, "gpu_count": 0}, "g", config)  # type: ignore[arg-type]


def test_missing_and_unknown_fields_are_named(config: object) -> None:
    """A missing or misspelt field is named, with the fields a request has."""
    without = {k: v for k, v in REQUEST.items() if k != "rationale"}
    with pytest.raises(InvalidGateRequest, match=r"request\.rationale: is missing"):
        check_at_parse(without, "g", config)  # type: ignore[arg-type]
    with pytest.raises(InvalidGateRequest, match=r"request\.gpus: is not a training-request"):
        check_at_parse({**REQUEST, "gpus": 2}, "g", config)  # type: ignore[arg-type]


def test_rendered_text_becomes_a_spec() -> None:
    """Rendered templates (text) become numbers, dataset refs and reviewer lists."""
    spec = spec_from_mapping({**REQUEST, "gpu_count": "4", "reviewers": "user:chris, user:dana",
                              "datasets": "s3://b/k@sha256:" + "cd" * 32})
    assert spec.gpu_count == 4
    assert list(spec.reviewers) == ["user:chris", "user:dana"]
    assert spec.datasets == [DatasetRef("s3://b/k", "sha256:" + "cd" * 32)]
