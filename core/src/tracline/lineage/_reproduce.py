"""Re-run an artifact's plan in a scratch worktree and say whether the outputs came out the same.

Steps run in plan order at their recorded commit, with their recorded command, working
directory and (non-secret) environment, under ``tracline.capture`` when it is available so the
re-run is itself recorded. Per output the report says identical, or which digest differs —
and what differed: inputs (digests checked before each step), and from the re-run's own record
the code, packages and environment.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import attrs

from tracline.errors import HashError, ReproduceError, TraclineError
from tracline.hashing import digest_path
from tracline.lineage._common import deliver_to_registry, display_name, open_registry
from tracline.lineage._diff import Change, RunDiff
from tracline.lineage._plan import Plan, Step, make_plan
from tracline.lineage._resolve import resolve
from tracline.lineage._trace import DEFAULT_DEPTH, trace_artifact
from tracline.lineage._worktree import Scratch, repository_root
from tracline.registry import Registry

__all__ = ["NOT_RUNNABLE_HINT", "OutputResult", "ReproduceReport", "StepResult", "reproduce",
           "run_plan"]

#: Environment values that capture wrote in place of a secret: never set for a re-run.
_REDACTED_MARKERS = ("<redacted", "***", "[redacted")


@attrs.frozen
class OutputResult:
    """One recorded output and the digest its re-run produced (None: not produced)."""

    name: str
    recorded: str | None
    reproduced: str | None

    @property
    def identical(self) -> bool:
        return self.recorded is not None and self.recorded == self.reproduced

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "recorded": self.recorded, "reproduced": self.reproduced,
                "identical": self.identical}


@attrs.define
class StepResult:
    """How re-running one step went."""

    run_id: str
    job_name: str
    exit_code: int | None = None
    new_run_id: str | None = None
    outputs: list[OutputResult] = attrs.field(factory=list)
    #: Inputs whose digest before the re-run differed from the recorded one.
    inputs: list[Change] = attrs.field(factory=list)
    #: Differences the re-run's own record shows (code, packages, environment, command).
    recipe: list[Change] = attrs.field(factory=list)
    error: str | None = None

    @property
    def identical(self) -> bool:
        return self.error is None and all(o.identical for o in self.outputs)

    def to_dict(self) -> dict[str, Any]:
        return {"runId": self.run_id, "job": self.job_name, "exitCode": self.exit_code,
                "newRunId": self.new_run_id, "identical": self.identical, "error": self.error,
                "outputs": [o.to_dict() for o in self.outputs],
                "inputChanges": [c.to_dict() for c in self.inputs],
                "recipeChanges": [c.to_dict() for c in self.recipe]}


@attrs.define
class ReproduceReport:
    """The plan and, per step, what re-running it produced."""

    plan: Plan
    steps: list[StepResult]
    kept: str | None = None

    @property
    def identical(self) -> bool:
        return len(self.steps) == len(self.plan.steps) and all(s.identical for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {"identical": self.identical, "plan": self.plan.to_dict(),
                "steps": [s.to_dict() for s in self.steps], "keptWorktree": self.kept}


def _digest(path: str) -> str | None:
    try:
        return digest_path(path, cache=False).digest
    except HashError:
        return None


def _environment(step: Step) -> dict[str, str]:
    env = dict(os.environ)
    for key, value in (step.execution.get("environment") or {}).items():
        if isinstance(value, str) and not value.lower().startswith(_REDACTED_MARKERS):
            env[key] = value
    return env


def _execute(step: Step, argv: list[str], cwd: str, env: dict[str, str],
             ) -> tuple[int, str | None]:
    """Run one step; (exit code, id of the recorded re-run, or None when not recorded)."""
    try:
        from tracline.capture import capture_command
    except ImportError:  # capture is optional here: compare the outputs all the same
        try:
            done = subprocess.run(argv, cwd=cwd, env=env, check=False)
        except OSError as e:
            raise ReproduceError(f"cannot start {argv[0]!r} for step {step.run.job_name}: {e}",
                                 hint="install the program the step ran") from e
        return done.returncode, None
    record = capture_command(argv, job=step.run.job_name, namespace=step.run.job_namespace,
                             cwd=cwd, env=env)
    deliver_to_registry()
    code = record.exit_code if record.exit_code is not None else 128 + (record.signal or 0)
    return code, record.run_id


def _recipe_changes(registry: Registry, step: Step, new_run_id: str, scratch: Scratch,
                    ) -> list[Change]:
    from tracline.lineage._diff import compare_runs

    new = registry.runs_by_id([new_run_id]).get(new_run_id)
    if new is None:
        return []
    io = registry.io_of([step.run.run_id, new_run_id])
    diff: RunDiff = compare_runs(step.run, io.get(step.run.run_id, []), new,
                                 io.get(new_run_id, []), rename=scratch.unmap)
    # A scratch worktree is on no branch, and may be named by its path: not differences.
    return [c for c in diff.changes if c.section in {"argv", "code", "packages", "environment"}
            and not (c.section == "code" and c.key in {"branch", "repository"})]


def _run_step(registry: Registry, step: Step, scratch: Scratch) -> StepResult:
    result = StepResult(step.run.run_id, step.run.job_name)
    if not step.argv or not step.commit:
        result.error = "no recorded command or commit"
        return result
    scratch.checkout(step.commit)
    for item in step.inputs:
        if item.namespace == "file":
            now = _digest(scratch.map(item.name))
            if now != item.digest:
                result.inputs.append(Change("inputs", item.label, item.digest, now))
    for output in step.outputs:
        if output.namespace == "file":
            Path(scratch.map(output.name)).parent.mkdir(parents=True, exist_ok=True)
    cwd = scratch.map(step.cwd or str(scratch.repo))
    argv = [scratch.map_text(a) for a in step.argv]
    try:
        result.exit_code, result.new_run_id = _execute(step, argv, cwd, _environment(step))
    except TraclineError as e:  # e.g. the program is not installed here
        result.error = str(e)
        return result
    if result.exit_code != 0:
        result.error = f"exited with {result.exit_code}"
    for output in step.outputs:
        label = display_name(output.namespace, output.name)
        now = _digest(scratch.map(output.name)) if output.namespace == "file" else None
        result.outputs.append(OutputResult(label, output.digest, now))
    if result.new_run_id:
        result.recipe = _recipe_changes(registry, step, result.new_run_id, scratch)
    return result


#: What to do about a plan whose steps cannot be re-run (said the same way everywhere).
NOT_RUNNABLE_HINT = ("record the steps with `tracline run` inside a git checkout (with the "
                     "code committed) to make them reproducible")


def _prepare(plan: Plan, scratch: Scratch) -> None:
    """Mark outside outputs for redirection; copy sources the commit lacks into the worktree."""
    for step in plan.steps:
        for output in step.outputs:
            if output.namespace == "file" and scratch.map(output.name) == output.name:
                scratch.redirected.add(output.name)
    first = next((s.commit for s in plan.steps if s.commit), None)
    if first is None:
        raise ReproduceError("no step of the plan has a recorded commit",
                             hint=NOT_RUNNABLE_HINT)
    scratch.checkout(first)
    for source in plan.sources:
        mapped = scratch.map(source.name)
        if source.namespace != "file" or mapped == source.name:
            continue  # outside the repository: read in place
        if _digest(mapped) != source.digest and Path(source.name).exists():
            scratch.provide(source.name, Path(source.name))


def run_plan(registry: Registry, plan: Plan, *, keep: bool = False) -> ReproduceReport:
    """Execute a plan in a scratch worktree; stop at the first step that fails."""
    if not plan.steps:
        return ReproduceReport(plan, [])
    if not plan.runnable:
        raise ReproduceError(f"{len(plan.blockers)} step(s) of the plan cannot be re-run: "
                             + "; ".join(plan.problems), hint=NOT_RUNNABLE_HINT)
    first = plan.steps[0]
    repo = repository_root(first.cwd, (first.execution.get("code") or {}).get("repository"))
    scratch = Scratch(repo)
    report = ReproduceReport(plan, [], str(scratch.base) if keep else None)
    try:
        _prepare(plan, scratch)
        for step in plan.steps:
            result = _run_step(registry, step, scratch)
            report.steps.append(result)
            if result.error:
                break
    finally:
        if not keep:
            scratch.close()
    return report


def reproduce(ref: str, *, run: bool = True, keep: bool = False, depth: int = DEFAULT_DEPTH,
              registry: Registry | None = None) -> ReproduceReport:
    """The plan for ``ref`` and, with ``run``, the outcome of re-running it."""
    registry = open_registry(registry)
    with registry.snapshot():
        plan = make_plan(registry, trace_artifact(registry, resolve(registry, ref), depth))
    return run_plan(registry, plan, keep=keep) if run else ReproduceReport(plan, [])
