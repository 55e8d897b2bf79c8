"""OpenLineage ingest: every posted event is checked against the specification's schema.

A body that is not JSON is 400; an event the schema refuses is 422 naming the field at fault
(``run.runId: 'x' is not a 'uuid'``); an accepted event goes into the registry (201). The
connection is never dropped: every refusal is an answer.
"""

from __future__ import annotations

import functools
import json
import uuid
from importlib import resources
from typing import Any

from tracline.errors import ValidationError

__all__ = ["validate_event"]


@functools.cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator, FormatChecker

    schema = json.loads((resources.files("tracline.server") / "schemas" / "OpenLineage.json")
                        .read_text())
    run_event = {**schema, "$ref": "#/$defs/RunEvent"}
    run_event.pop("oneOf", None)
    return Draft202012Validator(run_event, format_checker=FormatChecker())


def _where(path: Any) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "event"


def validate_event(event: Any) -> dict[str, Any]:
    """``event`` when it is a valid OpenLineage run event; :class:`ValidationError` naming
    the first field at fault otherwise."""
    if not isinstance(event, dict):
        raise ValidationError("event", "the body is not a JSON object",
                              hint="post one OpenLineage RunEvent per request")
    errors = sorted(_validator().iter_errors(event), key=lambda e: (len(e.path), e.message))
    if errors:
        found = []
        for error in errors[:5]:
            message = error.message[:200]
            if error.validator == "format" and error.validator_value == "uuid":
                message = f"{error.instance!r} is not a UUID"
            found.append((_where(error.absolute_path), message))
        text = found[0][1] + "".join(f"; {f}: {m}" for f, m in found[1:])
        raise ValidationError(found[0][0], text,
                              hint="the event must follow the OpenLineage RunEvent schema")
    run_id = event["run"]["runId"]
    try:
        uuid.UUID(str(run_id))
    except ValueError:
        raise ValidationError("run.runId", f"{run_id!r} is not a UUID",
                              hint="OpenLineage run ids are UUIDs") from None
    return event
