"""A run's record keeps every field through the outbox's JSON."""

from __future__ import annotations

import attrs

from tracline.record import FileRecord, RunRecord


def _non_default(record: FileRecord) -> set[str]:
    return {f.name for f in attrs.fields(FileRecord)
            if getattr(record, f.name) != (f.default.factory() if isinstance(
                f.default, attrs.Factory) else f.default)}  # type: ignore[arg-type]


def test_file_record_keeps_every_field() -> None:
    """A file record with every field set comes back equal from its dict, and its dict has
    exactly the fields that differ from their defaults (a new field cannot be forgotten)."""
    full = FileRecord("/d/a.csv", "blake3:ab", 12, 3, "folder", "cannot read", True,
                      [("x", "INTEGER")])
    plain = FileRecord("/d/b.bin", "blake3:cd", 4)
    bare = FileRecord("/d/c")
    for record in (full, plain, bare):
        data = record.to_dict()
        assert set(data) == _non_default(record) | {"path"}
        assert FileRecord(**data) == record
    assert set(full.to_dict()) == {f.name for f in attrs.fields(FileRecord)}


def test_run_record_round_trips_through_json() -> None:
    """A run record with files comes back equal from the outbox's JSON."""
    record = RunRecord(run_id="r", job="j", namespace="n", argv=["a"], cwd="/", started_at="t",
                       capture_mode="preload",
                       inputs=[FileRecord("/in", "blake3:00", 1, schema=[("c", "STRING")])],
                       outputs=[FileRecord("/out", error="gone", modified=True)])
    assert RunRecord.from_json(record.to_json()) == record
