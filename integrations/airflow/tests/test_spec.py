"""A gate's request is checked by core's rules when the DAG file is parsed; only what Airflow
knows at run time alone — templated fields and XComArgs — waits until the gate renders it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracline.config import reset_config
from tracline.gating import InvalidGateRequest
from tracline_airflow._spec import check_at_parse, is_templated

POLICY = '[policy]\nreviewers = ["user:chris", "user:dana"]\n'
REQUEST = {
    "title": "Fine-tune", "requester": "agent:trainer", "project": "vision/resnet",
    "datasets": ["s3://bucket/train@sha256:" + "ab" * 32], "gpu_model": "H100",
    "gpu_count": 2, "hours": 3, "budget": 100, "rationale": "Better recall.",
    "reviewers": ["user:chris"],
}


@pytest.fixture(autouse=True)
def _policy(tracline_home: Path) -> None:
    """tracline's configuration with a reviewer policy naming chris and dana."""
    (tracline_home.parent / "tracline.toml").write_text(POLICY)
    reset_config()


def test_templates_and_xcom_args_are_known_at_run_time() -> None:
    """Jinja text and XComArgs (also inside lists) are run-time values; literals are not."""
    from airflow.sdk import task

    @task
    def prepare() -> str:
        return "data.csv"

    assert is_templated("{{ params.budget }}")
    assert is_templated(["s3://b/k", "{% if x %}a{% endif %}"])
    assert is_templated(prepare())
    assert not is_templated("s3://bucket/train")
    assert not is_templated(100)


def test_templated_fields_wait_and_literal_ones_are_judged() -> None:
    """A templated budget passes at parse; a literal negative GPU count is refused by name."""
    templated = {**REQUEST, "budget": "{{ params.budget }}", "hours": "{{ params.hours }}",
                 "datasets": ["{{ ti.xcom_pull(task_ids='prepare') }}"]}
    check_at_parse(templated, "tracline gate 'approve'")
    with pytest.raises(InvalidGateRequest) as caught:
        check_at_parse({**templated, "gpu_count": 0}, "tracline gate 'approve'")
    assert caught.value.field == "gpu_count"
    assert str(caught.value).startswith("tracline gate 'approve': invalid training request: "
                                        "gpu_count:")
