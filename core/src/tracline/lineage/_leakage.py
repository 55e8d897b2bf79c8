"""Leakage: does anything upstream of a model share content with a test set?

Every artifact in the model's upstream lineage is compared with the test set, by file digest
(whole files, and files inside recorded directories) and by row for CSV/TSV, JSON lines and
Parquet (normalised rows, hashed; see ``_rows``). Artifacts that are also upstream of the test
set — the raw data a split was made from — are expected to share rows with it and are reported
apart, not as leaks. Rows are compared on the columns both files have, when those cover at
least half of the test file's columns.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from pathlib import Path
from typing import Any

import attrs

from tracline.errors import NotFound, TraclineError, ValidationError
from tracline.hashing import digest_path
from tracline.lineage._common import display_name, open_registry
from tracline.lineage._resolve import resolve
from tracline.lineage._rows import columns_of, is_tabular, read_rows, row_key
from tracline.lineage._trace import DEFAULT_DEPTH, TraceNode, trace_artifact
from tracline.registry import Registry

__all__ = ["FileMatch", "LeakageReport", "RowOverlap", "leakage"]

EXAMPLES = 3


@attrs.frozen
class FileMatch:
    """An upstream file (or a file inside an upstream directory) identical to a test file."""

    upstream: str
    test_file: str
    digest: str

    def to_dict(self) -> dict[str, Any]:
        return {"upstream": self.upstream, "testFile": self.test_file, "digest": self.digest}


@attrs.frozen
class RowOverlap:
    """Rows of a test file that also appear in an upstream tabular file."""

    upstream: str
    test_file: str
    columns: list[str]
    upstream_rows: int
    test_rows: int
    leaked_rows: int
    examples: list[dict[str, Any]]
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"upstream": self.upstream, "testFile": self.test_file, "columns": self.columns,
                "upstreamRows": self.upstream_rows, "testRows": self.test_rows,
                "leakedRows": self.leaked_rows, "examples": self.examples, "note": self.note}


@attrs.define
class LeakageReport:
    """What the upstream of a model shares with a test set."""

    model: str
    model_digest: str | None
    test_set: str
    test_digest: str
    test_files: int
    upstream_checked: list[str]
    file_matches: list[FileMatch] = attrs.field(factory=list)
    row_overlaps: list[RowOverlap] = attrs.field(factory=list)
    shared_ancestors: list[str] = attrs.field(factory=list)
    skipped: dict[str, str] = attrs.field(factory=dict)

    @property
    def leaked(self) -> bool:
        return bool(self.file_matches) or any(o.leaked_rows for o in self.row_overlaps)

    @property
    def leaked_rows(self) -> int:
        return sum(o.leaked_rows for o in self.row_overlaps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "modelDigest": self.model_digest, "testSet": self.test_set,
            "testDigest": self.test_digest, "testFiles": self.test_files, "leaked": self.leaked,
            "leakedRows": self.leaked_rows, "upstreamChecked": self.upstream_checked,
            "fileMatches": [m.to_dict() for m in self.file_matches],
            "rowOverlaps": [o.to_dict() for o in self.row_overlaps if o.leaked_rows],
            "sharedAncestors": self.shared_ancestors, "skipped": self.skipped,
        }


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    found = []
    for folder, dirs, names in os.walk(path):
        dirs.sort()
        found += [Path(folder) / n for n in sorted(names) if (Path(folder) / n).is_file()]
    return found


class _TestSet:
    """The test set's files, their digests and (lazily) their row hashes per column set."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.files = _files(path)
        self.digests = {digest_path(f).digest: f for f in self.files}
        self.tabular = [(f, fmt) for f in self.files if (fmt := is_tabular(f))]
        self.columns = {f: columns_of(f, fmt) for f, fmt in self.tabular}
        self._rows: dict[tuple[Path, tuple[str, ...]], tuple[Counter[bytes], int]] = {}

    def rows(self, file: Path, fmt: str, columns: tuple[str, ...]) -> tuple[Counter[bytes], int]:
        """Hash → count of the file's rows projected on ``columns``, and the total row count."""
        if (file, columns) not in self._rows:
            counts: Counter[bytes] = Counter()
            total = 0
            for row in read_rows(file, fmt):
                total += 1
                if (key := row_key(row, columns)) is not None:
                    counts[key] += 1
            self._rows[file, columns] = (counts, total)
        return self._rows[file, columns]


