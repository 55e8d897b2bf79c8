"""The approved time of a gated step, enforced on the processes the step started.

Dagster's run monitoring stops a run past its ``dagster/max_runtime`` — the run worker and
its step processes — but not what a step started: a training script under a shell, a data
loader's workers, a daemon that left its session. A gated ``@traced`` step arms a
:class:`TimeLimit`: at the approved limit (counted from the run's start, as Dagster counts),
and whenever Dagster interrupts the step, every process the step started is stopped with
tracline's process-tree stop (frozen, then killed: nothing writes or spends after it).
"""

from __future__ import annotations

import logging
import os
import threading
import time

import dagster as dg

from tracline.gating import Claim

__all__ = ["TimeLimit"]

log = logging.getLogger("tracline_dagster")


class TimeLimit:
    """A gated step's approved time: at the limit (counted from the run's start, as Dagster's
    ``dagster/max_runtime`` is), and when Dagster interrupts the step, every process the step
    started — children, grandchildren, daemons — is stopped (tracline's process-tree stop)."""

    def __init__(self, context: dg.OpExecutionContext, claim: Claim) -> None:
        from tracline.capture import become_subreaper, descendants

        # Orphans of the step (a child whose parent died first, a daemon that left its
        # session) stay below this process, so the stop finds them.
        become_subreaper()
        record = context.instance.get_run_record_by_id(context.run_id)
        started = getattr(record, "start_time", None) or time.time()
        self.reason = claim.overrun_reason(f"{context.job_name} run {context.run_id}")
        self.before = set(descendants(os.getpid()))  # Dagster's own helpers are spared
        self.timer = threading.Timer(
            max(0.0, claim.time_limit_seconds - (time.time() - started)), self.stop,
            kwargs={"why": self.reason})
        self.timer.daemon = True
        self.timer.start()

    def stop(self, why: str) -> None:
        from tracline.capture import stop_tree

        try:
            stopped = stop_tree(os.getpid(), include_root=False, spare=self.before.__contains__)
        except Exception as e:  # noqa: BLE001 - Dagster's own stop still applies
            log.warning("tracline: could not stop the step's processes (%s)", e)
            return
        if stopped:
            log.warning("tracline: %s; stopped %d process(es) the step started: %s", why,
                        len(stopped), " ".join(map(str, stopped)))

    def end(self, error: BaseException | None) -> None:
        self.timer.cancel()
        if error is not None and not isinstance(error, Exception):  # Dagster interrupted it
            self.stop("the step was interrupted")
