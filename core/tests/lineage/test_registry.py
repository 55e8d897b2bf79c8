"""The registry's index: idempotent ingest, upgrades, lookups, and index use on SQLite."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tracline.events import Artifact, new_run_id, run_event, to_dict
from tracline.lineage import trace
from tracline.lineage._resolve import ResolvedArtifact
from tracline.lineage._trace import trace_artifact
from tracline.registry import Registry


def digest(text: str) -> str:
    return "blake3:" + hashlib.sha256(text.encode()).hexdigest()


def record(registry: Registry, job: str, ins: list[str], outs: list[str], *,
           at: str | None = None, digests: bool = True) -> str:
    """Ingest one COMPLETE event reading ``ins`` and writing ``outs`` (names = content)."""
    def art(name: str) -> Artifact:
        return Artifact.file(f"/data/{name}", digest(name) if digests else None, 1)

    run_id = new_run_id()
    registry.ingest(to_dict(run_event(
        "COMPLETE", run_id=run_id, job_name=job, namespace="t", event_time=at,
        inputs=[art(n) for n in ins], outputs=[art(n) for n in outs])))
    return run_id


def test_ingest_is_idempotent(store_url: str) -> None:
    """The same event delivered twice is indexed once."""
    registry = Registry(store_url)
    event = to_dict(run_event("COMPLETE", run_id=new_run_id(), job_name="j",
                                    namespace="t", outputs=[Artifact.file("/a", digest("a"))]))
    assert registry.ingest(event) is True
    assert registry.ingest(event) is False
    assert registry.event_count() == 1 and len(registry.producers(digest("a"))) == 1


def test_older_registry_gains_new_columns_and_indices(store_url: str) -> None:
    """A registry written before run_io had kind/event_time and its indices is upgraded."""
    engine = sa.create_engine(store_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(sa.text(
            "CREATE TABLE run_io (run_id VARCHAR(64) NOT NULL, direction VARCHAR(3) NOT NULL,"
            " namespace TEXT NOT NULL, name TEXT NOT NULL, digest VARCHAR(80), size BIGINT,"
            " file_count INTEGER, PRIMARY KEY (run_id, direction, namespace, name))"))
        conn.execute(sa.text("INSERT INTO run_io VALUES ('r1', 'out', 'file', '/old', "
                             f"'{digest('old')}', 1, 1)"))
    engine.dispose()
    registry = Registry(store_url)
    record(registry, "new", [], ["new"])
    assert [r.name for r in registry.producers(digest("old"))] == ["/old"]
    assert registry.versions("/data/new")[0].event_time is not None
    indices = {i["name"] for i in sa.inspect(registry.engine).get_indexes("run_io")}
    assert {"ix_run_io_digest_key", "ix_run_io_name_key"} <= indices


def test_schema_2_registry_is_keyed_and_its_text_indices_dropped(
        store_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """Rows written before run_io had its name and digest keys are keyed on open (in batches,
    in primary-key order) and found by every lookup; the text indices the keys replaced go."""
    from tracline.registry import _schema, _store

    engine = sa.create_engine(store_url.replace("postgresql://", "postgresql+psycopg://"))
    odd = ["/data/été", "/data/odd", "/data/none", *[f"/data/many-{i}" for i in range(6)]]
    versions = {"/data/été": digest("été"), "/data/odd": "v3 from another producer",
                "/data/none": None, **{f"/data/many-{i}": digest(f"m{i}") for i in range(6)}}
    with engine.begin() as conn:
        conn.execute(sa.text(
            "CREATE TABLE registry_meta (key VARCHAR(32) PRIMARY KEY, value TEXT NOT NULL)"))
        conn.execute(sa.text("INSERT INTO registry_meta VALUES ('schema', '2')"))
        conn.execute(sa.text(
            "CREATE TABLE run_io (run_id VARCHAR(64) NOT NULL, direction VARCHAR(3) NOT NULL,"
            " namespace TEXT NOT NULL, name TEXT NOT NULL, digest VARCHAR(80), size BIGINT,"
            " file_count INTEGER, kind VARCHAR(16), event_time VARCHAR(40),"
            " PRIMARY KEY (run_id, direction, namespace, name))"))
        conn.execute(sa.text("CREATE INDEX ix_run_io_digest_dir ON run_io (digest, direction)"))
        conn.execute(sa.text(
            "CREATE INDEX ix_run_io_name_time ON run_io (name, namespace, event_time)"))
        for i, name in enumerate(odd):
            conn.execute(sa.text(
                "INSERT INTO run_io VALUES (:r, 'out', 'file', :n, :d, 1, 1, 'file', :at)"),
                {"r": f"run-{i % 4}", "n": name, "d": versions[name],
                 "at": f"2025-01-0{1 + i % 4}T00:00:00+00:00"})
    engine.dispose()

    registry = Registry(store_url)
    assert "upgrading the registry" in caplog.text and "9 datasets" in caplog.text
    for name, version in versions.items():
        if version is not None:
            assert [r.name for r in registry.sightings(version)] == [name]
            assert [r.name for r in registry.producers(version)] == [name]
            assert [r.name for r in registry.versions(name)] == [name]
    assert registry.digests_starting(digest("été")[:20]) == [digest("été")]
    assert registry.last_writer("file", "/data/odd").digest == "v3 from another producer"
    assert registry.has_digestless_writes()
    assert list(registry.writes(["/data/none"], digestless=True)) == [("file", "/data/none")]
    indices = {i["name"] for i in sa.inspect(registry.engine).get_indexes("run_io")}
    assert {"ix_run_io_digest_key", "ix_run_io_name_key"} <= indices
    assert not {"ix_run_io_digest_dir", "ix_run_io_name_time"} & indices

    def keys() -> dict[str, tuple[Any, Any]]:
        with registry.engine.connect() as conn:
            return {r[0]: (r[1], r[2]) for r in conn.execute(sa.text(
                "SELECT name, name_key, digest_key FROM run_io"))}

    expected = {n: (_schema.name_key(n), _schema.digest_key(v)) for n, v in versions.items()}
    assert keys() == expected
    with registry.engine.begin() as conn:  # an upgrade stopped midway: small batches go on
        conn.execute(sa.text("UPDATE run_io SET name_key = NULL, digest_key = NULL"))
    _store._fill_keys(registry.engine, batch=2)
    assert keys() == expected


def test_keys_of_digests_and_names() -> None:
    """A digest's key is its first 32 bits (shared by every digest a prefix of 8 or more hex
    digits names); other versions and names are keyed by their CRC-32; non-text is refused."""
    from tracline.errors import ValidationError
    from tracline.registry import _schema

    full = digest("x")
    assert _schema.digest_key(full) == int(full[7:15], 16) == _schema.digest_key(full[:15])
    assert _schema.digest_key("sha256:0123abcd" + "0" * 56) == 0x0123ABCD
    assert _schema.digest_key("3") != _schema.digest_key("4")
    assert _schema.digest_key("blake3:0123abcG") == _schema.digest_key("blake3:0123abcG")
    assert _schema.digest_key(None) is None
    assert _schema.name_key("/a/b") != _schema.name_key("/a/c")
    registry = Registry("sqlite://")
    event = to_dict(run_event("COMPLETE", run_id=new_run_id(), job_name="j", namespace="t",
                              outputs=[Artifact.file("/a", digest("a"))]))
    event["outputs"][0]["name"] = 7
    with pytest.raises(ValidationError, match="must be text"):
        registry.ingest(event)


def test_lookups_by_name_prefix_and_tail(store_url: str) -> None:
    """Versions come newest first; digests resolve from a prefix; runs from their tail."""
    registry = Registry(store_url)
    first = record(registry, "a", [], ["v1"], at="2025-01-01T00:00:00+00:00")
    record(registry, "b", [], ["v2"], at="2025-01-02T00:00:00+00:00")
    assert [r.name for r in registry.versions("/data/v2")] == ["/data/v2"]
    assert registry.digests_starting(digest("v1")[:15]) == [digest("v1")]
    assert registry.find_run(first[-12:]).run_id == first
    assert registry.last_writer("file", "/data/v1", "2024-12-31T00:00:00+00:00") is None


def test_name_matching_when_digests_are_missing(store_url: str) -> None:
    """Inputs recorded without a digest are traced to the last earlier writer of that name."""
    registry = Registry(store_url)
    record(registry, "make", [], ["x"], at="2025-01-01T00:00:00+00:00", digests=False)
    record(registry, "use", ["x"], ["y"], at="2025-01-02T00:00:00+00:00", digests=False)
    record(registry, "final", ["y"], ["z"], at="2025-01-03T00:00:00+00:00")
    result = trace(digest("z"), registry=registry)
    assert [r.job_name for r in result.runs()] == ["make", "use", "final"]
    assert {n.matched_by for n in result.artifacts() if n.run} == {"digest", "name"}


def test_run_order_is_topological(tmp_path: Path) -> None:
    """A run is listed after every run that made its inputs, whatever order the walk met them."""
    registry = Registry(f"sqlite:///{tmp_path / 'r.db'}")
    record(registry, "rx", [], ["x"])
    record(registry, "rc", ["x"], ["c"])
    record(registry, "rb", ["c"], ["b"])
    record(registry, "ra", ["x"], ["a"])
    record(registry, "root", ["b", "a"], ["out"])
    order = [r.job_name for r in trace(digest("out"), registry=registry).runs()]
    assert order.index("rx") < order.index("rc") < order.index("rb") < order.index("root")
    assert order.index("rx") < order.index("ra")


def test_very_deep_lineage_does_not_recurse(tmp_path: Path) -> None:
    """A chain 1,200 runs deep is walked, ordered and rendered without hitting recursion limits."""
    from tracline.cli import render_receipt, render_trace
    from tracline.lineage import build_receipt

    registry = Registry(f"sqlite:///{tmp_path / 'r.db'}")
    for i in range(1200):
        record(registry, f"s{i}", [f"d{i}"], [f"d{i + 1}"])
    art = ResolvedArtifact("file", "/data/d1200", digest("d1200"))
    result = trace_artifact(registry, art, depth=5000)
    assert len(result.runs()) == 1200 and result.runs()[0].job_name == "s0"
    assert "d0" in render_trace(result, "tree") and render_trace(result, "json")
    assert digest("d0") in render_receipt(build_receipt(registry, result), "markdown")


def test_sqlite_uses_indices_for_every_lineage_query(tmp_path: Path) -> None:
    """EXPLAIN QUERY PLAN shows an index search, never a table scan, for trace's queries."""
    registry = Registry(f"sqlite:///{tmp_path / 'r.db'}")
    for i in range(50):
        record(registry, f"s{i}", [f"d{i}", f"side{i}"], [f"d{i + 1}"])
    seen: list[tuple[str, Any]] = []

    def listen(_c: Any, _cur: Any, sql: str, params: Any, _ctx: Any, _many: bool) -> None:
        seen.append((sql, params))

    sa.event.listen(registry.engine, "before_cursor_execute", listen)
    trace(digest("d50"), registry=registry)
    sa.event.remove(registry.engine, "before_cursor_execute", listen)
    with registry.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        plans = [" ".join(r[-1] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}",
                                                              params))
                 for sql, params in seen if sql.lstrip().startswith("SELECT")]
    assert len(plans) > 100
    assert all("USING" in p and "SCAN" not in p.replace("SCAN CONSTANT", "") for p in plans), \
        {p for p in plans if "SCAN" in p}


