"""Helpers for capture tests: run `tracline run` as a real process, read what it recorded."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from .helpers import PYTHON

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def tracline_run(tracline_home: Path) -> Run:
    """Run ``tracline run ARGS`` in the isolated working directory; events delivered inline."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120,
            deliver: str = "inline", cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        # Inline delivery waits as long as a loaded machine needs (the test checks the
        # outcome, not the time it took).
        environ = {**os.environ, "TRACLINE__CAPTURE__DELIVER": deliver,
                   "TRACLINE__OUTBOX__FLUSH_TIMEOUT": "120", **(env or {})}
        return subprocess.run(
            [PYTHON, "-m", "tracline", "run", *args], cwd=cwd or tracline_home.parent,
            env=environ, capture_output=True, text=True, timeout=timeout, check=False,
        )

    return run
