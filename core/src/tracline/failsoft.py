"""Fail-soft lineage for an orchestrator's hooks: lineage never breaks the user's work.

Each integration (Airflow's listener, Prefect's hooks, Dagster's traced steps) wraps its
hooks the same way::

    soft = FailSoft(logging.getLogger("tracline_prefect"), "the flow")

    @soft
    def on_task_start(...): ...          # an exception is logged once per kind; None returned

    config = soft.config()               # None when tracline is off or its config is invalid

and keeps the orchestrator's own folders out of what capture records with
:func:`ignoring`. An approval gate is the opposite — it fails closed — and never goes
through this module.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from tracline.config import Config, get_config
from tracline.errors import TraclineError

__all__ = ["FailSoft", "ignoring"]

T = TypeVar("T")


class FailSoft:
    """Logs each kind of lineage failure once per process, and lets the work go on.

    ``goes_on``: what goes on without lineage, as the log line says it ("the task").
    """

    def __init__(self, log: logging.Logger, goes_on: str) -> None:
        self.log = log
        self.goes_on = goes_on
        self._warned: set[str] = set()

    def __call__(self, function: Callable[..., T]) -> Callable[..., T | None]:
        """``function``, returning None (after one warning per exception type) if it fails."""

        @functools.wraps(function)
        def call(*args: Any, **kwargs: Any) -> T | None:
            try:
                return function(*args, **kwargs)
            except Exception as e:  # noqa: BLE001 - lineage never breaks the work
                self.warn_once(f"{function.__name__}:{type(e).__name__}",
                               "tracline: %s failed (%s: %s); %s goes on without it",
                               function.__name__, type(e).__name__, e, self.goes_on,
                               exc_info=True)
                return None

        return call

    def warn_once(self, key: str, message: str, *args: object, exc_info: bool = False) -> None:
        """Log ``message`` the first time ``key`` is seen in this process."""
        if key not in self._warned:
            self._warned.add(key)
            self.log.warning(message, *args, exc_info=exc_info)

    def config(self) -> Config | None:
        """tracline's configuration, or None when lineage is off (``TRACLINE_DISABLED``) or
        the configuration is invalid (said once: the work goes on without lineage)."""
        try:
            config = get_config()
        except TraclineError as e:
            self.warn_once("config", "tracline: lineage is off for this process: %s", e)
            return None
        return None if config.disabled else config


def ignoring(config: Config, folders: Iterable[str]) -> Config:
    """``config`` with everything under ``folders`` (an orchestrator's home, its logs and
    result storage) left out of what capture records as the work's data."""
    section = dict(config.section("capture"))
    section["ignore"] = [*section.get("ignore", ()),
                         *(f"{folder.rstrip('/')}/**" for folder in folders)]
    return config.replace(sections={**config.sections, "capture": section})
