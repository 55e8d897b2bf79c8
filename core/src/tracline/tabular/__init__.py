"""Tabular files (CSV/TSV, JSON lines, Parquet): which files are tables, and their columns.

``read_schema`` reads a bounded prefix of a file (a Parquet file's footer) and says its
columns with types inferred from the first rows; capture records it for each tabular file a
run reads or writes, and it reaches lineage as the standard OpenLineage ``schema`` facet.
"""

from tracline.tabular._schema import (
    TABULAR_SUFFIXES,
    Field,
    is_tabular,
    read_schema,
    schemas_of,
)

__all__ = ["TABULAR_SUFFIXES", "Field", "is_tabular", "read_schema", "schemas_of"]
