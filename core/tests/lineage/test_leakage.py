"""Leakage between a model's upstream and a test set, by file digest and by row."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tracline.errors import NotFound, ValidationError
from tracline.lineage import leakage

from .pipeline import HEADER, Pipeline, raw_rows, write_csv


def _test_rows(pipeline: Pipeline) -> list[list[object]]:
    rows = raw_rows()
    return rows[len(rows) * 3 // 4 :]


def test_clean_pipeline_has_no_leak(pipeline: Pipeline) -> None:
    """A model trained on train.csv only does not leak; raw.csv is reported as a shared source."""
    pipeline.all()
    report = leakage(str(pipeline.model), pipeline.test_csv, registry=pipeline.recorder.registry)
    assert not report.leaked and report.leaked_rows == 0
    assert report.shared_ancestors == ["data/raw.csv"]
    assert {"models/model.bin", "data/train.csv", "params.json"} <= set(report.upstream_checked)


def test_train_reading_the_test_file_is_caught_by_digest(pipeline: Pipeline) -> None:
    """A train step that read test.csv itself is caught by file digest and by all its rows."""
    pipeline.prepare()
    pipeline.train(extra_inputs=[pipeline.test_csv])
    report = leakage(str(pipeline.model), pipeline.test_csv, registry=pipeline.recorder.registry)
    assert report.leaked
    assert [m.upstream for m in report.file_matches] == ["data/test.csv"]
    overlap = next(o for o in report.row_overlaps if o.upstream == "data/test.csv")
    assert overlap.leaked_rows == overlap.test_rows == 10


def test_rows_copied_into_a_csv_are_caught(pipeline: Pipeline) -> None:
    """Test rows re-written into another CSV (other column order, 4.0 for 4) are caught by row."""
    pipeline.prepare()
    copied = [[r[3], f"{float(r[1]):.1f}", r[2], float(r[0])] for r in _test_rows(pipeline)[:4]]
    extra = write_csv(pipeline.root / "data" / "extra.csv",
                      [["z", 9.9, 9.9, 999], *copied], header=["label", "sepal", "petal", "id"])
    pipeline.train(extra_inputs=[extra])
    report = leakage(str(pipeline.model), pipeline.test_csv, registry=pipeline.recorder.registry)
    assert report.leaked and not report.file_matches
    overlap = next(o for o in report.row_overlaps if o.upstream == "data/extra.csv")
    assert (overlap.leaked_rows, overlap.upstream_rows, overlap.test_rows) == (4, 5, 10)
    assert overlap.examples[0]["id"] == "30.0" and len(overlap.examples) == 3  # as written there


def test_rows_in_jsonl_are_caught(pipeline: Pipeline) -> None:
    """Test rows inside a JSON-lines input of the train step are caught by row."""
    pipeline.prepare()
    extra = pipeline.root / "data" / "augment.jsonl"
    lines = [json.dumps(dict(zip(HEADER, r, strict=True))) for r in _test_rows(pipeline)[-2:]]
    extra.write_text("\n".join([json.dumps({"id": 500, "sepal": 1, "petal": 2, "label": "c"}),
                                *lines]) + "\n")
    pipeline.train(extra_inputs=[extra])
    report = leakage(str(pipeline.model), pipeline.test_csv, registry=pipeline.recorder.registry)
    overlap = next(o for o in report.row_overlaps if o.upstream == "data/augment.jsonl")
    assert overlap.leaked_rows == 2 and overlap.upstream_rows == 3


def test_rows_in_parquet_are_caught_against_a_test_folder(pipeline: Pipeline) -> None:
    """Test rows inside a Parquet input are caught when the test set is a folder of files."""
    pipeline.prepare()
    rows = _test_rows(pipeline)
    table = pa.table({"id": [r[0] for r in rows[:3]], "sepal": [r[1] for r in rows[:3]],
                      "petal": [r[2] for r in rows[:3]], "label": [r[3] for r in rows[:3]],
                      "weight": [1.0, 1.0, 1.0]})
    features = pipeline.root / "features"
    features.mkdir()
    pq.write_table(table, features / "part-0.parquet")
    pipeline.train(extra_inputs=[features])
    test_dir = pipeline.root / "holdout"
    test_dir.mkdir()
    shutil.copy(pipeline.test_csv, test_dir / "holdout.csv")
    report = leakage(str(pipeline.model), test_dir, registry=pipeline.recorder.registry)
    overlap = next(o for o in report.row_overlaps if o.upstream == "features/part-0.parquet")
    assert overlap.leaked_rows == 3 and overlap.columns == HEADER
    assert report.test_files == 1 and not report.file_matches


def test_bad_inputs(pipeline: Pipeline) -> None:
    """A missing test set and a model unknown to the registry are clear errors."""
    pipeline.all()
    registry = pipeline.recorder.registry
    with pytest.raises(ValidationError, match="does not exist"):
        leakage(str(pipeline.model), pipeline.root / "nope.csv", registry=registry)
    unknown = pipeline.root / "other.bin"
    unknown.write_bytes(b"x")
    with pytest.raises(NotFound):
        leakage(str(unknown), pipeline.test_csv, registry=registry)


def test_row_normalisation_across_formats(tmp_path: Path) -> None:
    """The same record in CSV, JSON lines and Parquet hashes to one key."""
    from tracline.lineage._rows import read_rows, row_key

    write_csv(tmp_path / "a.csv", [[1, "2.50", " x ", "true"]], header=["a", "b", "c", "d"])
    (tmp_path / "a.jsonl").write_text('{"d": true, "c": "x", "b": 2.5, "a": 1.0}\n')
    pq.write_table(pa.table({"a": [1], "b": [2.5], "c": ["x"], "d": [True]}),
                   tmp_path / "a.parquet")
    keys = {row_key(next(read_rows(tmp_path / f"a.{ext}")), ["a", "b", "c", "d"])
            for ext in ("csv", "jsonl", "parquet")}
    assert len(keys) == 1
