"""The reproduction plan of an artifact: every run that led to it, producers first.

Each step carries the recipe its run recorded (command, working directory, code commit,
environment) and its inputs, each either made by an earlier step of the plan or a source that
must already exist with its recorded digest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from tracline.errors import HashError
from tracline.hashing import digest_path
from tracline.lineage._common import RunInfo, display_name, open_registry
from tracline.lineage._resolve import resolve
from tracline.lineage._trace import DEFAULT_DEPTH, Trace, trace_artifact
from tracline.registry import ArtifactRow, Registry, RunRow

__all__ = ["Plan", "PlanInput", "Step", "make_plan", "plan"]


@attrs.frozen
class PlanInput:
    """An input of a step: made by an earlier step, or a source that must be present."""

    namespace: str
    name: str
    digest: str | None
    #: The run id of the step that makes it; None for a source.
    made_by: str | None = None
    #: For sources: ``present`` (same digest now), ``changed``, ``missing`` or ``external``.
    status: str = "produced"
    current_digest: str | None = None

    @property
    def label(self) -> str:
        return display_name(self.namespace, self.name)

    def to_dict(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "name": self.name, "digest": self.digest,
                "madeBy": self.made_by, "status": self.status,
                "currentDigest": self.current_digest}


@attrs.frozen
class Step:
    """One run to repeat: its recorded recipe, inputs and outputs."""

    run: RunRow
    inputs: list[PlanInput]
    outputs: list[ArtifactRow]

    @property
    def info(self) -> RunInfo:
        return RunInfo.of(self.run)

    @property
    def execution(self) -> dict[str, Any]:
        value = self.run.facets.get("tracline_execution")
        return value if isinstance(value, dict) else {}

    @property
    def argv(self) -> list[str]:
        return [str(a) for a in self.execution.get("argv") or []]

    @property
    def cwd(self) -> str | None:
        return self.execution.get("cwd")

    @property
    def commit(self) -> str | None:
        return (self.execution.get("code") or {}).get("commit")

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.info.to_dict(), "argv": self.argv, "cwd": self.cwd,
                "code": self.execution.get("code"),
                "environment": self.execution.get("environment") or {},
                "inputs": [i.to_dict() for i in self.inputs],
                "outputs": [{"namespace": o.namespace, "name": o.name, "digest": o.digest}
                            for o in self.outputs]}


@attrs.define
class Plan:
    """What it takes to make an artifact again, in order."""

    trace: Trace
    steps: list[Step]
    sources: list[PlanInput]
    problems: list[str]

    @property
    def blockers(self) -> list[Step]:
        """Steps that cannot be re-run: no recorded command, or no commit to run it from."""
        return [s for s in self.steps if not s.argv or not s.commit]

    @property
    def runnable(self) -> bool:
        """True when every step can be re-run (``reproduce --run`` may be tried)."""
        return bool(self.steps) and not self.blockers

    def to_dict(self) -> dict[str, Any]:
        root = self.trace.root
        return {"artifact": {"namespace": root.namespace, "name": root.name,
                             "digest": root.digest},
                "steps": [s.to_dict() for s in self.steps],
                "sources": [s.to_dict() for s in self.sources], "problems": self.problems,
                "runnable": self.runnable}


def _source(row: ArtifactRow) -> PlanInput:
    if row.namespace != "file":
        return PlanInput(row.namespace, row.name, row.digest, status="external")
    path = Path(row.name)
    if not path.exists():
        return PlanInput(row.namespace, row.name, row.digest, status="missing")
    try:
        now = digest_path(path).digest
    except HashError:
        return PlanInput(row.namespace, row.name, row.digest, status="missing")
    return PlanInput(row.namespace, row.name, row.digest,
                     status="present" if now == row.digest else "changed", current_digest=now)


def make_plan(registry: Registry, trace: Trace) -> Plan:
    """The plan for the artifact at the root of ``trace``."""
    order = [r.run_id for r in trace.runs()]
    runs = registry.runs_by_id(order)
    io = registry.io_of(order)
    made: dict[str, str] = {}  # digest or name → run id of the step making it
    steps: list[Step] = []
    sources: dict[str, PlanInput] = {}
    problems = []
    if trace.truncated:
        problems.append(f"the lineage is deeper than {trace.depth} levels: raise --depth")
    for run_id in order:
        run = runs[run_id]
        inputs = []
        for row in (r for r in io.get(run_id, []) if r.direction == "in"):
            maker = made.get(row.digest or "") or made.get(row.name)
            if maker is not None:
                inputs.append(PlanInput(row.namespace, row.name, row.digest, made_by=maker))
            else:
                source = sources.setdefault(row.digest or row.name, _source(row))
                inputs.append(source)
        outputs = [r for r in io.get(run_id, []) if r.direction == "out"]
        for row in outputs:
            made.setdefault(row.digest or row.name, run_id)
            made.setdefault(row.name, run_id)
        step = Step(run, inputs, outputs)
        if not step.argv:
            problems.append(f"step {run.job_name} (run {run_id}) has no recorded command: it was"
                            " not observed by `tracline run`, so it cannot be re-run")
        elif not step.commit:
            problems.append(f"step {run.job_name} (run {run_id}) ran outside a git checkout: "
                            "there is no commit to re-run it from, so it cannot be re-run")
        steps.append(step)
    for source in sources.values():
        if source.status in {"missing", "changed"}:
            problems.append(f"source {source.label} is {source.status} since it was recorded")
    return Plan(trace, steps, list(sources.values()), problems)


def plan(ref: str, *, depth: int = DEFAULT_DEPTH, registry: Registry | None = None) -> Plan:
    """The reproduction plan of a path, digest or dataset name."""
    registry = open_registry(registry)
    with registry.snapshot():
        return make_plan(registry, trace_artifact(registry, resolve(registry, ref), depth))
