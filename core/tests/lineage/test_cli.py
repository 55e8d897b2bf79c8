"""The lineage commands end to end: `tracline trace|receipt|reproduce|diff|leakage`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tracline.cli import main
from tracline.events import new_run_id, run_event
from tracline.hashing import digest_path

from .pipeline import Pipeline, artifact


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_trace_tree_json_mermaid_dot(pipeline: Pipeline, capsys: pytest.CaptureFixture[str],
                                     ) -> None:
    """`tracline trace` reaches raw.csv from the metrics in every output format."""
    pipeline.all()
    code, out, _ = _run(capsys, "trace", str(pipeline.metrics))
    assert code == 0 and "data/raw.csv" in out and "prepare" in out and "(source)" in out
    code, out, _ = _run(capsys, "trace", str(pipeline.metrics), "--json")
    assert [r["job_name"] for r in json.loads(out)["runs"]] == ["prepare", "train", "evaluate"]
    for fmt, start in (("mermaid", "flowchart LR"), ("dot", "digraph lineage")):
        code, out, _ = _run(capsys, "trace", "reports/metrics.json", "--format", fmt)
        assert code == 0 and out.startswith(start) and "raw.csv" in out


def test_receipt_in_four_formats(pipeline: Pipeline, capsys: pytest.CaptureFixture[str],
                                 tmp_path: Path) -> None:
    """`tracline receipt` prints text, JSON and Markdown, and writes HTML to a file."""
    pipeline.all()
    model = digest_path(pipeline.model, cache=False).digest
    code, out, _ = _run(capsys, "receipt", "models/model.bin")
    assert code == 0 and "python train.py --lr 0.1" in out and "user:alice" in out
    assert model in out and "20.00 USD" in out
    code, out, _ = _run(capsys, "receipt", model, "--format", "json")
    assert json.loads(out)["approval"]["approvedBy"] == ["user:alice"]
    code, out, _ = _run(capsys, "receipt", model, "--format", "markdown")
    assert out.startswith("# Receipt: models/model.bin") and "## Recipe" in out
    page = tmp_path / "receipt.html"
    code, out, _ = _run(capsys, "receipt", model, "--format", "html", "-o", str(page))
    assert code == 0 and "wrote the html receipt" in out
    assert page.read_text().startswith("<!DOCTYPE html>") and model in page.read_text()


def test_diff_and_reproduce_plan(pipeline: Pipeline, capsys: pytest.CaptureFixture[str]) -> None:
    """`tracline diff` compares two runs; `tracline reproduce` lists the steps in order."""
    pipeline.all()
    code, out, _ = _run(capsys, "diff", pipeline.runs["train"], pipeline.runs["evaluate"],
                        "--json")
    changes = json.loads(out)["changes"]
    assert code == 0 and changes["argv"][0]["after"] == ["python", "evaluate.py"]
    code, out, _ = _run(capsys, "diff", pipeline.runs["train"], pipeline.runs["evaluate"])
    assert "different recipe" in out and "models/model.bin" in out
    code, out, _ = _run(capsys, "reproduce", str(pipeline.metrics))
    assert code == 0
    assert out.index("prepare") < out.index("train.py") < out.index("evaluate.py")
    code, out, _ = _run(capsys, "reproduce", str(pipeline.metrics), "--json")
    assert [s["run"]["job_name"] for s in json.loads(out)["plan"]["steps"]] == [
        "prepare", "train", "evaluate"]


def test_leakage_exit_codes(pipeline: Pipeline, capsys: pytest.CaptureFixture[str]) -> None:
    """`tracline leakage` exits 0 on a clean model and 1, naming the file, on a leak."""
    pipeline.prepare()
    pipeline.train()
    code, out, _ = _run(capsys, "leakage", "models/model.bin", "--test", "data/test.csv")
    assert code == 0 and "no overlap" in out
    pipeline.train(extra_inputs=[pipeline.test_csv])
    code, out, _ = _run(capsys, "leakage", "models/model.bin", "--test", "data/test.csv")
    assert code == 1 and "LEAK" in out and "data/test.csv" in out
    code, out, _ = _run(capsys, "leakage", "models/model.bin", "--test", "data/test.csv",
                        "--json")
    assert code == 1 and json.loads(out)["fileMatches"][0]["upstream"] == "data/test.csv"


def test_bad_input_is_one_clear_line(pipeline: Pipeline, capsys: pytest.CaptureFixture[str],
                                     ) -> None:
    """Unknown paths, unknown or malformed digests and unknown runs: one error line, exit 2."""
    pipeline.prepare()
    Path("unknown.txt").write_text("never recorded")
    cases = [
        (["trace", "unknown.txt"], "unknown to the registry"),
        (["receipt", "blake3:" + "f" * 64], "no artifact with digest"),
        (["trace", "blake3:nothex"], "not a blake3 digest"),
        (["reproduce", "missing/file.csv"], "no such file"),
        (["diff", "0000aaaa", pipeline.runs["prepare"]], "no run 0000aaaa"),
    ]
    for argv, message in cases:
        code, _, err = _run(capsys, *argv)
        assert code == 2, argv
        assert err.startswith("tracline: error:") and message in err, err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_pending_events_are_delivered_before_querying(
        pipeline: Pipeline, capsys: pytest.CaptureFixture[str]) -> None:
    """A run still in the outbox (not yet delivered) is visible to `tracline trace`."""
    pipeline.prepare()
    run_id = new_run_id()
    out_file = pipeline.root / "data" / "late.csv"
    out_file.write_text("id\n1\n")
    pipeline.recorder.emitter.emit(run_event(
        "COMPLETE", run_id=run_id, job_name="late", namespace="tests",
        inputs=[artifact(pipeline.raw)], outputs=[artifact(out_file)]))
    code, out, _ = _run(capsys, "trace", "data/late.csv")
    assert code == 0 and "late" in out and "data/raw.csv" in out
