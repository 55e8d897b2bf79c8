"""Rows of tabular files (CSV/TSV, JSON lines, Parquet), normalised so equal rows hash equal.

A row is a mapping column → value. Values are normalised before hashing so the same record
compares equal across formats: numbers by value (``"3"``, ``3`` and ``3.0`` agree), booleans
and nulls spelled one way, surrounding whitespace dropped, nested values as sorted JSON.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import hashlib
import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tracline.errors import ValidationError
from tracline.tabular import TABULAR_SUFFIXES, is_tabular

__all__ = ["TABULAR_SUFFIXES", "is_tabular", "normalize", "read_rows", "row_key"]

_BATCH = 65_536


def _number(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return str(int(value)) if value.is_integer() and abs(value) < 2**63 else repr(value)


def normalize(value: Any) -> str:
    """One spelling per value: ``3``/``"3"``/``3.0`` → ``3``; ``True``/``"true"`` → ``true``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | decimal.Decimal):
        return _number(float(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    text = str(value).strip()
    lowered = text.lower()
    if lowered in {"true", "false"}:
        return lowered
    if lowered in {"", "null", "none", "na", "n/a"}:
        return ""
    try:
        return str(int(text))
    except ValueError:
        pass
    try:
        return _number(float(text))
    except ValueError:
        return text


def row_key(row: dict[str, Any], columns: Sequence[str]) -> bytes | None:
    """A 16-byte hash of the row's normalised values in ``columns``; None for an empty row."""
    values = [normalize(row.get(c)) for c in columns]
    if not any(values):
        return None
    text = "\x1f".join(f"{c}\x1e{v}" for c, v in zip(columns, values, strict=True))
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def _csv_rows(path: Path, delimiter: str) -> Iterator[dict[str, Any]]:
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        for row in reader:
            # Cells past the header land under the key None: they belong to no column.
            yield {k.strip(): v for k, v in row.items() if isinstance(k, str)}


def _jsonl_rows(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValidationError(str(path), f"line {number} is not JSON: {e.msg}",
                                      hint="JSON-lines files hold one JSON object per line") from e
            if isinstance(value, dict):
                yield value


def _parquet_rows(path: Path) -> Iterator[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as e:
        raise ValidationError(str(path), "reading Parquet needs pyarrow",
                              hint="pip install 'tracline[parquet]'") from e
    try:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=_BATCH):
            yield from batch.to_pylist()
    except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid is a ValueError
        raise ValidationError(str(path), f"not a readable Parquet file: {e}",
                              hint="check that the file is complete") from e


def read_rows(path: Path, fmt: str | None = None) -> Iterator[dict[str, Any]]:
    """Every row of a tabular file as a mapping column → value."""
    fmt = fmt or is_tabular(path)
    if fmt == "csv":
        return _csv_rows(path, ",")
    if fmt == "tsv":
        return _csv_rows(path, "\t")
    if fmt == "jsonl":
        return _jsonl_rows(path)
    if fmt == "parquet":
        return _parquet_rows(path)
    raise ValidationError(str(path), "not a tabular file",
                          hint="rows are compared for .csv, .tsv, .jsonl/.ndjson and .parquet")


def columns_of(path: Path, fmt: str | None = None, sample: int = 1000) -> list[str]:
    """The columns of a tabular file (Parquet: its schema; text formats: the first rows)."""
    fmt = fmt or is_tabular(path)
    if fmt == "parquet":
        try:
            import pyarrow.parquet as pq

            return list(pq.ParquetFile(path).schema_arrow.names)
        except ImportError:
            pass
    seen: dict[str, None] = {}
    for i, row in enumerate(read_rows(path, fmt)):
        seen.update(dict.fromkeys(row))
        if i >= sample:
            break
    return list(seen)
