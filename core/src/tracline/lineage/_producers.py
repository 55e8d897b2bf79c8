"""Which run made an artifact: the one the question is about, among all that wrote its bytes.

Content is often written more than once: an identical re-run, an approved run whose model
came out byte-identical to an earlier trial, a copy under another name. The producer chosen is

* for a file asked about by path or name, or for an input a run read: the latest write of that
  content *at that name* (at or before the reading run started, for an input) — the run that
  actually left the file as it is; a write of the same bytes elsewhere only when there is none;
* for content asked about by digest alone: the latest write of it anywhere;

and, on equal times, a completed run before a failed one. The other writers of the same bytes
are split into *identical re-runs* (same job, same inputs, same digests) and *other runs* that
happened to produce the same bytes (another job, or other inputs), so that a view can say so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence

import attrs

from tracline.registry import ArtifactRow, RunRow

__all__ = ["Choice", "choose_producer", "input_key", "split_others"]

Write = tuple[ArtifactRow, RunRow]


@attrs.frozen
class Choice:
    """The run chosen as an artifact's producer, and the other runs that wrote its bytes."""

    write: ArtifactRow
    run: RunRow
    others: tuple[RunRow, ...] = ()


def when(text: str | None) -> float:
    """An ISO-8601 timestamp as seconds (producers write ``Z`` or ``+00:00``); -inf if none."""
    if not text:
        return float("-inf")
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return float("-inf")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def _latest(writes: Sequence[Write]) -> Write:
    return max(writes, key=lambda w: (when(w[0].event_time or w[1].ended_at),
                                      w[1].state == "COMPLETE", w[1].run_id))


def choose_producer(writes: Sequence[Write], namespace: str, name: str, *,
                    at_name: bool, before: str | None = None) -> Choice | None:
    """The producer of content written by ``writes`` (see the module's rules); None if none.

    ``at_name`` prefers writes of ``namespace``/``name``; ``before`` (an ISO time) prefers
    writes at or before it.
    """
    if not writes:
        return None
    candidates = list(writes)
    if at_name:
        here = [w for w in candidates if (w[0].namespace, w[0].name) == (namespace, name)]
        candidates = here or candidates
    if before is not None:
        limit = when(before)
        earlier = [w for w in candidates if when(w[0].event_time or w[1].ended_at) <= limit]
        candidates = earlier or candidates
    artifact, run = _latest(candidates)
    others = {r.run_id: r for _, r in writes if r.run_id != run.run_id}
    return Choice(artifact, run, tuple(others.values()))


def input_key(rows: Iterable[ArtifactRow]) -> frozenset[tuple[str, str, str | None]]:
    """What a run read, for comparing runs: (namespace, name, digest) of each input."""
    return frozenset((r.namespace, r.name, r.digest) for r in rows if r.direction == "in")


def split_others(choice: Choice, inputs: Mapping[str, Sequence[ArtifactRow]],
                 ) -> tuple[list[RunRow], list[RunRow]]:
    """``(identical re-runs, other runs)`` among the other writers of the chosen content: an
    identical re-run is the same job reading the same inputs with the same digests."""
    job = (choice.run.job_namespace, choice.run.job_name)
    read = input_key(inputs.get(choice.run.run_id, ()))
    same: list[RunRow] = []
    other: list[RunRow] = []
    for run in choice.others:
        identical = ((run.job_namespace, run.job_name) == job
                     and input_key(inputs.get(run.run_id, ())) == read)
        (same if identical else other).append(run)
    return same, other
