"""One parser for ``URI@digest`` and one mapping → RequestSpec conversion, checked before any
work runs, for the CLI and every orchestrator's gate alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tracline.approvals import DatasetRef, ModelRef, RequestSpec
from tracline.cli import main
from tracline.config import load_config, reset_config
from tracline.gating import InvalidGateRequest, check_request, parse_ref, spec_from_mapping

POLICY = '[policy]\nreviewers = ["user:chris", "user:dana"]\n'
HEX = "ab" * 32
REQUEST: dict[str, Any] = {
    "title": "Fine-tune", "requester": "agent:trainer", "project": "vision/resnet",
    "datasets": [f"s3://bucket/train@sha256:{HEX}"], "gpu_model": "H100",
    "gpu_count": 2, "hours": 3, "budget": 100, "rationale": "Better recall.",
    "reviewers": ["user:chris"],
}


def _jinja(value: Any) -> bool:
    """A stand-in for an orchestrator's "known only at run time" test (Jinja text here)."""
    return (isinstance(value, str) and "{{" in value) or (
        isinstance(value, list) and any(_jinja(v) for v in value))


@pytest.fixture
def config(tracline_home: Path) -> Any:
    """tracline's configuration with a reviewer policy naming chris and dana."""
    (tracline_home.parent / "tracline.toml").write_text(POLICY)
    reset_config()
    return load_config()


@pytest.mark.parametrize(("text", "expected"), [
    (f"s3://bucket/train@sha256:{HEX}", ("s3://bucket/train", f"sha256:{HEX}")),
    (f"data/cats/@blake3:{HEX}", ("data/cats/", f"blake3:{HEX}")),
    ("data/cats/", ("data/cats/", None)),
    ("ssh://git@example.org/repo.git", ("ssh://git@example.org/repo.git", None)),
    ("git@github.com:org/repo", ("git@github.com:org/repo", None)),
    (f"@sha256:{HEX}", (f"@sha256:{HEX}", None)),
    ("s3://b/k@sha256:NOT-HEX", ("s3://b/k@sha256:NOT-HEX", None)),
    ("s3://b/k@sha256:XYZ", ("s3://b/k", "sha256:XYZ")),
])
def test_parse_ref_splits_only_a_digest(text: str, expected: tuple[str, str | None]) -> None:
    """The text after the last @ is a digest only when it reads <algorithm>:<value>."""
    assert parse_ref(text) == expected


def test_cli_and_gate_report_a_bad_digest_alike(config: Any,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A malformed digest is named as the same field by `request file` and by a gate."""
    bad = "s3://bucket/train@sha256:XYZ"
    with pytest.raises(InvalidGateRequest) as caught:
        check_request({**REQUEST, "datasets": [bad]}, "g", config=config)
    assert caught.value.field == "datasets[0].digest"
    code = main(["request", "file", "--title", "t", "--requester", "agent:trainer",
                 "--project", "p", "--dataset", bad, "--gpu", "H100", "--gpus", "1",
                 "--hours", "1", "--budget", "100", "--rationale", "r",
                 "--reviewer", "user:chris"])
    err = capsys.readouterr().err
    assert code == 2
    assert "datasets[0].digest: 'sha256:XYZ' is not <algorithm>:<hex>" in err


def test_a_valid_request_passes(config: Any) -> None:
    """A complete request within policy raises nothing."""
    check_request(REQUEST, "tracline gate 'approve'", config=config)
    check_request(spec_from_mapping(REQUEST), "a RequestSpec too", config=config)


def test_negative_budget_names_field_gate_and_fix(config: Any) -> None:
    """A negative budget fails with the gate, the field and what to do."""
    with pytest.raises(InvalidGateRequest) as caught:
        check_request({**REQUEST, "budget": -5}, "tracline gate 'approve'", config=config)
    assert caught.value.field == "budget"
    assert str(caught.value) == ("tracline gate 'approve': invalid training request: budget: "
                                 "must be positive, not -5; give a budget above zero")


def test_reviewer_policy_does_not_know_is_refused(config: Any) -> None:
    """A reviewer outside [policy] reviewers is refused, naming the allowed ones."""
    with pytest.raises(InvalidGateRequest) as caught:
        check_request({**REQUEST, "reviewers": ["user:mallory"]}, "g", config=config)
    assert caught.value.field == "reviewers[0]"
    assert "user:mallory may not review" in str(caught.value)
    assert "user:chris, user:dana" in str(caught.value)


def test_budget_below_estimate_is_refused(config: Any) -> None:
    """A budget under the estimate (no over-estimate reason) is refused with the arithmetic."""
    with pytest.raises(InvalidGateRequest, match="shortfall"):
        check_request({**REQUEST, "budget": 10}, "g", config=config)


def test_deferred_fields_wait_for_run_time(config: Any) -> None:
    """Fields known only at run time are not judged early; the known ones still are."""
    later = {**REQUEST, "budget": "{{ params.budget }}", "hours": "{{ params.hours }}",
             "datasets": ["{{ ti.xcom_pull(task_ids='prepare') }}"]}
    check_request(later, "g", deferred=_jinja, config=config)
    with pytest.raises(InvalidGateRequest, match="gpu_count"):
        check_request({**later, "gpu_count": 0}, "g", deferred=_jinja, config=config)
    with pytest.raises(InvalidGateRequest, match="is not a number"):
        check_request(later, "g", config=config)  # without the test, the text is judged


def test_missing_and_unknown_fields_are_named(config: Any) -> None:
    """A missing or misspelt field is named, with the fields a request has."""
    without = {k: v for k, v in REQUEST.items() if k != "rationale"}
    with pytest.raises(InvalidGateRequest, match=r"request\.rationale: is missing"):
        check_request(without, "g", config=config)
    with pytest.raises(InvalidGateRequest, match=r"request\.gpus: is not a training-request"):
        check_request({**REQUEST, "gpus": 2}, "g", config=config)


def test_bad_expiry_text_is_named(config: Any) -> None:
    """An expiry that is not ISO 8601 text names the field and the form to use."""
    with pytest.raises(InvalidGateRequest, match=r"request\.expires_at: 'next week'"):
        check_request({**REQUEST, "expires_at": "next week"}, "g", config=config)


def test_rendered_text_becomes_a_spec() -> None:
    """Rendered text becomes numbers, dataset and model refs, and reviewer lists."""
    spec = spec_from_mapping({**REQUEST, "gpu_count": "4", "reviewers": "user:chris, user:dana",
                              "datasets": f"s3://b/k@sha256:{HEX}",
                              "base_model": f"hf://org/model@sha256:{HEX}",
                              "expires_at": "2030-01-01T00:00:00+00:00"})
    assert isinstance(spec, RequestSpec)
    assert spec.gpu_count == 4
    assert list(spec.reviewers) == ["user:chris", "user:dana"]
    assert spec.datasets == [DatasetRef("s3://b/k", f"sha256:{HEX}")]
    assert spec.base_model == ModelRef("hf://org/model", f"sha256:{HEX}")
    assert spec.expires_at is not None and spec.expires_at.year == 2030


def test_not_a_mapping_is_refused(config: Any) -> None:
    """Something other than a mapping is refused with the fields a request has."""
    with pytest.raises(InvalidGateRequest, match="expected a mapping of request fields"):
        check_request(["title"], "g", config=config)  # type: ignore[arg-type]
