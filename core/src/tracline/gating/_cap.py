"""The approved time limit of work that runs inside this process (an orchestrator's task).

The orchestrator stops the task itself at the limit (Airflow's ``execution_timeout``, a
Prefect task's timeout, Dagster's ``dagster/max_runtime``); the processes the task started
are not its concern and would go on writing — and spending. :class:`TimeCap` notes what ran
before the work began and, when the limit is hit, stops every process the work started, with
their children (``tracline.capture.stop_tree``). ``tracline run`` needs none of this: it
stops the command's whole tree itself.
"""

from __future__ import annotations

import os

import attrs

from tracline.gating._claim import Claim

__all__ = ["TimeCap"]


@attrs.frozen
class TimeCap:
    """A claim's time limit, applied to work running in process ``pid``."""

    claim: Claim
    pid: int
    #: Processes under ``pid`` before the work began (not the work's: left alone).
    before: frozenset[int]

    @classmethod
    def begin(cls, claim: Claim) -> TimeCap:
        """Call as the work starts: this process becomes the reaper of what it starts."""
        from tracline.capture import become_subreaper, descendants

        become_subreaper()  # double-forked children stay findable below this process
        pid = os.getpid()
        return cls(claim, pid, frozenset(descendants(pid)))

    @property
    def seconds(self) -> float:
        """The approved wall-clock seconds."""
        return self.claim.time_limit_seconds

    def stop_children(self, grace: float = 1.0) -> list[int]:
        """Stop every process the work started, children included; the pids stopped.

        ``grace`` seconds of ``SIGTERM`` first, then the tree is frozen and killed.
        """
        from tracline.capture import stop_tree

        return stop_tree(self.pid, include_root=False, grace=grace,
                         spare=self.before.__contains__)
