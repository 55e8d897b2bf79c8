"""A gate configured wrongly fails with a clear message naming the gate and the field —
when the flow's module loads, so before any task of the flow runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _prefect_harness import TEST_FLOWS, PrefectEnv

from tracline.config import reset_config
from tracline.errors import TraclineError
from tracline.gating import InvalidGateRequest
from tracline_prefect import AT_RUN_TIME, ApprovalGate

GOOD: dict[str, Any] = {
    "title": "Retrain {model}", "requester": "agent:trainer", "project": "churn",
    "datasets": AT_RUN_TIME, "gpu_model": "H100", "gpu_count": 1, "hours": "{hours}",
    "budget": 50, "rationale": "Weekly retrain.", "reviewers": "user:chris",
}


@pytest.fixture
def policy(tracline_home: Path) -> Iterator[Path]:
    """A project whose policy knows the reviewers user:chris and user:dana."""
    config = tracline_home.parent / "tracline.toml"
    config.write_text('[policy]\nreviewers = ["user:chris", "user:dana"]\n')
    reset_config()
    yield config
    reset_config()


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"reviewers": "user:mallory"}, "reviewers", "mallory"),
    ({"budget": -5}, "budget", "budget"),
    ({"gpu_count": "many"}, "gpu_count", "gpu_count"),
    ({"title": "Retrain {model"}, "request.title", "not a valid template"),
    ({"title": "Retrain {}"}, "request.title", "empty placeholder"),
    ({"colour": "blue"}, "request.colour", "not a training-request field"),
    ({"requester": None}, "request.requester", "missing"),
])
def test_invalid_gate_fails_when_defined(policy: Path, change: dict[str, Any], field: str,
                                         words: str) -> None:
    """Each wrong value is refused when the gate is created (the flow's module loads),
    naming the gate, the field and what is wrong."""
    with pytest.raises(InvalidGateRequest) as caught:
        ApprovalGate("approve-training", request={**GOOD, **change})
    message = str(caught.value)
    assert message.startswith("tracline approval gate 'approve-training': invalid training "
                              "request"), message
    assert field in caught.value.field or field in message, (caught.value.field, message)
    assert words in message, message


def test_templates_and_run_time_fields_pass_until_the_run(policy: Path) -> None:
    """A valid gate whose fields are templates or given at run time is accepted."""
    gate = ApprovalGate("approve-training", request=GOOD)
    assert gate.request is not None and gate.request["datasets"] is AT_RUN_TIME


def test_gate_needs_a_request_or_an_id(policy: Path) -> None:
    """A gate with nothing to file or attach to says what to give."""
    with pytest.raises(InvalidGateRequest, match="request_id"):
        ApprovalGate("approve-training")


def test_wait_outside_a_flow_run_says_where_it_belongs(policy: Path) -> None:
    """wait() outside a flow run fails with where to call it instead."""
    gate = ApprovalGate("approve-training", request=GOOD)
    with pytest.raises(TraclineError, match="@flow function"):
        gate.wait(datasets=["s3://b/k@sha256:" + "c" * 64])


def test_broken_gate_fails_the_flow_run_before_any_task(prefect_env: PrefectEnv,
                                                        tmp_path: Path) -> None:
    """A deployed flow whose gate is then configured with an unknown reviewer fails as its
    module loads in the worker's flow-run process, saying why; its first task never ran."""
    deployment = prefect_env.deploy(TEST_FLOWS, "bad_gate.py:bad_gate", name="bad-gate")
    source = prefect_env.work / "flows" / TEST_FLOWS.name / "bad_gate.py"
    source.write_text(source.read_text().replace('"user:chris"', '"user:mallory"'))
    marker = tmp_path / "prepared"
    run = prefect_env.run(deployment, marker=str(marker))
    final = prefect_env.wait_final(run)
    assert not final.state.is_completed()
    told = f"{final.state.message}\n{prefect_env.logs(run)}"
    assert "tracline approval gate 'approve-training': invalid training request" in told, told
    assert "mallory" in told
    assert not marker.exists(), "a task ran although the gate was broken"
    assert prefect_env.task_runs(run) == []
