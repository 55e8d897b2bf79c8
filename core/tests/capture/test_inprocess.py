"""capture_in_process: what an orchestrator task did inside the orchestrator's own process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tracline.capture import capture_in_process
from tracline.facets import TraclineExecutionRunFacet

from .helpers import blake3_of, write


def test_task_files_children_and_facets(tracline_home: Path) -> None:
    """Opens in the process and in a child are recorded, digested, and facets come as objects."""
    root = tracline_home.parent
    write(root / "raw.csv", "a,b\n")
    before = root / "before.txt"
    before.write_text("opened before the capture: not the task's")
    with capture_in_process(job="task", argv=["airflow", "tasks", "run"]) as capture:
        data = (root / "raw.csv").read_text()
        (root / "features.csv").write_text(data.upper())
        subprocess.run([sys.executable, "-c",
                        "open('child_out.txt', 'w').write(open('raw.csv').read())"],
                       cwd=root, check=True)
    record = capture.record
    assert [f.path for f in record.inputs] == [str(root / "raw.csv")]
    assert sorted(f.path for f in record.outputs) == [str(root / "child_out.txt"),
                                                      str(root / "features.csv")]
    assert record.inputs[0].digest == blake3_of(root / "raw.csv")
    facets = record.run_facets()
    assert isinstance(facets["tracline_execution"], TraclineExecutionRunFacet)
    assert facets["tracline_execution"].argv == ["airflow", "tasks", "run"]
    assert record.input_artifacts()[0].digest == blake3_of(root / "raw.csv")


def test_nothing_is_recorded_after_the_block(tracline_home: Path) -> None:
    """The hook is idle once the block ends: later opens belong to no capture."""
    root = tracline_home.parent
    write(root / "in.txt", "x")
    with capture_in_process(job="first") as first:
        (root / "in.txt").read_text()
    (root / "late.txt").write_text("after")
    with capture_in_process(job="second") as second:
        pass
    assert [f.path for f in first.record.outputs] == []
    assert second.record.inputs == second.record.outputs == []


def test_failing_task_is_recorded_and_the_error_propagates(tracline_home: Path) -> None:
    """A task that raises is recorded as failed, its exception goes on to the orchestrator."""
    with pytest.raises(KeyError), capture_in_process(job="boom", emit=True) as capture:
        raise KeyError("x")
    assert capture.record.exit_code == 1
    assert "KeyError" in capture.record.warnings[-1]


def test_disabled_capture_records_nothing(tracline_home: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """TRACLINE_DISABLED=1: the block runs and nothing is observed."""
    from tracline.config import reset_config

    monkeypatch.setenv("TRACLINE_DISABLED", "1")
    reset_config()
    with capture_in_process(job="off") as capture:
        (tracline_home.parent / "x.txt").write_text("x")
    assert capture.record.capture_mode == "in-process"
    assert capture.record.outputs == []
    assert not tracline_home.exists()
