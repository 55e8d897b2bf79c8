"""The record of one captured run, and its OpenLineage events as plain JSON.

``tracline run`` builds its events here as dictionaries rather than through
openlineage-python's classes, so that a run does not pay for importing the client (a few
hundred milliseconds) — the events are the same, field for field, as
:func:`tracline.events.run_event` builds (a test holds them equal). Integrations that want
facet objects call :meth:`RunRecord.run_facets`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import attrs

from tracline._version import __version__
from tracline.capture._names import default_job, new_run_id, utcnow

if TYPE_CHECKING:
    from tracline.capture._recipe import CodeInfo
    from tracline.gpu.cost import GpuCost

__all__ = [
    "FileRecord", "RunRecord", "default_job", "event_dict", "event_json", "new_run_id", "utcnow",
]

PRODUCER = "https://github.com/tracline/tracline"
_OL = "https://openlineage.io/spec/"
_OWN = "https://tracline.dev/spec/facets/1-0-0/"
SCHEMAS = {
    "RunEvent": f"{_OL}2-0-2/OpenLineage.json#/$defs/RunEvent",
    "ProcessingEngineRunFacet": f"{_OL}facets/1-1-1/ProcessingEngineRunFacet.json",
    "ErrorMessageRunFacet": f"{_OL}facets/1-0-1/ErrorMessageRunFacet.json",
    "JobTypeJobFacet": f"{_OL}facets/2-0-4/JobTypeJobFacet.json",
    "DatasetVersionDatasetFacet": f"{_OL}facets/1-0-1/DatasetVersionDatasetFacet.json",
    "SchemaDatasetFacet": f"{_OL}facets/1-2-0/SchemaDatasetFacet.json",
    "TraclineContentHashDatasetFacet": f"{_OWN}TraclineContentHashDatasetFacet.json",
    "TraclineExecutionRunFacet": f"{_OWN}TraclineExecutionRunFacet.json",
    "TraclineGpuCostRunFacet": f"{_OWN}TraclineGpuCostRunFacet.json",
}


def _url(schema: str) -> str:
    return f"{SCHEMAS[schema]}#/$defs/{schema}"


_VERSION_URL = _url("DatasetVersionDatasetFacet")
_CONTENT_URL = _url("TraclineContentHashDatasetFacet")
_SCHEMA_URL = _url("SchemaDatasetFacet")
#: A JSON string literal, as json.dumps writes it (ASCII, escapes included).
_json_str: Any = json.encoder.encode_basestring_ascii
_VERSION_HEAD = f'"_producer":{_json_str(PRODUCER)},"_schemaURL":{_json_str(_VERSION_URL)}'
_CONTENT_HEAD = f'"_producer":{_json_str(PRODUCER)},"_schemaURL":{_json_str(_CONTENT_URL)}'
_SCHEMA_HEAD = f'"_producer":{_json_str(PRODUCER)},"_schemaURL":{_json_str(_SCHEMA_URL)}'


def _facet(schema: str, **fields: Any) -> dict[str, Any]:
    url = SCHEMAS[schema]
    if "#" not in url:
        url += f"#/$defs/{schema}"
    return {"_producer": PRODUCER, "_schemaURL": url, **_clean(fields)}


def _clean(value: Any) -> Any:
    """Drop None values recursively, as openlineage-python's serializer does."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


