"""The watcher: resumes suspended gated flow runs once tracline has decided their request.

A suspended flow run has no process to notice an approval, so something outside it must: a
light process, like Airflow's triggerer, that every ``poll_interval`` seconds lists the
paused flow runs that carry tracline's request label, asks tracline for each request's
verdict for that flow run (the same decision the gate makes), and resumes through Prefect's
API the runs whose request is decided — approved, rejected or expired. The gate, running
again, then claims the request or fails the flow with the reviewer's reason. An approval
made any way (CLI, Python API, team server, review page) is seen, since the watcher reads
the same request store (``tracline.approvals.open_requests``) the gate does.

Run it next to the Prefect worker, with the same tracline configuration:

    tracline-prefect watch --poll-interval 1
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import attrs

from tracline.approvals import open_requests
from tracline.config import Config, get_config
from tracline.errors import NotFound
from tracline.gating import decide
from tracline_prefect import compat
from tracline_prefect._gate import LABEL_REQUEST

__all__ = ["Resumed", "watch", "watch_once"]

log = logging.getLogger("tracline_prefect.watcher")
_unknown: set[str] = set()


@attrs.frozen
class Resumed:
    """A suspended flow run the watcher resumed, and why."""

    flow_run_id: str
    request_id: str
    verdict: str
    reason: str
    answer: str


def watch_once(config: Config | None = None, api: Any = None) -> list[Resumed]:
    """One look: resume every suspended gated flow run whose request is decided (``api``: a
    client of Prefect's API to reuse)."""
    if api is None:
        with compat.client() as fresh:
            return watch_once(config, fresh)
    config = config or get_config()
    gated = [(run, str((run.labels or {})[LABEL_REQUEST]))
             for run in compat.paused_flow_runs(api) if (run.labels or {}).get(LABEL_REQUEST)]
    if not gated:
        return []
    resumed: list[Resumed] = []
    requests = open_requests(config)
    try:
        for run, request_id in gated:
            try:
                decision = decide(requests.get(request_id), str(run.id), requests.now())
            except NotFound:
                # another store's request (a watcher per store): not this watcher's to resume
                if request_id not in _unknown:
                    _unknown.add(request_id)
                    log.warning("tracline: flow run %s waits on %s, which this watcher's "
                                "request store does not know; left to the watcher of its "
                                "store", run.id, request_id)
                continue
            if not decision.decided:
                continue
            answer = compat.resume(api, run.id)
            log.info("tracline: resumed flow run %s (%s): %s [%s]", run.id,
                     decision.verdict.value, decision.reason, answer)
            resumed.append(Resumed(str(run.id), request_id, decision.verdict.value,
                                   decision.reason, answer))
    finally:
        requests.close()
    return resumed


def watch(*, poll_interval: float = 1.0, config: Config | None = None,
          stop: threading.Event | None = None) -> None:
    """Watch until ``stop`` is set (for ever by default). Errors reaching Prefect or the
    request store are logged and retried: a gated run stays suspended meanwhile."""
    stop = stop or threading.Event()
    failures = 0
    log.info("tracline: watching suspended flow runs for decided training requests every "
             "%.1f s", poll_interval)
    while not stop.is_set():
        try:
            with compat.client() as api:  # one connection while looks succeed
                while not stop.is_set():
                    failures = _look(config, api, failures)
                    stop.wait(poll_interval)
                    if failures:
                        break  # a fresh connection for the next look
        except Exception as e:  # noqa: BLE001 - no connection to Prefect yet: try again
            failures += 1
            _warn(failures, e)
            stop.wait(poll_interval)


def _look(config: Config | None, api: Any, failures: int) -> int:
    """One look of :func:`watch`; returns the count of failed looks in a row."""
    try:
        watch_once(config, api)
        return 0
    except Exception as e:  # noqa: BLE001 - store or Prefect down, a bad answer: keep watching
        failures += 1
        _warn(failures, e)
    return failures


def _warn(failures: int, error: Exception) -> None:
    # Said on the first failure, the tenth, then every hundredth.
    if failures in {1, 10} or failures % 100 == 0:
        log.warning("tracline: watcher cannot look right now (%d tries): %s: %s", failures,
                    type(error).__name__, error)