def _overlap(test: _TestSet, upstream: Path, fmt: str, label: str, note: str | None,
             ) -> list[RowOverlap]:
    found = []
    up_columns = set(columns_of(upstream, fmt))
    for file, test_fmt in test.tabular:
        common = tuple(c for c in test.columns[file] if c in up_columns)
        if len(common) < max(1, math.ceil(len(test.columns[file]) / 2)):
            continue
        counts, total = test.rows(file, test_fmt, common)
        matched: set[bytes] = set()
        examples: list[dict[str, Any]] = []
        scanned = 0
        for row in read_rows(upstream, fmt):
            scanned += 1
            key = row_key(row, common)
            if key is not None and key in counts and key not in matched:
                matched.add(key)
                if len(examples) < EXAMPLES:
                    examples.append({c: row.get(c) for c in common})
        leaked = sum(counts[k] for k in matched)
        found.append(RowOverlap(label, str(file), list(common), scanned, total, leaked,
                                examples, note))
    return found


def _upstream_of_test(registry: Registry, test: _TestSet, depth: int) -> set[str]:
    """The artifacts upstream of the test set (or its files), when the registry knows it, by
    :func:`_content`."""
    keys: set[str] = set()
    for path in {test.path, *test.files}:
        try:
            tree = trace_artifact(registry, resolve(registry, str(path)), depth)
        except NotFound:
            continue
        keys |= {_content(n) for n in tree.root.walk() if n is not tree.root}
    return keys


def _content(node: TraceNode) -> str:
    """What makes two artifacts the same data here: their digest (a copy of an ancestor is
    that ancestor), else their name."""
    return node.digest or node.key


def _check(report: LeakageReport, test: _TestSet, node: TraceNode) -> None:
    label = display_name(node.namespace, node.name)
    if node.digest == report.test_digest or node.digest in test.digests:
        test_file = test.digests.get(node.digest or "", test.path)
        report.file_matches.append(FileMatch(label, str(test_file), node.digest or ""))
    if node.namespace != "file":
        report.skipped[label] = "not a local file: compared by digest only"
        return
    path = Path(node.name)
    if not path.exists():
        report.skipped[label] = "no longer on this machine: compared by digest only"
        return
    current = digest_path(path).digest
    note = None if current == node.digest else "changed since the run; compared as it is now"
    for file in _files(path) if path.is_dir() else [path]:
        if path.is_dir() and (digest := digest_path(file).digest) in test.digests:
            report.file_matches.append(FileMatch(f"{label}/{file.relative_to(path)}",
                                                 str(test.digests[digest]), digest))
        if fmt := is_tabular(file):
            name = label if file == path else f"{label}/{file.relative_to(path)}"
            report.row_overlaps += _overlap(test, file, fmt, name, note)


def leakage(model: str, test_set: str | os.PathLike[str], *, depth: int = DEFAULT_DEPTH,
            registry: Registry | None = None) -> LeakageReport:
    """Compare everything upstream of ``model`` with the files and rows of ``test_set``."""
    registry = open_registry(registry)
    test_path = Path(test_set)
    if not test_path.exists():
        raise ValidationError("test", f"{test_path} does not exist",
                              hint="give the test set's file or folder")
    # Every run that made this content counts: a leak through any of them is a leak.
    tree = trace_artifact(registry, resolve(registry, model), depth, all_producers=True)
    test = _TestSet(test_path)
    shared = _upstream_of_test(registry, test, depth)
    report = LeakageReport(
        display_name(tree.root.namespace, tree.root.name), tree.root.digest, str(test_path),
        digest_path(test_path).digest, len(test.files), [])
    for node in tree.artifacts():
        label = display_name(node.namespace, node.name)
        if _content(node) in shared:
            report.shared_ancestors.append(label)
            continue
        report.upstream_checked.append(label)
        try:
            _check(report, test, node)
        except (TraclineError, OSError) as e:
            report.skipped[label] = f"could not be read: {e}"
    return report
