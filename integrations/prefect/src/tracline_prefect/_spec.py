"""A gate's training request as a Prefect user writes it: fixed values, templates filled from
the flow run's parameters, and values the flow computes and hands to the gate at run time.

    request={
        "title": "Retrain {model} on this week's features",   # {…}: a flow parameter
        "datasets": AT_RUN_TIME,                              # given to approval.wait(...)
        "gpu_model": "H100", "gpu_count": 1, "hours": "2", ...
    }

Templates use Python's format syntax over the flow run's parameters, as Prefect's own
``flow_run_name``/``task_run_name`` do. Everything that is known when the flow is defined is
checked then, with tracline's own rules (:func:`tracline.gating.check_request`), so a bad
budget or an unknown reviewer fails when the flow's module loads, before any task runs.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

from tracline.errors import ValidationError
from tracline.gating import FIELDS, InvalidGateRequest, check_request

__all__ = ["AT_RUN_TIME", "check_gate_request", "is_deferred", "render_request"]


class _AtRunTime:
    """Marks a request field whose value the flow passes to ``wait()`` when it runs."""

    _instance: _AtRunTime | None = None

    def __new__(cls) -> _AtRunTime:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "AT_RUN_TIME"


#: A request field given to :meth:`ApprovalGate.wait` by the flow (e.g. the digest-bearing
#: path of features an upstream task wrote).
AT_RUN_TIME = _AtRunTime()
_FORMATTER = string.Formatter()


def _placeholders(value: Any) -> set[str]:
    """The flow parameters a (possibly nested) template names; ValueError if malformed."""
    if isinstance(value, str):
        return {name.split(".")[0].split("[")[0]
                for _, name, _, _ in _FORMATTER.parse(value) if name is not None}
    if isinstance(value, Mapping):
        return set().union(*(_placeholders(v) for v in value.values()))
    if isinstance(value, list | tuple):
        return set().union(*(_placeholders(v) for v in value))
    return set()


def is_deferred(value: Any) -> bool:
    """True for a value known only once the flow runs: AT_RUN_TIME or a template."""
    if value is AT_RUN_TIME:
        return True
    try:
        return bool(_placeholders(value))
    except ValueError:
        return False


def check_gate_request(request: Mapping[str, Any], where: str) -> None:
    """Check a gate's request when the flow is defined; raise :class:`InvalidGateRequest`."""
    for key, value in request.items():
        try:
            names = _placeholders(value)
        except ValueError as e:
            raise InvalidGateRequest(where, ValidationError(
                f"request.{key}", f"{value!r} is not a valid template: {e}",
                hint="write flow parameters as {name}; double braces {{ }} for a literal brace"),
            ) from e
        if "" in names:
            raise InvalidGateRequest(where, ValidationError(
                f"request.{key}", f"{value!r} has an empty placeholder {{}}",
                hint="name the flow parameter, e.g. {model}"))
    check_request(request, where, deferred=is_deferred)


def _fill(value: Any, parameters: Mapping[str, Any], field: str) -> Any:
    if isinstance(value, str) and _placeholders(value):
        try:
            return value.format_map(parameters)
        except (KeyError, AttributeError, IndexError) as e:
            known = ", ".join(sorted(parameters)) or "none"
            raise ValidationError(field, f"{value!r} names {e}, which is not a parameter of "
                                  "this flow run", hint=f"its parameters: {known}") from e
    if isinstance(value, Mapping):
        return {k: _fill(v, parameters, field) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_fill(v, parameters, field) for v in value]
    return value


def render_request(request: Mapping[str, Any], parameters: Mapping[str, Any],
                   given: Mapping[str, Any]) -> dict[str, Any]:
    """The request's fields for this flow run: templates filled, run-time values merged in.

    Raises :class:`ValidationError` naming the field when a template names an unknown
    parameter, a field marked AT_RUN_TIME was not given, or ``given`` holds an unknown field.
    """
    unknown = sorted(set(given) - set(FIELDS))
    if unknown:
        raise ValidationError(f"request.{unknown[0]}", "is not a training-request field",
                              hint=f"fields: {', '.join(FIELDS)}")
    values = {**request, **given}
    missing = sorted(k for k, v in values.items() if v is AT_RUN_TIME)
    if missing:
        raise ValidationError(f"request.{missing[0]}", "is marked AT_RUN_TIME but the flow "
                              "did not give it", hint=f"call wait({missing[0]}=...)")
    return {k: _fill(v, parameters, f"request.{k}") for k, v in values.items()}
