"""Validate events against the official OpenLineage JSON Schemas and tracline's facet schemas.

Every facet is checked against the schema its ``_schemaURL`` names: tracline's own ship in the
package; the standard ones come from a copy of the OpenLineage spec folder (``OpenLineage.json``
plus ``facets/*.json``), found via ``OPENLINEAGE_SPEC_DIR`` or a ``shared/openlineage-spec``
folder above the working directory.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["EventValidator", "find_openlineage_spec", "iter_facets"]

_SPEC_SUBDIR = Path("shared") / "openlineage-spec"


def find_openlineage_spec(*starts: Path) -> Path | None:
    """The folder holding ``OpenLineage.json`` and ``facets/``, or None if none is found."""
    explicit = os.environ.get("OPENLINEAGE_SPEC_DIR")
    if explicit:
        path = Path(explicit)
        return path if (path / "OpenLineage.json").is_file() else None
    for start in (*starts, Path.cwd(), Path(__file__)):
        for folder in (start.resolve(), *start.resolve().parents):
            candidate = folder / _SPEC_SUBDIR
            if (candidate / "OpenLineage.json").is_file():
                return candidate
    return None


def _tracline_schemas() -> Iterator[dict[str, Any]]:
    root = resources.files("tracline.facets") / "schemas"
    for version in root.iterdir():
        for item in version.iterdir():
            if item.name.endswith(".json"):
                yield json.loads(item.read_text())


def iter_facets(event: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Yield (where, key, facet) for every facet in a run event."""
    for key, facet in ((event.get("run") or {}).get("facets") or {}).items():
        yield "run", key, facet
    for key, facet in ((event.get("job") or {}).get("facets") or {}).items():
        yield "job", key, facet
    for side in ("inputs", "outputs"):
        for ds in event.get(side) or []:
            where = f"{side}[{ds.get('name')}]"
            for group in ("facets", "inputFacets", "outputFacets"):
                for key, facet in (ds.get(group) or {}).items():
                    yield where, key, facet


class EventValidator:
    """Validates events; build once, use for many events."""

    def __init__(self, spec_dir: Path) -> None:
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012

        self.spec_dir = spec_dir
        documents = [json.loads((spec_dir / "OpenLineage.json").read_text())]
        documents += [
            json.loads(p.read_text()) for p in sorted((spec_dir / "facets").glob("*.json"))
        ]
        documents += list(_tracline_schemas())
        self._by_name: dict[str, str] = {}
        pairs = []
        for doc in documents:
            pairs.append(
                (doc["$id"], Resource.from_contents(doc, default_specification=DRAFT202012))
            )
            self._by_name[doc["$id"].rsplit("/", 1)[-1]] = doc["$id"]
        self.registry: Any = Registry().with_resources(pairs)
        self._event_id = documents[0]["$id"]

    def _resolve_url(self, schema_url: str) -> str | None:
        base, _, fragment = schema_url.partition("#")
        try:
            self.registry.contents(base)
            return schema_url
        except Exception:  # noqa: BLE001 - unknown version: fall back to the same facet by name
            known = self._by_name.get(base.rsplit("/", 1)[-1])
            return f"{known}#{fragment}" if known else None

    @functools.lru_cache(maxsize=256)  # noqa: B019 - validators are few and long-lived
    def _validator(self, ref: str) -> Any:
        from jsonschema import Draft202012Validator

        return Draft202012Validator(
            {"$ref": ref},
            registry=self.registry,
            format_checker=Draft202012Validator.FORMAT_CHECKER,
        )

    def errors(self, event: dict[str, Any]) -> list[str]:
        """Every way ``event`` breaks the spec or a facet schema (empty when it is valid)."""
        problems = [
            f"event: {e.message} at {'/'.join(map(str, e.absolute_path))}"
            for e in self._validator(f"{self._event_id}#/$defs/RunEvent").iter_errors(event)
        ]
        for where, key, facet in iter_facets(event):
            url = facet.get("_schemaURL") if isinstance(facet, dict) else None
            if not url:
                problems.append(f"{where}.{key}: facet has no _schemaURL")
                continue
            ref = self._resolve_url(url)
            if ref is None:
                if key.startswith("tracline_"):
                    problems.append(f"{where}.{key}: schema {url} is not shipped in the package")
                continue  # a third party's facet: its schema is not ours to check
            for e in self._validator(ref).iter_errors(facet):
                path = "/".join(map(str, e.absolute_path))
                problems.append(f"{where}.{key}: {e.message}" + (f" at {path}" if path else ""))
        return problems
