"""Bad configuration and unreachable backends give one clear line, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def run_cli(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    import os

    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TRACLINE")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "tracline.cli", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def one_clear_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("tracline: error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[sinks.marquez\ntype = 'marquez'", "not valid TOML"),
        ('[sinks.lake]\ntype = "carrier-pigeon"\n', "unknown type 'carrier-pigeon'"),
        ('[sinks.lake]\nurl = "http://x"\n', "has no type"),
        ('[outbox]\nflush_timeout = "soon"\n', "outbox.flush_timeout = 'soon'"),
        ('[outbox]\npath_typo = "x.db"\n', "unknown key 'path_typo' in [outbox]"),
        ('[tracline]\ndisabled = "maybe"\n', "not a boolean"),
    ],
)
def test_malformed_config(tracline_home: Path, toml: str, expected: str) -> None:
    """A malformed tracline.toml is named, with the problem and how to fix it."""
    (tracline_home.parent / "tracline.toml").write_text(toml)
    proc = run_cli(tracline_home.parent, "outbox", "status")
    assert proc.returncode == 2
    line = one_clear_line(proc)
    assert (expected in line and "tracline.toml" in line) or "environment" in line


def test_unknown_type_lists_known_types(tracline_home: Path) -> None:
    """The unknown-transport error lists the types that do exist."""
    (tracline_home.parent / "tracline.toml").write_text('[sinks.x]\ntype = "pigeon"\n')
    line = one_clear_line(run_cli(tracline_home.parent, "outbox", "flush"))
    for known in ("marquez", "file", "console", "kafka", "http"):
        assert known in line


def test_unwritable_outbox(tracline_home: Path) -> None:
    """An outbox path that cannot be created names the path and the setting to change."""
    proc = run_cli(
        tracline_home.parent,
        "outbox",
        "status",
        env={"TRACLINE_OUTBOX": "/proc/no-such-dir/outbox.db"},
    )
    assert proc.returncode == 2
    line = one_clear_line(proc)
    assert "/proc/no-such-dir/outbox.db" in line and "TRACLINE_OUTBOX" in line


def test_marquez_url_without_scheme(tracline_home: Path) -> None:
    """A Marquez URL that is not http(s) is refused at once, naming the sink and the fix."""
    (tracline_home.parent / "tracline.toml").write_text(
        '[sinks.marquez]\ntype = "marquez"\nurl = "localhost:5000"\n'
    )
    proc = run_cli(tracline_home.parent, "outbox", "flush")
    assert proc.returncode == 2
    line = one_clear_line(proc)
    assert "sink 'marquez'" in line and "'localhost:5000', not an http(s) URL" in line


def test_unreachable_marquez(tracline_home: Path) -> None:
    """An unreachable Marquez is reported per sink in one line; the events stay pending."""
    import json

    (tracline_home.parent / "tracline.toml").write_text(
        '[sinks.marquez]\ntype = "marquez"\nurl = "http://127.0.0.1:9"\n'
    )
    code = (
        "import tracline, sys; sys.path.insert(0, %r); from tests_helpers import "
        "pipeline_events; [tracline.emit(e) for e in pipeline_events(__import__('pathlib')"
        ".Path('.'))]"
    ) % str(Path(__file__).parents[1])
    subprocess.run(
        [sys.executable, "-c", code],
        cwd=tracline_home.parent,
        check=True,
        timeout=120,
        env={k: v for k, v in __import__("os").environ.items() if not k.startswith("TRACLINE")},
    )
    proc = run_cli(tracline_home.parent, "outbox", "flush", "--timeout", "10")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    (line,) = [x for x in proc.stdout.splitlines() if x.startswith("marquez:")]
    assert "pending 4" in line and "cannot reach Marquez 'marquez' at http://127.0.0.1:9" in line
    status = json.loads(run_cli(tracline_home.parent, "outbox", "status", "--json").stdout)
    assert {s["name"]: s["pending"] for s in status["sinks"]}["marquez"] == 4
