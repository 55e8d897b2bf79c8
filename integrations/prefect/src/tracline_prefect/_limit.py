"""The approved time limit of a task, over its whole process tree.

Prefect's own ``timeout_seconds`` (set from the claim) interrupts the task's Python code; it
cannot reach the processes the task started — a training launcher, its data-loader workers,
a daemon that double-forked away. So while an approved task runs, core's
:class:`tracline.gating.TimeCap` makes the flow's process their subreaper (orphans stay
findable) and notes what ran before; at the limit a timer has it stop every process started
below the flow's process since the task began, children included. What existed before the
task is left alone.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from tracline.gating import Claim, TimeCap

__all__ = ["TreeLimit"]

log = logging.getLogger(__name__)


class TreeLimit:
    """Stop the processes a task started once its claim's time is up (or when asked)."""

    def __init__(self, claim: Claim, what: str,
                 logger: logging.Logger | logging.LoggerAdapter[Any] = log) -> None:
        self.claim = claim
        self.what = what
        self.log = logger
        self.fired = False
        self.stopped: list[int] = []
        self._cap: TimeCap | None = None
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def start(self) -> TreeLimit:
        """Begin counting (call as the task starts)."""
        self._cap = TimeCap.begin(self.claim)
        self._timer = threading.Timer(self._cap.seconds, self._expire)
        self._timer.name = "tracline-time-limit"
        self._timer.daemon = True
        self._timer.start()
        return self

    def _stop_tree(self) -> None:
        if self._cap is None:
            return
        with self._lock:
            stopped = self._cap.stop_children()
            self.stopped += stopped
        if stopped:
            self.log.warning("tracline: %s ran past its approved time limit of %.0f s: stopped "
                             "%d process(es) it started (%s)", self.what, self._cap.seconds,
                             len(stopped), ", ".join(map(str, stopped[:20])))

    def _expire(self) -> None:
        self.fired = True
        self._stop_tree()

    def finish(self, *, over_time: bool = False) -> bool:
        """The task ended: stop counting; if it ran over (the timer fired, or Prefect's own
        timeout ended it), stop whatever it left running. Returns whether it ran over."""
        if self._timer is not None:
            self._timer.cancel()
        if over_time or self.fired:
            self.fired = True
            self._stop_tree()
        return self.fired