@attrs.define
class FileRecord:
    """A file the run read or wrote, with its content digest at that moment."""

    path: str
    digest: str | None = None
    size: int | None = None
    file_count: int = 1
    kind: str | None = None
    #: Why there is no digest (unreadable, removed before it could be hashed, ...).
    error: str | None = None
    #: An input the run also changed: its digest is the one taken when it was read.
    modified: bool = False
    #: The columns of a tabular file, (name, type) — the ``schema`` facet.
    schema: list[tuple[str, str]] | None = None
    #: ``dataset_json`` by role, built once (often early, while the run still goes on).
    _json: dict[str, str] = attrs.field(factory=dict, init=False, eq=False, repr=False)

    def set_schema(self, fields: list[tuple[str, str]] | None) -> None:
        """Record the file's columns (after its JSON may have been built early)."""
        self.schema = fields
        self._json.clear()

    def dataset(self, role: str) -> dict[str, Any]:
        """The OpenLineage input or output dataset (namespace ``file``)."""
        facets: dict[str, Any] = {}
        if self.digest:  # built directly (no None to drop): runs may have thousands of files
            facets["version"] = {"_producer": PRODUCER, "_schemaURL": _VERSION_URL,
                                 "datasetVersion": self.digest}
            content = {"_producer": PRODUCER, "_schemaURL": _CONTENT_URL,
                       "algorithm": self.digest.split(":", 1)[0], "digest": self.digest,
                       "size": self.size or 0, "fileCount": self.file_count}
            if self.kind is not None:
                content["kind"] = self.kind
            facets["tracline_contentHash"] = content
        if self.schema:
            facets["schema"] = {"_producer": PRODUCER, "_schemaURL": _SCHEMA_URL,
                                "fields": [{"name": n, "type": t} for n, t in self.schema]}
        return {"namespace": "file", "name": self.path, "facets": facets,
                f"{role}Facets": {}}

    def dataset_json(self, role: str) -> str:
        """``dataset(role)`` as compact JSON with sorted keys, built directly: a run's event
        may hold thousands of datasets, and json.dumps of their dicts costs ~4 µs each."""
        text = self._json.get(role)
        if text is None:
            text = self._json[role] = self._build_json(role)
        return text

    def _build_json(self, role: str) -> str:
        # "inputFacets" sorts before "name", "outputFacets" after "namespace".
        name = f'"name":{_json_str(self.path)},"namespace":"file"'
        rest = f'"{role}Facets":{{}},{name}}}' if role < "name" else f'{name},"{role}Facets":{{}}}}'
        parts = []  # facets by key, sorted: schema, tracline_contentHash, version
        if self.schema:
            fields = ",".join(f'{{"name":{_json_str(n)},"type":{_json_str(t)}}}'
                              for n, t in self.schema)
            parts.append(f'"schema":{{{_SCHEMA_HEAD},"fields":[{fields}]}}')
        if self.digest:
            digest = _json_str(self.digest)
            kind = "" if self.kind is None else f',"kind":{_json_str(self.kind)}'
            parts.append(
                f'"tracline_contentHash":{{{_CONTENT_HEAD},'
                f'"algorithm":{_json_str(self.digest.split(":", 1)[0])},"digest":{digest},'
                f'"fileCount":{int(self.file_count)}{kind},"size":{int(self.size or 0)}}}')
            parts.append(f'"version":{{{_VERSION_HEAD},"datasetVersion":{digest}}}')
        return f'{{"facets":{{{",".join(parts)}}},' + rest

    def artifact(self) -> Any:
        """The :class:`tracline.events.Artifact` (imports openlineage-python)."""
        from tracline.events import Artifact

        return Artifact.file(self.path, self.digest, self.size, self.file_count, self.kind,
                             schema=self.schema)


@attrs.define
class RunRecord:
    """What a captured run did: its files, recipe, exit status and GPU cost."""

    run_id: str
    job: str
    namespace: str
    argv: list[str]
    cwd: str
    started_at: str
    capture_mode: str
    ended_at: str | None = None
    wall_seconds: float | None = None
    exit_code: int | None = None
    signal: int | None = None
    inputs: list[FileRecord] = attrs.field(factory=list)
    outputs: list[FileRecord] = attrs.field(factory=list)
    code: CodeInfo | None = None
    packages: list[tuple[str, str]] = attrs.field(factory=list)
    package_digest: str | None = None
    interpreter: dict[str, str] | None = None
    host: dict[str, Any] | None = None
    environment: dict[str, str] = attrs.field(factory=dict)
    gpu: GpuCost | None = None
    warnings: list[str] = attrs.field(factory=list)
    #: An orchestrator task's Python callable: module, qualname, file, sourceDigest.
    callable: dict[str, Any] | None = None

    @property
    def succeeded(self) -> bool:
        """True when the command exited with status 0."""
        return self.exit_code == 0

    @property
    def error(self) -> str | None:
        """Why the run failed, in words (None when it succeeded or is still running)."""
        if self.signal:
            import signal as signals

            try:
                name = signals.Signals(self.signal).name
            except ValueError:
                name = f"signal {self.signal}"
            return f"command was killed by {name}"
        if self.exit_code not in (None, 0):
            return f"command exited with status {self.exit_code}"
        return None

    def execution(self) -> dict[str, Any]:
        """The ``tracline_execution`` facet's fields as JSON."""
        packages = None
        if self.packages or self.package_digest:
            packages = {"lockDigest": self.package_digest, "manager": "python",
                        "items": [{"name": n, "version": v} for n, v in self.packages]}
        fields: dict[str, Any] = _clean({
            "argv": self.argv, "cwd": self.cwd, "exitCode": self.exit_code,
            "captureMode": self.capture_mode,
            "code": attrs.asdict(self.code) if self.code else None, "packages": packages,
            "interpreter": self.interpreter, "host": self.host,
            "environment": self.environment or None, "callable": self.callable,
        })
        return fields

    def facet_dicts(self) -> dict[str, dict[str, Any]]:
        """The run's tracline facets as JSON, keyed as in events."""
        facets = {"tracline_execution": _facet("TraclineExecutionRunFacet", **self.execution())}
        if self.gpu is not None:
            facets["tracline_gpuCost"] = _facet("TraclineGpuCostRunFacet", **self.gpu.as_dict())
        return facets

    def run_facets(self) -> dict[str, Any]:
        """The run's tracline facets as openlineage-python objects (for integrations)."""
        from tracline.facets import RUN_FACETS

        out: dict[str, Any] = {}
        for key, data in self.facet_dicts().items():
            fields = {k: v for k, v in data.items() if not k.startswith("_")}
            out[key] = _structure(RUN_FACETS[key], fields)
        return out

    def input_artifacts(self) -> list[Any]:
        """Inputs as :class:`tracline.events.Artifact` objects."""
        return [f.artifact() for f in self.inputs]

    def output_artifacts(self) -> list[Any]:
        """Outputs as :class:`tracline.events.Artifact` objects."""
        return [f.artifact() for f in self.outputs]


