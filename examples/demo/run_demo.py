"""tracline's main job, end to end, on the embedded default (SQLite, no server).

An agent files a training request for the training step, a reviewer approves it, and a
three-step ML pipeline (prepare → train → evaluate) runs under `tracline run` — nothing is
declared: what each step read and wrote is observed and content-hashed. Events go through the
durable outbox into the local registry and a JSON-lines file. Then the model's receipt (with
the approval and the budget against the actual cost) and a train/test leakage check.

    python examples/demo/run_demo.py [--workspace DIR]

The workspace (default ``build/demo``) is created afresh each time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

CONFIG = """\
# The demo's tracline configuration: the embedded default (local registry + JSON lines).
[tracline]
namespace = "demo"

[policy]
# Requests above $100 need two approvals; the demo's is far below.
two_approvals_above = 100
"""


def banner(text: str) -> None:
    """A section heading: bold on a terminal, plain text in a pipe or a file."""
    line = f"── {text} " + "─" * max(0, 70 - len(text))
    if sys.stdout.isatty() and not os.environ.get("NO_COLOR"):
        line = f"\033[1m{line}\033[0m"
    print(f"\n{line}", flush=True)


def tracline(workspace: Path, *args: str, capture: bool = False) -> str:
    """Run the tracline CLI in the workspace, as a user would; stop the demo if it fails."""
    command = [sys.executable, "-m", "tracline.cli", *args]
    print(f"$ tracline {' '.join(args)}", flush=True)
    result = subprocess.run(command, cwd=workspace, text=True,
                            stdout=subprocess.PIPE if capture else None)
    if result.returncode != 0:
        raise SystemExit(f"demo: `tracline {' '.join(args)}` failed (exit {result.returncode})")
    return result.stdout or ""


def prepare_workspace(workspace: Path) -> None:
    if workspace.exists():
        shutil.rmtree(workspace)
    workspace.mkdir(parents=True)
    for script in (HERE / "pipeline").glob("*.py"):
        shutil.copy(script, workspace / script.name)
    (workspace / "tracline.toml").write_text(CONFIG)
    (workspace / ".gitignore").write_text(".tracline/\n*.csv\n*.json\n")
    # The pipeline's code lives in git, so each run records the commit it ran.
    env = {**os.environ, "GIT_AUTHOR_NAME": "demo", "GIT_AUTHOR_EMAIL": "demo@example.com",
           "GIT_COMMITTER_NAME": "demo", "GIT_COMMITTER_EMAIL": "demo@example.com"}
    for git in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "pipeline"]):
        subprocess.run(["git", *git], cwd=workspace, check=True, env=env)
    subprocess.run([sys.executable, "make_data.py"], cwd=workspace, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", type=Path, default=REPO / "build" / "demo")
    workspace = parser.parse_args().workspace.resolve()
    os.environ.pop("TRACLINE_CONFIG", None)
    prepare_workspace(workspace)
    python = sys.executable

    banner("1. an agent files a training request for the training step")
    filed = json.loads(tracline(
        workspace, "request", "file", "--as", "agent:demo-trainer", "--project", "house-prices",
        "--title", "Fit the house-price model", "--dataset", "raw.csv",
        "--gpu", "H100", "--gpus", "1", "--hours", "0.05", "--budget", "1.50",
        "--rationale", "Baseline model for the pricing service; 400 rows, minutes of compute.",
        "--reviewer", "user:chris", "--json", capture=True))
    request_id = filed["id"]
    print(f"filed {request_id}: estimate {filed['estimate']['arithmetic']}")

    banner("2. a human reviewer approves it (agents never can)")
    tracline(workspace, "request", "approve", request_id, "--as", "user:chris",
             "--note", "cheap baseline, go ahead")

    banner("3. the pipeline runs under `tracline run` — nothing declared")
    tracline(workspace, "run", "--job", "prepare", "--", python, "prepare.py")
    tracline(workspace, "run", "--job", "train", "--request", request_id,
             "--gpus", "1", "--gpu-model", "H100", "--", python, "train.py")
    tracline(workspace, "run", "--job", "evaluate", "--", python, "evaluate.py")
    tracline(workspace, "outbox", "flush")

    banner("4. how did we get this model? its receipt")
    tracline(workspace, "receipt", "model.json")

    banner("5. did it train on test? leakage check against the held-out set")
    tracline(workspace, "leakage", "model.json", "--test", "test.csv")

    banner("6. the request: approved budget against the actual cost")
    tracline(workspace, "request", "show", request_id)
    tracline(workspace, "outbox", "status")
    print(f"\nEverything above is in {workspace / '.tracline'}: tracline.db (registry and "
          "requests), events.jsonl (every OpenLineage event), outbox.db (the outbox).")


if __name__ == "__main__":
    main()
