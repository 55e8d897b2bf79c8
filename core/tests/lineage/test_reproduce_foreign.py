"""`reproduce --run` asks before running commands recorded on another machine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from tracline.cli import main
from tracline.config import reset_config
from tracline.db import make_engine

from .project import Project


@pytest.fixture
def project(tracline_home: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """A committed three-step project whose runs are captured into the local registry."""
    monkeypatch.setenv("TRACLINE__CAPTURE__DELIVER", "inline")
    reset_config()
    return Project(tracline_home.parent)


def _recorded_elsewhere(url: str) -> None:
    """Make every recorded run say it ran on another host (lineage someone else posted)."""
    engine = make_engine(url)
    with engine.begin() as conn:
        for run_id, facets in conn.execute(sa.text("SELECT run_id, facets FROM runs")).all():
            data = json.loads(facets)
            if "tracline_execution" in data:
                data["tracline_execution"].setdefault("host", {})["hostname"] = "elsewhere"
                conn.execute(sa.text("UPDATE runs SET facets = :f WHERE run_id = :r"),
                             {"f": json.dumps(data), "r": run_id})
    engine.dispose()


def _runs(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        count = int(conn.execute(sa.text("SELECT count(*) FROM runs")).scalar_one())
    engine.dispose()
    return count


def test_foreign_commands_need_confirmation(project: Project,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Without a terminal to ask, --run prints the foreign commands and refuses (nothing
    runs), and with --yes it runs them."""
    from tracline.config import load_config

    project.run_all()
    capsys.readouterr()
    url = load_config().registry_url
    _recorded_elsewhere(url)
    before = _runs(url)
    code = main(["reproduce", str(project.metrics), "--run"])
    err = capsys.readouterr().err
    assert code == 2
    assert "recorded on another machine" in err and "on elsewhere:" in err
    assert "refusing to run commands recorded on another machine" in err
    assert _runs(url) == before
    assert main(["reproduce", str(project.metrics), "--run", "--yes"]) == 0
    assert _runs(url) > before
