"""The main commands' output, as a person sees it in an 80-column terminal and as a script
sees it through a pipe, held against snapshots in ``snapshots/`` (run ids, digests and times
masked). After an intended change: ``TRACLINE_UPDATE_SNAPSHOTS=1 pytest core/tests/cli``."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from lineage.pipeline import Pipeline

from tracline.cli import main
from tracline.config import reset_config
from tracline.delivery import reset_emitter

from .terminal import in_terminal, masked, piped

SNAPSHOTS = Path(__file__).with_name("snapshots")
UPDATE = os.environ.get("TRACLINE_UPDATE_SNAPSHOTS") == "1"
LONG_TITLE = ("Fine-tune the resnet backbone on the night-time images of the third quarter "
              "with the new augmentation recipe")
TOML = """\
[tracline]
namespace = "snapshots"

[policy]
reviewers = ["user:chris", "user:dana"]
"""


@attrs.frozen
class Project:
    root: Path
    requests: dict[str, str]
    runs: dict[str, str]


def _file(*args: str) -> str:
    """File a request through the CLI; its id."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["request", "file", "-q", *args]) == 0
    return out.getvalue().strip()


def _cli(*args: str) -> None:
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        assert main(list(args)) == 0


@pytest.fixture(scope="module")
def project() -> Iterator[Project]:
    """A project (at a path of fixed length, so layouts compare) with a recorded pipeline and
    three training requests: one completed, one pending with a long title, one rejected."""
    root = Path(tempfile.mkdtemp(prefix="tlsnap-", dir="/tmp"))
    with pytest.MonkeyPatch.context() as patch:
        for key in list(os.environ):
            if key.startswith(("TRACLINE", "OPENLINEAGE")) and not key.startswith(
                    "TRACLINE_TEST_"):
                patch.delenv(key)
        patch.chdir(root)
        patch.setenv("TRACLINE_ACTOR", "user:ops")  # who acts when no --as is given
        (root / "tracline.toml").write_text(TOML)
        reset_config()
        reset_emitter()
        pipeline = Pipeline(root).all()
        common = ["--project", "vision/resnet", "--dataset",
                  "s3://datasets/night-images@sha256:" + "a" * 64, "--gpu", "H100",
                  "--rationale", "Recall on night images is 12 points behind day."]
        done = _file("--title", "Refit the day model", "--as", "agent:nightly-retrainer",
                     "--gpus", "1", "--hours", "20", "--budget", "300",
                     "--reviewer", "user:chris", *common)
        _cli("request", "approve", done, "--as", "user:chris", "--note", "go ahead")
        _cli("request", "claim", done, "--run-id", "01960000-0000-7000-8000-000000000001")
        _cli("request", "complete", done, "--gpu-seconds", "61200")
        pending = _file("--title", LONG_TITLE, "--as", "user:dana", "--gpus", "8",
                        "--hours", "3", "--budget", "320", "--reviewer", "user:chris", *common)
        rejected = _file("--title", "Try a bigger batch", "--as", "agent:sweeper", "--gpus", "2",
                         "--hours", "1", "--budget", "30", "--reviewer", "user:dana", *common)
        _cli("request", "reject", rejected, "--as", "user:dana", "--reason",
             "the last sweep already covered [64, 128] batches")
        reset_config()
        reset_emitter()
        yield Project(root, {"done": done, "pending": pending, "rejected": rejected},
                      pipeline.runs)
    shutil.rmtree(root, ignore_errors=True)


def commands(p: Project) -> dict[str, list[str]]:
    return {
        "request-list": ["request", "list"],
        "request-show": ["request", "show", p.requests["done"]],
        "request-show-rejected": ["request", "show", p.requests["rejected"]],
        "spend": ["spend"],
        "audit": ["request", "audit"],
        "outbox-status": ["outbox", "status"],
        "trace": ["trace", "reports/metrics.json"],
        "receipt": ["receipt", "models/model.bin"],
        "reproduce": ["reproduce", "reports/metrics.json"],
        "diff": ["diff", p.runs["train"], p.runs["evaluate"]],
        "leakage": ["leakage", "models/model.bin", "--test", "data/test.csv"],
    }


NAMES = ["request-list", "request-show", "request-show-rejected", "spend", "audit",
         "outbox-status", "trace", "receipt", "reproduce", "diff", "leakage"]


def check(name: str, text: str, root: Path) -> None:
    text = text.replace(str(root), "/tmp/tlsnap-" + "x" * (len(root.name) - len("tlsnap-")))
    path = SNAPSHOTS / name
    if UPDATE or not path.exists():
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(text)
        if not UPDATE:
            pytest.fail(f"new snapshot {path.name} written: check it and commit it")
    assert text == path.read_text(), f"{name} changed (TRACLINE_UPDATE_SNAPSHOTS=1 to accept)"


@pytest.mark.parametrize("name", NAMES)
def test_at_80_columns(project: Project, name: str) -> None:
    """In an 80-column terminal: no line is longer, and the output is the snapshot's."""
    out = in_terminal(commands(project)[name], cwd=project.root, columns=80,
                      env={"NO_COLOR": "1"})
    assert out.code == 0, out.plain
    assert all(len(row) <= 80 for row in out.lines), [r for r in out.lines if len(r) > 80]
    check(f"{name}.80.txt", masked("\n".join(row.rstrip() for row in out.lines)) + "\n",
          project.root)


@pytest.mark.parametrize("name", NAMES)
def test_piped(project: Project, name: str) -> None:
    """Through a pipe: plain text — no escape codes, no trailing spaces, nothing cut — and
    the snapshot's."""
    out = piped(commands(project)[name], cwd=project.root)
    assert out.code == 0, out.text + out.stderr
    assert "\x1b" not in out.text
    assert all(row == row.rstrip() for row in out.text.splitlines())
    if name == "request-list":  # whole, on one line
        assert any(row.endswith(LONG_TITLE) for row in out.text.splitlines())
    check(f"{name}.piped.txt", masked(out.text), project.root)
