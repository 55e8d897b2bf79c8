"""`tracline run` stays cheap to start: it imports neither openlineage-python nor SQLAlchemy."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
from pathlib import Path

from tracline._version import __version__

from .helpers import PYTHON

PROBE = """
import sys
from tracline.cli import main
code = main(["run", "--", "true"])
heavy = sorted(m for m in ("openlineage", "sqlalchemy", "rich", "pynvml", "requests")
               if m in sys.modules)
print(code, ",".join(heavy))
"""


def test_run_imports_no_heavy_library(tracline_home: Path) -> None:
    """Running a command loads none of the libraries that cost hundreds of milliseconds."""
    done = subprocess.run([PYTHON, "-c", PROBE], cwd=tracline_home.parent, capture_output=True,
                          text=True, check=False,
                          env={**os.environ, "TRACLINE__CAPTURE__DELIVER": "none"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"


def test_version_matches_the_distribution() -> None:
    """The literal version equals the installed distribution's."""
    assert __version__ == importlib.metadata.version("tracline")
