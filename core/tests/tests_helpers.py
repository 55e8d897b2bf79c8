"""Small builders shared by core's tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tracline.events import Artifact, ParentRun, new_run_id, run_event
from tracline.facets import TraclineExecutionRunFacet


def fake_digest(text: str) -> str:
    """A well-formed digest derived from ``text`` (for events about files that don't exist)."""
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def pipeline_events(root: Path, namespace: str = "tests") -> list:
    """START/COMPLETE events of raw.csv → prepare → features.parquet → train → model.pt."""
    dag_run = new_run_id()
    parent = ParentRun(dag_run, namespace, "ml_pipeline")
    raw = Artifact.file(str(root / "raw.csv"), fake_digest("raw"), 10)
    features = Artifact.file(str(root / "features.parquet"), fake_digest("features"), 20)
    model = Artifact.file(str(root / "model.pt"), fake_digest("model"), 30)
    events = []
    for job, inputs, outputs in (("prepare", [raw], [features]), ("train", [features], [model])):
        run_id = new_run_id()
        facets = {
            "tracline_execution": TraclineExecutionRunFacet(
                argv=["python", f"{job}.py"], cwd=str(root)
            )
        }
        events.append(
            run_event(
                "START",
                run_id=run_id,
                job_name=f"ml_pipeline.{job}",
                namespace=namespace,
                inputs=inputs,
                parent=parent,
                run_facets=facets,
                job_type="TASK",
            )
        )
        events.append(
            run_event(
                "COMPLETE",
                run_id=run_id,
                job_name=f"ml_pipeline.{job}",
                namespace=namespace,
                inputs=inputs,
                outputs=outputs,
                parent=parent,
                run_facets=facets,
                job_type="TASK",
            )
        )
    return events
