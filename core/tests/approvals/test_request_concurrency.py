"""Fifty processes claim one approved request at the same moment: exactly one wins."""

from __future__ import annotations

import multiprocessing
from typing import Any

import pytest
from request_helpers import docs_spec, make_config

from tracline.approvals import RequestService, State
from tracline.errors import TraclineError

CLAIMERS = 50


def _claim(url: str, request_id: str, index: int, barrier: Any, results: Any) -> None:
    """One claimer process: open the store, wait for all the others, then claim."""
    try:
        svc = RequestService(url, make_config())
        barrier.wait(timeout=120)
        svc.claim(request_id, f"run-{index}")
        results.put((index, "won"))
    except TraclineError as e:
        results.put((index, f"{type(e).__name__}: {e}"))
    except Exception as e:  # noqa: BLE001 - report anything else to the parent as a failure
        results.put((index, f"unexpected {type(e).__name__}: {e}"))


@pytest.mark.slow
def test_exactly_one_of_fifty_concurrent_claimers_wins(store_url: str) -> None:
    """50 processes claiming one approved request at once: one wins, 49 get InvalidTransition."""
    svc = RequestService(store_url, make_config())
    r = svc.file(docs_spec())
    svc.approve(r.id, "user:chris")
    svc.close()  # no inherited connections in the children

    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(CLAIMERS)
    results = ctx.Queue()
    procs = [ctx.Process(target=_claim, args=(store_url, r.id, i, barrier, results))
             for i in range(CLAIMERS)]
    for p in procs:
        p.start()
    outcomes = dict(results.get(timeout=180) for _ in procs)
    for p in procs:
        p.join(timeout=60)

    winners = [i for i, outcome in outcomes.items() if outcome == "won"]
    losers = [o for o in outcomes.values() if o != "won"]
    assert len(winners) == 1, outcomes
    assert all(o.startswith("InvalidTransition:") for o in losers), losers
    final = RequestService(store_url, make_config())
    claimed = final.get(r.id)
    assert (claimed.state, claimed.run_id) == (State.CLAIMED, f"run-{winners[0]}")
    assert [e.action for e in final.audit(r.id)].count("claim") == 1
    assert final.verify_audit().ok
    final.close()
