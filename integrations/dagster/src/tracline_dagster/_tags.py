"""The run tags tracline sets on Dagster runs, and what the steps read back from them."""

from __future__ import annotations

from collections.abc import Mapping

from tracline.gating import Claim

__all__ = ["CLAIM", "LINEAGE_RUN_ID", "REQUEST", "SENSOR", "claim_of", "lineage_run_id"]

#: The training request the run was launched for (its id).
REQUEST = "tracline/request"
#: The request's claim (JSON), as :meth:`tracline.gating.Claim.to_payload` gives it.
CLAIM = "tracline/claim"
#: The OpenLineage run id of the Dagster run (gated runs: the key the request is claimed under).
LINEAGE_RUN_ID = "tracline/run_id"
#: The approval sensor that launched the run.
SENSOR = "tracline/sensor"


def lineage_run_id(run_id: str, tags: Mapping[str, str]) -> str:
    """The OpenLineage run id of a Dagster run: the claim key of a gated run, else its own id."""
    return tags.get(LINEAGE_RUN_ID) or run_id


def claim_of(tags: Mapping[str, str]) -> Claim | None:
    """The claim a gated run carries in its tags (None for a run no request paid for)."""
    import json

    text = tags.get(CLAIM)
    if not text:
        return None
    return Claim.from_payload(json.loads(text))
