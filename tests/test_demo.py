"""`make demo` — tracline's main job end to end on the embedded default — works and says so."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    """The demo files and approves a request, captures three steps, and prints a receipt with
    the approval and budget, a clean leakage check and the completed request."""
    workspace = tmp_path / "demo"
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "demo" / "run_demo.py"),
                           "--workspace", str(workspace)],
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "approved by         user:chris" in out
    assert "requested by        agent:demo-trainer" in out
    assert "budget              1.50 USD" in out
    assert "no overlap between" in out and "test.csv" in out
    assert "completed  Fit the house-price model" in out
    assert "within budget" in out
    assert "\x1b" not in out and "\x1b" not in proc.stderr  # piped: no escape codes

    readme = (ROOT / "README.md").read_text()
    written = set(re.findall(r"build/demo/(\.tracline/[\w.]+)", readme))
    assert written >= {".tracline/tracline.db", ".tracline/events.jsonl"}
    assert all((workspace / name).is_file() for name in written), written  # as the README says

    events = [json.loads(x) for x in (workspace / ".tracline" / "events.jsonl").read_text()
              .splitlines()]
    jobs = {(e["job"]["name"], e["eventType"]) for e in events}
    assert {("prepare", "START"), ("train", "COMPLETE"), ("evaluate", "COMPLETE")} <= jobs
    train = next(e for e in events if e["job"]["name"] == "train"
                 and e["eventType"] == "START")
    assert train["run"]["facets"]["tracline_approval"]["approvedBy"] == ["user:chris"]
    outputs = {Path(o["name"]).name for e in events for o in e.get("outputs", [])}
    assert {"features.csv", "test.csv", "model.json", "metrics.json"} <= outputs
