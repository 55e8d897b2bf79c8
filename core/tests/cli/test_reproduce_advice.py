"""`tracline reproduce` on steps that cannot be re-run gives one piece of advice."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .test_registry_stays import tracline


def test_reproduce_outside_git_gives_one_piece_of_advice(tracline_home: Path) -> None:
    """A step recorded outside a git checkout: the plan says it cannot be re-run and how to
    make it reproducible (never "run again with --run"); --run refuses with the same advice;
    --json says the plan is not runnable."""
    project = tracline_home.parent
    (project / "raw.csv").write_text("a,b\n1,2\n")
    (project / "prep.py").write_text("open('out.csv', 'w').write(open('raw.csv').read())\n")
    assert tracline(project, "run", "--", sys.executable, "prep.py").returncode == 0
    advice = "record the steps with `tracline run` inside a git checkout"
    plan = tracline(project, "reproduce", "out.csv")
    assert plan.returncode == 0 and "ran outside a git checkout" in plan.stdout
    assert "cannot be re-run" in plan.stdout and advice in plan.stdout
    assert "--run" not in plan.stdout
    again = tracline(project, "reproduce", "out.csv", "--run")
    assert again.returncode == 2 and advice in again.stderr
    data = json.loads(tracline(project, "reproduce", "out.csv", "--json").stdout)
    assert data["plan"]["runnable"] is False
