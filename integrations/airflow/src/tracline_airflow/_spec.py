"""A gate's training request as DAG authors write it: a mapping of :class:`RequestSpec` fields.

At parse time the literal fields are validated with tracline's own rules (templated ones are
checked once rendered, at run time), so a gate with a negative budget or a reviewer policy
does not know fails when the DAG file is loaded, naming the field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import attrs

from tracline.approvals import DatasetRef, ModelRef, RequestSpec
from tracline.config import Config, get_config
from tracline.errors import ConfigError, TraclineError, ValidationError

__all__ = ["InvalidGateRequest", "check_at_parse", "spec_from_mapping"]

FIELDS = tuple(f.name for f in attrs.fields(RequestSpec))
_REQUIRED = ("title", "requester", "project", "datasets", "gpu_model", "gpu_count", "hours",
             "budget", "rationale")
_INTS = ("gpu_count", "min_approvals")
_PLACEHOLDER_DIGEST = "sha256:" + "0" * 64
#: Values that stand in for templated fields while the literal ones are validated.
_PLACEHOLDERS: dict[str, Any] = {
    "title": "templated", "requester": "agent:templated", "project": "templated",
    "gpu_model": "H100", "gpu_count": 1, "hours": "1", "budget": "1000000000",
    "rationale": "templated", "currency": "USD", "base_model": None, "code_ref": None,
    "reviewers": (), "min_approvals": 1, "expires_at": None, "over_estimate": None,
}
_ESTIMATE_INPUTS = {"gpu_model", "gpu_count", "hours", "budget", "currency"}


class InvalidGateRequest(ValidationError):
    """A gate's training request breaks tracline's rules (found when the DAG is parsed)."""

    def __init__(self, where: str, cause: ValidationError | ConfigError) -> None:
        TraclineError.__init__(self, f"{where}: invalid training request: {cause.message}",
                               hint=cause.hint)
        self.field = getattr(cause, "field", "config")


def is_templated(value: Any) -> bool:
    """True for a value only known at run time: a Jinja template or an XComArg."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, list | tuple):
        return any(is_templated(v) for v in value)
    return type(value).__name__.endswith(("XComArg", "PlainXComArg", "MapXComArg"))


def _dataset(item: Any) -> DatasetRef | str:
    if isinstance(item, DatasetRef):
        return item
    if isinstance(item, Mapping):
        return DatasetRef(str(item.get("uri", "")), item.get("digest"))
    text = str(item)
    uri, sep, digest = text.rpartition("@")
    if sep and ":" in digest and "/" not in digest:
        return DatasetRef(uri, digest)
    return text


def spec_from_mapping(request: Mapping[str, Any]) -> RequestSpec:
    """Build the spec from a (rendered) mapping; unknown or missing keys are errors."""
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
    if isinstance(datasets, str | Mapping):
        datasets = [datasets]
    values["datasets"] = [_dataset(d) for d in datasets]
    if isinstance(values.get("reviewers"), str):
        values["reviewers"] = [r.strip() for r in values["reviewers"].split(",") if r.strip()]
    base = values.get("base_model")
    if isinstance(base, str) and "@" in base:
        ref = _dataset(base)
        if isinstance(ref, DatasetRef):
            values["base_model"] = ModelRef(ref.uri, ref.digest)
    if isinstance(values.get("expires_at"), str):
        values["expires_at"] = dt.datetime.fromisoformat(values["expires_at"])
    return RequestSpec(**values)


def check_at_parse(request: Mapping[str, Any], where: str, config: Config | None = None) -> None:
    """Validate the literal fields of ``request``; raise :class:`InvalidGateRequest` if bad."""
    from tracline.approvals import validate_request  # core's own field-by-field rules

    templated = {k for k, v in request.items() if is_templated(v)}
    literal = {k: v for k, v in request.items() if k not in templated}
    values = {**{k: _PLACEHOLDERS[k] for k in templated if k in _PLACEHOLDERS}, **literal}
    if "datasets" in templated:
        values["datasets"] = [DatasetRef("templated://dataset", _PLACEHOLDER_DIGEST)]
    if templated & _ESTIMATE_INPUTS and not values.get("over_estimate"):
        values["over_estimate"] = "checked when the templated fields are rendered"
    try:
        spec = spec_from_mapping(values)
        # Datasets are hashed when the gate runs (an upstream task may still have to write
        # them); here only their names and any explicit digest are checked.
        spec = attrs.evolve(spec, datasets=[
            d if isinstance(d, DatasetRef) and d.digest else
            DatasetRef(d.uri if isinstance(d, DatasetRef) else d, _PLACEHOLDER_DIGEST)
            for d in spec.datasets
        ])
        validate_request(spec, config or get_config())
    except (ValidationError, ConfigError) as e:
        raise InvalidGateRequest(where, e) from e
