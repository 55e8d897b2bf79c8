"""The columns of a tabular file, read from a bounded prefix (Parquet: from its footer).

Types are the names Marquez and other OpenLineage consumers show: ``INTEGER``, ``DOUBLE``,
``BOOLEAN``, ``STRING`` for text formats (inferred from the first rows, the widest type seen
winning), ``ARRAY`` and ``STRUCT`` for nested JSON values, and Arrow's own type names for
Parquet (``int64``, ``double``, ``string``, ...). Reading never raises: a file that cannot be
read as a table has no schema (None).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterable, Sequence

__all__ = ["TABULAR_SUFFIXES", "Field", "is_tabular", "read_schema", "schemas_of"]

TABULAR_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
                    ".parquet": "parquet", ".pq": "parquet"}
_ENDINGS = tuple(TABULAR_SUFFIXES)
#: A column: (name, type).
Field = tuple[str, str]

#: Bytes read from the start of a text file (header and the rows types are inferred from).
PREFIX_BYTES = 65_536
#: Rows looked at for types, and columns kept at most.
SAMPLE_ROWS = 20
MAX_COLUMNS = 1000


def is_tabular(path: str | os.PathLike[str]) -> str | None:
    """The row format of a file by its name (``csv``, ``tsv``, ``jsonl``, ``parquet``), or None."""
    return TABULAR_SUFFIXES.get(os.path.splitext(os.fspath(path))[1].lower())


def _widest(types: Iterable[str]) -> str:
    seen = set(types)
    if not seen:
        return "STRING"
    if len(seen) == 1:
        return seen.pop()
    if seen <= {"INTEGER", "DOUBLE"}:
        return "DOUBLE"
    return "STRING"


_INTEGER = re.compile(r"[+-]?\d+")
_DOUBLE = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|nan)", re.IGNORECASE)


def _text_type(value: str) -> str | None:
    text = value.strip()
    if not text:
        return None
    if _INTEGER.fullmatch(text):
        return "INTEGER"
    if _DOUBLE.fullmatch(text):
        return "DOUBLE"
    if text.lower() in {"true", "false"}:
        return "BOOLEAN"
    return "STRING"


def _json_type(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "INTEGER"
    if isinstance(value, float):
        return "DOUBLE"
    if isinstance(value, list):
        return "ARRAY"
    if isinstance(value, dict):
        return "STRUCT"
    return "STRING"


def _prefix_lines(path: str) -> list[str]:
    """The complete lines of the file's first ``PREFIX_BYTES`` (a cut last line dropped)."""
    with open(path, "rb") as handle:
        data = handle.read(PREFIX_BYTES + 1)
    lines = data[:PREFIX_BYTES].decode("utf-8", errors="replace").splitlines()
    if len(data) > PREFIX_BYTES and lines:
        lines.pop()
    return lines


def _csv_schema(path: str, delimiter: str) -> list[Field] | None:
    rows = list(csv.reader(io.StringIO("\n".join(_prefix_lines(path)[:SAMPLE_ROWS + 1])),
                           delimiter=delimiter))
    if not rows or not any(cell.strip() for cell in rows[0]):
        return None
    header = [cell.strip() for cell in rows[0]][:MAX_COLUMNS]
    types: list[set[str]] = [set() for _ in header]
    for row in rows[1:]:
        for i, cell in enumerate(row[: len(header)]):
            if "STRING" not in types[i]:  # the widest already: nothing to learn
                kind = _text_type(cell)
                if kind is not None:
                    types[i].add(kind)
    return [(name or f"column_{i + 1}", _widest(kinds))
            for i, (name, kinds) in enumerate(zip(header, types, strict=True))]


def _jsonl_schema(path: str) -> list[Field] | None:
    columns: dict[str, list[str]] = {}
    rows = 0
    for line in _prefix_lines(path):
        if not line.strip():
            continue
        value = json.loads(line)
        if not isinstance(value, dict):
            return None
        for key, item in value.items():
            if key not in columns and len(columns) >= MAX_COLUMNS:
                continue
            kinds = columns.setdefault(str(key), [])
            kind = _json_type(item)
            if kind is not None:
                kinds.append(kind)
        rows += 1
        if rows >= SAMPLE_ROWS:
            break
    return [(name, _widest(kinds)) for name, kinds in columns.items()] or None


def _parquet_schema(path: str) -> list[Field] | None:
    try:
        import pyarrow.parquet as pq
    except ImportError:  # Parquet schemas need pyarrow (tracline[parquet]); none without it
        return None
    schema = pq.read_schema(path)
    return [(field.name, str(field.type)) for field in list(schema)[:MAX_COLUMNS]] or None


def read_schema(path: str | os.PathLike[str]) -> list[Field] | None:
    """The columns of a tabular file as (name, type), or None (not a table, unreadable)."""
    fmt = is_tabular(path)
    if fmt is None:
        return None
    name = os.fspath(path)
    try:
        if fmt == "parquet":
            return _parquet_schema(name)
        if fmt == "jsonl":
            return _jsonl_schema(name)
        return _csv_schema(name, "\t" if fmt == "tsv" else ",")
    except (OSError, ValueError, csv.Error):  # pyarrow's ArrowInvalid is a ValueError
        return None


def schemas_of(paths: Sequence[str], limit: int) -> dict[str, list[Field]]:
    """``read_schema`` of the tabular files among ``paths``, the first ``limit`` of them."""
    found: dict[str, list[Field]] = {}
    # A cheap look at the end of each name first: a run may have thousands of files.
    tabular = [p for p in paths if p[-8:].lower().endswith(_ENDINGS) and is_tabular(p)]
    for path in tabular[:limit]:
        fields = read_schema(path)
        if fields:
            found[path] = fields
    return found