@pytest.mark.parametrize("bad", ["", "   "])
def test_empty_reference_is_a_validation_error(tmp_path: Path, bad: str) -> None:
    """An empty path or digest is refused with a hint."""
    from tracline.errors import ValidationError

    with pytest.raises(ValidationError, match="empty"):
        trace(bad, registry=Registry(f"sqlite:///{tmp_path / 'r.db'}"))


def test_a_run_of_3000_files_is_indexed_in_a_few_statements(store_url: str) -> None:
    """A run with 3,000 inputs is indexed by a handful of statements (its datasets in one
    batch), not one per file, and every input is in the index."""
    registry = Registry(store_url)
    registry.event_count()  # the tables exist before counting
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    sa.event.listen(registry.engine, "before_cursor_execute", count)
    try:
        run_id = record(registry, "wide", [f"in-{i}" for i in range(3000)], ["model"])
    finally:
        sa.event.remove(registry.engine, "before_cursor_execute", count)
    io_statements = [s for s in statements if "run_io" in s]
    assert 1 <= len(io_statements) <= 3, io_statements  # PostgreSQL: 1,000 rows a statement
    assert len(statements) < 15, statements
    with registry.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT count(*) FROM run_io WHERE run_id = :r"),
                            {"r": run_id}).scalar()
    assert rows == 3001


