"""The local registry (the index lookups read) stays on whatever sinks are configured, unless
``[registry] enabled = false`` turns it off — and then lookups say so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tracline.config import load_config

README_SINKS = """\
[tracline]
namespace = "ml-team"

[sinks.marquez]
type = "marquez"
url = "http://127.0.0.1:9"

[sinks.archive]
type = "file"
path = "archive/events.jsonl"
"""


def tracline(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tracline", *args], cwd=project,
                          capture_output=True, text=True, timeout=300)


def test_configured_sinks_keep_the_local_registry(tracline_home: Path) -> None:
    """The README's Marquez + archive example delivers to both and still indexes locally."""
    project = tracline_home.parent
    (project / "tracline.toml").write_text(README_SINKS)
    sinks = {s.name: s.type for s in load_config().sinks}
    assert sinks == {"local": "registry", "marquez": "marquez", "archive": "file"}


def test_registry_sink_of_its_own_is_not_doubled(tracline_home: Path) -> None:
    """A registry sink the user configured for the same database is the index; none added."""
    (tracline_home.parent / "tracline.toml").write_text('[sinks.index]\ntype = "registry"\n')
    assert [(s.name, s.type) for s in load_config().sinks] == [("index", "registry")]


def test_enabled_false_turns_it_off_and_local_is_kept_for_it(tracline_home: Path) -> None:
    """`[registry] enabled = false` leaves only the configured sinks; a sink of another kind
    named `local` is refused with the two ways out."""
    toml = tracline_home.parent / "tracline.toml"
    toml.write_text(README_SINKS + "\n[registry]\nenabled = false\n")
    assert {s.name for s in load_config().sinks} == {"marquez", "archive"}
    toml.write_text('[sinks.local]\ntype = "file"\npath = "x.jsonl"\n')
    with pytest.raises(Exception, match="kept for it") as caught:
        load_config()
    assert "enabled = false" in str(caught.value)


def test_trace_finds_a_run_recorded_with_sinks_configured(tracline_home: Path) -> None:
    """With Marquez (down) and a file sink configured, a captured run is still found by
    `tracline trace`, and the archive file got its events too."""
    project = tracline_home.parent
    (project / "tracline.toml").write_text(README_SINKS)
    (project / "raw.csv").write_text("a,b\n1,2\n")
    (project / "prep.py").write_text("open('out.csv', 'w').write(open('raw.csv').read())\n")
    done = tracline(project, "run", "--job", "prep", "--", sys.executable, "prep.py")
    assert done.returncode == 0, done.stderr
    done = tracline(project, "trace", "out.csv", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert [r["job_name"] for r in json.loads(done.stdout)["runs"]] == ["prep"]
    done = tracline(project, "outbox", "flush", "--timeout", "30")
    archived = (project / "archive" / "events.jsonl").read_text().splitlines()
    assert {json.loads(e)["eventType"] for e in archived} == {"START", "COMPLETE"}


def test_lookups_say_the_registry_is_off(tracline_home: Path) -> None:
    """With the registry turned off, `tracline trace` says so and how to turn it on, instead
    of calling a recorded file unknown."""
    project = tracline_home.parent
    (project / "tracline.toml").write_text(README_SINKS + "\n[registry]\nenabled = false\n")
    (project / "out.csv").write_text("x\n")
    done = tracline(project, "trace", "out.csv")
    assert done.returncode == 2
    assert "the local registry is turned off ([registry] enabled = false)" in done.stderr
    assert "unknown to the registry" not in done.stderr

