"""`tracline run --request ID`: the command as a gated run of :mod:`tracline.gating`.

The request is claimed for this run before the command starts (no approval, no run), the
approval rides on the run's START event, the command runs under the approved time limit with
the approved GPUs declared unless the user declared others, and the request is settled with
the run's recorded cost once it ends.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import attrs

from tracline.config import Config
from tracline.errors import TraclineError
from tracline.gating import Claim, Gate, Outcome, RunActor

__all__ = ["GatedCommand"]


def _warn(message: str) -> None:
    sys.stderr.write(f"tracline: warning: {message}\n")


@attrs.define
class GatedCommand:
    """A command's claim on an approved request, from before it starts until it is settled."""

    gate: Gate
    claim: Claim

    @classmethod
    def claim_for(cls, request_id: str, run_id: str, command: list[str], config: Config,
                  job: str | None = None) -> GatedCommand:
        """Claim ``request_id`` for run ``run_id`` (raises :class:`GateClosed` if refused)."""
        from tracline.approvals import open_requests

        program = os.path.basename(command[0]) if command else "command"
        actor = RunActor("tracline", run_id, f"tracline run {job or program}")
        gate = Gate(open_requests(config), key=run_id, actor=actor, config=config)
        try:
            return cls(gate, gate.claim(request_id))
        except BaseException:
            gate.requests.close()
            raise

    @property
    def time_limit(self) -> float:
        """Seconds the approval pays for."""
        return self.claim.time_limit_seconds

    def start_facets(self) -> dict[str, dict[str, Any]]:
        """The ``tracline_approval`` facet for the run's START event, as JSON."""
        from tracline.events import to_dict

        return {"tracline_approval": to_dict(self.gate.approval_facet(self.claim))}

    def settle(self, record: Any) -> None:
        """Complete or fail the request with what the run recorded; warn if it cannot."""
        over_time = (not record.succeeded and record.wall_seconds is not None
                     and record.wall_seconds >= self.time_limit)
        self._settle(Outcome.of_record(record, over_time=over_time))

    def fail(self, reason: str) -> None:
        """The command never ran (not found): fail the request, which spent nothing."""
        self._settle(Outcome(succeeded=False, wall_seconds=0.0, error=reason))

    def _settle(self, outcome: Outcome) -> None:
        try:
            settled = self.gate.settle(self.claim, outcome)
            if settled.note:
                _warn(settled.note)
        except TraclineError as e:
            _warn(f"could not record the run against {self.claim.request_id}: {e}")
        finally:
            self.gate.requests.close()
