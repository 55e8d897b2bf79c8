"""The cluster policy, through Airflow's own DagBag: ungated expensive tasks are refused with
a message naming them and the fix; gated DAGs load; a gate's invalid request fails at parse."""

from __future__ import annotations

from typing import Any

import pytest
from _airflow_harness import EXAMPLE_DAGS, TEST_DAGS, AirflowEnv
from rich.text import Text


@pytest.fixture(scope="module")
def test_dags(airflow: AirflowEnv) -> dict[str, Any]:
    """tests/dags loaded by a DagBag under the session's [tracline] options (pool gpu, tag gpu)."""
    return airflow.parse(TEST_DAGS)


@pytest.fixture(scope="module")
def examples(airflow: AirflowEnv) -> dict[str, Any]:
    """The example DAGs loaded by a DagBag under the same options."""
    return airflow.parse(EXAMPLE_DAGS)


def test_ungated_gpu_task_is_refused_by_name(test_dags: dict[str, Any]) -> None:
    """A task asking for GPUs without a gate upstream is refused, named, with the fix."""
    message = test_dags["errors"]["ungated_gpu.py"]
    assert "AirflowClusterPolicyViolation" in message
    assert "task 'train_on_gpu'" in message
    assert "nvidia.com/gpu" in message
    assert "gate(train_on_gpu, request={...})" in message
    assert "ungated_gpu" not in test_dags["dags"]
    # Airflow's CLI prints it with rich: no part of it may read as markup and vanish
    assert Text.from_markup(message).plain == message
    assert "the tracline section of airflow.cfg" in message


def test_task_in_a_gated_pool_is_refused(test_dags: dict[str, Any]) -> None:
    """A task in a pool listed in [tracline] gated_pools needs a gate."""
    message = test_dags["errors"]["ungated_pool.py"]
    assert "task 'finetune': it runs in gated pool 'gpu'" in message


def test_tagged_dag_needs_a_gate_before_its_work(test_dags: dict[str, Any]) -> None:
    """In a DAG with a gated tag, every task not feeding a gate is refused."""
    message = test_dags["errors"]["tagged_ungated.py"]
    assert "task 'load': its DAG is tagged gpu" in message
    assert "task 'embed': its DAG is tagged gpu" in message


def test_gate_wired_by_hand_is_accepted_and_enforced(test_dags: dict[str, Any]) -> None:
    """`approve >> finetune` passes, and the policy gives finetune the approval check."""
    assert "gated_by_hand.py" not in test_dags["errors"]
    assert test_dags["dags"]["gated_by_hand"]["capped"] == ["finetune"]


def test_gated_example_dags_are_accepted(examples: dict[str, Any]) -> None:
    """The example pipeline (tagged gpu, GPU train task behind a gate) and the tutorial load."""
    assert examples["errors"] == {}
    assert examples["dags"]["train_pipeline"]["tasks"] == [
        "approve_train", "evaluate", "prepare", "train"]
    assert examples["dags"]["train_pipeline"]["capped"] == ["train"]
    assert "tutorial_objectstorage" in examples["dags"]


def test_negative_budget_fails_at_parse(test_dags: dict[str, Any]) -> None:
    """A gate whose request has a negative budget stops the DAG file loading, saying why."""
    message = test_dags["errors"]["bad_budget.py"]
    assert ("InvalidGateRequest: tracline gate 'approve_train' of DAG 'bad_budget': invalid "
            "training request: budget: must be positive, not -5; give a budget above zero"
            ) in message


def test_unknown_reviewer_fails_at_parse(test_dags: dict[str, Any]) -> None:
    """A gate naming a reviewer outside the review policy fails when the DAG is parsed."""
    message = test_dags["errors"]["unknown_reviewer.py"]
    assert "tracline gate 'approve_train' of DAG 'unknown_reviewer'" in message
    assert "reviewers[0]: user:mallory may not review under [policy]" in message