def test_a_later_event_of_the_run_updates_its_datasets_but_never_erases_a_digest(
        store_url: str) -> None:
    """The run's datasets are upserted: an event naming a dataset again with a digest
    replaces what was indexed, one naming it without a digest leaves the digest there."""
    registry = Registry(store_url)
    run_id = new_run_id()

    def send(state: str, digest_of: str | None, size: int) -> None:
        inputs = [Artifact.file("/data/a", digest(digest_of) if digest_of else None, size),
                  Artifact.file("/data/b", digest("b"), 2)]
        registry.ingest(to_dict(run_event(state, run_id=run_id, job_name="j", namespace="t",
                                          inputs=inputs)))

    def indexed() -> list[tuple[Any, ...]]:
        with registry.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(
                "SELECT name, digest, size FROM run_io WHERE run_id = :r ORDER BY name"),
                {"r": run_id})]

    send("START", "a-old", 1)
    send("RUNNING", "a-new", 5)
    assert indexed() == [("/data/a", digest("a-new"), 5), ("/data/b", digest("b"), 2)]
    send("COMPLETE", None, 7)
    assert indexed() == [("/data/a", digest("a-new"), 5), ("/data/b", digest("b"), 2)]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_run_io_values_go_to_the_driver_as_they_are(dialect: str) -> None:
    """The run's datasets are sent with the driver's executemany, without SQLAlchemy's
    processing of each value: that is right only while no column of ``run_io`` needs it."""
    from sqlalchemy.dialects import postgresql, sqlite

    from tracline.registry import _schema

    engine_dialect = (postgresql.psycopg.dialect() if dialect == "postgresql"
                      else sqlite.pysqlite.dialect())
    for column in _schema.run_io.columns:
        assert column.type.bind_processor(engine_dialect) is None, column.name
