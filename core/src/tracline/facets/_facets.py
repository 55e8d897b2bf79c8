"""tracline's custom facets: attrs classes on openlineage-python's facet bases.

Each class's ``_get_schema()`` names a JSON Schema shipped in ``tracline/facets/schemas``;
:func:`schema_path` maps the URL to that file. Field names, required fields and nested
objects follow the schemas exactly (a test holds them equal).

A facet made here without a ``producer`` carries tracline's (``Config.producer``), not
openlineage-python's process-wide default, which a host such as Airflow's OpenLineage
provider sets to its own.
"""

from __future__ import annotations

from typing import Literal

import attrs
from openlineage.client.generated.base import DatasetFacet, RunFacet

from tracline.config import PRODUCER

SCHEMA_VERSION = "1-0-0"
SCHEMA_BASE_URL = f"https://tracline.dev/spec/facets/{SCHEMA_VERSION}/"


def _schema_url(name: str) -> str:
    return f"{SCHEMA_BASE_URL}{name}.json#/$defs/{name}"


def default_producer() -> str:
    """The producer URI of what tracline builds: ``[tracline] producer``, or tracline's own."""
    from tracline.config import get_config
    from tracline.errors import ConfigError

    try:
        return get_config().producer
    except ConfigError:
        return PRODUCER


@attrs.define
class TraclineRunFacet(RunFacet):
    """Base of tracline's run facets: the producer defaults to tracline's."""

    def __attrs_post_init__(self) -> None:
        if not self._producer:
            self._producer = default_producer()
        super().__attrs_post_init__()


@attrs.define
class TraclineDatasetFacet(DatasetFacet):
    """Base of tracline's dataset facets: the producer defaults to tracline's."""

    def __attrs_post_init__(self) -> None:
        if not self._producer:
            self._producer = default_producer()
        super().__attrs_post_init__()


@attrs.define
class TraclineContentHashDatasetFacet(TraclineDatasetFacet):
    """The content digest of a dataset at the moment a run read or wrote it."""

    algorithm: str
    digest: str
    size: int
    fileCount: int  # noqa: N815
    kind: Literal["file", "directory"] | None = attrs.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return _schema_url("TraclineContentHashDatasetFacet")


@attrs.define
class CodeVersion:
    """The code a run executed: a git commit, and whether the tree was dirty."""

    repository: str | None = None
    commit: str | None = None
    branch: str | None = None
    dirty: bool | None = None
    diffDigest: str | None = None  # noqa: N815
    untracked: int | None = None


@attrs.define
class PackageRef:
    """One installed distribution."""

    name: str
    version: str


@attrs.define
class PackageSet:
    """The packages a run imported, and a digest over the sorted list."""

    lockDigest: str | None = None  # noqa: N815
    manager: str | None = None
    items: list[PackageRef] = attrs.field(factory=list)


@attrs.define
class Interpreter:
    """The interpreter that ran the job."""

    implementation: str | None = None
    version: str | None = None
    executable: str | None = None


@attrs.define
class Host:
    """The machine that ran the job."""

    hostname: str | None = None
    os: str | None = None
    platform: str | None = None
    cpuCount: int | None = None  # noqa: N815


@attrs.define
class TaskCallable:
    """An orchestrator task's Python callable: where it is defined, and its source's digest."""

    module: str
    qualname: str
    file: str | None = None
    sourceDigest: str | None = None  # noqa: N815


@attrs.define
class TraclineExecutionRunFacet(TraclineRunFacet):
    """The observed recipe of a run: argv, cwd, code, packages, interpreter, host, env."""

    argv: list[str]
    cwd: str
    exitCode: int | None = attrs.field(default=None)  # noqa: N815
    captureMode: str | None = attrs.field(default=None)  # noqa: N815
    code: CodeVersion | None = attrs.field(default=None)
    packages: PackageSet | None = attrs.field(default=None)
    interpreter: Interpreter | None = attrs.field(default=None)
    host: Host | None = attrs.field(default=None)
    environment: dict[str, str] | None = attrs.field(default=None)
    #: An orchestrator task's Python callable (its argv is then empty).
    callable: TaskCallable | None = attrs.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return _schema_url("TraclineExecutionRunFacet")


@attrs.define
class TraclineGpuCostRunFacet(TraclineRunFacet):
    """GPU use and cost of a run, and whether the figures were measured or declared."""

    measurement: Literal["measured", "declared", "estimated"]
    gpuModel: str  # noqa: N815
    gpuCount: int  # noqa: N815
    gpuSeconds: float  # noqa: N815
    gpuUuids: list[str] | None = attrs.field(default=None)  # noqa: N815
    wallSeconds: float | None = attrs.field(default=None)  # noqa: N815
    meanUtilization: float | None = attrs.field(default=None)  # noqa: N815
    energyJoules: float | None = attrs.field(default=None)  # noqa: N815
    peakMemoryBytes: int | None = attrs.field(default=None)  # noqa: N815
    pricePerGpuHour: float | None = attrs.field(default=None)  # noqa: N815
    currency: str | None = attrs.field(default=None)
    priceSource: str | None = attrs.field(default=None)  # noqa: N815
    priceAsOf: str | None = attrs.field(default=None)  # noqa: N815
    cost: float | None = attrs.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return _schema_url("TraclineGpuCostRunFacet")


@attrs.define
class Money:
    """An amount in an ISO 4217 currency."""

    amount: float
    currency: str


@attrs.define
class Estimate:
    """An estimated cost with its arithmetic spelled out."""

    amount: float
    currency: str
    arithmetic: str | None = None


@attrs.define
class TraclineApprovalRunFacet(TraclineRunFacet):
    """The approved training request a run claimed, bound to the request's digest."""

    requestId: str  # noqa: N815
    requestDigest: str  # noqa: N815
    approvedBy: list[str]  # noqa: N815
    decidedAt: str  # noqa: N815
    budget: Money
    requester: str | None = attrs.field(default=None)
    estimate: Estimate | None = attrs.field(default=None)
    approvedGpuHours: float | None = attrs.field(default=None)  # noqa: N815

    @staticmethod
    def _get_schema() -> str:
        return _schema_url("TraclineApprovalRunFacet")


#: Facet key (per the spec's custom-facet naming) → class.
RUN_FACETS: dict[str, type[RunFacet]] = {
    "tracline_execution": TraclineExecutionRunFacet,
    "tracline_gpuCost": TraclineGpuCostRunFacet,
    "tracline_approval": TraclineApprovalRunFacet,
}
DATASET_FACETS: dict[str, type[DatasetFacet]] = {
    "tracline_contentHash": TraclineContentHashDatasetFacet,
}
