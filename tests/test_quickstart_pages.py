"""The orchestrator quickstart pages, run as written after their install step: every command
of docs/quickstart-{airflow,prefect,dagster}.md past "1. Install", in a fresh home, with the
orchestrator's environment of this checkout (`make venvs`) standing in for the one the page
installs from wheels (the wheel install itself is what tests/test_quickstart.py runs)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from markdown_commands import page_commands, run_commands
from test_quickstart import ROOT, failure, reader_environment

#: What a loaded machine needs that a reader's does not: Prefect's temporary server may take
#: minutes to start on a busy 2-core machine (the default gives up after 90 s).
SLOW_MACHINE = {"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "900"}


@pytest.mark.parametrize("orchestrator", ["airflow", "prefect", "dagster"])
def test_page_runs_after_its_install_step(orchestrator: str, tmp_path: Path) -> None:
    """Each command after the install step exits 0, and the page's last command — a trace of
    the model the first run wrote — reaches the source data."""
    venv = ROOT / ".venv" / orchestrator
    if not (venv / "bin" / "tracline").exists():
        pytest.skip(f"{venv} is not built (make venvs)")
    page = ROOT / "docs" / f"quickstart-{orchestrator}.md"
    commands = [c for c in page_commands(page.read_text()) if c.section != "1. Install"]
    assert commands
    home = tmp_path / "home"
    home.mkdir()
    env = reader_environment(home)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    outcomes = run_commands(commands, cwd=ROOT, env={**env, **SLOW_MACHINE},
                            work=tmp_path / "steps", timeout=1800)
    reason = failure(outcomes, len(commands))
    assert reason is None, reason
    assert outcomes[-1].command.text.startswith("tracline trace")
    assert "(source)" in outcomes[-1].stdout, outcomes[-1].describe()
