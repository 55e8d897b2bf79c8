"""Settling an approved task's request when the task ends: completed or failed, with its cost,
through core's lifecycle (:meth:`tracline.gating.Gate.settle`), by the flow run that claimed it
(the audit entry's step names the task run)."""

from __future__ import annotations

import logging

from tracline.approvals import open_requests
from tracline.config import Config, get_config
from tracline.errors import TraclineError
from tracline.gating import Claim, Gate, Outcome, RunActor, Settlement
from tracline_prefect import compat

__all__ = ["settle"]

log = logging.getLogger(__name__)


def settle(claim: Claim, outcome: Outcome, task_run_id: str, job: str,
           config: Config | None = None) -> tuple[str, Settlement | None]:
    """Record how the approved task ended against its request (the claiming flow run as
    actor, the task run in the step).

    Returns the outcome in words and the settlement (None if the store could not be
    reached: the request then stays claimed by this flow run, and a retry of the flow run
    settles it)."""
    config = config or get_config()
    words = ("completed" if outcome.succeeded else
             "stopped at the approved time limit" if outcome.over_time else "failed")
    try:
        requests = open_requests(config)
        try:
            # the claimer settles (a team server allows no other): the flow run, the step
            # naming its task run
            gate_ = Gate(requests, key=claim.run_id, config=config,
                         actor=RunActor("prefect", claim.run_id,
                                        f"{job} task run {task_run_id}"))
            settlement = gate_.settle(claim, outcome)
        finally:
            requests.close()
    except TraclineError as e:
        compat.run_logger(log).error("tracline: could not record that %s %s against %s: %s",
                                     job, words, claim.request_id, e)
        return words, None
    if settlement.note:
        compat.run_logger(log).warning("tracline: %s", settlement.note)
    return words, settlement
