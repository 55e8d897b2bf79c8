"""The approved time limit of a task, over its whole process tree.

Prefect's own ``timeout_seconds`` (set from the claim) interrupts the task's Python code; it
cannot reach the processes the task started — a training launcher, its data-loader workers,
a daemon that double-forked away. So while an approved task runs, the flow's process is their
subreaper (orphans stay findable) and a timer stops, at the limit, every process started
below it since the task began (frozen first, then killed: nothing more is written or spent),
with :func:`tracline.capture.stop_tree`. What existed before the task is left alone.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from tracline.capture import become_subreaper, descendants, stop_tree

__all__ = ["TreeLimit"]

log = logging.getLogger(__name__)


class TreeLimit:
    """Stop the processes a task started once ``seconds`` have passed (or when asked)."""

    def __init__(self, seconds: float, what: str,
                 logger: logging.Logger | logging.LoggerAdapter[Any] = log) -> None:
        self.seconds = seconds
        self.what = what
        self.log = logger
        self.fired = False
        self.stopped: list[int] = []
        self._before: set[int] = set()
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def start(self) -> TreeLimit:
        """Begin counting (call as the task starts)."""
        become_subreaper()
        self._before = set(descendants(os.getpid()))
        self._timer = threading.Timer(self.seconds, self._expire)
        self._timer.name = "tracline-time-limit"
        self._timer.daemon = True
        self._timer.start()
        return self

    def _spare(self, pid: int) -> bool:
        return pid in self._before

    def _stop_tree(self) -> None:
        with self._lock:
            stopped = stop_tree(os.getpid(), include_root=False, spare=self._spare)
            self.stopped += stopped
        if stopped:
            self.log.warning("tracline: %s ran past its approved time limit of %.0f s: stopped "
                        "%d process(es) it started (%s)", self.what, self.seconds,
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
