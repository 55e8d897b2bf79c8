"""A training request as a gate's user writes it: ``URI@digest`` text, or a mapping of
:class:`~tracline.approvals.RequestSpec` fields, checked before anything runs.

One parser for ``URI@digest`` serves the CLI (``--dataset``, ``--base-model``) and every
orchestrator's gate. A mapping may hold fields known only once the orchestrator runs (an
Airflow template, a value computed upstream); :func:`check_request` validates the rest with
tracline's own rules when the pipeline is defined, so a bad budget or an unknown reviewer
fails when the DAG, flow or Definitions load, naming the field.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from tracline.approvals import DatasetRef, ModelRef, RequestSpec, validate_request
from tracline.config import Config, get_config
from tracline.errors import ConfigError, TraclineError, ValidationError

__all__ = ["FIELDS", "InvalidGateRequest", "check_request", "parse_ref", "spec_from_mapping"]

#: The fields of a request mapping (those of :class:`RequestSpec`).
FIELDS = tuple(f.name for f in attrs.fields(RequestSpec))
_REQUIRED = ("title", "requester", "project", "datasets", "gpu_model", "gpu_count", "hours",
             "budget", "rationale")
_INTS = ("gpu_count", "min_approvals")
#: What reads as a digest after the last ``@``: ``<algorithm>:<value>``. Validation then
#: checks the value strictly (hex, 16-128 digits) and names the field when it is not.
_DIGEST_LIKE = re.compile(r"^[a-z][a-z0-9]*:[0-9A-Za-z]+$")
_PLACEHOLDER_DIGEST = "sha256:" + "0" * 64
#: Values that stand in for fields known only at run time while the others are validated.
_PLACEHOLDERS: dict[str, Any] = {
    "title": "deferred", "requester": "agent:deferred", "project": "deferred",
    "gpu_model": "H100", "gpu_count": 1, "hours": "1", "budget": "1000000000",
    "rationale": "deferred", "currency": "USD", "base_model": None, "code_ref": None,
    "reviewers": (), "min_approvals": 1, "expires_at": None, "over_estimate": None,
}
_ESTIMATE_INPUTS = {"gpu_model", "gpu_count", "hours", "budget", "currency"}


class InvalidGateRequest(ValidationError):
    """A gate's training request breaks tracline's rules (found when the pipeline loads)."""

    def __init__(self, where: str, cause: ValidationError | ConfigError) -> None:
        TraclineError.__init__(self, f"{where}: invalid training request: {cause.message}",
                               hint=cause.hint)
        self.field = getattr(cause, "field", "config")


def parse_ref(text: str) -> tuple[str, str | None]:
    """``URI@<algorithm>:<hex>`` → ``(URI, digest)``; a bare URI or path has no digest.

    The text after the last ``@`` is the digest when it reads ``<algorithm>:<value>``
    (``ssh://git@host/repo`` stays a URI); whether the value is a valid digest is checked
    when the request is validated, which names the field at fault.
    """
    uri, sep, digest = text.rpartition("@")
    if sep and uri and _DIGEST_LIKE.match(digest):
        return uri, digest
    return text, None


def _dataset(item: Any) -> DatasetRef:
    if isinstance(item, DatasetRef):
        return item
    if isinstance(item, Mapping):
        return DatasetRef(str(item.get("uri", "")), item.get("digest"))
    return DatasetRef(*parse_ref(str(item)))


def _model(item: Any) -> ModelRef | None:
    if item is None or isinstance(item, ModelRef):
        return item
    if isinstance(item, Mapping):
        return ModelRef(str(item.get("ref", "")), item.get("digest"))
    return ModelRef(*parse_ref(str(item)))


def spec_from_mapping(request: Mapping[str, Any]) -> RequestSpec:
    """Build the spec from a (rendered) mapping; unknown or missing keys are errors.

    Text where a number or list belongs (what templates render to) is converted:
    ``"4"`` GPUs, ``"user:chris, user:dana"`` reviewers, ``"s3://b/k@sha256:…"`` datasets.
    """
    if not isinstance(request, Mapping):
        raise ValidationError("request", f"expected a mapping of request fields, got "
                              f"{type(request).__name__}", hint=f"fields: {', '.join(FIELDS)}")
    unknown = sorted(set(request) - set(FIELDS))
    if unknown:
        raise ValidationError(f"request.{unknown[0]}", "is not a training-request field",
                              hint=f"fields: {', '.join(FIELDS)}")
    missing = [k for k in _REQUIRED if request.get(k) in (None, "")]
    if missing:
        raise ValidationError(f"request.{missing[0]}", "is missing",
                              hint=f"a gate's request needs {', '.join(_REQUIRED)}")
    values = dict(request)
    for key in _INTS:
        if isinstance(values.get(key), str) and values[key].strip().isdigit():
            values[key] = int(values[key])
    datasets = values["datasets"]
    if isinstance(datasets, str | Mapping | DatasetRef):
        datasets = [datasets]
    values["datasets"] = [_dataset(d) for d in datasets]
    if isinstance(values.get("reviewers"), str):
        values["reviewers"] = [r.strip() for r in values["reviewers"].split(",") if r.strip()]
    values["base_model"] = _model(values.get("base_model") or None)
    if isinstance(values.get("expires_at"), str):
        try:
            values["expires_at"] = dt.datetime.fromisoformat(values["expires_at"])
        except ValueError:
            raise ValidationError("request.expires_at", f"{values['expires_at']!r} is not an "
                                  "ISO 8601 time", hint="e.g. 2026-03-16T09:00:00+00:00") from None
    return RequestSpec(**values)


def check_request(request: Mapping[str, Any] | RequestSpec, where: str, *,
                  deferred: Callable[[Any], bool] | None = None,
                  config: Config | None = None) -> None:
    """Validate ``request`` as far as it is known; raise :class:`InvalidGateRequest` if bad.

    ``deferred(value)`` is True for a value known only at run time (an orchestrator's
    template or upstream result); such fields are checked once the gate runs. ``where``
    names the gate in the message (``"tracline gate 'approve' of DAG 'train'"``).
    """
    if isinstance(request, RequestSpec):
        request = attrs.asdict(request, recurse=False)
    if not isinstance(request, Mapping):
        try:
            spec_from_mapping(request)
        except ValidationError as e:
            raise InvalidGateRequest(where, e) from e
    later = {k for k, v in request.items() if deferred is not None and deferred(v)}
    known = {k: v for k, v in request.items() if k not in later}
    values = {**{k: _PLACEHOLDERS[k] for k in later if k in _PLACEHOLDERS}, **known}
    if "datasets" in later:
        values["datasets"] = [DatasetRef("deferred://dataset", _PLACEHOLDER_DIGEST)]
    if later & _ESTIMATE_INPUTS and not values.get("over_estimate"):
        values["over_estimate"] = "checked when the deferred fields are known"
    try:
        spec = spec_from_mapping(values)
        # Datasets are hashed when the gate runs (an upstream step may still have to write
        # them); here only their names and any explicit digest are checked.
        spec = attrs.evolve(spec, datasets=[
            d if isinstance(d, DatasetRef) and d.digest else
            DatasetRef(d.uri if isinstance(d, DatasetRef) else d, _PLACEHOLDER_DIGEST)
            for d in spec.datasets
        ])
        validate_request(spec, config or get_config())
    except (ValidationError, ConfigError) as e:
        raise InvalidGateRequest(where, e) from e
