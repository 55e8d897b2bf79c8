"""A real git project with a deterministic three-step pipeline, run under `tracline.capture`."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tracline.capture import capture_command
from tracline.lineage import deliver_to_registry

PREPARE = """
    import csv, os
    rows = list(csv.reader(open("data/raw.csv")))
    header, body = rows[0], rows[1:]
    cut = len(body) * 3 // 4
    for name, part in (("train", body[:cut]), ("test", body[cut:])):
        with open(f"data/{name}.csv", "w", newline="") as f:
            csv.writer(f).writerows([header, *part])
"""
TRAIN = """
    import hashlib, os, sys
    os.makedirs("models", exist_ok=True)
    data = open(sys.argv[1], "rb").read()
    open("models/model.bin", "wb").write(hashlib.sha256(data).digest() * 4)
"""
EVALUATE = """
    import json, os
    model = open("models/model.bin", "rb").read()
    rows = open("data/test.csv").read().splitlines()[1:]
    os.makedirs("reports", exist_ok=True)
    json.dump({"rows": len(rows), "score": model[0] / 255}, open("reports/metrics.json", "w"))
"""


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True)
    return done.stdout.strip()


class Project:
    """prepare.py → train.py → evaluate.py in a committed git repository; data is untracked."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.raw = root / "data" / "raw.csv"
        self.model = root / "models" / "model.bin"
        self.metrics = root / "reports" / "metrics.json"
        for name, code in (("prepare.py", PREPARE), ("train.py", TRAIN),
                           ("evaluate.py", EVALUATE)):
            (root / name).write_text(textwrap.dedent(code))
        (root / ".gitignore").write_text("data/\nmodels/\nreports/\n.tracline/\n*.db*\n")
        self.raw.parent.mkdir(parents=True, exist_ok=True)
        self.raw.write_text("id,x,label\n" + "".join(f"{i},{i * 0.5},{i % 2}\n"
                                                      for i in range(20)))
        git(root, "init", "--quiet", "--initial-branch=main")
        git(root, "add", ".")
        git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet",
            "-m", "pipeline")

    def run_all(self) -> dict[str, str]:
        """Run the three steps under capture; return job → run id."""
        runs = {}
        for job, argv in (("prepare", ["prepare.py"]), ("train", ["train.py", "data/train.csv"]),
                          ("evaluate", ["evaluate.py"])):
            record = capture_command([sys.executable, *argv], job=job, cwd=self.root)
            assert record.exit_code == 0, record.warnings
            runs[job] = record.run_id
        assert deliver_to_registry() is None
        return runs
