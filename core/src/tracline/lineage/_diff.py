"""Run against run: what differed in command, code, packages, environment, data and cost."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from tracline.lineage._common import RunInfo, display_name, open_registry
from tracline.registry import ArtifactRow, Registry, RunRow

__all__ = ["SECTIONS", "Change", "RunDiff", "compare_runs", "diff_runs"]

#: Sections of a diff, in the order they are shown.
SECTIONS = ("run", "argv", "code", "packages", "environment", "inputs", "outputs", "cost")
_CODE_KEYS = ("repository", "commit", "branch", "dirty", "diffDigest", "untracked")
_COST_KEYS = ("measurement", "gpuModel", "gpuCount", "gpuSeconds", "pricePerGpuHour",
              "currency", "priceSource", "cost")


@attrs.frozen
class Change:
    """One difference: in ``section``, ``key`` was ``before`` in run A and ``after`` in run B."""

    section: str
    key: str
    before: Any
    after: Any

    @property
    def kind(self) -> str:
        if self.before is None:
            return "added"
        return "removed" if self.after is None else "changed"

    def to_dict(self) -> dict[str, Any]:
        return {"section": self.section, "key": self.key, "kind": self.kind,
                "before": self.before, "after": self.after}


@attrs.define
class RunDiff:
    """The differences between run A and run B (empty when they match)."""

    a: RunInfo
    b: RunInfo
    changes: list[Change]

    def section(self, name: str) -> list[Change]:
        return [c for c in self.changes if c.section == name]

    def by_section(self) -> list[tuple[str, list[Change]]]:
        """The sections that differ, in the order they are shown, with their changes."""
        return [(s, changes) for s in SECTIONS if (changes := self.section(s))]

    @property
    def same_recipe(self) -> bool:
        """True when command, code, packages, environment and inputs all match."""
        recipe = {"argv", "code", "packages", "environment", "inputs"}
        return not any(c.section in recipe for c in self.changes)

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a.to_dict(), "b": self.b.to_dict(), "sameRecipe": self.same_recipe,
                "changes": {s: [c.to_dict() for c in self.section(s)] for s in SECTIONS}}


def _mapping_changes(section: str, before: Mapping[str, Any], after: Mapping[str, Any],
                     ) -> list[Change]:
    return [Change(section, key, before.get(key), after.get(key))
            for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key)]


def _execution(run: RunRow) -> dict[str, Any]:
    value = run.facets.get("tracline_execution")
    return value if isinstance(value, dict) else {}


def _packages(execution: dict[str, Any]) -> dict[str, Any]:
    packages = execution.get("packages") or {}
    return {p["name"]: p.get("version") for p in packages.get("items") or [] if "name" in p}


def _datasets(rows: list[ArtifactRow], direction: str,
              rename: Callable[[str], str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for row in rows:
        if row.direction == direction:
            name = rename(row.name) if rename and row.namespace == "file" else row.name
            out[display_name(row.namespace, name)] = row.digest
    return out


def compare_runs(a: RunRow, io_a: list[ArtifactRow], b: RunRow, io_b: list[ArtifactRow], *,
                 rename: Callable[[str], str] | None = None) -> RunDiff:
    """Compare two runs; ``rename`` maps run B's file paths onto run A's (for re-runs elsewhere)."""
    ex_a, ex_b = _execution(a), _execution(b)
    changes = _mapping_changes(
        "run",
        {"job": a.job_name, "state": a.state, "cwd": ex_a.get("cwd"),
         "exitCode": ex_a.get("exitCode"), "interpreter": ex_a.get("interpreter"),
         "host": (ex_a.get("host") or {}).get("hostname")},
        {"job": b.job_name, "state": b.state,
         "cwd": rename(ex_b["cwd"]) if rename and ex_b.get("cwd") else ex_b.get("cwd"),
         "exitCode": ex_b.get("exitCode"), "interpreter": ex_b.get("interpreter"),
         "host": (ex_b.get("host") or {}).get("hostname")})
    argv_a, argv_b = ex_a.get("argv"), ex_b.get("argv")
    if rename and argv_b:
        argv_b = [rename(arg) for arg in argv_b]
    if argv_a != argv_b:
        changes.append(Change("argv", "argv", argv_a, argv_b))
    code_a, code_b = ex_a.get("code") or {}, ex_b.get("code") or {}
    changes += _mapping_changes("code", {k: code_a.get(k) for k in _CODE_KEYS},
                                {k: code_b.get(k) for k in _CODE_KEYS})
    changes += _mapping_changes("packages", _packages(ex_a), _packages(ex_b))
    changes += _mapping_changes("environment", ex_a.get("environment") or {},
                                ex_b.get("environment") or {})
    for direction, section in (("in", "inputs"), ("out", "outputs")):
        changes += _mapping_changes(section, _datasets(io_a, direction, None),
                                    _datasets(io_b, direction, rename))
    cost_a = a.facets.get("tracline_gpuCost") or {}
    cost_b = b.facets.get("tracline_gpuCost") or {}
    changes += _mapping_changes("cost", {k: cost_a.get(k) for k in _COST_KEYS},
                                {k: cost_b.get(k) for k in _COST_KEYS})
    return RunDiff(RunInfo.of(a), RunInfo.of(b), changes)


def diff_runs(run_a: str, run_b: str, *, registry: Registry | None = None) -> RunDiff:
    """Compare two recorded runs by id (or an unambiguous prefix or tail of one)."""
    registry = open_registry(registry)
    a, b = registry.find_run(run_a), registry.find_run(run_b)
    io = registry.io_of([a.run_id, b.run_id])
    return compare_runs(a, io.get(a.run_id, []), b, io.get(b.run_id, []))
