"""Reading what `tracline run` recorded, and independent digests to compare with."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PYTHON = sys.executable


def delivered(home: Path) -> None:
    """Wait until the outbox under ``home`` has delivered everything (whoever delivers it)."""
    from tracline.config import load_config
    from tracline.delivery import wait_delivered

    if (home / "outbox.db").exists():
        wait_delivered(load_config({**os.environ, "TRACLINE_HOME": str(home)}, home.parent))


def read_events(home: Path) -> list[dict[str, Any]]:
    """Every event delivered to the JSON-lines file sink, once delivery is done."""
    delivered(home)
    path = home / "events.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def runs_by_job(home: Path) -> dict[str, list[dict[str, Any]]]:
    """Events grouped by job name, in order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for event in read_events(home):
        out.setdefault(event["job"]["name"], []).append(event)
    return out


def last(home: Path, job: str | None = None) -> dict[str, Any]:
    """The last terminal event (of ``job``)."""
    events = [e for e in read_events(home) if e["eventType"] != "START"
              and (job is None or e["job"]["name"] == job)]
    assert events, f"no terminal event for {job or 'any job'}"
    return events[-1]


def names(datasets: Sequence[dict[str, Any]], root: Path) -> set[str]:
    """Dataset names relative to ``root``."""
    return {os.path.relpath(d["name"], root) for d in datasets}


def digests(datasets: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Dataset name -> recorded digest."""
    return {d["name"]: d["facets"]["tracline_contentHash"]["digest"] for d in datasets
            if "tracline_contentHash" in d["facets"]}


def blake3_of(path: Path) -> str:
    """An independent digest with the blake3 package."""
    import blake3

    return "blake3:" + blake3.blake3(path.read_bytes()).hexdigest()


def write(path: Path, text: str) -> Path:
    """Write a file (creating folders) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
