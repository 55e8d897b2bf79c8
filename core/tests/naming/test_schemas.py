"""Tabular files carry their columns as the standard OpenLineage ``schema`` facet."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tracline.capture import FileRecord, RunRecord
from tracline.config import load_config
from tracline.delivery import wait_delivered
from tracline.events import file_dataset, to_dict
from tracline.tabular import read_schema
from tracline.testing import assert_valid_events


def test_csv_jsonl_parquet_columns_and_types(tmp_path: Path) -> None:
    """CSV header with types inferred from rows, JSON-lines keys with JSON types, Parquet's
    schema; non-tables and broken files have none."""
    csv = tmp_path / "points.csv"
    csv.write_text("x,y,label,note\n1,2.5,0,a\n2,3,1,\n-4,1e3,0,b\n")
    assert read_schema(csv) == [("x", "INTEGER"), ("y", "DOUBLE"), ("label", "INTEGER"),
                                ("note", "STRING")]
    lines = tmp_path / "rows.jsonl"
    lines.write_text('{"id": 1, "tags": ["a"], "meta": {"k": 1}}\n{"id": 2.5, "ok": true}\n')
    assert read_schema(lines) == [("id", "DOUBLE"), ("tags", "ARRAY"), ("meta", "STRUCT"),
                                  ("ok", "BOOLEAN")]
    table = tmp_path / "features.parquet"
    pq.write_table(pa.table({"id": [1, 2], "score": [0.5, 0.25], "name": ["a", "b"]}), table)
    assert read_schema(table) == [("id", "int64"), ("score", "double"), ("name", "string")]
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    (tmp_path / "bad.jsonl").write_text("{not json\n")
    (tmp_path / "model.bin").write_bytes(b"\0\1")
    for name in ("broken.parquet", "bad.jsonl", "model.bin", "missing.csv"):
        assert read_schema(tmp_path / name) is None, name


def test_long_csv_is_read_from_a_bounded_prefix(tmp_path: Path) -> None:
    """A large CSV's schema comes from its first rows (a cut last line is not a row)."""
    big = tmp_path / "big.csv"
    with big.open("w") as handle:
        handle.write("a,b\n")
        for i in range(200_000):
            handle.write(f"{i},{i}.5\n")
    assert read_schema(big) == [("a", "INTEGER"), ("b", "DOUBLE")]


def test_the_schema_fact_becomes_the_schema_facet() -> None:
    """A file record's columns survive the record's JSON and become the standard ``schema``
    facet of its dataset, in the one builder."""
    record = FileRecord("/data/points.csv", "blake3:" + "a" * 64, 10, 1, "file",
                        schema=[("x", "INTEGER"), ("label", "STRING")])
    again = RunRecord.from_json(RunRecord("r", "j", "n", [], "/", "t", "m",
                                          inputs=[record]).to_json()).inputs[0]
    assert again == record
    for role in ("input", "output"):
        built = to_dict(file_dataset(again, role))
        assert built["facets"]["schema"]["fields"] == [{"name": "x", "type": "INTEGER"},
                                                       {"name": "label", "type": "STRING"}]


def test_tracline_run_records_schemas_of_tables_it_reads_and_writes(tracline_home: Path) -> None:
    """Under `tracline run`, the CSV read and the Parquet written carry their columns, and
    the events validate against the OpenLineage schemas."""
    project = tracline_home.parent
    (project / "raw.csv").write_text("x,y,label\n1,2,0\n3,4,1\n")
    (project / "convert.py").write_text(
        "import csv, pyarrow as pa, pyarrow.parquet as pq\n"
        "rows = list(csv.DictReader(open('raw.csv')))\n"
        "table = pa.table({k: [int(r[k]) for r in rows] for k in rows[0]})\n"
        "with open('features.parquet', 'wb') as out:\n"
        "    pq.write_table(table, out)\n")
    env = {**os.environ, "TRACLINE__CAPTURE__DELIVER": "inline",
           "TRACLINE__OUTBOX__FLUSH_TIMEOUT": "60"}
    done = subprocess.run([sys.executable, "-m", "tracline", "run", "--", sys.executable,
                           "convert.py"], cwd=project, env=env, capture_output=True, text=True,
                          timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    wait_delivered(load_config())
    lines = (tracline_home / "events.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    complete = events[-1]
    schemas = {Path(d["name"]).name: d["facets"].get("schema", {}).get("fields")
               for d in complete["inputs"] + complete["outputs"]}
    assert schemas["raw.csv"] == [{"name": "x", "type": "INTEGER"},
                                  {"name": "y", "type": "INTEGER"},
                                  {"name": "label", "type": "INTEGER"}]
    assert schemas["features.parquet"] == [{"name": "x", "type": "int64"},
                                           {"name": "y", "type": "int64"},
                                           {"name": "label", "type": "int64"}]
    assert_valid_events(events)
