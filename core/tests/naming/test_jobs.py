"""Job names say what ran: the script, module or program, seen through launchers."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tracline.capture import job_name
from tracline.errors import ConfigError
from tracline.events import expand_record

ROOT = "/srv/churn"
CONFIG = f"{ROOT}/tracline.toml"


@pytest.mark.parametrize(("argv", "expected"), [
    (["python", "train.py", "--lr", "0.1"], "train.py"),
    (["python3", "-u", "pipeline/train.py"], "pipeline/train.py"),
    (["python", "-m", "pkg.train", "--epochs", "3"], "pkg.train"),
    (["python", "-c", "import secret_stuff"], "python -c"),
    (["torchrun", "--nproc_per_node", "8", "train.py"], "train.py"),
    (["accelerate", "launch", "--num_processes", "2", "scripts/ft.py"], "scripts/ft.py"),
    (["deepspeed", "--num_gpus", "2", "-m", "pkg.train"], "pkg.train"),
    (["uv", "run", "python", "pipeline/prep.py"], "pipeline/prep.py"),
    (["env", "SEED=1", "nohup", "python", "eval.py"], "eval.py"),
    (["bash", "scripts/prep.sh"], "scripts/prep.sh"),
    (["./run.sh"], "run.sh"),
    (["make", "train"], "make train"),
    (["dvc", "repro"], "dvc repro"),
    (["python", "/elsewhere/tool.py"], "tool.py"),
])
def test_default_names(argv: list[str], expected: str) -> None:
    """Each command shape is named after what it runs, relative to the project."""
    assert job_name(argv, ROOT, config_file=CONFIG) == expected


def test_template_and_project() -> None:
    """``[jobs] name`` composes the parts; the project is tracline.toml's folder."""
    jobs = {"name": "{project}/{target}"}
    assert job_name(["python", "pipeline/train.py"], f"{ROOT}/pipeline/..", jobs=jobs,
                    config_file=CONFIG) == "churn/pipeline/train.py"
    assert job_name(["python", "-m", "pkg.train"], ROOT, jobs={"name": "nightly-{stem}"},
                    config_file=CONFIG) == "nightly-train"


def test_bad_template_is_a_clear_error() -> None:
    """An unknown placeholder names itself and the known ones."""
    with pytest.raises(ConfigError, match=r"names bogus.*use the placeholders module, program"):
        job_name(["python", "x.py"], ROOT, jobs={"name": "{bogus}"})


def test_tracline_run_names_the_job_from_the_command(tracline_home: Path) -> None:
    """`tracline run -- python pipeline/train.py` records job pipeline/train.py, and a
    configured template is applied; a bad template stops with the reason before it runs."""
    project = tracline_home.parent
    (project / "pipeline").mkdir()
    (project / "pipeline" / "train.py").write_text("print('trained')\n")
    env = {**os.environ, "TRACLINE__CAPTURE__DELIVER": "none"}

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tracline", "run", "--", sys.executable,
                               "pipeline/train.py"], cwd=project, env={**env, **dict(
                                   e.split("=", 1) for e in extra)},
                              capture_output=True, text=True, timeout=120, check=False)

    assert run().returncode == 0
    (project / "tracline.toml").write_text('[jobs]\nname = "{project}:{stem}"\n')
    assert run().returncode == 0
    with contextlib.closing(sqlite3.connect(tracline_home / "outbox.db")) as db:
        rows = db.execute("SELECT event_type, payload FROM events ORDER BY id").fetchall()
    names = [expand_record(state, record)["job"]["name"] for state, record in rows]
    assert names[0] == names[1] == "pipeline/train.py"
    assert names[2] == names[3] == f"{project.name}:train"
    (project / "tracline.toml").write_text('[jobs]\nname = "{nope}"\n')
    bad = run()
    assert bad.returncode == 2 and "[jobs] name = '{nope}' names nope" in bad.stderr
