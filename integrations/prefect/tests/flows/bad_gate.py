"""A flow behind a gate (the test breaks its configuration after deploying it): a broken gate
must fail the flow run when its module loads, before ``prepare`` writes anything."""

from __future__ import annotations

from tracline_prefect import AT_RUN_TIME, ApprovalGate, flow, task

approval = ApprovalGate("approve-training", request={
    "title": "Retrain {model}", "requester": "agent:trainer", "project": "churn",
    "datasets": AT_RUN_TIME, "gpu_model": "H100", "gpu_count": 1, "hours": "0.5",
    "budget": 50, "rationale": "Weekly retrain.", "reviewers": "user:chris",
})


@task
def prepare(marker: str) -> str:
    """Expensive-enough work that must never start under a broken gate."""
    with open(marker, "a") as out:
        out.write("ran\n")
    return marker


@flow(persist_result=True)
def bad_gate(marker: str, model: str = "churn") -> None:
    """Prepare, then wait for the approval."""
    path = prepare(marker)
    approval.wait(datasets=[path])