def _structure(cls: type, fields: dict[str, Any]) -> Any:
    """Build an attrs facet (and its nested attrs fields) from JSON fields."""
    from tracline import facets as f

    nested = {"code": f.CodeVersion, "interpreter": f.Interpreter, "host": f.Host}
    kwargs = dict(fields)
    for key, kind in nested.items():
        if isinstance(kwargs.get(key), dict):
            kwargs[key] = kind(**kwargs[key])
    if isinstance(kwargs.get("packages"), dict):
        data = dict(kwargs["packages"])
        data["items"] = [f.PackageRef(**i) for i in data.get("items", [])]
        kwargs["packages"] = f.PackageSet(**data)
    return cls(**kwargs, producer=PRODUCER)


def event_dict(
    state: str,
    record: RunRecord,
    *,
    event_time: str,
    run_facets: dict[str, dict[str, Any]] | None = None,
    with_files: bool = True,
    parent: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One run event as JSON, exactly as :func:`tracline.events.run_event` would build it."""
    facets: dict[str, Any] = {
        "processing_engine": _facet("ProcessingEngineRunFacet", version=__version__,
                                    name="tracline", openlineageAdapterVersion=__version__),
    }
    if parent is not None:
        facets["parent"] = parent
    error = record.error if state in ("FAIL", "ABORT") else None
    if error is not None:
        facets["errorMessage"] = _facet("ErrorMessageRunFacet", message=error,
                                        programmingLanguage="python")
    facets.update(run_facets or {})
    job_type = _facet("JobTypeJobFacet", processingType="BATCH", integration="TRACLINE",
                      jobType="JOB")
    return {
        "eventTime": event_time,
        "producer": PRODUCER,
        "schemaURL": SCHEMAS["RunEvent"],
        "run": {"runId": record.run_id, "facets": facets},
        "job": {"namespace": record.namespace, "name": record.job,
                "facets": {"jobType": job_type}},
        "eventType": state,
        "inputs": [f.dataset("input") for f in record.inputs] if with_files else [],
        "outputs": [f.dataset("output") for f in record.outputs] if with_files else [],
    }


def event_json(state: str, record: RunRecord, *, event_time: str,
               run_facets: dict[str, dict[str, Any]] | None = None,
               parent: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """``event_dict(...)`` (with files) as compact JSON with sorted keys — the outbox's
    form — and the event as a dict without its datasets (for its run, job and type)."""
    data = event_dict(state, record, event_time=event_time, run_facets=run_facets,
                      with_files=False, parent=parent)
    # One join at the end: the datasets of a large run make megabytes, copied once.
    parts = ["{"]
    for key in sorted(data):
        parts.append(f'"{key}":' if len(parts) == 1 else f',"{key}":')
        if key in {"inputs", "outputs"}:
            files = record.inputs if key == "inputs" else record.outputs
            role = key[:-1]
            parts += ("[", ",".join([item.dataset_json(role) for item in files]), "]")
        else:
            parts.append(json.dumps(data[key], separators=(",", ":"), sort_keys=True))
    parts.append("}")
    return "".join(parts), data
